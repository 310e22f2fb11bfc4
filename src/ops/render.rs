//! Render music to a WAV file with either engine: the checks, the gain, the WAV writing and the
//! clipping report are the same for both.

use std::path::PathBuf;
use std::sync::Mutex;

use crate::atomic_file::check_output;
use crate::audio::{render_wav, write_wav, RenderOptions, WavStats};
use crate::error::{Error, Result};
use crate::midi::Score;

use super::engine::{Engine, Voice, MAX_NEURAL_SECONDS};

/// What to render, with what, to where.
#[derive(Debug, Clone)]
pub struct Render {
    /// The music.
    pub score: Score,
    /// The file it came from (refused as the output; names it in errors), if any.
    pub origin: Option<PathBuf>,
    /// The WAV file to write (all or nothing).
    pub output: PathBuf,
    /// The engine.
    pub voice: Voice,
    /// Sample rate, gain, threads.
    pub options: RenderOptions,
}

/// A written WAV file.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Where.
    pub path: PathBuf,
    /// Its length in seconds.
    pub seconds: f64,
    /// Its sample rate.
    pub sample_rate: u32,
    /// Peak level before clipping, dBFS.
    pub peak_db: f32,
    /// Samples clipped to full scale.
    pub clipped: u64,
    /// When samples clipped: the gain that would have fitted.
    pub fitting_gain: Option<f32>,
    /// The engine, in words.
    pub engine: String,
}

/// Renders `req.score` to `req.output`; `progress` sees 0–1.
pub fn render(req: &Render, progress: &mut (dyn FnMut(f64) + Send)) -> Result<Rendered> {
    check(req)?;
    let origin = origin(req);
    let (seconds, stats) = match req.voice.engine {
        Engine::Soundfont => {
            let sf = req.voice.load_soundfont()?;
            render_wav(&req.score, &sf, &req.options, &req.output, progress)?
        }
        Engine::Neural => render_neural(req, &origin, progress)?,
    };
    Ok(Rendered {
        path: req.output.clone(),
        seconds,
        sample_rate: req.options.sample_rate,
        peak_db: 20.0 * stats.peak.max(1e-9).log10(),
        clipped: stats.clipped,
        fitting_gain: (stats.clipped > 0).then(|| req.options.gain / stats.peak),
        engine: req.voice.describe(),
    })
}

/// Checks `req` without rendering: the settings, the output path, that there is something to hear.
pub fn check(req: &Render) -> Result<()> {
    req.options.validate()?;
    let mut inputs: Vec<&std::path::Path> = req.origin.iter().map(PathBuf::as_path).collect();
    inputs.extend(req.voice.inputs());
    check_output(&req.output, &inputs)?;
    req.voice.check_score(&req.score, &origin(req))
}

fn origin(req: &Render) -> PathBuf {
    req.origin.clone().unwrap_or_else(|| "the music".into())
}

/// The neural synth renders in memory, then the mix is scaled and written like the SoundFont's.
fn render_neural(
    req: &Render,
    origin: &std::path::Path,
    progress: &mut (dyn FnMut(f64) + Send),
) -> Result<(f64, WavStats)> {
    if req.score.duration() > MAX_NEURAL_SECONDS {
        return Err(Error::bad_file(
            origin,
            format!(
                "lasts {:.1} h: the neural synth renders in memory, at most {} min (the SoundFont engine streams)",
                req.score.duration() / 3600.0,
                MAX_NEURAL_SECONDS / 60.0
            ),
        ));
    }
    let engine = req.voice.load_neural()?;
    let shared = Mutex::new(progress);
    let mut audio = engine.render(&req.score, req.options.sample_rate, &|f| {
        if let Ok(mut p) = shared.lock() {
            p(f)
        }
    })?;
    for ch in [&mut audio.left, &mut audio.right] {
        ch.iter_mut().for_each(|v| *v *= req.options.gain);
    }
    let stats = write_wav(&audio, &req.output)?;
    Ok((audio.seconds(), stats))
}
