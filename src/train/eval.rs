//! `reprise eval`: a model's negative log-likelihood on a data split, whatever its architecture (the
//! registry names it), with the unit each model is judged in.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model::theme_transformer::{ThemeTask, ThemeTransformer};
use crate::model::MusicTransformer;
use crate::ops::models::{inspect, load, Loaded};

/// What to score.
#[derive(Debug, Clone)]
pub struct Eval {
    /// The model's name or folder.
    pub model: String,
    /// The data: a JSB JSON file or a POP909 folder.
    pub data: PathBuf,
    /// The split.
    pub split: String,
    /// Theme and accompaniment models: NLL with each window's own theme or melody against another's.
    pub ablation: bool,
    /// A plain MIDI folder as data: the share of files in the valid split (`None`: 10 %).
    pub valid_share: Option<f64>,
    /// Beat-aware piano models: the NLL of real spans given what comes before and after them,
    /// and given what comes before only (`train::infill::infill_nll`).
    pub infill: bool,
    /// Chorale models: the NLL of alto, tenor and bass given the soprano; for a voice filler also
    /// the part writing of its takes against Bach's and the rule-based baseline's.
    pub harmonize: bool,
    /// With `harmonize`: only the first this many chorales of the split.
    pub pieces: Option<usize>,
    /// With `harmonize`: how a voice filler's takes are drawn (chorale i gets seed + i).
    pub sampler: crate::generate::SamplerConfig,
}

/// The result, one line.
#[derive(Debug, Clone)]
pub struct Scored {
    /// The model's folder.
    pub model_dir: PathBuf,
    /// What was measured, after "DIR: ".
    pub line: String,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl fmt::Display for Scored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} ({:.1} s)",
            self.model_dir.display(),
            self.line,
            self.seconds
        )
    }
}

/// Scores `req.model` on `req.split` of `req.data`.
pub fn evaluate(req: &Eval) -> Result<Scored> {
    let start = std::time::Instant::now();
    let entry = inspect(&crate::model::resolve_model_dir(&req.model)?)?;
    let (data, split) = (req.data.as_path(), req.split.as_str());
    let line = match load(&entry)? {
        Loaded::Harmonizer(h) => harmonizer_line(&h, data, split)?,
        Loaded::Theme(m) if req.ablation => ablation_line(&m, data, split)?,
        Loaded::Theme(m) => {
            let (nll, tokens, pieces) = super::theme::evaluate_split(&m, data, split)?;
            format!("{split} NLL {nll:.4} nats/token over {tokens} tokens ({pieces} pieces)")
        }
        Loaded::Filler(m) => filler_line(&m, data, split, req)?,
        Loaded::Music(m) if req.harmonize => {
            let chorales = super::voice_eval::chorales(data, split, req.pieces)?;
            let (nll, n) = super::voice_eval::grid_voice_nll(&m, &chorales)?;
            format!(
                "{split} NLL of the alto, tenor and bass tokens given the soprano up to their step and all before: {nll:.4} nats/token over {n} tokens ({} chorales)",
                chorales.len()
            )
        }
        Loaded::Music(m) => {
            let share = req
                .valid_share
                .unwrap_or(super::folder::DEFAULT_VALID_SHARE);
            if req.infill {
                infill_line(&m, data, split, share)?
            } else {
                music_line(&m, data, split, share)?
            }
        }
        Loaded::Synth(_) => {
            return Err(Error::Invalid(format!(
                "{} is the neural synth: it has no NLL (synth-eval measures it)",
                entry.dir.display()
            )))
        }
    };
    Ok(Scored {
        model_dir: entry.dir,
        line,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn filler_line(
    m: &crate::model::voice_filler::VoiceFiller,
    data: &Path,
    split: &str,
    req: &Eval,
) -> Result<String> {
    use super::voice_eval::{chorales, filler_nll, part_writing, part_writing_table};
    let pieces = chorales(data, split, req.pieces)?;
    let kept = crate::generate::harmonize::Kept::SOPRANO;
    let (nll, n) = filler_nll(m, &pieces, kept)?;
    let mut line = format!(
        "{split} NLL of alto, tenor and bass given the whole soprano: {nll:.4} nats per voice and 16th over {n} values ({} chorales)",
        pieces.len()
    );
    if req.harmonize {
        let p = part_writing(m, &pieces, req.sampler, &mut |_| {})?;
        line.push_str(&format!(
            "; part writing of one take per chorale (temperature {}, top-p {}, seed {} + its index) under Bach's sopranos:\n{}",
            req.sampler.temperature,
            req.sampler.top_p,
            req.sampler.seed,
            part_writing_table(&p)
        ));
    }
    Ok(line)
}

fn harmonizer_line(
    h: &crate::accompany::harmony::Harmonizer,
    data: &Path,
    split: &str,
) -> Result<String> {
    let s = super::harmony::evaluate_harmonizer(h, data, split)?;
    Ok(format!(
        "{split} NLL {:.4} nats/beat over {} labelled beats ({} songs); the chords it names: root right on {:.1} %, pitch-class overlap {:.3}, {:.1} % of their tones in the annotated chord; each beat's likeliest chord: root right on {:.1} %, {:.1} % of its tones in the annotated chord",
        s.nll,
        s.beats,
        s.songs,
        100.0 * s.roots,
        s.overlap,
        100.0 * s.tone_share,
        100.0 * s.likeliest_roots,
        100.0 * s.likeliest_tone_share,
    ))
}

fn ablation_line(m: &ThemeTransformer, data: &Path, split: &str) -> Result<String> {
    let ((own, n), (other, _)) = super::theme::theme_ablation(m, data, split, Some(100_000))?;
    let (scope, own_input, other_input) = match m.config().task {
        ThemeTask::Theme => (
            "inside theme regions",
            "song's own theme",
            "next song's theme",
        ),
        ThemeTask::Accompany => (
            "of the piano",
            "window's own melody",
            "next window's melody",
        ),
    };
    Ok(format!(
        "{split} NLL {scope} ({n} tokens, windows of about 100 000 tokens in all): {own:.4} with each {own_input}, {other:.4} with the {other_input}"
    ))
}

fn music_line(m: &MusicTransformer, data: &Path, split: &str, share: f64) -> Result<String> {
    let seqs = super::dataset::load_split_with(m.config().vocab, data, split, share)?;
    let (nll, tokens) = super::evaluate(m, &seqs, 8192, None).map_err(Error::tensor)?;
    let total = nll * tokens as f64;
    let per_unit = match crate::pop909::bar_count(data, split) {
        Some(bars) if bars > 0 => format!(
            ", {:.2} nats/bar over {bars} annotated bars, {:.3} nats/second of music",
            total / bars as f64,
            total / seqs.seconds.max(1e-9)
        ),
        _ if seqs.seconds > 0.0 => format!(", {:.3} nats/second of music", total / seqs.seconds),
        _ => String::new(),
    };
    Ok(format!(
        "{split} NLL {nll:.4} nats/token over {tokens} tokens ({} pieces){per_unit}",
        seqs.seqs.len()
    ))
}

fn infill_line(m: &MusicTransformer, data: &Path, split: &str, share: f64) -> Result<String> {
    if m.config().vocab != crate::model::VocabKind::Remi {
        return Err(Error::Invalid(
            "--infill measures beat-aware piano models (remi vocabulary)".into(),
        ));
    }
    let seqs = super::dataset::load_split_with(m.config().vocab, data, split, share)?;
    let r = super::infill::infill_nll(m, &seqs.seqs).map_err(Error::tensor)?;
    Ok(format!(
        "{split} NLL of {} real 4-bar spans ({} tokens, {} pieces): {:.4} nats/token given the music before and after, {:.4} given the music before only",
        r.spans,
        r.tokens,
        seqs.seqs.len(),
        r.with_suffix,
        r.prefix_only
    ))
}
