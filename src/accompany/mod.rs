//! Accompaniment: a melody in, a piano part that fits it out. The model is the Theme Transformer's
//! encoder–decoder with task "accompany" (see `model::theme_transformer::ThemeTask`): the encoder reads
//! the melody of a window of bars, the decoder writes the piano part of those bars in REMI, and both
//! sides carry the time in sixteenths as their cross-attention positions.

pub mod bars;
pub mod chords;
pub mod generate;
pub mod harmony;
pub mod report;

pub use generate::{accompany, pick_melody, AccompanyRequest, PickedMelody};
