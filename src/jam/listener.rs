//! What the player played: notes with their times, the keys held now, the sustain pedal, and how
//! long it has been silent.

use crate::ports::{Message, Timed};

use super::Note;

/// Follows the player's messages.
#[derive(Debug, Clone, Default)]
pub struct Listener {
    /// Closed notes, in the order they ended.
    notes: Vec<Note>,
    /// Keys down: (channel, pitch, velocity, start).
    held: Vec<(u8, u8, u8, f64)>,
    pedal: bool,
    /// The last time anything was pressed or released.
    last: Option<f64>,
    /// Onsets since the last [`Listener::take_phrase`].
    phrase_onsets: usize,
}

impl Listener {
    /// A listener that has heard nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one message. Returns true for a key press (what interrupts an answer).
    pub fn hear(&mut self, m: &Timed) -> bool {
        self.last = Some(self.last.map_or(m.time, |l| l.max(m.time)));
        match m.message {
            Message::NoteOn {
                channel,
                pitch,
                velocity,
            } => {
                self.release(channel, pitch, m.time);
                self.held.push((channel, pitch, velocity, m.time));
                self.phrase_onsets += 1;
                true
            }
            Message::NoteOff { channel, pitch } => {
                self.release(channel, pitch, m.time);
                false
            }
            Message::Control {
                controller: 64,
                value,
                ..
            } => {
                self.pedal = value >= 64;
                false
            }
            Message::Control { .. } | Message::Program { .. } => false,
        }
    }

    fn release(&mut self, channel: u8, pitch: u8, time: f64) {
        if let Some(i) = self
            .held
            .iter()
            .position(|&(c, p, ..)| c == channel && p == pitch)
        {
            let (_, pitch, velocity, start) = self.held.remove(i);
            self.notes.push(Note {
                pitch,
                velocity,
                start,
                end: time.max(start),
            });
        }
    }

    /// Since when nothing has sounded (no key down, pedal up), or `None` while something does or
    /// before anything was played.
    pub fn silent_since(&self) -> Option<f64> {
        if self.held.is_empty() && !self.pedal {
            self.last
        } else {
            None
        }
    }

    /// Key presses since the phrase was last taken.
    pub fn phrase_onsets(&self) -> usize {
        self.phrase_onsets
    }

    /// Marks the phrase so far as answered.
    pub fn take_phrase(&mut self) {
        self.phrase_onsets = 0;
    }

    /// Every closed note.
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    /// Every onset heard, held keys included, in time order.
    pub fn onsets(&self) -> Vec<f64> {
        let mut t: Vec<f64> = self.notes.iter().map(|n| n.start).collect();
        t.extend(self.held.iter().map(|h| h.3));
        t.sort_by(f64::total_cmp);
        t
    }

    /// Closes the keys still down at `time` (the session ends).
    pub fn close(&mut self, time: f64) {
        for (channel, pitch, ..) in self.held.clone() {
            self.release(channel, pitch, time);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(time: f64, pitch: u8) -> Timed {
        Timed {
            time,
            message: Message::NoteOn {
                channel: 0,
                pitch,
                velocity: 80,
            },
        }
    }

    fn off(time: f64, pitch: u8) -> Timed {
        Timed {
            time,
            message: Message::NoteOff { channel: 0, pitch },
        }
    }

    fn pedal(time: f64, value: u8) -> Timed {
        Timed {
            time,
            message: Message::Control {
                channel: 0,
                controller: 64,
                value,
            },
        }
    }

    #[test]
    fn notes_close_and_silence_waits_for_keys_and_pedal() {
        let mut l = Listener::new();
        assert_eq!(l.silent_since(), None);
        assert!(l.hear(&on(0.0, 60)));
        assert!(!l.hear(&pedal(0.1, 127)));
        assert!(l.hear(&on(0.5, 64)));
        l.hear(&off(0.6, 60));
        assert_eq!(l.silent_since(), None);
        l.hear(&off(1.0, 64));
        assert_eq!(l.silent_since(), None, "the pedal still holds");
        l.hear(&pedal(1.5, 0));
        assert_eq!(l.silent_since(), Some(1.5));
        assert_eq!(l.phrase_onsets(), 2);
        let n = l.notes();
        assert_eq!((n[0].pitch, n[0].start, n[0].end), (60, 0.0, 0.6));
        assert_eq!((n[1].pitch, n[1].start, n[1].end), (64, 0.5, 1.0));
        l.take_phrase();
        assert_eq!(l.phrase_onsets(), 0);
        l.hear(&on(2.0, 67));
        assert_eq!(l.onsets(), vec![0.0, 0.5, 2.0]);
        l.close(2.5);
        assert_eq!(l.notes().last().map(|n| n.end), Some(2.5));
    }

    #[test]
    fn a_repeated_key_closes_the_note_before() {
        let mut l = Listener::new();
        l.hear(&on(0.0, 60));
        l.hear(&on(0.4, 60));
        l.hear(&off(0.8, 60));
        let ends: Vec<(f64, f64)> = l.notes().iter().map(|n| (n.start, n.end)).collect();
        assert_eq!(ends, vec![(0.0, 0.4), (0.4, 0.8)]);
    }
}
