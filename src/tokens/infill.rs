//! Fill-in-the-middle order for the beat-aware piano vocabulary (Bavarian et al. 2022, "Efficient
//! Training of Language Models to Fill in the Middle", <https://arxiv.org/abs/2207.14255>; for music,
//! Thickstun et al. 2023, "Anticipatory Music Transformer").
//!
//! A piece cut at two Bar tokens into prefix, middle and suffix is written
//! `prefix, FILL_SUFFIX, suffix, FILL_MIDDLE, middle, Bar`: a decoder-only model reads what comes
//! before *and after* the span before it writes the span, and ends the middle with the Bar that
//! opens the suffix. The two sentinels are the vocabulary's Theme_Start and Theme_End ids, which the
//! one-part piano streams never use otherwise, so the vocabulary (and every token shard) is unchanged.

use super::remi::{BAR, THEME_END, THEME_START};

/// Sentinel before the suffix.
pub const FILL_SUFFIX: u32 = THEME_START;
/// Sentinel before the middle (the span to write).
pub const FILL_MIDDLE: u32 = THEME_END;

/// The prompt for writing the middle between `prefix` and `suffix` (the suffix starts with a Bar).
pub fn prompt(prefix: &[u32], suffix: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(prefix.len() + suffix.len() + 2);
    out.extend_from_slice(prefix);
    out.push(FILL_SUFFIX);
    out.extend_from_slice(suffix);
    out.push(FILL_MIDDLE);
    out
}

/// The whole training sequence: the prompt, the middle and the Bar that ends it.
pub fn sequence(prefix: &[u32], middle: &[u32], suffix: &[u32]) -> Vec<u32> {
    let mut out = prompt(prefix, suffix);
    out.extend_from_slice(middle);
    out.push(BAR);
    out
}

/// Indices of the Bar tokens in `ids`.
pub fn bars(ids: &[u32]) -> Vec<usize> {
    ids.iter()
        .enumerate()
        .filter(|(_, &t)| t == BAR)
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_middle_comes_last_and_ends_with_a_bar() {
        let (p, m, s) = ([1, BAR, 40], [BAR, 41, 42], [BAR, 43]);
        assert_eq!(
            sequence(&p, &m, &s),
            [
                1,
                BAR,
                40,
                FILL_SUFFIX,
                BAR,
                43,
                FILL_MIDDLE,
                BAR,
                41,
                42,
                BAR
            ]
        );
        assert_eq!(bars(&[1, BAR, 5, BAR]), [1, 3]);
    }
}
