//! Call and response: a player's phrases come in from a [`MidiSource`](crate::ports::MidiSource);
//! when the player pauses, a model answers in their key and tempo through a
//! [`MidiSink`](crate::ports::MidiSink), and stops as soon as the player plays again.
//!
//! - `listener.rs`: what was played, and since when it has been silent;
//! - `tempo.rs`: the beat (given, or estimated from the first phrase);
//! - `answer.rs`: the conversation so far as a primer, and a model's answer as timed messages;
//! - `session.rs`: the state machine that ties them together, one [`Session::step`] at a time;
//! - `take.rs`: everything played, as a two-track MIDI score;
//! - `record.rs`: recording a phrase to a count-in and a metronome.

pub mod answer;
pub mod latency;
pub mod listener;
pub mod record;
pub mod session;
pub mod take;
pub mod tempo;

pub use answer::{Answerer, Ask, ModelAnswerer};
pub use listener::Listener;
pub use session::{Event, Pause, Session, Settings, TempoSetting};
pub use tempo::Beat;

/// A note of the conversation, in session seconds.
pub use crate::metrics::Note;
