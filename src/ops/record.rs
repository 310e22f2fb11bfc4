//! Record a phrase from a MIDI keyboard (or a MIDI file played as one): a count-in and a metronome
//! through the SoundFont synthesizer, the player echoed, the take returned as a score at the
//! metronome's tempo. [`Recording`] runs it in the background for the terminal UI; [`record`]
//! runs it to the end for the command line.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::audio::device::open_output;
use crate::audio::live_synth::SynthSink;
use crate::error::{Error, Result};
use crate::jam::record::{Phase, RecordSettings, Recorder};
use crate::midi::{read_file, Score};
use crate::ports::scripted::{script_of, Clock, ScriptedSource, WallClock};
use crate::ports::system::open_input;
use crate::ports::{MidiSource, Timed};

use super::live::LiveInput;

/// A recording to make.
#[derive(Debug, Clone)]
pub struct Record {
    /// The keyboard (a port, or a MIDI file whose notes start on the first downbeat).
    pub input: LiveInput,
    /// The SF2 for the metronome and the echo (`None`: the built-in bank).
    pub soundfont: Option<std::path::PathBuf>,
    /// The audio device (`null`: a silent clock).
    pub device: Option<String>,
    /// Tempo, count-in, metronome and echo.
    pub settings: RecordSettings,
}

/// Checks the settings: tempo 20–300 BPM, a count-in of 0–4 bars.
pub fn check(req: &Record) -> Result<()> {
    let s = &req.settings;
    if !(20.0..=300.0).contains(&s.bpm) {
        return Err(Error::Invalid(format!("a tempo of {} BPM: 20–300", s.bpm)));
    }
    if s.count_in_bars > 4 {
        return Err(Error::Invalid(format!(
            "a count-in of {} bars: 0–4",
            s.count_in_bars
        )));
    }
    Ok(())
}

/// What a running recording shares with whoever shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Status {
    /// Where it is.
    pub phase: Phase,
    /// Seconds since it started.
    pub seconds: f64,
    /// For a file input: every note has been played.
    pub finished: bool,
}

/// A recording running on its own thread (which owns the input and the audio output).
pub struct Recording {
    status: Arc<Mutex<Status>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<Score>>>,
}

impl Recording {
    /// Opens the input and the output and starts counting in; errors in opening come back here.
    pub fn start(req: Record) -> Result<Recording> {
        check(&req)?;
        let status = Arc::new(Mutex::new(Status {
            phase: Phase::CountIn(0),
            seconds: 0.0,
            finished: false,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let (st, sp) = (status.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("reprise-record".into())
            .spawn(move || {
                let opened = open(&req);
                let (source, sink, clock, end) = match opened {
                    Ok(o) => {
                        let _ = ready_tx.send(Ok(()));
                        o
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return Err(Error::Cancelled);
                    }
                };
                crate::guard::unwind("the recording", || {
                    run(&req, source, sink, (clock, end), &sp, &mut |s| {
                        *st.lock().unwrap_or_else(|e| e.into_inner()) = s;
                    })
                })
            })
            .map_err(|e| Error::Internal(format!("recording thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Recording {
                status,
                stop,
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Internal("the recording thread stopped".into())),
        }
    }

    /// Where the recording is.
    pub fn status(&self) -> Status {
        *self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops and returns the take.
    pub fn stop(mut self) -> Result<Score> {
        self.stop.store(true, Ordering::Release);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            _ => Err(Error::Internal("the recording thread panicked".into())),
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The keyboard, the synthesizer, the clock, and for a file input when it has been played (a bar
/// after its last release).
type Opened = (Box<dyn MidiSource>, SynthSink, WallClock, Option<f64>);

fn open(req: &Record) -> Result<Opened> {
    let clock = WallClock::start();
    let bar = 240.0 / req.settings.bpm;
    let (source, end): (Box<dyn MidiSource>, _) = match &req.input {
        LiveInput::Port(spec) => (Box::new(open_input(spec, clock.0)?), None),
        LiveInput::File(path) => {
            let score = read_file(path)?;
            let lead = req.settings.count_in_bars as f64 * bar;
            let src = ScriptedSource::new(script_of(&score, lead), clock);
            let end = src.end() + bar;
            (Box::new(src), Some(end))
        }
    };
    let sf = crate::audio::soundfont::load(req.soundfont.as_deref())?;
    let sink = SynthSink::start(&sf, open_output(req.device.as_deref())?)?;
    Ok((source, sink, clock, end))
}

/// Records until `stop`, reporting `finished` once the clock passes `end`.
fn run(
    req: &Record,
    mut source: Box<dyn MidiSource>,
    mut sink: SynthSink,
    (clock, end): (WallClock, Option<f64>),
    stop: &AtomicBool,
    on_status: &mut dyn FnMut(Status),
) -> Result<Score> {
    let mut recorder = Recorder::new(req.settings, 0.0);
    let mut played: Vec<Timed> = Vec::with_capacity(256);
    let mut guard = crate::ports::NoteGuard::new(&mut sink);
    while !stop.load(Ordering::Acquire) {
        let now = clock.now();
        source.poll(&mut played);
        recorder.step(now, &played, &mut guard)?;
        played.clear();
        on_status(Status {
            phase: recorder.phase(now),
            seconds: now,
            finished: end.is_some_and(|e| now >= e),
        });
        std::thread::sleep(Duration::from_millis(1));
    }
    guard.release_all()?;
    recorder.finish(clock.now())
}

/// Records until `stop` is set or, for a file input, until it has been played; `on_status` hears
/// the phase as it changes.
pub fn record(req: Record, stop: &AtomicBool, on_phase: &mut dyn FnMut(Phase)) -> Result<Score> {
    let recording = Recording::start(req)?;
    let mut last = None;
    loop {
        let s = recording.status();
        if last != Some(s.phase) {
            on_phase(s.phase);
            last = Some(s.phase);
        }
        if stop.load(Ordering::Acquire) || s.finished {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    recording.stop()
}
