//! Regenerate a span of a piano piece: choose and load the infilling model, resolve the span on
//! the piece's bars, and write `samples` takes, each the whole piece with only the span rewritten.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::generate::infill::{infill as fill, Span, SpanSpec};
use crate::generate::tasks::{validate_key_guide, GenEvent, Length, Request, DEFAULT_KEY_GUIDE};
use crate::generate::SamplerConfig;
use crate::midi::Score;
use crate::model::{MusicTransformer, VocabKind};

use super::generate::Sampling;
use super::models::{load, resolve, Action, Loaded};

/// The model `infill` uses unless told otherwise.
pub const DEFAULT_MODEL: &str = "pop909-infill";

/// A span to regenerate.
#[derive(Debug, Clone)]
pub struct Infill {
    /// The model's name or folder (`None`: [`DEFAULT_MODEL`]).
    pub model: Option<String>,
    /// The piece.
    pub score: Score,
    /// The span.
    pub span: SpanSpec,
    /// Regenerate only this track's notes (the others stay as they are); `None`: every pitched
    /// track's.
    pub track: Option<usize>,
    /// Sampling.
    pub sampling: Sampling,
    /// Takes, 1–64.
    pub samples: usize,
    /// Key guidance, 0–10 nats.
    pub key_guide: f32,
    /// Set to stop early.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Infill {
    /// One take of `span` in `score` with the default model.
    pub fn new(score: Score, span: SpanSpec, seed: u64) -> Self {
        Infill {
            model: None,
            score,
            span,
            track: None,
            sampling: Sampling::new(seed),
            samples: 1,
            key_guide: DEFAULT_KEY_GUIDE,
            cancel: None,
        }
    }
}

/// The takes.
pub struct Infilled {
    /// One score per take.
    pub scores: Vec<Score>,
    /// The span as resolved on the piece's bars.
    pub span: Span,
    /// Lines worth telling the user.
    pub notes: Vec<String>,
    /// The model's folder.
    pub model_dir: PathBuf,
    /// The sampler used.
    pub sampler: SamplerConfig,
}

/// Loads the model `name` (or the default) and checks that it is a beat-aware piano model.
pub fn load_model(name: Option<&str>) -> Result<(MusicTransformer, PathBuf)> {
    let entry = resolve(name.unwrap_or(DEFAULT_MODEL), Action::Continue)?;
    match load(&entry)? {
        Loaded::Music(m) if m.config().vocab == VocabKind::Remi && m.config().beat_embedding => {
            Ok((m, entry.dir))
        }
        _ => Err(Error::Invalid(format!(
            "{} is not a beat-aware piano model: infilling needs one trained to fill in ({DEFAULT_MODEL})",
            entry.dir.display()
        ))),
    }
}

/// Checks `req` before any model is loaded: the number of takes, the key guidance and the span
/// (resolved on the piece's bars).
pub fn check(req: &Infill) -> Result<Span> {
    validate_key_guide(req.key_guide)?;
    if !(1..=64).contains(&req.samples) {
        return Err(Error::Invalid(format!(
            "{} takes: ask for 1–64",
            req.samples
        )));
    }
    Span::resolve(&req.score, req.span)
}

/// Writes `req.samples` takes of the span with `model`; `on_event(take, event)` sees the new notes
/// as they come.
pub fn infill(
    req: &Infill,
    model: &MusicTransformer,
    model_dir: PathBuf,
    on_event: &mut dyn FnMut(usize, GenEvent),
) -> Result<Infilled> {
    let span = check(req)?;
    let sampler = req.sampling.for_vocab(VocabKind::Remi);
    sampler.validate()?;
    let task = Request {
        length: Length::Seconds(1.0),
        sampler,
        samples: req.samples,
        bpm: 120.0,
        primer_seconds: 20.0,
        only_new: false,
        cancel: req.cancel.clone(),
        key_guide: req.key_guide,
    };
    let out = fill(model, &req.score, span, req.track, &task, on_event)?;
    Ok(Infilled {
        scores: out.scores,
        span,
        notes: out.notes,
        model_dir,
        sampler,
    })
}
