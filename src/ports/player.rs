//! A score played to a MIDI output in real time (a DAW, a hardware synth): program changes first,
//! then every note on and off at its time, from a thread of its own; pause and seek release what
//! sounds, and every way out (stop, the end, an error, a panic) sends all notes off.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Message, MidiSink, NoteGuard, Timed};
use crate::audio::playback::Playback;
use crate::error::{Error, Result};
use crate::midi::Score;

/// The score's messages in time order: each channel's program at 0, then notes (releases before
/// presses at one time).
pub fn messages(score: &Score) -> Vec<Timed> {
    let mut out: Vec<Timed> = Vec::new();
    let mut programs: Vec<(u8, u8)> = Vec::new();
    for n in &score.notes {
        if !n.is_drum() && !programs.iter().any(|p| p.0 == n.channel) {
            programs.push((n.channel, n.program));
        }
        let (channel, pitch) = (n.channel, n.pitch);
        out.push(Timed {
            time: n.start,
            message: Message::NoteOn {
                channel,
                pitch,
                velocity: n.velocity.max(1),
            },
        });
        out.push(Timed {
            time: n.end,
            message: Message::NoteOff { channel, pitch },
        });
    }
    let rank = |m: &Timed| (m.time, matches!(m.message, Message::NoteOn { .. }));
    out.sort_by(|a, b| {
        rank(a)
            .partial_cmp(&rank(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let changes = programs.into_iter().map(|(channel, program)| Timed {
        time: 0.0,
        message: Message::Program { channel, program },
    });
    changes.chain(out).collect()
}

/// Shared between the controller and the playing thread.
struct Shared {
    /// Seconds played, as f64 bits.
    position: AtomicU64,
    /// A seek asked for, as f64 bits (NaN: none).
    seek: AtomicU64,
    paused: AtomicBool,
    stop: AtomicBool,
    done: AtomicBool,
}

impl Shared {
    fn position(&self) -> f64 {
        f64::from_bits(self.position.load(Ordering::Acquire))
    }
}

/// A score playing to a MIDI output.
pub struct MidiPlayer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl MidiPlayer {
    /// Starts playing `score` to `sink` from `from` seconds.
    pub fn start<S: MidiSink + Send + 'static>(score: &Score, sink: S, from: f64) -> Result<Self> {
        let shared = Arc::new(Shared {
            position: AtomicU64::new(from.max(0.0).to_bits()),
            seek: AtomicU64::new(f64::NAN.to_bits()),
            paused: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            done: AtomicBool::new(false),
        });
        let events = messages(score);
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("reprise-midi-out".into())
            .spawn(move || {
                let result = crate::guard::unwind("the MIDI output", || {
                    run(&events, NoteGuard::new(sink), &s)
                });
                s.done.store(true, Ordering::Release);
                result
            })
            .map_err(|e| Error::Internal(format!("MIDI output thread: {e}")))?;
        Ok(MidiPlayer {
            shared,
            thread: Some(thread),
        })
    }

    /// Stops (all notes off); the output's error, if sending failed.
    pub fn stop(mut self) -> Result<()> {
        self.shared.stop.store(true, Ordering::Release);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(Error::Internal("the MIDI output thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for MidiPlayer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The playing thread: sends what is due every millisecond.
fn run<S: MidiSink>(events: &[Timed], mut sink: NoteGuard<S>, s: &Shared) -> Result<()> {
    let first = |at: f64| events.partition_point(|e| e.time < at && e.time > 0.0);
    let mut base = s.position();
    let mut t0 = Instant::now();
    let mut next = first(base);
    for e in events
        .iter()
        .take_while(|e| matches!(e.message, Message::Program { .. }))
    {
        sink.send(e.message)?;
    }
    while !s.stop.load(Ordering::Acquire) && next < events.len() {
        let seek = f64::from_bits(s.seek.swap(f64::NAN.to_bits(), Ordering::AcqRel));
        if !seek.is_nan() {
            sink.release_all()?;
            (base, t0, next) = (seek, Instant::now(), first(seek));
        }
        if s.paused.load(Ordering::Acquire) {
            sink.release_all()?;
            while s.paused.load(Ordering::Acquire) && !s.stop.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(2));
            }
            (base, t0) = (s.position(), Instant::now());
            continue;
        }
        let now = base + t0.elapsed().as_secs_f64();
        while next < events.len() && events[next].time <= now {
            if !matches!(events[next].message, Message::Program { .. }) {
                sink.send(events[next].message)?;
            }
            next += 1;
        }
        s.position.store(now.to_bits(), Ordering::Release);
        std::thread::sleep(Duration::from_millis(1));
    }
    sink.release_all()
}

impl Playback for MidiPlayer {
    fn position(&self) -> f64 {
        self.shared.position()
    }
    fn is_done(&self) -> bool {
        self.shared.done.load(Ordering::Acquire)
    }
    fn is_paused(&self) -> bool {
        self.shared.paused.load(Ordering::Acquire)
    }
    fn toggle_pause(&self) {
        self.shared.paused.fetch_xor(true, Ordering::AcqRel);
    }
    fn seek(&self, seconds: f64) {
        let at = seconds.max(0.0);
        self.shared.position.store(at.to_bits(), Ordering::Release);
        self.shared.seek.store(at.to_bits(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::super::scripted::RecordingSink;
    use super::*;
    use crate::midi::TrackRole;

    fn score() -> Score {
        let mut s = Score::new(480, 500_000).unwrap();
        let t = s.add_track("x", TrackRole::Other);
        s.push_note_seconds(t, 2, 40, 60, 90, 0.0, 0.05);
        s.push_note_seconds(t, 2, 40, 64, 90, 0.05, 0.1);
        s.push_note_seconds(t, 2, 40, 67, 90, 0.1, 5.0);
        s.sort();
        s
    }

    #[test]
    fn a_score_plays_in_order_and_ends_with_everything_released() {
        let sink = RecordingSink::default();
        let log = sink.log();
        let p = MidiPlayer::start(&score(), sink, 0.0).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        p.stop().unwrap();
        let sent = log.lock().unwrap().clone();
        assert_eq!(
            sent[0],
            Message::Program {
                channel: 2,
                program: 40
            }
        );
        let ons: Vec<u8> = sent
            .iter()
            .filter_map(|m| match m {
                Message::NoteOn { pitch, .. } => Some(*pitch),
                _ => None,
            })
            .collect();
        assert_eq!(ons, vec![60, 64, 67]);
        // The long note was cut by the stop: its release and all notes off came last.
        assert!(sent.contains(&Message::NoteOff {
            channel: 2,
            pitch: 67
        }));
        assert_eq!(
            sent.last(),
            Some(&Message::Control {
                channel: 2,
                controller: 123,
                value: 0
            })
        );
    }

    #[test]
    fn starting_part_way_skips_what_came_before() {
        let sink = RecordingSink::default();
        let log = sink.log();
        let p = MidiPlayer::start(&score(), sink, 0.08).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(p.position() >= 0.08);
        p.stop().unwrap();
        let sent = log.lock().unwrap().clone();
        let ons = sent
            .iter()
            .filter(|m| matches!(m, Message::NoteOn { .. }))
            .count();
        assert_eq!(ons, 1);
    }
}
