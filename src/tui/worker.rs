//! Background jobs of the terminal UI, each one call into the use-case layer (`ops`): generation,
//! themes, accompaniment, WAV rendering and cloning a timbre, reporting progress and notes as they
//! come. `run_job` is plain blocking code: the runtime calls it on a worker thread, tests inline.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::generate::tasks::{GenEvent, Length};
use crate::midi::Score;
use crate::ops::accompany::{accompany, Accompany, ChordSource, Progress};
use crate::ops::engine::{Engine, Voice};
use crate::ops::generate::{generate as generate_music, load_model, Generate, Primer, Sampling};
use crate::ops::render::{render, Render, Rendered};
use crate::ops::theme::{compose, extract, Compose, Extract};

use super::types::JobSpec;
use super::types::{JobKind, JobMsg, JobResult};

/// Runs `spec`, sending messages to `send`; stops early (with "cancelled") once `cancel` is set.
pub fn run_job(spec: JobSpec, cancel: Arc<AtomicBool>, send: &mut dyn FnMut(JobMsg)) {
    let result = match spec.kind {
        JobKind::Continue | JobKind::Generate => generate(&spec, cancel, send),
        JobKind::Render => render_job(&spec, send),
        JobKind::Accompany => accompany_job(&spec, cancel, send),
        JobKind::Theme => theme_job(&spec, cancel, send),
        JobKind::Extract => extract_job(&spec),
        JobKind::Infill => infill_job(&spec, cancel, send),
        JobKind::Harmonize => harmonize_job(&spec, cancel, send),
        JobKind::Clone => clone_job(&spec, cancel, send),
    };
    send(JobMsg::Done(result.map_err(|e| e.to_string())));
}

/// One take of the selected span.
fn infill_job(
    spec: &JobSpec,
    cancel: Arc<AtomicBool>,
    send: &mut dyn FnMut(JobMsg),
) -> Result<JobResult> {
    use crate::generate::infill::SpanSpec;
    use crate::ops::infill::{infill, load_model, Infill};
    let (Some(from), Some(to)) = (spec.from, spec.to) else {
        return Err(Error::Internal("infill without a span".into()));
    };
    let p = &spec.params;
    let req = Infill {
        model: Some(spec.model_dir.to_string_lossy().into_owned()),
        sampling: sampling(p),
        cancel: Some(cancel),
        ..Infill::new(music(spec)?.clone(), SpanSpec::Seconds { from, to }, p.seed)
    };
    let (model, dir) = load_model(req.model.as_deref())?;
    let mut tokens = 0usize;
    let out = infill(&req, &model, dir, &mut |_, e| {
        if let GenEvent::Token(_) = e {
            tokens += 1;
            if tokens.is_multiple_of(32) {
                send(JobMsg::Progress(format!(
                    "{} … {tokens} tokens · Esc cancels",
                    spec.kind.verb()
                )));
            }
        }
    })?;
    let score = out.scores.into_iter().next();
    let score = score.ok_or_else(|| Error::Internal("no take".into()))?;
    Ok(JobResult::Generated {
        score,
        generated_from: from,
    })
}

/// One take of alto, tenor and bass under the track parameter's melody.
fn harmonize_job(
    spec: &JobSpec,
    cancel: Arc<AtomicBool>,
    send: &mut dyn FnMut(JobMsg),
) -> Result<JobResult> {
    use crate::ops::harmonize::{harmonize, load_model, Harmonize, Method};
    let p = &spec.params;
    let req = Harmonize {
        method: Method::Model(Some(spec.model_dir.to_string_lossy().into_owned())),
        track: p.track,
        sampler: sampling(p).for_vocab(crate::model::VocabKind::Grid),
        cancel: Some(cancel),
        ..Harmonize::new(music(spec)?.clone(), p.seed)
    };
    crate::ops::harmonize::check(&req)?;
    let model = load_model(Some(&spec.model_dir.to_string_lossy()))?;
    let out = harmonize(&req, Some(&model), &mut |i, n| {
        if i.is_multiple_of(32) {
            send(JobMsg::Progress(format!(
                "{} … {i}/{n} voice steps · Esc cancels",
                spec.kind.verb()
            )));
        }
    })?;
    let score = out.scores.into_iter().next();
    let score = score.ok_or_else(|| Error::Internal("no take".into()))?;
    Ok(JobResult::Generated {
        score,
        generated_from: 0.0,
    })
}

fn music(spec: &JobSpec) -> Result<&Score> {
    spec.primer
        .as_ref()
        .ok_or_else(|| Error::Internal(format!("{} without music", spec.kind.verb())))
}

/// The sampling the parameters describe.
fn sampling(p: &super::types::Params) -> Sampling {
    Sampling {
        temperature: p.temperature,
        top_k: (p.top_k > 0).then_some(p.top_k),
        top_p: Some(p.top_p),
        seed: p.seed,
    }
}

/// The generation request `spec` describes.
fn request(spec: &JobSpec, cancel: Arc<AtomicBool>) -> Generate {
    let p = &spec.params;
    let primer = spec.primer.clone().map(|score| Primer {
        origin: spec.origin.clone(),
        from: spec.from,
        ..Primer::new(score)
    });
    Generate {
        model: Some(spec.model_dir.to_string_lossy().into_owned()),
        length: Length::Seconds(p.seconds),
        sampling: sampling(p),
        cancel: Some(cancel),
        ..Generate::new(primer, p.seed)
    }
}

fn generate(
    spec: &JobSpec,
    cancel: Arc<AtomicBool>,
    send: &mut dyn FnMut(JobMsg),
) -> Result<JobResult> {
    let req = request(spec, cancel);
    let (model, dir) = load_model(&req)?;
    let (mut tokens, mut notes) = (0usize, 0usize);
    let out = generate_music(&req, &model, dir, &mut |_, e| {
        match e {
            GenEvent::Token(_) => tokens += 1,
            GenEvent::Note { .. } => notes += 1,
        }
        if tokens.is_multiple_of(32) {
            send(JobMsg::Progress(format!(
                "{} … {tokens} tokens, {notes} note events · Esc cancels",
                spec.kind.verb(),
            )));
        }
        send(JobMsg::Event(e));
    })?;
    let score = out
        .scores
        .into_iter()
        .next()
        .ok_or_else(|| Error::Internal("generation returned nothing".into()))?;
    Ok(JobResult::Generated {
        score,
        generated_from: out.generated_from,
    })
}

fn accompany_job(
    spec: &JobSpec,
    cancel: Arc<AtomicBool>,
    send: &mut dyn FnMut(JobMsg),
) -> Result<JobResult> {
    use crate::accompany::generate::{AccompanyRequest, DEFAULT_HARMONIZER};
    let song = music(spec)?;
    let mut request = AccompanyRequest::new(spec.params.sampler());
    request.cancel = Some(cancel);
    let action = Accompany {
        song: song.clone(),
        origin: spec
            .origin
            .clone()
            .unwrap_or_else(|| PathBuf::from("the music")),
        model_dir: spec.model_dir.clone(),
        track: spec.params.track,
        chords: match &spec.chords {
            Some(beats) => ChordSource::Beats(beats.clone()),
            None => ChordSource::Harmonizer(DEFAULT_HARMONIZER.into()),
        },
        samples: 1,
        request,
    };
    let out = accompany(&action, &mut |progress| match progress {
        Progress::Melody(m) => send(JobMsg::Progress(m)),
        Progress::Bar { done, all, .. } => send(JobMsg::Progress(format!(
            "accompanying … bar {done} of {all} · Esc cancels"
        ))),
    })?;
    send(JobMsg::Accompanied {
        song: song.clone(),
        melody: out.melody,
        harmonized: out.harmonized,
        chords: out.chords,
    });
    Ok(JobResult::Generated {
        score: out
            .scores
            .into_iter()
            .next()
            .ok_or_else(|| Error::Internal("accompaniment returned nothing".into()))?,
        generated_from: 0.0,
    })
}

fn theme_job(
    spec: &JobSpec,
    cancel: Arc<AtomicBool>,
    send: &mut dyn FnMut(JobMsg),
) -> Result<JobResult> {
    let req = Compose {
        theme: music(spec)?.clone(),
        model: spec.model_dir.to_string_lossy().into_owned(),
        bars: spec.params.bars,
        tempo: None,
        sampler: spec.params.sampler(),
        baseline: false,
        theme_every: None,
        guidance: crate::generate::theme::DEFAULT_GUIDANCE,
        cancel: Some(cancel),
    };
    let mut tokens = 0usize;
    let out = compose(&req, &mut |_| {
        tokens += 1;
        if tokens.is_multiple_of(64) {
            send(JobMsg::Progress(format!(
                "growing a piece from the theme … {tokens} tokens · Esc cancels"
            )));
        }
    })?;
    if let Some(note) = out.note {
        send(JobMsg::Progress(note));
    }
    Ok(JobResult::Generated {
        score: out.piece,
        generated_from: 0.0,
    })
}

fn extract_job(spec: &JobSpec) -> Result<JobResult> {
    let song = music(spec)?;
    let out = extract(&Extract {
        song: song.clone(),
        origin: spec.origin.clone(),
        eps: 0.2,
        min_points: 3,
    })?;
    let t = &out.theme;
    let tick = |bar: usize| t.bars.get(bar.min(t.bars.len().saturating_sub(1))).copied();
    let end_bar = t.bar + crate::theme::retrieval::SEGMENT_BARS;
    let (Some(a), Some(b)) = (tick(t.bar), tick(end_bar)) else {
        return Err(Error::Internal("a theme outside the song's bars".into()));
    };
    Ok(JobResult::Extracted {
        lines: out.to_string().lines().map(str::to_string).collect(),
        span: (song.tempo_map.seconds(a), song.tempo_map.seconds(b)),
    })
}

fn render_job(spec: &JobSpec, send: &mut dyn FnMut(JobMsg)) -> Result<JobResult> {
    let (score, Some(path)) = (music(spec)?, spec.wav_path.as_ref()) else {
        return Err(Error::Internal("render job without a path".into()));
    };
    let req = Render {
        score: score.clone(),
        origin: spec.origin.clone(),
        output: path.clone(),
        voice: spec.params.voice(),
        options: Default::default(),
    };
    let result = render_reporting(&req, send)?;
    Ok(JobResult::Rendered {
        path: result.path,
        seconds: result.seconds,
        engine: result.engine,
    })
}

/// Renders `req`, sending how far it is as progress lines.
fn render_reporting(req: &Render, send: &mut dyn FnMut(JobMsg)) -> Result<Rendered> {
    // The progress callback must be Send: it hands fractions over a channel read here.
    let (tx, rx) = std::sync::mpsc::channel::<f64>();
    std::thread::scope(|s| {
        let job = s.spawn(|| {
            let tx = tx;
            render(req, &mut |f| {
                let _ = tx.send(f);
            })
        });
        for f in rx {
            send(JobMsg::Progress(format!(
                "rendering {} … {:.0} %",
                req.output.display(),
                f * 100.0
            )));
        }
        job.join()
            .unwrap_or_else(|_| Err(Error::Internal("the render panicked".into())))
    })
}

/// Seconds of the current music an audition plays at most.
pub const AUDITION_SECONDS: f64 = 30.0;

/// Where a timbre cloned from `recording` goes, and its audition:
/// `DIR/STEM.timbre.safetensors` and `DIR/STEM.timbre.wav` next to the recording.
pub fn clone_paths(recording: &Path) -> (PathBuf, PathBuf) {
    let stem = recording
        .file_stem()
        .map_or("recording".into(), |s| s.to_string_lossy().into_owned());
    let dir = recording
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    (
        dir.join(format!("{stem}.timbre.safetensors")),
        dir.join(format!("{stem}.timbre.wav")),
    )
}

/// Clones a timbre from the spec's recording (its notes transcribed), then renders an audition
/// with it: the music's first [`AUDITION_SECONDS`], or a scale when there is no pitched music.
fn clone_job(
    spec: &JobSpec,
    cancel: Arc<AtomicBool>,
    send: &mut dyn FnMut(JobMsg),
) -> Result<JobResult> {
    use crate::ops::timbre::{clone, CloneTimbre};
    let Some(recording) = spec.recording.clone() else {
        return Err(Error::Internal("clone job without a recording".into()));
    };
    let (timbre, audition) = clone_paths(&recording);
    let voice = spec.params.voice();
    let req = CloneTimbre {
        recording: recording.clone(),
        notes: None,
        output: timbre.clone(),
        model: voice.synth_model.clone(),
        settings: Default::default(),
        plot: None,
    };
    let steps = req.settings.max_steps;
    let out = clone(&req, &mut |p| send(JobMsg::Progress(clone_line(&p, steps))))?;
    if cancel.load(Ordering::Acquire) {
        return Err(Error::Invalid(format!(
            "cancelled before the audition; the timbre is written to {}",
            timbre.display()
        )));
    }
    let score = match &spec.primer {
        Some(s) if s.notes.iter().any(|n| !n.is_drum()) => s.until(AUDITION_SECONDS),
        _ => scale()?,
    };
    let req = Render {
        score,
        origin: spec.origin.clone(),
        output: audition.clone(),
        voice: Voice {
            engine: Engine::Neural,
            timbre: timbre.to_string_lossy().into_owned(),
            ..voice
        },
        options: Default::default(),
    };
    render_reporting(&req, send)?;
    Ok(JobResult::Cloned {
        recording,
        timbre,
        audition,
        before: out.before,
        after: out.after,
        nearest: out.nearest,
    })
}

/// A cloning's progress as a status line (`steps`: the most Adam steps it takes).
fn clone_line(p: &crate::ops::timbre::Progress, steps: usize) -> String {
    use crate::ops::timbre::Progress;
    use crate::synth::transcribe::note_name;
    match p {
        Progress::Transcribed {
            notes,
            range,
            confidence,
        } => format!(
            "cloning: transcribed {notes} notes, {}–{}, confidence {confidence:.2}…",
            note_name(range.0),
            note_name(range.1)
        ),
        Progress::Candidate { name, loss } => {
            format!("cloning: shipped timbre {name} is at distance {loss:.2}…")
        }
        Progress::Ready {
            seconds,
            notes,
            start,
            ..
        } => format!("cloning: {notes} notes in {seconds:.1} s, starting from {start}…"),
        Progress::Step(step, loss) => {
            format!(
                "cloning: step {} of at most {steps}, loss {loss:.3}…",
                step + 1
            )
        }
    }
}

/// One octave of C major up, in quarter notes at 120 BPM ending on a held C: the audition when
/// there is no music.
pub fn scale() -> Result<Score> {
    let mut s = Score::new(480, 500_000)?;
    let t = s.add_track("scale", crate::midi::TrackRole::Melody);
    for (i, pitch) in [60u8, 62, 64, 65, 67, 69, 71, 72].into_iter().enumerate() {
        let start = i as u64 * 480;
        let len = if pitch == 72 { 960 } else { 440 };
        s.push_note_ticks(t, 0, 0, pitch, 90, start, start + len);
    }
    s.sort();
    Ok(s)
}
