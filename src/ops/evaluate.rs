//! Measurements a user runs on the shipped models: the piano continuation report on the validation
//! songs of POP909 or of a folder of MIDI files, and the neural synth against the SoundFont. (NLL on a data split is training
//! territory: `train::eval`.)

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::generate::report::{continuation_report, Report, ReportRequest, SongRow};
use crate::generate::tasks::validate_key_guide;
use crate::generate::SamplerConfig;
use crate::synth::data::TRAINED;
use crate::synth::eval::{
    evaluate, evaluate_soundfont, EvalResult, EvalSettings, SoundFontEval, SoundFontSettings,
};
use crate::synth::render::{load_network, load_timbre, timbre_names, timbre_path};

use super::models::{load, resolve, Action, Loaded};

/// The continuation report's settings.
#[derive(Debug, Clone)]
pub struct Continuation {
    /// The piano model's name or folder.
    pub model: String,
    /// The POP909 folder, or any folder of MIDI files.
    pub data: PathBuf,
    /// Only the first N validation songs.
    pub songs: Option<usize>,
    /// Seconds of primer from each song's first note (`None`: the report's default, 20).
    pub primer_seconds: Option<f64>,
    /// Seconds compared after the primer (`None`: 30).
    pub seconds: Option<f64>,
    /// The baseline loops the primer's last this many seconds (`None`: 10).
    pub loop_seconds: Option<f64>,
    /// On a MIDI folder: the share of its files in the valid split (`None`: 10 %).
    pub valid_share: Option<f64>,
    /// Sampling (each song adds its number to the seed).
    pub sampler: SamplerConfig,
    /// Key guidance, 0–10.
    pub key_guide: f32,
    /// Measure infilling of the compared seconds (the song after them as the suffix) instead of
    /// continuation.
    pub infill: bool,
}

/// The report and where it came from.
pub struct ContinuationReport {
    /// The table's data.
    pub report: Report,
    /// The model's folder.
    pub model_dir: PathBuf,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Runs the continuation report; `on_song` sees each song's row as it is done.
pub fn continuation(
    req: &Continuation,
    on_song: &mut dyn FnMut(&SongRow),
) -> Result<ContinuationReport> {
    let start = std::time::Instant::now();
    req.sampler.validate()?;
    validate_key_guide(req.key_guide)?;
    let entry = resolve(&req.model, Action::Continue)?;
    let Loaded::Music(model) = load(&entry)? else {
        return Err(Error::Internal(
            "a piano model that is not a Music Transformer".into(),
        ));
    };
    let default = ReportRequest::default();
    let r = ReportRequest {
        primer_seconds: req.primer_seconds.unwrap_or(default.primer_seconds),
        seconds: req.seconds.unwrap_or(default.seconds),
        loop_seconds: req.loop_seconds.unwrap_or(default.loop_seconds),
        songs: req.songs,
        sampler: req.sampler,
        key_guide: req.key_guide,
        valid_share: req.valid_share.unwrap_or(default.valid_share),
        infill: req.infill,
    };
    r.validate()?;
    let report = continuation_report(&model, &req.data, &r, on_song)?;
    Ok(ContinuationReport {
        report,
        model_dir: entry.dir,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The neural synth against the SoundFont, with cloning of the held-out programs; `say` gets
/// progress lines. The clones are written to `save_clones` when given.
pub fn synth(
    model: &str,
    settings: &EvalSettings,
    save_clones: Option<&std::path::Path>,
    say: &mut dyn FnMut(&str),
) -> Result<EvalResult> {
    let s = settings;
    if s.notes == 0
        || s.clone_steps == 0
        || !(2.0..=600.0).contains(&s.recording_seconds)
        || !(s.clone_lr > 0.0 && s.clone_lr < 10.0)
    {
        return Err(Error::Invalid(format!(
            "{} test notes and {} cloning steps must be > 0, a {} s recording 2–600 s, a cloning rate {} in (0, 10)",
            s.notes, s.clone_steps, s.recording_seconds, s.clone_lr
        )));
    }
    let dir = resolve(model, Action::Synthesize)?.dir;
    let net = load_network(&dir)?;
    let trained = TRAINED
        .iter()
        .map(|t| load_timbre(&timbre_path(&dir, t.name), net.config()))
        .collect::<Result<Vec<_>>>()?;
    let sf = crate::audio::soundfont::load(None)?;
    let result = evaluate(&net, &trained, &sf, settings, say)?;
    if let Some(out) = save_clones {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        for h in &result.held_out {
            h.timbre
                .save(&out.join(format!("{}-cloned.safetensors", h.name)))?;
        }
    }
    Ok(result)
}

/// Most programs one held-out SoundFont measurement takes.
pub const MAX_PROGRAMS: usize = 32;

/// Cloning on a SoundFont the synth never trained on: for each program, a clone from one phrase
/// against the nearest shipped timbre and the bundled SoundFont's same program on another phrase
/// (`synth::eval::evaluate_soundfont`); `say` gets progress lines.
pub fn synth_soundfont(
    model: &str,
    heldout_sf2: &std::path::Path,
    settings: &SoundFontSettings,
    say: &mut dyn FnMut(&str),
) -> Result<SoundFontEval> {
    let s = settings;
    let mut seen = [false; 128];
    if s.programs.is_empty() || s.programs.len() > MAX_PROGRAMS {
        return Err(Error::Invalid(format!(
            "{} programs: give 1–{MAX_PROGRAMS}",
            s.programs.len()
        )));
    }
    for &p in &s.programs {
        if p > 127 || std::mem::replace(&mut seen[p as usize], true) {
            return Err(Error::Invalid(format!(
                "program {p} is repeated or outside General MIDI's 0–127"
            )));
        }
    }
    if s.clone_steps == 0
        || !(4.0..=120.0).contains(&s.phrase_seconds)
        || !(s.clone_lr > 0.0 && s.clone_lr < 10.0)
    {
        return Err(Error::Invalid(format!(
            "{} cloning steps must be > 0, a {} s phrase 4–120 s, a cloning rate {} in (0, 10)",
            s.clone_steps, s.phrase_seconds, s.clone_lr
        )));
    }
    let heldout = crate::audio::soundfont::load(Some(heldout_sf2))?;
    let bundled = crate::audio::soundfont::load(None)?;
    let dir = resolve(model, Action::Synthesize)?.dir;
    let net = load_network(&dir)?;
    let shipped = timbre_names(&dir)
        .into_iter()
        .map(|n| {
            let t = load_timbre(&timbre_path(&dir, &n), net.config())?;
            Ok((n, t))
        })
        .collect::<Result<Vec<_>>>()?;
    evaluate_soundfont(&net, &shipped, &heldout, &bundled, settings, say)
}
