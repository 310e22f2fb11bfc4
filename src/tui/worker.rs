//! Background jobs of the terminal UI: generation and WAV rendering, reporting progress and notes as
//! they come. `run_job` is plain blocking code: the runtime calls it on a worker thread, tests inline.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::audio::{render_wav, soundfont, RenderOptions};
use crate::generate::tasks::{self, GenEvent, Length, Request};
use crate::generate::SamplerConfig;
use crate::midi::Score;
use crate::model::MusicTransformer;

use super::app::Params;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Continue the current music.
    Continue,
    /// Generate from nothing.
    Generate,
    /// Render the current music to WAV.
    Render,
    /// Write a piano part for the current music's melody.
    Accompany,
}

impl JobKind {
    /// The action's name for the status line.
    pub fn verb(self) -> &'static str {
        match self {
            JobKind::Continue => "continuing",
            JobKind::Generate => "generating",
            JobKind::Render => "rendering",
            JobKind::Accompany => "accompanying",
        }
    }
}

/// Everything a job needs (owned: it moves to the worker thread).
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// What to do.
    pub kind: JobKind,
    /// The model (generations).
    pub model_dir: PathBuf,
    /// The primer (continue) or the music to render.
    pub primer: Option<Score>,
    /// Generation settings.
    pub params: Params,
    /// Where to write (render).
    pub wav_path: Option<PathBuf>,
}

/// What a job produced.
#[derive(Debug, Clone)]
pub enum JobResult {
    /// New music; the new part starts at `generated_from` seconds.
    Generated {
        /// The whole music.
        score: Score,
        /// Start of the new part.
        generated_from: f64,
    },
    /// A WAV file.
    Rendered {
        /// Where.
        path: PathBuf,
        /// Its length.
        seconds: f64,
    },
}

/// Messages from a job to the UI.
#[derive(Debug, Clone)]
pub enum JobMsg {
    /// A progress line.
    Progress(String),
    /// A token or note of the generation.
    Event(GenEvent),
    /// The end: the result or a one-line error.
    Done(Result<JobResult, String>),
}

/// Runs `spec`, sending messages to `send`; stops early (with "cancelled") once `cancel` is set.
pub fn run_job(spec: JobSpec, cancel: Arc<AtomicBool>, send: &mut dyn FnMut(JobMsg)) {
    let result = match spec.kind {
        JobKind::Continue | JobKind::Generate => generate(&spec, cancel, send),
        JobKind::Render => render_job(&spec, &cancel, send),
        JobKind::Accompany => accompany_job(&spec, cancel, send),
    };
    send(JobMsg::Done(result.map_err(|e| e.to_string())));
}

fn generate(
    spec: &JobSpec,
    cancel: Arc<AtomicBool>,
    send: &mut dyn FnMut(JobMsg),
) -> crate::Result<JobResult> {
    let model = MusicTransformer::load(&spec.model_dir, &candle_core::Device::Cpu)?;
    let p = &spec.params;
    let req = Request {
        length: Length::Seconds(p.seconds),
        sampler: SamplerConfig {
            temperature: p.temperature,
            top_k: (p.top_k > 0).then_some(p.top_k),
            top_p: p.top_p,
            seed: p.seed,
        },
        samples: 1,
        bpm: 100.0,
        primer_seconds: 20.0,
        only_new: false,
        cancel: Some(cancel),
        key_guide: crate::generate::tasks::DEFAULT_KEY_GUIDE,
    };
    let primer = spec.primer.as_ref();
    let mut tokens = 0usize;
    let mut notes = 0usize;
    let out = tasks::run(&model, primer, &req, &mut |_, e| {
        match e {
            GenEvent::Token(_) => tokens += 1,
            GenEvent::Note { .. } => notes += 1,
        }
        if tokens.is_multiple_of(32) {
            send(JobMsg::Progress(format!(
                "{} … {tokens} tokens, {} note events · Esc cancels",
                spec.kind.verb(),
                notes
            )));
        }
        send(JobMsg::Event(e));
    })?;
    let generated_from = primer.map_or(0.0, |s| {
        s.notes
            .iter()
            .filter(|n| !n.is_drum())
            .map(|n| n.end)
            .fold(0.0, f64::max)
    });
    let score = out
        .scores
        .into_iter()
        .next()
        .ok_or_else(|| crate::Error::Internal("generation returned nothing".into()))?;
    Ok(JobResult::Generated {
        score,
        generated_from,
    })
}

fn accompany_job(
    spec: &JobSpec,
    cancel: Arc<AtomicBool>,
    send: &mut dyn FnMut(JobMsg),
) -> crate::Result<JobResult> {
    use crate::accompany::generate::{AccompanyRequest, DEFAULT_HARMONIZER};
    use crate::ops::accompany::{accompany, Accompany, ChordSource, Progress};
    let score = spec
        .primer
        .as_ref()
        .ok_or_else(|| crate::Error::Internal("accompany job without music".into()))?;
    let p = &spec.params;
    let mut request = AccompanyRequest::new(SamplerConfig {
        temperature: p.temperature,
        top_k: (p.top_k > 0).then_some(p.top_k),
        top_p: p.top_p,
        seed: p.seed,
    });
    request.cancel = Some(cancel);
    let action = Accompany {
        song: score.clone(),
        origin: "the loaded file".into(),
        model_dir: spec.model_dir.clone(),
        track: None,
        chords: ChordSource::Harmonizer(DEFAULT_HARMONIZER.into()),
        samples: 1,
        request,
    };
    let out = accompany(&action, &mut |progress| match progress {
        Progress::Melody(m) => send(JobMsg::Progress(m)),
        Progress::Bar { done, all, .. } => send(JobMsg::Progress(format!(
            "accompanying … bar {done} of {all} · Esc cancels"
        ))),
    })?;
    Ok(JobResult::Generated {
        score: out
            .scores
            .into_iter()
            .next()
            .ok_or_else(|| crate::Error::Internal("accompaniment returned nothing".into()))?,
        generated_from: 0.0,
    })
}

fn render_job(
    spec: &JobSpec,
    _cancel: &AtomicBool,
    send: &mut dyn FnMut(JobMsg),
) -> crate::Result<JobResult> {
    let (Some(score), Some(path)) = (spec.primer.as_ref(), spec.wav_path.as_ref()) else {
        return Err(crate::Error::Internal(
            "render job without music or path".into(),
        ));
    };
    crate::atomic_file::check_writable(path)?;
    let sf = soundfont::load(None)?;
    let opts = RenderOptions::default();
    let (seconds, _) = render_wav(score, &sf, &opts, path, &mut |f| {
        send(JobMsg::Progress(format!(
            "rendering {} … {:.0} %",
            path.display(),
            f * 100.0
        )))
    })?;
    // Streamed to disk: a render is short next to generation and finishes once started.
    Ok(JobResult::Rendered {
        path: path.clone(),
        seconds,
    })
}
