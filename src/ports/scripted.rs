//! Stand-ins for hardware: a source that plays a script (or a MIDI file's notes) as its clock passes
//! each message's time, on a clock the caller moves or on the wall clock, and a sink that records
//! what it was sent.

use std::sync::{Arc, Mutex};

use super::{Message, MidiSink, MidiSource, Timed};
use crate::error::Result;

/// Seconds since some start.
pub trait Clock: Send {
    /// Seconds now.
    fn now(&self) -> f64;
}

/// The wall clock from when it was made.
#[derive(Debug, Clone, Copy)]
pub struct WallClock(pub std::time::Instant);

impl WallClock {
    /// A clock starting now.
    pub fn start() -> Self {
        WallClock(std::time::Instant::now())
    }
}

impl Clock for WallClock {
    fn now(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// A clock the caller moves (tests), shared by a scripted source and whoever drives it.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<Mutex<f64>>);

impl Clock for ManualClock {
    fn now(&self) -> f64 {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ManualClock {
    /// Moves the clock to `t` (never back).
    pub fn set(&self, t: f64) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now = now.max(t);
    }
}

/// Plays `script` (sorted by time) as `clock` passes each message's time.
pub struct ScriptedSource<C: Clock = ManualClock> {
    script: Vec<Timed>,
    next: usize,
    clock: C,
}

/// A score's pitched notes as a player's messages on channel 0, `lead` seconds after the clock's
/// start (releases before presses at one time).
pub fn script_of(score: &crate::midi::Score, lead: f64) -> Vec<Timed> {
    let mut pitched = score.clone();
    pitched.notes.retain(|n| !n.is_drum());
    super::player::messages(&pitched)
        .into_iter()
        .filter_map(|t| {
            Some(Timed {
                time: lead + t.time,
                message: t.message.on_channel(0)?,
            })
        })
        .collect()
}

impl<C: Clock> ScriptedSource<C> {
    /// The time of the last message (0 for none).
    pub fn end(&self) -> f64 {
        self.script.last().map_or(0.0, |m| m.time)
    }

    /// A source over `script` on `clock`.
    pub fn new(mut script: Vec<Timed>, clock: C) -> Self {
        script.sort_by(|a, b| a.time.total_cmp(&b.time));
        ScriptedSource {
            script,
            next: 0,
            clock,
        }
    }

    /// True once every message was delivered.
    pub fn finished(&self) -> bool {
        self.next == self.script.len()
    }
}

impl<C: Clock> MidiSource for ScriptedSource<C> {
    fn poll(&mut self, out: &mut Vec<Timed>) {
        let now = self.clock.now();
        while let Some(m) = self.script.get(self.next).filter(|m| m.time <= now) {
            out.push(*m);
            self.next += 1;
        }
    }
}

/// Records every message sent, shared so a test can read it after the sink moved away.
#[derive(Debug, Clone, Default)]
pub struct RecordingSink {
    log: Arc<Mutex<Vec<Message>>>,
}

impl RecordingSink {
    /// The shared record.
    pub fn log(&self) -> Arc<Mutex<Vec<Message>>> {
        Arc::clone(&self.log)
    }
}

impl MidiSink for RecordingSink {
    fn send(&mut self, message: Message) -> Result<()> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_comes_out_as_the_clock_passes() {
        let clock = ManualClock::default();
        let note = |time, pitch| Timed {
            time,
            message: Message::NoteOn {
                channel: 0,
                pitch,
                velocity: 80,
            },
        };
        let mut src = ScriptedSource::new(
            vec![note(0.5, 62), note(0.0, 60), note(2.0, 64)],
            clock.clone(),
        );
        let mut got = Vec::new();
        src.poll(&mut got);
        assert_eq!(got, vec![note(0.0, 60)]);
        clock.set(1.0);
        clock.set(0.2); // never back
        src.poll(&mut got);
        assert_eq!(got.len(), 2);
        clock.set(5.0);
        src.poll(&mut got);
        assert!(src.finished());
        assert_eq!(got.last(), Some(&note(2.0, 64)));
    }
}
