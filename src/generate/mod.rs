//! Generation: sampling, cached decoding and the tasks built on them.

pub mod decode;
pub mod guidance;
pub mod piano;
pub mod sampler;
pub mod tasks;
pub mod theme;

pub use sampler::{Sampler, SamplerConfig};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// `Err(Cancelled)` once `cancel` is set.
pub fn check_cancel(cancel: &Option<Arc<AtomicBool>>) -> crate::Result<()> {
    if cancel.as_ref().is_some_and(|c| c.load(Ordering::Acquire)) {
        Err(crate::Error::Cancelled)
    } else {
        Ok(())
    }
}

/// The logits of the last position of `[1, L, V]` logits.
pub fn last_logits(logits: &candle_core::Tensor) -> crate::Result<Vec<f32>> {
    let last = logits
        .dim(1)
        .map_err(crate::Error::tensor)?
        .saturating_sub(1);
    logits
        .narrow(1, last, 1)
        .and_then(|r| r.flatten_all())
        .and_then(|r| r.to_vec1())
        .map_err(crate::Error::tensor)
}
