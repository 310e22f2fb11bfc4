//! Audio out: SoundFont rendering to WAV, and live playback through the system's audio.

pub mod decode;
pub mod device;
pub mod file_player;
pub mod live_synth;
pub mod playback;
pub mod render;
pub mod soundfont;

pub use render::{render, render_wav, write_wav, RenderOptions, Stereo, WavStats};
