//! Fill-in-the-middle training crops for the beat-aware piano model (`tokens::infill`): a share of
//! the crops is cut at two Bar tokens into prefix, middle (1 to `MAX_MIDDLE_BARS` bars) and suffix and
//! rewritten in infilling order, no longer than the crop was.

use rand::Rng;

use crate::tokens::infill::{bars, sequence};

/// The longest span, in bars, a training crop asks the model to fill.
pub const MAX_MIDDLE_BARS: usize = 8;

/// `crop` in infilling order with a random middle of whole bars, or `None` when it holds no whole
/// bar followed by another Bar. The suffix is cut (at a Bar where it can be) so that the result is
/// no longer than `crop`.
pub fn rearrange(crop: &[u32], rng: &mut impl Rng) -> Option<Vec<u32>> {
    let at = bars(crop);
    if at.len() < 2 {
        return None;
    }
    let first = rng.random_range(0..at.len() - 1);
    let count = rng.random_range(1..=MAX_MIDDLE_BARS.min(at.len() - 1 - first));
    let (a, b) = (at[first], at[first + count]);
    let (prefix, middle, suffix) = (&crop[..a], &crop[a..b], &crop[b..]);
    // Three tokens more than the crop: the two sentinels and the Bar that ends the middle.
    let room = suffix.len().checked_sub(3).filter(|&r| r > 0)?;
    let cut = bars(&suffix[..=room])
        .into_iter()
        .rfind(|&i| i > 0)
        .unwrap_or(room);
    Some(sequence(prefix, middle, &suffix[..cut]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::infill::{FILL_MIDDLE, FILL_SUFFIX};
    use crate::tokens::remi::BAR;
    use rand::SeedableRng;

    #[test]
    fn rearranged_crops_keep_their_bars_and_fit() {
        // Ten bars of four tokens each after a BOS.
        let mut crop = vec![1u32];
        for b in 0..10u32 {
            crop.extend([BAR, 100 + b, 200 + b, 300 + b]);
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            let out = rearrange(&crop, &mut rng).unwrap();
            assert!(out.len() <= crop.len());
            let s = out.iter().position(|&t| t == FILL_SUFFIX).unwrap();
            let m = out.iter().position(|&t| t == FILL_MIDDLE).unwrap();
            assert_eq!(&out[..s], &crop[..s], "the prefix is the crop's start");
            assert_eq!(out[s + 1], BAR, "the suffix starts with a Bar");
            assert_eq!(out[m + 1], BAR, "the middle starts with a Bar");
            assert_eq!(
                *out.last().unwrap(),
                BAR,
                "the middle ends with the suffix's Bar"
            );
            // The middle is whole bars of the crop, right after the prefix.
            let middle = &out[m + 1..out.len() - 1];
            assert_eq!(middle, &crop[s..s + middle.len()]);
            assert_eq!(crop[s + middle.len()], BAR);
            // The suffix continues the crop after the middle.
            let suffix = &out[s + 1..m];
            let after = s + middle.len();
            assert_eq!(suffix, &crop[after..after + suffix.len()]);
        }
        assert!(rearrange(&[1, BAR, 5, 6], &mut rng).is_none());
    }
}

/// What `reprise eval --infill` measures: the NLL of real spans given what comes before and after
/// them (infilling order) and given only what comes before (continuation order), over the same
/// tokens: each span's bars and the Bar that ends it.
#[derive(Debug, Clone, Copy, Default)]
pub struct InfillNll {
    /// Spans scored.
    pub spans: usize,
    /// Tokens scored (in each order).
    pub tokens: usize,
    /// Mean NLL per token with prefix and suffix.
    pub with_suffix: f64,
    /// Mean NLL per token with the prefix only.
    pub prefix_only: f64,
}

/// Bars per measured span, bars between span starts, and the first span's bar.
const SPAN_BARS: usize = 4;
const SPAN_EVERY: usize = 16;
const FIRST_SPAN: usize = 8;

/// The spans of one piece as (prefix, middle, suffix) token slices: `SPAN_BARS` bars every
/// `SPAN_EVERY` bars from bar `FIRST_SPAN`, each with at most `context / 2` tokens of whole bars
/// before it and `context / 4` after, and at least one whole bar after.
pub fn spans(seq: &[u32], context: usize) -> Vec<(&[u32], &[u32], &[u32])> {
    let at = bars(seq);
    let mut out = Vec::new();
    let mut k = FIRST_SPAN;
    while k + SPAN_BARS + 1 < at.len() {
        let (a, b) = (at[k], at[k + SPAN_BARS]);
        let first = at[..k]
            .iter()
            .copied()
            .find(|&s| a - s <= context / 2)
            .unwrap_or(a);
        let end = at[k + SPAN_BARS + 1..]
            .iter()
            .copied()
            .take_while(|&e| e - b <= context / 4)
            .last()
            .unwrap_or(at[k + SPAN_BARS + 1]);
        if b - a + (end - b) + (a - first) + 3 <= context {
            out.push((&seq[first..a], &seq[a..b], &seq[b..end]));
        }
        k += SPAN_EVERY;
    }
    out
}

/// [`InfillNll`] of `model` on the pieces `seqs`.
pub fn infill_nll(
    model: &crate::model::MusicTransformer,
    seqs: &[Vec<u32>],
) -> candle_core::Result<InfillNll> {
    let mut r = InfillNll::default();
    let (mut fim, mut plain) = (0.0, 0.0);
    for seq in seqs {
        for (prefix, middle, suffix) in spans(seq, model.config().max_len) {
            let filled = sequence(prefix, middle, suffix);
            let mut cont = prefix.to_vec();
            cont.extend_from_slice(middle);
            cont.push(crate::tokens::remi::BAR);
            let scored = middle.len() + 1;
            fim += tail_nll(model, &filled, scored)?;
            plain += tail_nll(model, &cont, scored)?;
            r.spans += 1;
            r.tokens += scored;
        }
    }
    let n = r.tokens.max(1) as f64;
    r.with_suffix = fim / n;
    r.prefix_only = plain / n;
    Ok(r)
}

/// Summed NLL of the last `count` tokens of `ids` under `model`.
fn tail_nll(
    model: &crate::model::MusicTransformer,
    ids: &[u32],
    count: usize,
) -> candle_core::Result<f64> {
    use candle_core::{Device, Tensor, D};
    let input = Tensor::from_vec(
        ids[..ids.len() - 1].to_vec(),
        (1, ids.len() - 1),
        &Device::Cpu,
    )?;
    let logits = model.forward(&input, None, false)?.squeeze(0)?;
    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?.to_vec2::<f32>()?;
    let n = ids.len();
    Ok((n - count..n)
        .map(|t| -(logp[t - 1][ids[t] as usize] as f64))
        .sum())
}
