//! Training data: token sequences, random crops, transposition, length-bucketed batches.

use std::path::Path;

use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::model::VocabKind;
use crate::tokens::grid::{JsbData, VOICES};
use crate::tokens::{GridVocab, PerformanceVocab, Vocab, BOS, PAD};

pub use super::sequences::{Loading, LoadingReporter, OnLoading, Sequences};

/// Loads one split of a data set for a vocabulary: for the grid, the Coconet JSON file; for the
/// piano vocabularies POP909 (its numbered splits) or any folder of MIDI files (split by path hash).
pub fn load_split(kind: VocabKind, path: &Path, split: &str) -> Result<Sequences> {
    load_split_with(kind, path, split, super::folder::DEFAULT_VALID_SHARE)
}

/// [`load_split`], with the share of a plain MIDI folder's files that is held out for validation.
pub fn load_split_with(
    kind: VocabKind,
    path: &Path,
    split: &str,
    valid_share: f64,
) -> Result<Sequences> {
    let seqs = if super::shards::is_shards(path) {
        super::shards::read(path, kind, split)?
    } else if is_midi_folder(path) {
        super::folder::load(kind, path, split, valid_share)?
            .0
            .into()
    } else {
        load_any_split(kind, path, split, &|_| {})?
    };
    check_nonempty(&seqs, path, split)?;
    Ok(seqs)
}

/// Both splits (train, valid) of a data set for a vocabulary, a MIDI folder scanned once;
/// `on` sees the progress and a folder's summary.
pub fn load_splits(
    kind: VocabKind,
    path: &Path,
    valid_share: f64,
    on: OnLoading,
) -> Result<(Sequences, Sequences)> {
    let (train, valid) = if super::shards::is_shards(path) {
        let read = |split| super::shards::read(path, kind, split);
        (read("train")?, read("valid")?)
    } else if is_midi_folder(path) {
        let on_file = |done, total| on(Loading::Files { done, total });
        let scan = super::folder::scan(kind, path, valid_share, &on_file)?;
        on(Loading::Scanned(&scan.summary));
        (scan.train.into(), scan.valid.into())
    } else {
        let train = load_any_split(kind, path, "train", on)?;
        (train, load_any_split(kind, path, "valid", on)?)
    };
    check_nonempty(&train, path, "train")?;
    check_nonempty(&valid, path, "valid")?;
    Ok((train, valid))
}

fn check_nonempty(seqs: &Sequences, path: &Path, split: &str) -> Result<()> {
    if seqs.seqs.iter().all(|s| s.len() < 2) {
        return Err(Error::bad_file(
            path,
            format!("the {split} split holds no piece to learn from or score"),
        ));
    }
    Ok(())
}

impl From<super::folder::Pieces> for Sequences {
    fn from(p: super::folder::Pieces) -> Self {
        Sequences {
            seqs: p.seqs,
            starts: p.starts,
            seconds: p.seconds,
            names: p.names,
        }
    }
}

/// Tokenises the data at `data` (a folder of MIDI files, split by path hash with `valid_share`, or
/// POP909 with its numbered splits) for `kind` once, and writes both splits as shards into the new
/// folder `out`; `on` sees the progress and a folder's summary.
pub fn tokenize(
    data: &Path,
    kind: VocabKind,
    valid_share: f64,
    out: &Path,
    on: OnLoading,
) -> Result<super::shards::Manifest> {
    if super::shards::is_shards(data) {
        return Err(Error::bad_file(data, "is token shards already"));
    }
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same(data, out) {
        return Err(Error::bad_file(
            out,
            "is the data folder itself: write the shards elsewhere",
        ));
    }
    if out.exists()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Error::bad_file(
            out,
            "already exists: write the shards to a new folder",
        ));
    }
    let (train, valid) = load_splits(kind, data, valid_share, on)?;
    let share = is_midi_folder(data).then_some(valid_share);
    super::shards::write(
        out,
        kind,
        data,
        share,
        [("train", &train), ("valid", &valid)],
    )
}

/// A folder that is not POP909's layout nor token shards: any tree of MIDI files.
pub fn is_midi_folder(path: &Path) -> bool {
    path.is_dir() && !crate::pop909::is_pop909(path) && !super::shards::is_shards(path)
}

fn load_any_split(kind: VocabKind, path: &Path, split: &str, on: OnLoading) -> Result<Sequences> {
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
        VocabKind::Performance => load_pop909(path, split, on),
        VocabKind::Remi => load_pop909_remi(path, split, on),
    }
}

/// POP909 songs of `split` as beat-aware piano tokens: every track as one part on the song's
/// annotated bars (`beat_midi.txt` downbeats), notes as written (the pedal is not folded in: with it
/// 0.9 % of notes last 8 s or more, up to minutes). Crops start at a Bar token, as a continuation's
/// prompt does.
fn load_pop909_remi(root: &Path, split: &str, on: OnLoading) -> Result<Sequences> {
    let encode = |song: &crate::pop909::Song, score: &crate::midi::Score| {
        let vocab = crate::tokens::RemiVocab {
            bars: Some(song.bars(score)),
            themes: Vec::new(),
            one_part: true,
        };
        vocab.encode(score)
    };
    let bars = |seq: &[u32]| -> Vec<usize> {
        let bar = |i: &usize| *i == 0 || seq[*i] == crate::tokens::remi::BAR;
        (0..seq.len()).filter(bar).collect()
    };
    pop909_sequences(
        root,
        split,
        "the beat-aware piano vocabulary",
        &encode,
        &bars,
        on,
    )
}

/// POP909 songs of `split` as performance events: all tracks (MELODY, BRIDGE, PIANO) played as one
/// piano, sustain applied. Crops may start at any token.
fn load_pop909(root: &Path, split: &str, on: OnLoading) -> Result<Sequences> {
    let vocab = PerformanceVocab::default();
    let encode = |_: &crate::pop909::Song, score: &crate::midi::Score| vocab.encode(score);
    let anywhere = |_: &[u32]| Vec::new();
    pop909_sequences(
        root,
        split,
        "the performance vocabulary",
        &encode,
        &anywhere,
        on,
    )
}

/// The songs of `split` of the POP909 copy at `root`, each encoded by `encode` after BOS, with the
/// crop starts `starts` picks; `needs` says which vocabulary needs POP909, for the error.
fn pop909_sequences(
    root: &Path,
    split: &str,
    needs: &str,
    encode: &(dyn Fn(&crate::pop909::Song, &crate::midi::Score) -> Result<Vec<u32>> + Sync),
    starts: &dyn Fn(&[u32]) -> Vec<usize>,
    on: OnLoading,
) -> Result<Sequences> {
    use rayon::prelude::*;
    if !crate::pop909::is_pop909(root) {
        return Err(Error::bad_file(
            root,
            format!("is not a POP909 directory (NNN/NNN.mid) as {needs} needs"),
        ));
    }
    let songs = crate::pop909::songs(root, split)?;
    if songs.is_empty() {
        return Err(Error::bad_file(
            root,
            format!("has no songs in split {split}"),
        ));
    }
    let done = std::sync::atomic::AtomicUsize::new(0);
    let encoded: Vec<(Vec<u32>, f64)> = songs
        .par_iter()
        .map(|song| {
            let score = song.score()?;
            let mut seq = vec![BOS];
            seq.extend(encode(song, &score)?);
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            on(Loading::Files {
                done: n,
                total: songs.len(),
            });
            Ok((seq, score.duration()))
        })
        .collect::<Result<_>>()?;
    let mut out = Sequences::default();
    for ((seq, seconds), song) in encoded.into_iter().zip(&songs) {
        out.starts.push(starts(&seq));
        out.seqs.push(seq);
        out.seconds += seconds;
        out.names.push(relative_name(root, &song.midi_path()));
    }
    Ok(out)
}

/// `path` relative to `root`, with `/` separators.
fn relative_name(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<_> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    parts.join("/")
}

/// Random changes applied to each training crop.
#[derive(Debug, Clone, Copy, Default)]
pub struct Augment {
    /// Transposition range in semitones (±).
    pub transpose: i32,
    /// Time-stretch range as a fraction (±), in five steps.
    pub stretch: f64,
    /// Share of crops rewritten in fill-in-the-middle order (`train::infill`; beat-aware piano only).
    pub infill: f64,
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
/// `crop_len` tokens of the piece), transposes and stretches each at random (`augment`), and groups
/// crops of similar length into batches of about `batch_tokens` tokens, in random order.
pub fn epoch_batches(
    data: &Sequences,
    vocab: &dyn Vocab,
    crop_len: usize,
    batch_tokens: usize,
    augment: Augment,
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
            let start = if n <= crop_len + 1 {
                0
            } else if starts.is_empty() {
                rng.random_range(0..n - crop_len)
            } else if valid.is_empty() {
                0
            } else {
                valid[rng.random_range(0..valid.len())]
            };
            let crop = &seq[start..n.min(start + crop_len + 1)];
            let mut crop = augment_crop(crop, vocab, augment, crop_len, rng);
            if augment.infill > 0.0 && rng.random_bool(augment.infill) {
                crop = super::infill::rearrange(&crop, rng).unwrap_or(crop);
            }
            crops.push(crop);
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

/// One crop transposed by a random amount in ±`transpose` semitones and stretched by one of five
/// factors in 1 ± `stretch`, cut back to `crop_len + 1` tokens.
fn augment_crop(
    crop: &[u32],
    vocab: &dyn Vocab,
    augment: Augment,
    crop_len: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<u32> {
    let k = if augment.transpose > 0 {
        rng.random_range(-augment.transpose..=augment.transpose)
    } else {
        0
    };
    let mut out = vocab.transpose(crop, k).unwrap_or_else(|| crop.to_vec());
    if augment.stretch > 0.0 {
        let factor = 1.0 + augment.stretch * rng.random_range(-2i32..=2) as f64 / 2.0;
        if let Some(mut stretched) = vocab.stretch(&out, factor) {
            stretched.truncate(crop_len + 1);
            out = stretched;
        }
    }
    out
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
        Sequences {
            seqs,
            starts,
            seconds: 0.0,
            names: Vec::new(),
        }
    }

    #[test]
    fn crops_fit_and_start_on_boundaries() {
        let data = toy();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let aug = Augment {
            transpose: 3,
            ..Default::default()
        };
        let batches = epoch_batches(&data, &GridVocab::default(), 16, 64, aug, &mut rng);
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
