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

/// Helpers shared by the unit tests.
#[cfg(test)]
pub(crate) mod test_util {
    use candle_core::Tensor;

    /// The largest absolute difference between two tensors of one shape.
    pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .and_then(|d| d.abs())
            .and_then(|d| d.flatten_all())
            .and_then(|d| d.max(0))
            .and_then(|d| d.to_scalar::<f32>())
            .expect("tensors of one shape")
    }
}
