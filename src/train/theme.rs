//! Training the Theme Transformer on POP909: each song's theme is found by retrieval
//! (`theme::find_theme`), the song is written in REMI with its theme regions marked by
//! Theme_Start/Theme_End, and the theme's melody (REMI) is the encoder's input. Crops of the song keep
//! the theme counter and gate computed on the whole song.

use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use rand::Rng;
use rayon::prelude::*;

pub use super::corpus::{ThemeCorpus, ThemePiece};
use super::run::Job;
use super::{export_weights, masked_nll, TrainConfig, TrainOptions, Trainee};
use crate::accompany::bars::transpose_encoder;
use crate::error::{Error, Result};
use crate::model::theme_transformer::{theme_positions, ThemeConfig, ThemeTask, ThemeTransformer};
use crate::theme::{find_theme, Settings};
use crate::tokens::remi::encoder_positions;
use crate::tokens::{RemiVocab, Vocab, BOS, PAD};

/// One song as a theme piece (`None` if it has no theme), its themes capped at `max_theme` tokens.
pub fn theme_piece(
    score: &crate::midi::Score,
    downbeats: Option<&[f64]>,
    settings: &Settings,
    max_theme: usize,
    time_aligned: bool,
) -> Result<Option<ThemePiece>> {
    let Ok(theme) = find_theme(score, downbeats, settings) else {
        return Ok(None);
    };
    let song = RemiVocab {
        bars: Some(theme.bars.clone()),
        themes: theme.regions.clone(),
        one_part: false,
    };
    let mut ids = vec![BOS];
    ids.extend(song.encode(score)?);
    let mut theme_ids = RemiVocab::default().encode(&theme.to_score(score)?)?;
    theme_ids.truncate(max_theme);
    let (counter, gate) = theme_positions(&ids, time_aligned);
    Ok(Some(ThemePiece {
        theme_pos: encoder_positions(&theme_ids, time_aligned),
        theme: theme_ids,
        ids,
        counter,
        gate,
    }))
}

/// Loads the POP909 songs of `split` with their themes (on all cores).
pub fn load_theme_corpus(
    root: &Path,
    split: &str,
    settings: &Settings,
    cfg: &ThemeConfig,
) -> Result<ThemeCorpus> {
    if !crate::pop909::is_pop909(root) {
        return Err(Error::bad_file(
            root,
            "is not a POP909 directory (NNN/NNN.mid) as the theme model needs",
        ));
    }
    let songs = crate::pop909::songs(root, split)?;
    let pieces: Vec<(Option<ThemePiece>, f64)> = songs
        .par_iter()
        .map(|song| {
            let score = song.score()?;
            let downbeats = crate::pop909::downbeats(&song.midi_path());
            let piece = theme_piece(
                &score,
                downbeats.as_deref(),
                settings,
                cfg.max_theme,
                cfg.time_aligned,
            )?;
            Ok((piece, score.duration()))
        })
        .collect::<Result<_>>()?;
    let mut corpus = ThemeCorpus::default();
    for (piece, seconds) in pieces {
        match piece {
            Some(p) => {
                corpus.pieces.push(p);
                corpus.seconds += seconds;
            }
            None => corpus.without_theme += 1,
        }
    }
    if corpus.pieces.is_empty() {
        return Err(Error::bad_file(
            root,
            format!("no song of split {split} has a theme"),
        ));
    }
    Ok(corpus)
}

/// A crop: piece, first token, tokens (inputs + 1), transposition.
type Crop = (usize, usize, usize, i32);

/// Tensors of one batch.
pub struct ThemeBatch {
    theme: Tensor,
    theme_mask: Tensor,
    theme_pos: Tensor,
    input: Tensor,
    target: Tensor,
    mask: Tensor,
    counter: Tensor,
    gate: Tensor,
    /// Scored tokens.
    pub tokens: usize,
}

/// Builds a batch from crops; `first[i]` targets of row i are not scored (evaluation windows), nor,
/// with `regions_only`, tokens outside theme regions (gate 0). Tokens inside theme regions weigh
/// `region_weight` in the loss, the others 1.
fn make_batch(
    corpus: &ThemeCorpus,
    crops: &[Crop],
    first: &[usize],
    regions_only: bool,
    region_weight: f32,
    device: &Device,
) -> Result<ThemeBatch> {
    let vocab = RemiVocab::default();
    let b = crops.len();
    let l = crops.iter().map(|c| c.2 - 1).max().unwrap_or(1).max(1);
    let t = crops
        .iter()
        .map(|c| corpus.pieces[c.0].theme.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let (mut th, mut thm) = (vec![PAD; b * t], vec![0f32; b * t]);
    let mut thp = vec![0u32; b * t];
    let (mut input, mut target, mut mask) = (vec![PAD; b * l], vec![PAD; b * l], vec![0f32; b * l]);
    let (mut counter, mut gate) = (vec![0u32; b * l], vec![0f32; b * l]);
    let mut tokens = 0;
    for (row, &(p, start, len, k)) in crops.iter().enumerate() {
        let piece = &corpus.pieces[p];
        let shift = |ids: &[u32]| vocab.transpose(ids, k).unwrap_or_else(|| ids.to_vec());
        // Encoder-side piano notes only occur as an accompaniment model's chords.
        let theme = transpose_encoder(&piece.theme, k).unwrap_or_else(|| piece.theme.clone());
        for (j, &id) in theme.iter().enumerate() {
            th[row * t + j] = id;
            thm[row * t + j] = 1.0;
            thp[row * t + j] = piece.theme_pos[j];
        }
        let ids = shift(&piece.ids[start..start + len]);
        for j in 0..len - 1 {
            input[row * l + j] = ids[j];
            target[row * l + j] = ids[j + 1];
            counter[row * l + j] = piece.counter[start + j];
            gate[row * l + j] = piece.gate[start + j];
            let in_scope = !regions_only || piece.gate[start + j] > 0.0;
            if j >= first.get(row).copied().unwrap_or(0) && in_scope {
                mask[row * l + j] = if piece.gate[start + j] > 0.0 {
                    region_weight
                } else {
                    1.0
                };
                tokens += 1;
            }
        }
    }
    let f = |e| Error::tensor(e);
    Ok(ThemeBatch {
        theme: Tensor::from_vec(th, (b, t), device).map_err(f)?,
        theme_mask: Tensor::from_vec(thm, (b, t), device).map_err(f)?,
        theme_pos: Tensor::from_vec(thp, (b, t), device).map_err(f)?,
        input: Tensor::from_vec(input, (b, l), device).map_err(f)?,
        target: Tensor::from_vec(target, (b, l), device).map_err(f)?,
        mask: Tensor::from_vec(mask, (b, l), device).map_err(f)?,
        counter: Tensor::from_vec(counter, (b, l), device).map_err(f)?,
        gate: Tensor::from_vec(gate, (b, l), device).map_err(f)?,
        tokens,
    })
}

/// Sum of NLL and number of scored tokens of a batch.
pub fn batch_nll(
    model: &ThemeTransformer,
    batch: &ThemeBatch,
    train: bool,
) -> candle_core::Result<(Tensor, Tensor)> {
    let memory = model.encode(&batch.theme, &batch.theme_mask, &batch.theme_pos, train)?;
    let logits = model.decode(
        &batch.input,
        &batch.counter,
        &batch.gate,
        &memory,
        None,
        train,
    )?;
    masked_nll(&logits, &batch.target, &batch.mask)
}

/// Mean NLL per token over half-overlapping windows of every piece (each token scored once); with
/// `limit`, an evenly spread subset of about that many tokens; with `regions_only`, only the tokens
/// inside theme regions.
pub fn evaluate_theme(
    model: &ThemeTransformer,
    corpus: &ThemeCorpus,
    batch_tokens: usize,
    limit: Option<usize>,
    regions_only: bool,
) -> Result<(f64, usize)> {
    let window = model.config().max_len;
    let mut windows: Vec<(Crop, usize)> = Vec::new();
    for (p, piece) in corpus.pieces.iter().enumerate() {
        let n = piece.ids.len();
        let (mut start, mut scored) = (0, 0);
        loop {
            let end = n.min(start + window + 1);
            windows.push((
                (p, start, end - start, 0),
                scored.max(start + 1) - start - 1,
            ));
            scored = end;
            if end == n {
                break;
            }
            start += window / 2;
        }
    }
    if let Some(limit) = limit {
        let total: usize = windows.iter().map(|w| w.0 .2).sum();
        windows = windows
            .into_iter()
            .step_by(total.div_ceil(limit.max(1)).max(1))
            .collect();
    }
    let per_batch = (batch_tokens / (window + 1)).max(1);
    let (mut total, mut count) = (0f64, 0usize);
    for group in windows.chunks(per_batch) {
        let crops: Vec<Crop> = group.iter().map(|w| w.0).collect();
        let first: Vec<usize> = group.iter().map(|w| w.1).collect();
        let batch = make_batch(corpus, &crops, &first, regions_only, 1.0, &Device::Cpu)?;
        let (sum, n) = batch_nll(model, &batch, false).map_err(Error::tensor)?;
        total += sum.to_scalar::<f32>().map_err(Error::tensor)? as f64;
        count += n.to_scalar::<f32>().map_err(Error::tensor)? as usize;
    }
    Ok((total / count.max(1) as f64, count))
}

/// Split `split` of POP909 as a model of this config reads it: songs with their themes, or
/// melody/piano windows.
pub fn load_corpus(root: &Path, split: &str, cfg: &ThemeConfig) -> Result<ThemeCorpus> {
    match cfg.task {
        ThemeTask::Theme => load_theme_corpus(root, split, &Settings::default(), cfg),
        ThemeTask::Accompany => super::accomp::load_accomp_corpus(root, split, cfg),
    }
}

/// Mean NLL per token of `model` on every token of a POP909 split: (NLL, tokens, pieces).
pub fn evaluate_split(
    model: &ThemeTransformer,
    root: &Path,
    split: &str,
) -> Result<(f64, usize, usize)> {
    let corpus = load_corpus(root, split, model.config())?;
    let (nll, tokens) = evaluate_theme(model, &corpus, 8192, None, false)?;
    Ok((nll, tokens, corpus.pieces.len()))
}

/// How much a theme model uses its theme: NLL per token inside theme regions of a split's songs
/// given their own themes, and given the theme of the next song instead, each with its token count
/// (over windows of about `limit` tokens in all, when given).
pub fn theme_ablation(
    model: &ThemeTransformer,
    root: &Path,
    split: &str,
    limit: Option<usize>,
) -> Result<((f64, usize), (f64, usize))> {
    let mut corpus = load_corpus(root, split, model.config())?;
    let own = evaluate_theme(model, &corpus, 8192, limit, true)?;
    let themes: Vec<(Vec<u32>, Vec<u32>)> = corpus
        .pieces
        .iter()
        .map(|p| (p.theme.clone(), p.theme_pos.clone()))
        .collect();
    for (i, piece) in corpus.pieces.iter_mut().enumerate() {
        (piece.theme, piece.theme_pos) = themes[(i + 1) % themes.len()].clone();
    }
    let other = evaluate_theme(model, &corpus, 8192, limit, true)?;
    Ok((own, other))
}

/// Starts from an exported encoder–decoder's weights: the same shapes, the task and positions may
/// differ (fine-tuning).
fn init_theme_from(varmap: &VarMap, cfg: &ThemeConfig, dir: &Path) -> Result<()> {
    let theirs = ThemeConfig::load(&dir.join("config.json"))?;
    let shape = |c: &ThemeConfig| {
        (
            c.d_model,
            c.n_heads,
            c.d_ff,
            c.enc_layers,
            c.dec_layers,
            c.max_len,
            c.gated,
        )
    };
    if shape(&theirs) != shape(cfg) {
        return Err(Error::bad_file(
            dir,
            "the model to start from has a different architecture from the training config",
        ));
    }
    // The aligned-notes projection starts at zero when the exported model has none.
    super::set_vars_from(
        varmap,
        dir,
        &Device::Cpu,
        |_, t| Ok(t.clone()),
        |name| name == "aligned_notes",
    )
}

/// A Theme Transformer with its data.
pub(crate) struct ThemeJob {
    trainee: Trainee<ThemeConfig, ThemeTransformer>,
    train: ThemeCorpus,
    valid: ThemeCorpus,
    batches: Vec<Vec<Crop>>,
}

impl ThemeJob {
    /// Loads both splits with their themes, builds the model, writes `data.json`.
    pub(crate) fn new(
        cfg: &TrainConfig,
        model_cfg: &ThemeConfig,
        opts: &TrainOptions,
    ) -> Result<Self> {
        let train = load_corpus(&opts.data, "train", model_cfg)?;
        let valid = load_corpus(&opts.data, "valid", model_cfg)?;
        let stats = |c: &ThemeCorpus| {
            serde_json::json!({
                "pieces": c.pieces.len(),
                "without_theme": c.without_theme,
                "tokens": c.pieces.iter().map(|p| p.ids.len() - 1).sum::<usize>(),
                "theme_tokens_mean": c.pieces.iter().map(|p| p.theme.len()).sum::<usize>() as f64 / c.pieces.len().max(1) as f64,
                "hours": (c.seconds / 36.0).round() / 100.0,
            })
        };
        super::write_json(
            &opts.out.join("data.json"),
            &serde_json::json!({ "train": stats(&train), "valid": stats(&valid) }),
        )?;
        let trainee = Trainee::new(
            cfg,
            model_cfg,
            opts,
            &Device::Cpu,
            ThemeTransformer::new,
            init_theme_from,
        )?;
        Ok(ThemeJob {
            trainee,
            train,
            valid,
            batches: Vec::new(),
        })
    }
}

impl Job for ThemeJob {
    fn varmap(&self) -> &VarMap {
        &self.trainee.varmap
    }

    fn start_epoch(&mut self, epoch: usize) -> Result<usize> {
        let t = self.trainee.cfg.transpose;
        self.batches = super::crop_batches(
            &mut super::epoch_rng(self.trainee.cfg.seed, epoch),
            self.train.pieces.iter().map(|piece| piece.ids.len()),
            self.trainee.cfg.crop_len + 1,
            self.trainee.cfg.batch_tokens,
            |rng, n, len| {
                let start = if n > len {
                    rng.random_range(0..=n - len)
                } else {
                    0
                };
                let k = if t > 0 { rng.random_range(-t..=t) } else { 0 };
                (start, k)
            },
        );
        Ok(self.batches.len())
    }

    fn loss(&mut self, i: usize) -> Result<(Tensor, usize)> {
        let weight = self.trainee.cfg.region_weight;
        let batch = make_batch(
            &self.train,
            &self.batches[i],
            &[],
            false,
            weight,
            &Device::Cpu,
        )?;
        let (sum, count) = batch_nll(&self.trainee.model, &batch, true).map_err(Error::tensor)?;
        let count = count.to_scalar::<f32>().map_err(Error::tensor)? as f64;
        Ok(((sum / count.max(1.0)).map_err(Error::tensor)?, batch.tokens))
    }

    fn validate(&self) -> Result<f64> {
        let limit = (self.trainee.cfg.valid_tokens > 0).then_some(self.trainee.cfg.valid_tokens);
        evaluate_theme(
            &self.trainee.model,
            &self.valid,
            self.trainee.cfg.batch_tokens,
            limit,
            false,
        )
        .map(|(nll, _)| nll)
    }

    fn export(&self, dir: &Path) -> Result<()> {
        export_weights(&self.trainee.varmap, dir)?;
        self.trainee.model_cfg.save(&dir.join("config.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::remi;

    /// Region tokens weigh `region_weight` in the training mask, the rest 1; `regions_only` scores
    /// only the region; the first `first` targets of a row are never scored.
    #[test]
    fn batch_mask_weights_theme_regions() {
        let ids = vec![
            BOS,
            remi::BAR,
            remi::THEME_START,
            remi::BAR,
            100,
            remi::THEME_END,
            5,
        ];
        let (counter, gate) = crate::model::theme_transformer::theme_positions(&ids, false);
        let corpus = ThemeCorpus {
            pieces: vec![ThemePiece {
                theme: vec![remi::BAR, 100],
                theme_pos: vec![0, 1],
                ids: ids.clone(),
                counter,
                gate: gate.clone(),
            }],
            ..Default::default()
        };
        let crop = [(0, 0, ids.len(), 0)];
        let mask = |first: &[usize], regions_only, w| {
            let b = make_batch(&corpus, &crop, first, regions_only, w, &Device::Cpu).unwrap();
            (b.mask.to_vec2::<f32>().unwrap().remove(0), b.tokens)
        };
        let inside = |j: usize| gate[j] > 0.0;
        let (m, n) = mask(&[], false, 3.0);
        assert_eq!(n, ids.len() - 1);
        for (j, &w) in m.iter().enumerate() {
            assert_eq!(w, if inside(j) { 3.0 } else { 1.0 }, "token {j}");
        }
        let (m, n) = mask(&[3], true, 1.0);
        assert_eq!(n, (3..ids.len() - 1).filter(|&j| inside(j)).count());
        assert!(m[..3].iter().all(|&w| w == 0.0));
    }
}
