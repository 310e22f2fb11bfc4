//! Audio out: SoundFont rendering to WAV.

pub mod render;
pub mod soundfont;

pub use render::{render, write_wav, RenderOptions, Stereo, WavStats};
