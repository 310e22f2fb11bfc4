//! Clone a timbre: from a recording and the notes played in it, tune a timbre (the GLA synth's
//! initial states; the network stays frozen), starting from the nearest trained timbre. Without
//! the notes, a one-voice recording is transcribed (`synth::transcribe`).

use std::path::PathBuf;

use crate::atomic_file::check_output;
use crate::audio::decode::decode_file;
use crate::error::{Error, Result};
use crate::midi::read_file;
use crate::midi::Score;
use crate::synth::clone::{
    check, clone_timbre, fit_loss, plot_curve, prepare, CloneCurve, CloneSettings,
};
use crate::synth::model::{NeuralSynth, Timbre};
use crate::synth::render::{load_network, load_timbre, timbre_names, timbre_path};
use crate::synth::transcribe::transcribe;

use super::models::{resolve, Action};

/// The most Adam steps one cloning takes.
pub const MAX_STEPS: usize = 100_000;

/// What to clone.
#[derive(Debug, Clone)]
pub struct CloneTimbre {
    /// The recording (WAV, FLAC, MP3 or Ogg Vorbis).
    pub recording: PathBuf,
    /// The notes played in it (MIDI); `None` transcribes them (one voice only).
    pub notes: Option<PathBuf>,
    /// Where to write the timbre.
    pub output: PathBuf,
    /// The synth model's name or folder.
    pub model: String,
    /// The tuning: at most 1–100 000 Adam steps, a rate in (0, 10), early stopping.
    pub settings: CloneSettings,
    /// Also draw the loss curve into this PNG.
    pub plot: Option<PathBuf>,
}

/// What cloning reports as it goes.
#[derive(Debug, Clone)]
pub enum Progress {
    /// No notes were given: the recording was transcribed.
    Transcribed {
        /// Notes found.
        notes: usize,
        /// Lowest and highest key.
        range: (u8, u8),
        /// Mean periodicity of the voiced frames, 0–1.
        confidence: f64,
    },
    /// A trained timbre's loss on the recording (choosing where to start).
    Candidate {
        /// Its name.
        name: String,
        /// Its loss.
        loss: f64,
    },
    /// The recording is read and aligned; cloning starts from `start`.
    Ready {
        /// Seconds of audio.
        seconds: f64,
        /// Notes fitted.
        notes: usize,
        /// Alignment offset, seconds.
        offset: f64,
        /// The trained timbre it starts from.
        start: String,
    },
    /// An Adam step (0-based) and its loss.
    Step(usize, f64),
}

/// A cloned timbre, written.
#[derive(Debug, Clone)]
pub struct Cloned {
    /// The trained timbre it started from.
    pub nearest: String,
    /// STFT distance of that timbre to the recording.
    pub before: f64,
    /// STFT distance of the clone to the recording.
    pub after: f64,
    /// The losses along the way and where it stopped.
    pub curve: CloneCurve,
    /// Wall time of the tuning, seconds.
    pub seconds: f64,
}

/// Clones a timbre from `req.recording` and writes it to `req.output`.
pub fn clone(req: &CloneTimbre, progress: &mut dyn FnMut(Progress)) -> Result<Cloned> {
    let s = &req.settings;
    if !((1..=MAX_STEPS).contains(&s.max_steps) && s.lr > 0.0 && s.lr < 10.0) {
        return Err(Error::Invalid(format!(
            "{} Adam steps at rate {}: use 1–{MAX_STEPS} steps and a rate in (0, 10)",
            s.max_steps, s.lr
        )));
    }
    if let Some(parent) = req.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let mut inputs = vec![req.recording.as_path()];
    inputs.extend(req.notes.as_deref());
    check_output(&req.output, &inputs)?;
    if let Some(plot) = &req.plot {
        check_output(plot, &inputs)?;
        if plot == &req.output {
            return Err(Error::Invalid(
                "the plot and the timbre would be the same file".into(),
            ));
        }
    }
    let rec = decode_file(&req.recording)?;
    let score = notes_of(req, &rec, progress)?;
    let (audio, fit, offset) =
        prepare(&rec, &score).map_err(|e| Error::bad_file(&req.recording, e.to_string()))?;
    let dir = resolve(&req.model, Action::Synthesize)?.dir;
    let net = load_network(&dir)?;
    let (nearest, before, init) = nearest_timbre(&net, &dir, &audio, &fit, progress)?;
    progress(Progress::Ready {
        seconds: rec.seconds(),
        notes: fit.len(),
        offset,
        start: nearest.clone(),
    });
    let started = std::time::Instant::now();
    let (timbre, curve) = clone_timbre(&net, &init, &audio, &fit, s, &mut |s, l| {
        progress(Progress::Step(s, l))
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let after = fit_loss(&net, &timbre, &audio, &fit)?;
    timbre.save(&req.output)?;
    if let Some(plot) = &req.plot {
        plot_curve(&curve, plot)?;
    }
    Ok(Cloned {
        nearest,
        before,
        after,
        curve,
        seconds,
    })
}

/// The notes of the recording: read from `req.notes`, or transcribed (and reported) without them.
fn notes_of(
    req: &CloneTimbre,
    rec: &crate::audio::decode::Recording,
    progress: &mut dyn FnMut(Progress),
) -> Result<Score> {
    if let Some(path) = &req.notes {
        return read_file(path);
    }
    let bad = |e: Error| Error::bad_file(&req.recording, e.to_string());
    check(rec).map_err(bad)?;
    let heard = transcribe(rec).map_err(bad)?;
    progress(Progress::Transcribed {
        notes: heard.notes.len(),
        range: heard.range().unwrap_or((0, 0)),
        confidence: heard.confidence,
    });
    heard.to_score()
}

/// The trained timbre with the lowest loss on the recording.
fn nearest_timbre(
    net: &NeuralSynth,
    dir: &std::path::Path,
    audio: &[f32],
    fit: &[crate::synth::clone::FitNote],
    progress: &mut dyn FnMut(Progress),
) -> Result<(String, f64, Timbre)> {
    let mut nearest: Option<(String, f64, Timbre)> = None;
    for name in timbre_names(dir) {
        let t = load_timbre(&timbre_path(dir, &name), net.config())?;
        let loss = fit_loss(net, &t, audio, fit)?;
        progress(Progress::Candidate {
            name: name.clone(),
            loss,
        });
        if nearest.as_ref().is_none_or(|n| loss < n.1) {
            nearest = Some((name, loss, t));
        }
    }
    nearest.ok_or_else(|| Error::bad_file(dir, "has no trained timbres to start from"))
}
