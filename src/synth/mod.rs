//! The neural synthesizer path (after Lina-Speech): a differentiable harmonic-plus-noise synth.

pub mod clone;
pub mod data;
pub mod ddsp;
pub mod eval;
pub mod live;
pub mod loss;
pub mod model;
pub mod render;
pub mod resample;
pub mod transcribe;
