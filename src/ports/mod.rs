//! Live MIDI in and out: messages with their time, a [`MidiSource`] that yields what was played and
//! a [`MidiSink`] that sounds what Reprise plays. The system's ports come through midir
//! (`system.rs`: the ALSA sequencer on Linux, CoreMIDI, WinMM); scripted sources and recording sinks
//! (`scripted.rs`) stand in for hardware in tests. [`NoteGuard`] releases every note it let through
//! when dropped, so no note is left hanging on any exit path.

pub mod player;
pub mod scripted;
pub mod system;

use crate::error::Result;

/// A channel message Reprise reads or writes (running status is resolved by the port layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// A key pressed (velocity 1–127).
    NoteOn {
        /// Channel 0–15.
        channel: u8,
        /// Key 0–127.
        pitch: u8,
        /// Velocity 1–127.
        velocity: u8,
    },
    /// A key released (also a NOTE_ON with velocity 0 as read).
    NoteOff {
        /// Channel 0–15.
        channel: u8,
        /// Key 0–127.
        pitch: u8,
    },
    /// A program (instrument) change.
    Program {
        /// Channel 0–15.
        channel: u8,
        /// General MIDI program 0–127.
        program: u8,
    },
    /// A controller change (sustain pedal is 64; 123 is all notes off).
    Control {
        /// Channel 0–15.
        channel: u8,
        /// Controller 0–127.
        controller: u8,
        /// Value 0–127.
        value: u8,
    },
}

impl Message {
    /// Parses one complete channel message; anything else (system messages, clock, short or
    /// out-of-range data) is `None`.
    pub fn parse(bytes: &[u8]) -> Option<Message> {
        let (&status, data) = bytes.split_first()?;
        let channel = status & 0x0F;
        let byte = |i: usize| data.get(i).copied().filter(|b| *b < 0x80);
        match status & 0xF0 {
            0x90 if byte(1)? > 0 => Some(Message::NoteOn {
                channel,
                pitch: byte(0)?,
                velocity: byte(1)?,
            }),
            0x80 | 0x90 => Some(Message::NoteOff {
                channel,
                pitch: byte(0)?,
            }),
            0xB0 => Some(Message::Control {
                channel,
                controller: byte(0)?,
                value: byte(1)?,
            }),
            0xC0 => Some(Message::Program {
                channel,
                program: byte(0)?,
            }),
            _ => None,
        }
    }

    /// The message moved to `channel`, if it is a note or the sustain pedal (what a player's echo
    /// carries).
    pub fn on_channel(self, channel: u8) -> Option<Message> {
        match self {
            Message::NoteOn {
                pitch, velocity, ..
            } => Some(Message::NoteOn {
                channel,
                pitch,
                velocity,
            }),
            Message::NoteOff { pitch, .. } => Some(Message::NoteOff { channel, pitch }),
            Message::Control {
                controller: 64,
                value,
                ..
            } => Some(Message::Control {
                channel,
                controller: 64,
                value,
            }),
            Message::Control { .. } | Message::Program { .. } => None,
        }
    }

    /// How many of [`Message::bytes`] the message has (2 for a program change, else 3).
    pub fn byte_len(self) -> usize {
        if matches!(self, Message::Program { .. }) {
            2
        } else {
            3
        }
    }

    /// The message as MIDI bytes: the first [`Message::byte_len`] are the message (the rest 0).
    pub fn bytes(self) -> [u8; 3] {
        match self {
            Message::NoteOn {
                channel,
                pitch,
                velocity,
            } => [
                0x90 | (channel & 0x0F),
                pitch & 0x7F,
                velocity.clamp(1, 127),
            ],
            Message::NoteOff { channel, pitch } => [0x80 | (channel & 0x0F), pitch & 0x7F, 0],
            Message::Control {
                channel,
                controller,
                value,
            } => [0xB0 | (channel & 0x0F), controller & 0x7F, value & 0x7F],
            Message::Program { channel, program } => [0xC0 | (channel & 0x0F), program & 0x7F, 0],
        }
    }
}

/// A message and when it came, in seconds on the source's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timed {
    /// Seconds since the source started.
    pub time: f64,
    /// The message.
    pub message: Message,
}

/// Where played notes come from.
pub trait MidiSource {
    /// Appends the messages that arrived since the last call, in order.
    fn poll(&mut self, out: &mut Vec<Timed>);
    /// Messages lost because the queue was full (never blocking the input thread).
    fn dropped(&self) -> usize {
        0
    }
}

/// Where Reprise's notes go.
pub trait MidiSink {
    /// Sends one message now.
    fn send(&mut self, message: Message) -> Result<()>;
}

impl<T: MidiSink + ?Sized> MidiSink for Box<T> {
    fn send(&mut self, message: Message) -> Result<()> {
        (**self).send(message)
    }
}

impl<T: MidiSink + ?Sized> MidiSink for &mut T {
    fn send(&mut self, message: Message) -> Result<()> {
        (**self).send(message)
    }
}

/// A sink that remembers which notes are sounding and releases them all — note-offs for each, then
/// "all notes off" on every channel it used — when asked or when dropped (also while unwinding
/// from a panic).
pub struct NoteGuard<S: MidiSink> {
    sink: S,
    sounding: Vec<(u8, u8)>,
    channels: u16,
}

impl<S: MidiSink> NoteGuard<S> {
    /// Guards `sink`.
    pub fn new(sink: S) -> Self {
        NoteGuard {
            sink,
            sounding: Vec::new(),
            channels: 0,
        }
    }

    /// The notes sounding now, as (channel, pitch).
    pub fn sounding(&self) -> &[(u8, u8)] {
        &self.sounding
    }

    /// Releases every sounding note.
    pub fn release_all(&mut self) -> Result<()> {
        let mut result = Ok(());
        for (channel, pitch) in std::mem::take(&mut self.sounding) {
            result = result.and(self.sink.send(Message::NoteOff { channel, pitch }));
        }
        for channel in (0..16u8).filter(|c| self.channels & (1 << c) != 0) {
            result = result.and(self.sink.send(Message::Control {
                channel,
                controller: 123,
                value: 0,
            }));
        }
        result
    }

    /// The guarded sink.
    pub fn inner(&self) -> &S {
        &self.sink
    }
}

impl<S: MidiSink> MidiSink for NoteGuard<S> {
    fn send(&mut self, message: Message) -> Result<()> {
        match message {
            Message::NoteOn { channel, pitch, .. } => {
                self.channels |= 1 << (channel & 0x0F);
                if !self.sounding.contains(&(channel, pitch)) {
                    self.sounding.push((channel, pitch));
                }
            }
            Message::NoteOff { channel, pitch } => {
                self.sounding.retain(|&n| n != (channel, pitch));
            }
            Message::Control { .. } | Message::Program { .. } => {}
        }
        self.sink.send(message)
    }
}

impl<S: MidiSink> Drop for NoteGuard<S> {
    fn drop(&mut self) {
        let _ = self.release_all();
    }
}

#[cfg(test)]
mod tests {
    use super::scripted::RecordingSink;
    use super::*;

    #[test]
    fn messages_parse_and_write_back() {
        let on = Message::NoteOn {
            channel: 2,
            pitch: 60,
            velocity: 100,
        };
        assert_eq!(Message::parse(&on.bytes()), Some(on));
        assert_eq!(
            Message::parse(&[0x92, 60, 0]),
            Some(Message::NoteOff {
                channel: 2,
                pitch: 60
            })
        );
        let cc = Message::Control {
            channel: 0,
            controller: 64,
            value: 127,
        };
        assert_eq!(Message::parse(&cc.bytes()), Some(cc));
        let pc = Message::Program {
            channel: 9,
            program: 40,
        };
        assert_eq!(pc.byte_len(), 2);
        assert_eq!(Message::parse(&pc.bytes()[..pc.byte_len()]), Some(pc));
        for bad in [
            &[][..],
            &[0x90, 60],
            &[0xF8],
            &[0x90, 200, 3],
            &[0xE0, 0, 64],
            &[60, 60, 60],
        ] {
            assert_eq!(Message::parse(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Any bytes from a port parse to a message or to nothing, and a message written back
        /// parses to itself.
        #[test]
        fn any_bytes_parse_or_not_and_round_trip(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..6)) {
            if let Some(m) = Message::parse(&bytes) {
                proptest::prop_assert_eq!(Message::parse(&m.bytes()[..m.byte_len()]), Some(m));
            }
        }
    }

    #[test]
    fn the_guard_releases_what_sounds_when_dropped_even_in_a_panic() {
        let sink = RecordingSink::default();
        let log = sink.log();
        let result = std::panic::catch_unwind(move || {
            let mut g = NoteGuard::new(sink);
            for (channel, pitch) in [(0u8, 60u8), (0, 64), (3, 40)] {
                g.send(Message::NoteOn {
                    channel,
                    pitch,
                    velocity: 90,
                })
                .unwrap();
            }
            g.send(Message::NoteOff {
                channel: 0,
                pitch: 64,
            })
            .unwrap();
            assert_eq!(g.sounding(), &[(0, 60), (3, 40)]);
            panic!("the model thread died");
        });
        assert!(result.is_err());
        let sent = log.lock().unwrap().clone();
        let tail: Vec<Message> = sent[4..].to_vec();
        assert_eq!(
            tail,
            vec![
                Message::NoteOff {
                    channel: 0,
                    pitch: 60
                },
                Message::NoteOff {
                    channel: 3,
                    pitch: 40
                },
                Message::Control {
                    channel: 0,
                    controller: 123,
                    value: 0
                },
                Message::Control {
                    channel: 3,
                    controller: 123,
                    value: 0
                },
            ]
        );
    }
}
