//! Write the voices a chorale lacks: read the given voices from a score (a melody becomes the
//! soprano), fill the others with the voice filler (or the rule-based baseline), and write each
//! take as the score with only those voices added or replaced.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::generate::harmonize::{fill, Kept};
use crate::generate::voices::{read_given, write_filled, Given};
use crate::generate::{check_cancel, rule_harmony, SamplerConfig};
use crate::midi::Score;
use crate::model::voice_filler::VoiceFiller;

use super::models::{load, resolve, Action, Loaded};

/// The model `harmonize` uses unless told otherwise.
pub const DEFAULT_MODEL: &str = "jsb-voices";
/// Nucleus sampling unless told otherwise: on the 76 validation chorales top-p 0.7 cut parallel
/// fifths and octaves from 1.86 to 0.55 per 100 steps, voice crossing from 2.6 % to 0.8 % of steps
/// and notes out of range from 2.2 % to 0.8 % against the full distribution, with the same share of
/// chord tones (models/jsb-voices/MODEL_CARD.md).
pub const DEFAULT_TOP_P: f32 = 0.7;

/// Who writes the voices.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// The voice filler of this name or folder (`None`: [`DEFAULT_MODEL`]).
    Model(Option<String>),
    /// The rule-based baseline (soprano given only).
    Rules,
}

/// A harmonization request.
#[derive(Debug, Clone)]
pub struct Harmonize {
    /// Who writes the voices.
    pub method: Method,
    /// The piece.
    pub score: Score,
    /// Read the given voices from this track only (others stay as they are); `None`: the score.
    pub track: Option<usize>,
    /// The voices kept.
    pub kept: Kept,
    /// Takes, 1–64.
    pub samples: usize,
    /// Sampling (temperature, top-p, seed).
    pub sampler: SamplerConfig,
    /// Set to stop early.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Harmonize {
    /// One take under the soprano of `score`, with the default model.
    pub fn new(score: Score, seed: u64) -> Self {
        Harmonize {
            method: Method::Model(None),
            score,
            track: None,
            kept: Kept::SOPRANO,
            samples: 1,
            sampler: SamplerConfig {
                seed,
                top_p: DEFAULT_TOP_P,
                ..SamplerConfig::default()
            },
            cancel: None,
        }
    }
}

/// The takes.
pub struct Harmonized {
    /// One score per take.
    pub scores: Vec<Score>,
    /// Lines worth telling the user.
    pub notes: Vec<String>,
}

/// Checks `req` before any model is loaded and reads the given voices.
pub fn check(req: &Harmonize) -> Result<Given> {
    if !(1..=64).contains(&req.samples) {
        return Err(Error::Invalid(format!(
            "{} takes: ask for 1–64",
            req.samples
        )));
    }
    req.sampler.validate()?;
    if req.method == Method::Rules && req.kept != Kept::SOPRANO {
        return Err(Error::Invalid(
            "the rules harmonize a soprano only: use the model to keep other voices".into(),
        ));
    }
    if req.method == Method::Rules && req.samples > 1 {
        return Err(Error::Invalid(
            "the rules write one take (they draw nothing at random)".into(),
        ));
    }
    read_given(&req.score, req.track, req.kept)
}

/// Loads the voice filler `name` (or the default).
pub fn load_model(name: Option<&str>) -> Result<VoiceFiller> {
    let entry = resolve(name.unwrap_or(DEFAULT_MODEL), Action::FillVoices)?;
    match load(&entry)? {
        Loaded::Filler(m) => Ok(m),
        _ => Err(Error::Internal(
            "the registry loaded another architecture".into(),
        )),
    }
}

/// Writes `req.samples` takes (`model` is needed unless the method is the rules);
/// `on_progress(done, total)` sees the filled values.
pub fn harmonize(
    req: &Harmonize,
    model: Option<&VoiceFiller>,
    on_progress: &mut dyn FnMut(usize, usize),
) -> Result<Harmonized> {
    let given = check(req)?;
    let mut notes = vec![format!(
        "kept {} ({} sixteenths, {})",
        req.kept.describe(),
        given.chorale.steps.len(),
        given.source
    )];
    let filled = match (&req.method, model) {
        (Method::Rules, _) => {
            notes.push("voices written by the rule-based harmonizer".into());
            vec![rule_harmony::harmonize(&given.chorale)?]
        }
        (Method::Model(_), Some(m)) => fill(
            m,
            &given.chorale,
            req.kept,
            req.samples,
            req.sampler,
            &mut |i, n| {
                on_progress(i, n);
                check_cancel(&req.cancel)
            },
        )?,
        (Method::Model(_), None) => {
            return Err(Error::Internal("harmonize needs the model loaded".into()))
        }
    };
    let scores = filled
        .iter()
        .map(|c| write_filled(&req.score, &given, c))
        .collect();
    Ok(Harmonized { scores, notes })
}

/// The model's folder, for messages.
pub fn model_dir(name: Option<&str>) -> Result<PathBuf> {
    Ok(resolve(name.unwrap_or(DEFAULT_MODEL), Action::FillVoices)?.dir)
}
