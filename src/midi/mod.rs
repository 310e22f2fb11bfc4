//! MIDI files in and out, and the `Score` they meet at.

pub mod bars;
pub mod folder;
pub mod gm;
pub mod quantize;
pub mod read;
pub mod score;
pub mod summary;
pub mod sustain;
pub mod write;

pub use bars::{bar_starts, bars_from_downbeats};
pub use read::{parse, read_file};
pub use score::{
    Control, ControlKind, Note, Score, SustainSpan, TempoChange, TempoMap, TimeSignature, Track,
    TrackRole,
};
pub use sustain::apply_sustain;
pub use write::{to_bytes, write_file, write_files};
