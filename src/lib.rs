//! Reprise: continue, accompany and develop MIDI, and render it, from the terminal.
//!
//! Data flows one way: `.mid` → [`midi::read_file`] → [`midi::Score`] → [`tokens::Vocab`] ids → models →
//! ids → `Score` → [`midi::write_file`] / [`audio::render`].

pub mod atomic_file;
pub mod audio;
pub mod bench;
pub mod console;
pub mod error;
pub mod generate;
pub mod live;
pub mod midi;
pub mod model;
pub mod pop909;
pub mod synth;
pub mod theme;
pub mod tokens;
pub mod train;
pub mod tui;

pub use error::{Error, Result};
pub use midi::Score;
