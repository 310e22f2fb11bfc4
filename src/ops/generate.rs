//! Continue a piece, or generate one from nothing, with a Music Transformer: choose and load the
//! model, settle the sampling defaults its vocabulary wants, cut the primer where the user asked,
//! run the generation and, for piano continuations, measure how the new music sits on the primer.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::generate::report::{check_continuation, ContinuationCheck};
use crate::generate::tasks::{
    run, validate_key_guide, GenEvent, Length, Request, DEFAULT_BEAT_TOP_P, DEFAULT_KEY_GUIDE,
};
use crate::generate::SamplerConfig;
use crate::midi::Score;
use crate::model::{MusicTransformer, VocabKind};

use super::models::{default_for, load, resolve, Action, Loaded};

/// The most model tokens one generation may ask for.
pub const MAX_TOKENS: usize = 100_000;

/// Sampling as the user gives it: `top_p: None` lets the model's vocabulary choose (0.9 for the
/// beat-aware piano models, whose long tail writes stray notes; 1 for the others).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// Temperature (> 0).
    pub temperature: f32,
    /// Only the k likeliest tokens.
    pub top_k: Option<usize>,
    /// Nucleus, in (0, 1].
    pub top_p: Option<f32>,
    /// Random seed.
    pub seed: u64,
}

impl Sampling {
    /// Plain sampling with `seed`.
    pub fn new(seed: u64) -> Self {
        Sampling {
            temperature: 1.0,
            top_k: None,
            top_p: None,
            seed,
        }
    }

    /// The sampler for a model of `vocab`.
    pub(crate) fn for_vocab(self, vocab: VocabKind) -> SamplerConfig {
        let default_p = if vocab == VocabKind::Remi {
            DEFAULT_BEAT_TOP_P
        } else {
            1.0
        };
        SamplerConfig {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p.unwrap_or(default_p),
            seed: self.seed,
        }
    }
}

/// The primer of a continuation.
#[derive(Debug, Clone)]
pub struct Primer {
    /// The music.
    pub score: Score,
    /// Where it came from (refused as an output).
    pub origin: Option<PathBuf>,
    /// Continue from this time (seconds) instead of the end: later music is left out.
    pub from: Option<f64>,
    /// Piano models: prompt with at most this many seconds before the continuation point.
    pub seconds: f64,
    /// Write only the new music.
    pub only_new: bool,
    /// Piano models: measure each continuation against the primer.
    pub check: bool,
}

impl Primer {
    /// `score` continued from its end, prompting with 20 s.
    pub fn new(score: Score) -> Self {
        Primer {
            score,
            origin: None,
            from: None,
            seconds: 20.0,
            only_new: false,
            check: false,
        }
    }
}

/// A generation: continue `primer`, or (without one) generate at `bpm`.
#[derive(Debug, Clone)]
pub struct Generate {
    /// The model's name or folder (`None`: the default for the primer).
    pub model: Option<String>,
    /// What to continue.
    pub primer: Option<Primer>,
    /// Tempo without a primer, BPM.
    pub bpm: f64,
    /// How much new music.
    pub length: Length,
    /// Sampling.
    pub sampling: Sampling,
    /// Independent samples, 1–64.
    pub samples: usize,
    /// Beat-aware piano models: key guidance, 0–10 nats.
    pub key_guide: f32,
    /// Set to stop early (the result is `Error::Cancelled`).
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Generate {
    /// Twenty seconds of new music with the default model, `primer` or not.
    pub fn new(primer: Option<Primer>, seed: u64) -> Self {
        Generate {
            model: None,
            primer,
            bpm: 100.0,
            length: Length::Seconds(20.0),
            sampling: Sampling::new(seed),
            samples: 1,
            key_guide: DEFAULT_KEY_GUIDE,
            cancel: None,
        }
    }
}

/// What a generation made.
pub struct Generated {
    /// Primer (as cut) and new music, one score per sample.
    pub scores: Vec<Score>,
    /// Where the new music starts, seconds.
    pub generated_from: f64,
    /// Lines worth telling the user (how the primer was read).
    pub notes: Vec<String>,
    /// The model's folder.
    pub model_dir: PathBuf,
    /// The sampler used (defaults settled).
    pub sampler: SamplerConfig,
    /// Per sample, when asked: how the continuation sits on the primer.
    pub checks: Vec<ContinuationCheck>,
}

/// Checks a request before any model is loaded.
pub fn validate(req: &Generate) -> Result<()> {
    if !(10.0..=400.0).contains(&req.bpm) {
        return Err(Error::Invalid(format!(
            "a tempo of {} BPM: use 10–400",
            req.bpm
        )));
    }
    match req.length {
        Length::Tokens(n) if !(1..=MAX_TOKENS).contains(&n) => {
            return Err(Error::Invalid(format!(
                "{n} tokens: ask for 1–{MAX_TOKENS}"
            )))
        }
        Length::Seconds(s) if !(s > 0.0 && s <= 3600.0) => {
            return Err(Error::Invalid(format!(
                "{s} seconds of new music: ask for more than 0 and at most 3600"
            )))
        }
        _ => {}
    }
    if let Some(p) = req.primer.as_ref().and_then(|p| p.from) {
        if !(p.is_finite() && p > 0.0) {
            return Err(Error::Invalid(format!(
                "continuing from {p} s: the point must be after the start"
            )));
        }
    }
    validate_key_guide(req.key_guide)?;
    req.sampling.for_vocab(VocabKind::Grid).validate()
}

/// Loads the model `req` names (or the default for its primer) and checks it can generate.
pub fn load_model(req: &Generate) -> Result<(MusicTransformer, PathBuf)> {
    let action = if req.primer.is_some() {
        Action::Continue
    } else {
        Action::Generate
    };
    let name = req
        .model
        .clone()
        .unwrap_or_else(|| default_for(req.primer.as_ref().map(|p| &p.score)).into());
    let entry = resolve(&name, action)?;
    match load(&entry)? {
        Loaded::Music(m) => Ok((m, entry.dir)),
        _ => Err(Error::Internal(
            "a generation model that is not a Music Transformer".into(),
        )),
    }
}

/// Runs `req` with `model` (from [`load_model`]); `on_event(sample, event)` sees notes as they come.
pub fn generate(
    req: &Generate,
    model: &MusicTransformer,
    model_dir: PathBuf,
    on_event: &mut dyn FnMut(usize, GenEvent),
) -> Result<Generated> {
    validate(req)?;
    let vocab = model.config().vocab;
    let check = req.primer.as_ref().is_some_and(|p| p.check);
    if check && vocab == VocabKind::Grid {
        return Err(Error::Invalid(
            "the continuation check is for piano models (pop909-beat, pop909-piano)".into(),
        ));
    }
    let primer = req.primer.as_ref().map(cut_primer);
    let sampler = req.sampling.for_vocab(vocab);
    sampler.validate()?;
    let task = Request {
        length: req.length,
        sampler,
        samples: req.samples,
        bpm: req.bpm,
        primer_seconds: req.primer.as_ref().map_or(20.0, |p| p.seconds),
        only_new: req.primer.as_ref().is_some_and(|p| p.only_new),
        cancel: req.cancel.clone(),
        key_guide: req.key_guide,
    };
    let out = run(model, primer.as_ref(), &task, on_event)?;
    let checks = match (&primer, check) {
        (Some(p), true) => out
            .scores
            .iter()
            .map(|s| check_continuation(p, s))
            .collect::<Result<_>>()?,
        _ => Vec::new(),
    };
    Ok(Generated {
        generated_from: primer.as_ref().map_or(0.0, pitched_end),
        scores: out.scores,
        notes: out.notes,
        model_dir,
        sampler,
        checks,
    })
}

/// The primer as the model sees it: cut at the continuation point when one is given.
fn cut_primer(p: &Primer) -> Score {
    match p.from {
        Some(t) => p.score.until(t),
        None => p.score.clone(),
    }
}

/// Where the primer's pitched music ends (the continuation starts there).
fn pitched_end(s: &Score) -> f64 {
    s.notes
        .iter()
        .filter(|n| !n.is_drum())
        .map(|n| n.end)
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::melody_bars;

    #[test]
    fn a_primer_cut_at_a_point_keeps_only_what_starts_before_it() {
        // Two bars at 120 BPM: bar 2 starts at 2 s; the half note from 1.5 s to 2.5 s is cut at 2 s.
        let song = melody_bars(&[&[(60, 0, 4), (62, 12, 8)], &[(64, 0, 4), (65, 8, 4)]]);
        let cut = song.until(2.0);
        assert_eq!(cut.notes.len(), 2);
        assert!((cut.notes[1].end - 2.0).abs() < 1e-9, "{:?}", cut.notes[1]);
        assert!((pitched_end(&cut) - 2.0).abs() < 1e-9);
        let p = Primer {
            from: Some(2.0),
            ..Primer::new(song.clone())
        };
        assert_eq!(cut_primer(&p), cut);
        assert_eq!(cut_primer(&Primer::new(song.clone())), song);
    }

    #[test]
    fn requests_are_checked_in_words_not_flags() {
        let mut req = Generate::new(None, 1);
        req.bpm = 5.0;
        let e = validate(&req).unwrap_err().to_string();
        assert!(e.contains("5 BPM") && !e.contains("--"), "{e}");
        let mut req = Generate::new(None, 1);
        req.length = Length::Tokens(0);
        assert!(validate(&req).unwrap_err().to_string().contains("0 tokens"));
        let mut req = Generate::new(Some(Primer::new(melody_bars(&[&[(60, 0, 4)]]))), 1);
        req.primer.as_mut().unwrap().from = Some(-1.0);
        assert!(validate(&req).is_err());
    }

    #[test]
    fn beat_aware_models_sample_a_nucleus_unless_told_otherwise() {
        let s = Sampling::new(3);
        assert_eq!(s.for_vocab(VocabKind::Remi).top_p, DEFAULT_BEAT_TOP_P);
        assert_eq!(s.for_vocab(VocabKind::Grid).top_p, 1.0);
        let chosen = Sampling {
            top_p: Some(0.5),
            ..s
        };
        assert_eq!(chosen.for_vocab(VocabKind::Remi).top_p, 0.5);
    }
}
