//! Reprise: continue, accompany and develop MIDI, and render it, from the terminal.
//!
//! Data flows one way: `.mid` → [`midi::read_file`] → [`midi::Score`] → [`tokens::Vocab`] ids → models →
//! ids → `Score` → [`midi::write_file`] / [`audio::render`].

pub mod accompany;
pub mod atomic_file;
pub mod audio;
pub mod bench;
pub mod console;
pub mod error;
pub mod generate;
pub mod guard;
pub mod input;
pub mod jam;
pub mod linalg;
pub mod live;
pub mod metrics;
pub mod midi;
pub mod model;
pub mod ops;
pub mod plot;
pub mod pop909;
pub mod ports;
pub mod synth;
pub mod theme;
pub mod threads;
pub mod tokens;
pub mod train;
pub mod tui;

pub use error::{Error, Result};
pub use midi::Score;

/// Helpers shared by the unit tests.
#[cfg(test)]
pub(crate) mod test_util {
    use crate::midi::{Score, TrackRole};
    use candle_core::Tensor;

    /// A MELODY track in 4/4 at 480 PPQ and 120 BPM: per bar, notes as (pitch, start 16th, length in
    /// 16ths).
    pub fn melody_bars(bars: &[&[(u8, u64, u64)]]) -> Score {
        let mut s = Score::new(480, 500_000).expect("valid tempo");
        let t = s.add_track("MELODY", TrackRole::Melody);
        for (b, notes) in bars.iter().enumerate() {
            for &(p, at, len) in notes.iter() {
                let start = b as u64 * 1920 + at * 120;
                s.push_note_ticks(t, 0, 0, p, 90, start, start + len * 120);
            }
        }
        s.sort();
        s
    }

    /// A tiny Theme Transformer config (d 32, 4 heads, one encoder and two decoder layers) for
    /// `task`, every option off; tests switch on what they need.
    pub fn tiny_theme_config(
        task: crate::model::theme_transformer::ThemeTask,
        max_len: usize,
        max_theme: usize,
    ) -> crate::model::theme_transformer::ThemeConfig {
        use crate::model::theme_transformer::ThemeConfig;
        ThemeConfig {
            architecture: ThemeConfig::ARCHITECTURE.into(),
            vocab_size: crate::tokens::remi::SIZE as usize,
            d_model: 32,
            n_heads: 4,
            d_ff: 64,
            enc_layers: 1,
            dec_layers: 2,
            max_len,
            max_theme,
            dropout: 0.0,
            task,
            gated: true,
            time_aligned: false,
            cross_time_bias: false,
            aligned_notes: false,
            chords: false,
        }
    }

    /// A tiny Music Transformer config (d 16, one layer, 2 heads, context 16, no beat embedding).
    pub fn tiny_lm_config(
        vocab: crate::model::VocabKind,
        vocab_size: usize,
    ) -> crate::model::TransformerConfig {
        crate::model::TransformerConfig {
            vocab,
            vocab_size,
            d_model: 16,
            n_layers: 1,
            n_heads: 2,
            d_ff: 32,
            max_len: 16,
            dropout: 0.0,
            beat_embedding: false,
        }
    }

    /// A tiny neural-synth config (d 32, 4 heads, 2 layers, state rank 2, chunks of 16).
    pub fn tiny_synth_config() -> crate::synth::model::SynthConfig {
        use crate::synth::model::SynthConfig;
        SynthConfig {
            architecture: SynthConfig::ARCHITECTURE.into(),
            d_model: 32,
            heads: 4,
            layers: 2,
            state_rank: 2,
            d_ff: 64,
            chunk: 16,
        }
    }

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
