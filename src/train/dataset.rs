//! Training data: token sequences, random crops, transposition, length-bucketed batches.

use std::path::Path;

use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::model::VocabKind;
use crate::tokens::grid::{JsbData, VOICES};
use crate::tokens::{GridVocab, Vocab, BOS, PAD};

/// Token sequences of one split, each starting with BOS, with the boundaries a crop may start at.
#[derive(Debug, Clone, Default)]
pub struct Sequences {
    /// `[BOS, tokens…]` per piece.
    pub seqs: Vec<Vec<u32>>,
    /// Token positions where a crop may start (e.g. the first voice of a grid step), per piece.
    pub starts: Vec<Vec<usize>>,
}

impl Sequences {
    /// Total number of predicted tokens (all but the BOS of each piece).
    pub fn tokens(&self) -> usize {
        self.seqs.iter().map(|s| s.len().saturating_sub(1)).sum()
    }
}

/// Loads one split of a data set for a vocabulary: for the grid, the Coconet JSON file.
pub fn load_split(kind: VocabKind, path: &Path, split: &str) -> Result<Sequences> {
    match kind {
        VocabKind::Grid => {
            let data = JsbData::load(path)?;
            let vocab = GridVocab::default();
            let mut out = Sequences::default();
            for chorale in data
                .split(split)
                .map_err(|e| Error::bad_file(path, e.to_string()))?
            {
                let mut seq = vec![BOS];
                seq.extend(vocab.encode_chorale(chorale));
                out.starts.push(
                    (0..seq.len().saturating_sub(1))
                        .filter(|&i| i == 0 || (i - 1) % VOICES == 0)
                        .collect(),
                );
                out.seqs.push(seq);
            }
            Ok(out)
        }
        VocabKind::Performance => Err(Error::Invalid(
            "training data for the performance vocabulary is not available in this version".into(),
        )),
    }
}

/// One batch: inputs and targets `[B, L]` (u32, PAD-filled) and a 0/1 mask of real targets (f32).
pub struct Batch {
    /// Input ids.
    pub input: Tensor,
    /// Target ids (inputs shifted by one).
    pub target: Tensor,
    /// 1 where the target is a real token.
    pub mask: Tensor,
    /// Number of real targets.
    pub tokens: usize,
}

/// Cuts each training piece into random crops of at most `crop_len + 1` tokens (about one crop per
/// `crop_len` tokens of the piece), transposes each by a random amount in ±`transpose` semitones, and
/// groups crops of similar length into batches of about `batch_tokens` tokens, in random order.
pub fn epoch_batches(
    data: &Sequences,
    vocab: &dyn Vocab,
    crop_len: usize,
    batch_tokens: usize,
    transpose: i32,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<Vec<u32>>> {
    let mut crops: Vec<Vec<u32>> = Vec::new();
    for (seq, starts) in data.seqs.iter().zip(&data.starts) {
        let n = seq.len();
        if n < 2 {
            continue;
        }
        let count = n.div_ceil(crop_len + 1).max(1);
        let valid: Vec<usize> = starts
            .iter()
            .copied()
            .filter(|&s| s + 1 < n && (n <= crop_len + 1 || s + crop_len < n))
            .collect();
        for _ in 0..count {
            let start = if n <= crop_len + 1 || valid.is_empty() {
                0
            } else {
                valid[rng.random_range(0..valid.len())]
            };
            let crop = &seq[start..n.min(start + crop_len + 1)];
            let k = if transpose > 0 {
                rng.random_range(-transpose..=transpose)
            } else {
                0
            };
            crops.push(vocab.transpose(crop, k).unwrap_or_else(|| crop.to_vec()));
        }
    }
    crops.shuffle(rng);
    crops.sort_by_key(|c| c.len());
    let mut batches = Vec::new();
    let mut current: Vec<Vec<u32>> = Vec::new();
    for crop in crops {
        let longest = crop
            .len()
            .max(current.iter().map(Vec::len).max().unwrap_or(0));
        if !current.is_empty() && longest * (current.len() + 1) > batch_tokens {
            batches.push(std::mem::take(&mut current));
        }
        current.push(crop);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches.shuffle(rng);
    batches
}

/// Pads crops into a `Batch` on `device`.
pub fn make_batch(crops: &[Vec<u32>], device: &Device) -> candle_core::Result<Batch> {
    let len = crops.iter().map(|c| c.len() - 1).max().unwrap_or(1).max(1);
    let b = crops.len();
    let (mut input, mut target, mut mask) =
        (vec![PAD; b * len], vec![PAD; b * len], vec![0f32; b * len]);
    let mut tokens = 0;
    for (i, c) in crops.iter().enumerate() {
        for t in 0..c.len() - 1 {
            input[i * len + t] = c[t];
            target[i * len + t] = c[t + 1];
            mask[i * len + t] = 1.0;
            tokens += 1;
        }
    }
    Ok(Batch {
        input: Tensor::from_vec(input, (b, len), device)?,
        target: Tensor::from_vec(target, (b, len), device)?,
        mask: Tensor::from_vec(mask, (b, len), device)?,
        tokens,
    })
}

/// Evaluation windows: each piece in windows of at most `window + 1` tokens; a window after the first
/// overlaps the previous by half and scores only its new tokens. Returns (crop, first scored target).
pub fn eval_windows(data: &Sequences, window: usize) -> Vec<(Vec<u32>, usize)> {
    let mut out = Vec::new();
    let stride = (window / 2).max(1);
    for seq in &data.seqs {
        if seq.len() < 2 {
            continue;
        }
        let mut start = 0;
        let mut scored_until = 0; // targets before this index (into seq) are already counted
        loop {
            let end = seq.len().min(start + window + 1);
            let first = scored_until.max(start + 1) - start - 1;
            out.push((seq[start..end].to_vec(), first));
            scored_until = end;
            if end == seq.len() {
                break;
            }
            start += stride;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn toy() -> Sequences {
        let seqs: Vec<Vec<u32>> = [9usize, 41, 100]
            .iter()
            .map(|&n| {
                let mut s = vec![BOS];
                s.extend((0..n as u32 - 1).map(|i| 4 + 40 + (i % 20)));
                s
            })
            .collect();
        let starts = seqs
            .iter()
            .map(|s| {
                (0..s.len() - 1)
                    .filter(|&i| i == 0 || (i - 1) % 4 == 0)
                    .collect()
            })
            .collect();
        Sequences { seqs, starts }
    }

    #[test]
    fn crops_fit_and_start_on_boundaries() {
        let data = toy();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let batches = epoch_batches(&data, &GridVocab::default(), 16, 64, 3, &mut rng);
        let crops: Vec<&Vec<u32>> = batches.iter().flatten().collect();
        assert!(crops.iter().all(|c| c.len() <= 17 && c.len() >= 2));
        assert!(batches
            .iter()
            .all(|b| b.iter().map(Vec::len).max().unwrap() * b.len() <= 64 || b.len() == 1));
        // 1 + 3 + 6 crops.
        assert_eq!(crops.len(), 1 + 3 + 6);
        let batch = make_batch(&batches[0], &Device::Cpu).unwrap();
        assert_eq!(
            batch.tokens,
            batches[0].iter().map(|c| c.len() - 1).sum::<usize>()
        );
    }

    #[test]
    fn eval_windows_score_every_token_once() {
        let data = toy();
        for window in [4usize, 16, 200] {
            let scored: usize = eval_windows(&data, window)
                .iter()
                .map(|(c, first)| c.len() - 1 - first)
                .sum();
            assert_eq!(scored, data.tokens(), "window {window}");
        }
    }
}
