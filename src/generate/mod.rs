//! Generation: sampling, cached decoding and the tasks built on them.

pub mod decode;
pub mod piano;
pub mod sampler;
pub mod tasks;
pub mod theme;

pub use sampler::{Sampler, SamplerConfig};
