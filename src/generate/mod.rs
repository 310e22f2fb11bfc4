//! Generation: sampling, cached decoding and the tasks built on them.

pub mod beat;
pub mod decode;
pub mod guidance;
pub mod harmonize;
pub mod infill;
pub mod piano;
pub mod report;
pub mod request;
pub mod rule_harmony;
pub mod sampler;
pub mod tasks;
pub mod theme;
pub mod voices;

pub use sampler::{Sampler, SamplerConfig};

/// The longest a piano continuation may hold a key, in seconds: 99.99 % of POP909's notes as
/// written are shorter (`cargo run --release --example pop909_stats`: 8.04 s at 99.99 %, 151 of
/// 1 475 430 notes reach 8 s). Beat-aware models may not write a longer duration; performance
/// models must release such a key before time moves past it.
pub const MAX_NOTE_SECONDS: f64 = 8.0;

/// `end`, or earlier so that a note from `start` lasts less than [`MAX_NOTE_SECONDS`] on `tempo`
/// (the rule for paths whose durations are not masked as they are drawn).
pub fn cap_end(tempo: &crate::midi::TempoMap, start: u64, end: u64) -> u64 {
    let latest = tempo.tick(tempo.seconds(start) + MAX_NOTE_SECONDS - 0.005);
    end.min(latest.max(start + 1))
}

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
