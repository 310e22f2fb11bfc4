//! How soon an answer sounds (`reprise bench live`): scripted phrases are played in real time into
//! a session answering with a model, and each answer's first note is timed against when it was due;
//! apart from that, the time from a finished phrase to the answer's first drawn note (no head
//! start) shows how much of the pause the drawing needs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::answer::{Answerer, Ask};
use super::session::{Event, Pause, Session, Settings, TempoSetting};
use super::tempo::Beat;
use super::Note;
use crate::error::{Error, Result};
use crate::ports::scripted::{Clock, ScriptedSource, WallClock};
use crate::ports::{Message, MidiSink, MidiSource, Timed};

/// The bench's tempo.
pub const BPM: f64 = 100.0;

/// What the bench measured, in seconds.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    /// Per answer played in real time: its first note's send time minus its due time.
    pub late: Vec<f64>,
    /// Per phrase: from the call to the answerer to its first note-on, without a head start.
    pub cold: Vec<f64>,
    /// The head start a one-bar pause gives the drawing (three quarters of a bar less half a
    /// second, at [`BPM`]).
    pub head_start: f64,
}

/// Phrase `k` of the bench: two bars of eighth notes at [`BPM`] from `at`, a C-major figure
/// moved to another key each time.
pub fn phrase(k: usize, at: f64) -> Vec<Note> {
    const FIGURE: [u8; 16] = [0, 4, 7, 12, 11, 7, 5, 2, 4, 7, 9, 7, 5, 4, 2, 0];
    const KEYS: [u8; 6] = [0, 5, 9, 2, 7, 4];
    let eighth = 30.0 / BPM;
    FIGURE
        .iter()
        .enumerate()
        .map(|(i, step)| Note {
            pitch: 60 + KEYS[k % KEYS.len()] + step,
            velocity: 80 + (i % 4 == 0) as u8 * 20,
            start: at + i as f64 * eighth,
            end: at + (i as f64 + 0.9) * eighth,
        })
        .collect()
}

fn script(notes: &[Note]) -> Vec<Timed> {
    let mut s = Vec::new();
    for n in notes {
        let (channel, pitch) = (0, n.pitch);
        s.push(Timed {
            time: n.start,
            message: Message::NoteOn {
                channel,
                pitch,
                velocity: n.velocity,
            },
        });
        s.push(Timed {
            time: n.end,
            message: Message::NoteOff { channel, pitch },
        });
    }
    s
}

/// A sink that only counts.
struct Discard(Arc<Mutex<usize>>);

impl MidiSink for Discard {
    fn send(&mut self, _: Message) -> Result<()> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Ok(())
    }
}

/// Plays `phrases` phrases, each answered with `bars` bars, in real time; then times `cold` cold
/// answers.
pub fn measure(
    answerer: Arc<dyn Answerer>,
    phrases: usize,
    bars: usize,
    cold: usize,
) -> Result<Latency> {
    let bar = 240.0 / BPM;
    let cycle = (2 + 1 + bars + 1) as f64 * bar;
    let notes: Vec<Note> = (0..phrases)
        .flat_map(|k| phrase(k, 1.0 + k as f64 * cycle))
        .collect();
    let clock = WallClock::start();
    let mut source = ScriptedSource::new(script(&notes), clock);
    let settings = Settings {
        tempo: TempoSetting::Given(BPM),
        pause: Pause::Bar,
        answer_bars: bars,
        channel: 1,
        thru: None,
        seed: 1,
        lockstep: false,
    };
    let mut session = Session::new(settings, answerer.clone(), Discard(Arc::default()))?;
    let end = 1.0 + phrases as f64 * cycle;
    let mut late = Vec::new();
    let mut played = Vec::new();
    while clock.now() < end {
        source.poll(&mut played);
        for e in session.step(clock.now(), &played)? {
            match e {
                Event::Answered(r) => late.extend(r.lateness()),
                Event::Failed(why) => return Err(Error::Internal(why)),
                _ => {}
            }
        }
        played.clear();
        std::thread::sleep(Duration::from_millis(1));
    }
    session.finish(clock.now())?;
    let cold = (0..cold)
        .map(|k| first_note(answerer.as_ref(), k))
        .collect::<Result<Vec<f64>>>()?;
    Ok(Latency {
        late,
        cold,
        head_start: 0.75 * bar - 0.5,
    })
}

/// Seconds from asking for an answer to three phrases played one after another (14.4 s: the
/// prompt holds as much of the conversation as it may) to its first note-on.
fn first_note(answerer: &dyn Answerer, k: usize) -> Result<f64> {
    let bar = 240.0 / BPM;
    let heard: Vec<Note> = (0..3)
        .flat_map(|i| phrase(k + i, i as f64 * 2.0 * bar))
        .collect();
    let ask = Ask {
        beat: Beat {
            bpm: BPM,
            origin: 0.0,
        },
        start: 7.0 * bar,
        bars: 1,
        channel: 1,
        seed: k as u64 + 1,
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let mut first = None;
    let mut out = |t: Timed| {
        if first.is_none() && matches!(t.message, Message::NoteOn { .. }) {
            first = Some(t0.elapsed().as_secs_f64());
            cancel.store(true, Ordering::Release);
        }
    };
    match answerer.answer(&heard, &ask, &cancel.clone(), &mut out) {
        Ok(()) | Err(Error::Cancelled) => {}
        Err(e) => return Err(e),
    }
    first.ok_or_else(|| Error::Internal("an answer without notes".into()))
}
