//! Play with Reprise: a MIDI keyboard (or a MIDI file played as one) in, answers out through the
//! SoundFont synthesizer or a MIDI output port, until the caller's stop flag is set or a file
//! input has been answered; the session can be recorded to a MIDI file, written atomically on
//! every way out.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::audio::device::open_output;
use crate::audio::live_synth::SynthSink;
use crate::error::{Error, Result};
use crate::generate::request::{DEFAULT_BEAT_TOP_P, DEFAULT_KEY_GUIDE};
use crate::generate::SamplerConfig;
use crate::jam::take::Take;
use crate::jam::{Event, ModelAnswerer, Session, Settings};
use crate::midi::{read_file, write_file};
use crate::model::{MusicTransformer, VocabKind};
use crate::ports::scripted::{script_of, Clock, ScriptedSource, WallClock};
use crate::ports::system::{open_input, open_output as open_port, PortSpec};
use crate::ports::{MidiSink, MidiSource, Timed};
use crate::synth::live::NeuralSink;

use super::engine::{Engine, Voice};
use super::models::{load, resolve, Action, Architecture, Loaded};

/// The model that answers unless told otherwise.
pub const DEFAULT_MODEL: &str = "pop909-beat";

/// Seconds of the conversation an answer's prompt holds at most (the shorter, the sooner the first
/// note: `reprise bench live`).
pub const PRIMER_SECONDS: f64 = 12.0;

/// Where the player's notes come from.
#[derive(Debug, Clone)]
pub enum LiveInput {
    /// A MIDI input port.
    Port(PortSpec),
    /// A MIDI file's notes, played in real time as if from a keyboard (starting after a second).
    File(PathBuf),
}

impl LiveInput {
    /// The keyboard as the user names it: an existing `.mid`/`.midi` file, else a port
    /// (`virtual:NAME`, an index or part of a name).
    pub fn parse(s: &str) -> LiveInput {
        let path = std::path::Path::new(s);
        let midi = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("mid") || e.eq_ignore_ascii_case("midi"));
        if midi && path.is_file() {
            LiveInput::File(path.into())
        } else {
            LiveInput::Port(PortSpec::parse(s))
        }
    }
}

/// Where Reprise's notes go.
#[derive(Debug, Clone)]
pub enum LiveOutput {
    /// A MIDI output port.
    Port(PortSpec),
    /// A synthesizer (the SoundFont sampler, or the neural synth with a timbre) on an audio device
    /// (`null`: a silent clock).
    Audio {
        /// The engine and what it plays with.
        voice: Voice,
        /// Part of a device name, `null`, or `None` for the default.
        device: Option<String>,
    },
}

/// A live session to run.
#[derive(Debug, Clone)]
pub struct Live {
    /// The player.
    pub input: LiveInput,
    /// The answers' way out.
    pub output: LiveOutput,
    /// A beat-aware model's name or folder.
    pub model: String,
    /// The session's settings (tempo, pause, answer length, echo, seed).
    pub settings: Settings,
    /// Nucleus sampling of the answers.
    pub top_p: f32,
    /// Sampling temperature.
    pub temperature: f32,
    /// Key guidance toward the conversation's key, in nats.
    pub key_guide: f32,
    /// Write the session here when it ends.
    pub record: Option<PathBuf>,
}

impl Live {
    /// A session from `input` to `output` with the defaults: one bar's pause, 2-bar answers, the
    /// player echoed on channel 0 through audio outputs, Reprise on channel 1.
    pub fn new(input: LiveInput, output: LiveOutput, settings: Settings) -> Self {
        Live {
            input,
            output,
            model: DEFAULT_MODEL.into(),
            settings,
            top_p: DEFAULT_BEAT_TOP_P,
            temperature: 1.0,
            key_guide: DEFAULT_KEY_GUIDE,
            record: None,
        }
    }
}

/// How a session went.
pub struct LiveResult {
    /// Everything played.
    pub take: Take,
    /// Where it was recorded.
    pub recorded: Option<PathBuf>,
    /// Input messages lost to a full queue.
    pub dropped: usize,
}

/// Loads `name` and checks it is a beat-aware Music Transformer.
pub fn load_answerer(name: &str, req: &Live) -> Result<ModelAnswerer> {
    let entry = resolve(name, Action::Continue)?;
    if entry.architecture != Architecture::MusicTransformer(VocabKind::Remi) {
        return Err(Error::bad_file(
            &entry.dir,
            "cannot answer live: answers need a beat-aware model (like pop909-beat)",
        ));
    }
    let Loaded::Music(model) = load(&entry)? else {
        return Err(Error::Internal(
            "a Music Transformer that did not load as one".into(),
        ));
    };
    Ok(answerer(model, req))
}

/// The answerer `req` asks for, around `model`.
pub fn answerer(model: MusicTransformer, req: &Live) -> ModelAnswerer {
    ModelAnswerer {
        model: Arc::new(model),
        sampler: SamplerConfig {
            temperature: req.temperature,
            top_p: req.top_p,
            ..Default::default()
        },
        key_guide: req.key_guide,
        primer_seconds: PRIMER_SECONDS,
    }
}

/// Checks `req` before anything opens: the record path, the sampling, the input file.
pub fn check(req: &Live) -> Result<()> {
    crate::generate::request::validate_key_guide(req.key_guide)?;
    SamplerConfig {
        temperature: req.temperature,
        top_p: req.top_p,
        ..Default::default()
    }
    .validate()?;
    if let Some(path) = &req.record {
        let mut inputs = Vec::new();
        if let LiveInput::File(f) = &req.input {
            inputs.push(f.as_path());
        }
        if let LiveOutput::Audio { voice, .. } = &req.output {
            inputs.extend(voice.inputs());
        }
        crate::atomic_file::check_output(path, &inputs)?;
    }
    Ok(())
}

/// Runs the session until `stop` is set (Ctrl-C, q) or, for a file input, until its last phrase
/// has been answered; `on_event(time, event)` hears what happens. The session is recorded (if
/// asked) however it ends, errors included.
pub fn live(
    req: &Live,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(f64, &Event),
) -> Result<LiveResult> {
    check(req)?;
    let answerer = load_answerer(&req.model, req)?;
    let clock = WallClock::start();
    let (mut source, script_end) = open_source(&req.input, clock)?;
    // A panic unwinds through the session, whose guard releases every sounding note.
    let take = crate::guard::unwind("the live session", || {
        let sink = open_sink(&req.output)?;
        let mut session = Session::new(req.settings, Arc::new(answerer), sink)?;
        let played = drive(
            &mut session,
            source.as_mut(),
            &clock,
            stop,
            script_end,
            on_event,
        );
        let take = session.finish(clock.now());
        played.and(take)
    })?;
    let recorded = match &req.record {
        Some(path) => {
            write_file(&take.to_score()?, path)?;
            Some(path.clone())
        }
        None => None,
    };
    Ok(LiveResult {
        take,
        recorded,
        dropped: source.dropped(),
    })
}

/// The player's source, and for a file the time its script ends.
fn open_source(input: &LiveInput, clock: WallClock) -> Result<(Box<dyn MidiSource>, Option<f64>)> {
    match input {
        LiveInput::Port(spec) => Ok((Box::new(open_input(spec, clock.0)?), None)),
        LiveInput::File(path) => {
            let score = read_file(path)?;
            if score.notes.iter().all(|n| n.is_drum()) {
                return Err(Error::bad_file(path, "has no pitched notes to play"));
            }
            let src = ScriptedSource::new(script_of(&score, 1.0), clock);
            let end = src.end();
            Ok((Box::new(src), Some(end)))
        }
    }
}

fn open_sink(output: &LiveOutput) -> Result<Box<dyn MidiSink>> {
    match output {
        LiveOutput::Port(spec) => Ok(Box::new(open_port(spec)?)),
        LiveOutput::Audio { voice, device } => {
            let output = open_output(device.as_deref())?;
            Ok(match voice.engine {
                Engine::Soundfont => Box::new(SynthSink::start(&voice.load_soundfont()?, output)?),
                Engine::Neural => Box::new(NeuralSink::start(voice.load_neural()?, output)?),
            })
        }
    }
}

/// Polls and steps every millisecond until stopped or, after a script, until the last answer.
fn drive(
    session: &mut Session<Box<dyn MidiSink>>,
    source: &mut dyn MidiSource,
    clock: &WallClock,
    stop: &AtomicBool,
    script_end: Option<f64>,
    on_event: &mut dyn FnMut(f64, &Event),
) -> Result<()> {
    let mut played: Vec<Timed> = Vec::with_capacity(256);
    let mut answered_after_script = false;
    while !stop.load(Ordering::Acquire) {
        let now = clock.now();
        source.poll(&mut played);
        for e in session.step(now, &played)? {
            if matches!(e, Event::Answered(_)) && script_end.is_some_and(|end| now > end) {
                answered_after_script = true;
            }
            on_event(now, &e);
        }
        played.clear();
        if let Some(end) = script_end {
            let waited = now > end + 2.0 * session.beat().map_or(2.0, |b| b.bar_seconds()) + 1.0;
            if !session.busy() && (answered_after_script || waited) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}
