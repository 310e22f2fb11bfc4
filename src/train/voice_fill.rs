//! The voice filler's training job: crops of JSB chorales with some voices hidden, the loss the
//! NLL of the hidden values. Most crops show the pattern harmonizing meets (`generate::harmonize`):
//! some voices kept (the soprano alone half the time), the others known up to a random frontier in
//! fill order and hidden after it. The rest hide each value independently with a random
//! probability, as Coconet (Huang et al. 2017) trains. In frontier crops a hidden value `d` steps
//! after the frontier's step weighs `exp(−d / FRONTIER_DECAY)` in the loss: filling asks for the
//! value at the frontier, so the values near it teach most. Crops are transposed by up to ±`transpose`
//! semitones. Validation is the exact NLL of alto, tenor and bass given the soprano, in fill order,
//! on the first `crop_len / 2` steps of every validation chorale (`reprise eval --harmonize` scores
//! the whole chorales).

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::run::Job;
use super::{export_weights, masked_nll, TrainConfig, TrainOptions};
use crate::error::{Error, Result};
use crate::generate::harmonize::{fill_nll, frontier_tokens, Kept};
use crate::model::voice_filler::{
    class_of, VoiceFiller, VoiceFillerConfig, CLASSES, HIDDEN, VOICES,
};
use crate::tokens::grid::JsbData;
use crate::tokens::Chorale;

/// The share of crops hidden value by value (Coconet's masks) instead of at a frontier.
const IID_SHARE: f64 = 0.2;
/// Steps after the frontier over which a hidden value's loss weight falls by e.
const FRONTIER_DECAY: f64 = 4.0;
/// Forward passes of validation hold this many windows.
const VALID_BATCH: usize = 64;

/// One training crop: chorale, first step, steps, (transposition, mask seed).
type Crop = (usize, usize, usize, (i32, u64));

/// The voice filler with its chorales.
pub(crate) struct VoiceFillJob {
    cfg: TrainConfig,
    model_cfg: VoiceFillerConfig,
    varmap: VarMap,
    model: VoiceFiller,
    train: Vec<Chorale>,
    valid: Vec<Chorale>,
    batches: Vec<Vec<Crop>>,
}

impl VoiceFillJob {
    /// Loads the JSB file's train and valid splits, builds the model, writes `data.json`.
    pub(crate) fn new(
        cfg: &TrainConfig,
        model_cfg: &VoiceFillerConfig,
        opts: &TrainOptions,
    ) -> Result<Self> {
        let data = JsbData::load(&opts.data)?;
        let train = data.split("train")?.to_vec();
        let valid = data.split("valid")?.to_vec();
        let stats = |s: &[Chorale]| {
            serde_json::json!({
                "chorales": s.len(),
                "steps": s.iter().map(|c| c.steps.len()).sum::<usize>(),
            })
        };
        super::write_json(
            &opts.out.join("data.json"),
            &serde_json::json!({ "train": stats(&train), "valid": stats(&valid) }),
        )?;
        let job = VoiceFillJob::from_chorales(cfg, model_cfg, train, valid)?;
        if let (false, Some(dir)) = (opts.resume, &opts.init) {
            let keep = |_: &str, t: &Tensor| Ok(t.clone());
            super::set_vars_from(&job.varmap, dir, &Device::Cpu, keep, |_| false)?;
        }
        Ok(job)
    }

    /// A fresh model with its chorales.
    fn from_chorales(
        cfg: &TrainConfig,
        model_cfg: &VoiceFillerConfig,
        train: Vec<Chorale>,
        valid: Vec<Chorale>,
    ) -> Result<Self> {
        if cfg.crop_len > model_cfg.max_len {
            return Err(Error::Invalid(format!(
                "crop_len {} is longer than the model's max_len {}",
                cfg.crop_len, model_cfg.max_len
            )));
        }
        let varmap = VarMap::new();
        let vb = super::seeded::var_builder(&varmap, cfg.seed, DType::F32, &Device::Cpu);
        let model = VoiceFiller::new(model_cfg, vb).map_err(Error::tensor)?;
        Ok(VoiceFillJob {
            cfg: cfg.clone(),
            model_cfg: model_cfg.clone(),
            varmap,
            model,
            train,
            valid,
            batches: Vec::new(),
        })
    }

    /// The batch of `crops`: input tokens `[B, L, 4]`, real-step mask `[B, L]`, targets and the
    /// mask of hidden values, both `[B, L·4]`.
    fn batch(&self, crops: &[Crop]) -> candle_core::Result<(Tensor, Tensor, Tensor, Tensor)> {
        let l = crops.iter().map(|c| c.2).max().unwrap_or(1);
        let b = crops.len();
        let mut x = vec![HIDDEN; b * l * VOICES];
        let mut real = vec![0f32; b * l];
        let mut target = vec![0u32; b * l * VOICES];
        let mut hidden = vec![0f32; b * l * VOICES];
        for (r, &(c, start, len, (shift, seed))) in crops.iter().enumerate() {
            let steps: Vec<[i16; VOICES]> = self.train[c].steps[start..start + len]
                .iter()
                .map(|s| s.map(|p| transpose(p, shift)))
                .collect();
            let (tokens, weights) = crop_tokens(&steps, &mut ChaCha8Rng::seed_from_u64(seed));
            for (i, (&tok, &p)) in tokens.iter().zip(steps.iter().flatten()).enumerate() {
                let at = r * l * VOICES + i;
                x[at] = tok;
                target[at] = class_of(p);
                hidden[at] = weights[i];
            }
            real[r * l..r * l + len].fill(1.0);
        }
        let dev = &Device::Cpu;
        Ok((
            Tensor::from_vec(x, (b, l, VOICES), dev)?,
            Tensor::from_vec(real, (b, l), dev)?,
            Tensor::from_vec(target, (b, l * VOICES), dev)?,
            Tensor::from_vec(hidden, (b, l * VOICES), dev)?,
        ))
    }
}

/// `p` moved by `shift` semitones (rests stay rests), kept in 0–127.
fn transpose(p: i16, shift: i32) -> i16 {
    if p < 0 {
        p
    } else {
        (i32::from(p) + shift).clamp(0, 127) as i16
    }
}

/// A crop's input and each value's loss weight: the frontier pattern (kept voices, a random
/// frontier; hidden values weighted by their distance from it) or, for `IID_SHARE` of crops, each
/// value hidden with one random probability (weight 1); at least one value is always hidden, and
/// visible values weigh 0.
pub(crate) fn crop_tokens(steps: &[[i16; VOICES]], rng: &mut ChaCha8Rng) -> (Vec<u32>, Vec<f32>) {
    let n = steps.len();
    if rng.random_bool(IID_SHARE) {
        let p: f64 = rng.random_range(0.05..1.0);
        let mut tokens: Vec<u32> = steps
            .iter()
            .flatten()
            .map(|&v| {
                if rng.random_bool(p) {
                    HIDDEN
                } else {
                    class_of(v)
                }
            })
            .collect();
        let forced = rng.random_range(0..tokens.len());
        tokens[forced] = HIDDEN;
        let weights = tokens.iter().map(|&t| f32::from(t == HIDDEN)).collect();
        return (tokens, weights);
    }
    let kept = if rng.random_bool(0.5) {
        Kept::SOPRANO
    } else {
        let bits = rng.random_range(1..(1u32 << VOICES) - 1);
        Kept(std::array::from_fn(|v| bits & (1 << v) != 0))
    };
    let filled = kept.filled();
    let k = rng.random_range(0..n * filled.len());
    let frontier = (k / filled.len(), filled[k % filled.len()]);
    let tokens = frontier_tokens(steps, kept, 0, n, frontier);
    let weights = tokens
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            if t == HIDDEN {
                let d = i / VOICES - frontier.0; // hidden values lie at or after the frontier
                (-(d as f64) / FRONTIER_DECAY).exp() as f32
            } else {
                0.0
            }
        })
        .collect();
    (tokens, weights)
}

impl Job for VoiceFillJob {
    fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    fn start_epoch(&mut self, epoch: usize) -> Result<usize> {
        let t = self.cfg.transpose.max(0);
        self.batches = super::crop_batches(
            &mut super::epoch_rng(self.cfg.seed, epoch),
            self.train.iter().map(|c| c.steps.len()),
            self.cfg.crop_len,
            self.cfg.batch_tokens,
            |rng, n, len| {
                let start = rng.random_range(0..=n - len);
                (start, (rng.random_range(-t..=t), rng.random()))
            },
        );
        Ok(self.batches.len())
    }

    fn loss(&mut self, i: usize) -> Result<(Tensor, usize)> {
        let (x, real, target, hidden) = self.batch(&self.batches[i]).map_err(Error::tensor)?;
        let logits = self.model.forward(&x, &real, true).map_err(Error::tensor)?;
        let (b, l, _, _) = logits.dims4().map_err(Error::tensor)?;
        let logits = logits
            .reshape((b, l * VOICES, CLASSES))
            .map_err(Error::tensor)?;
        let (sum, weight) = masked_nll(&logits, &target, &hidden).map_err(Error::tensor)?;
        let w = weight.to_scalar::<f32>().map_err(Error::tensor)?;
        let loss = (sum / f64::from(w.max(1e-6))).map_err(Error::tensor)?;
        Ok((loss, b * l * VOICES))
    }

    fn validate(&self) -> Result<f64> {
        let steps = (self.cfg.crop_len / 2).max(1);
        let (mut total, mut n) = (0.0, 0);
        for c in &self.valid {
            let head = Chorale {
                steps: c.steps[..c.steps.len().min(steps)].to_vec(),
            };
            let (t, k) = fill_nll(&self.model, &head, Kept::SOPRANO, VALID_BATCH)?;
            total += t;
            n += k;
        }
        Ok(total / n.max(1) as f64)
    }

    fn export(&self, dir: &Path) -> Result<()> {
        export_weights(&self.varmap, dir)?;
        self.model_cfg.save(&dir.join("config.json"))
    }

    fn data_summary(&self) -> String {
        let steps = |s: &[Chorale]| s.iter().map(|c| c.steps.len()).sum::<usize>();
        format!(
            "JSB chorales (Coconet JSON): train {} chorales, {} sixteenths; valid {} chorales, {} sixteenths",
            self.train.len(),
            steps(&self.train),
            self.valid.len(),
            steps(&self.valid)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::optim::{AdamW, AdamWParams};

    /// Chorales in C, G and F: the soprano walks a scale, alto a third below, tenor an octave
    /// below the soprano, bass an octave and a fifth below (in key `k`, shape `turn`).
    fn parallel(k: i16, turn: usize, len: usize) -> Chorale {
        let scale = [0i16, 2, 4, 5, 7, 9, 11, 12];
        let steps = (0..len)
            .map(|i| {
                let s = 60 + k + scale[(i / 2 + turn) % scale.len()];
                [s, s - 4, s - 12, s - 19]
            })
            .collect();
        Chorale { steps }
    }

    #[test]
    fn crops_hide_something_and_keep_given_voices() {
        let c = parallel(0, 0, 16);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let (t, w) = crop_tokens(&c.steps, &mut rng);
            assert_eq!((t.len(), w.len()), (64, 64));
            assert!(t.contains(&HIDDEN));
            for ((tok, &p), &w) in t.iter().zip(c.steps.iter().flatten()).zip(&w) {
                assert!(*tok == HIDDEN || *tok == class_of(p));
                assert_eq!(w > 0.0, *tok == HIDDEN);
                assert!(w <= 1.0);
            }
        }
    }

    /// A tiny filler learns voices that follow the soprano: its validation NLL (exact, in fill
    /// order) falls far, on a key it never saw.
    #[test]
    fn learns_voices_from_the_soprano_in_a_new_key() {
        let train = (0..8)
            .flat_map(|turn| [0, 7, 5].map(|k| parallel(k, turn, 24)))
            .collect();
        let valid = vec![parallel(2, 3, 24)];
        let model_cfg = VoiceFillerConfig {
            architecture: VoiceFillerConfig::ARCHITECTURE.into(),
            d_model: 32,
            n_heads: 4,
            d_ff: 64,
            layers: 2,
            max_len: 24,
            dropout: 0.0,
        };
        let cfg: TrainConfig = serde_json::from_value(serde_json::json!({
            "model": model_cfg, "crop_len": 24, "batch_tokens": 192, "lr": 0.003,
            "warmup_steps": 5, "total_steps": 250, "min_lr_ratio": 0.1, "weight_decay": 0.0,
            "clip_norm": 1.0, "transpose": 2, "checkpoint_every": 100, "seed": 1
        }))
        .unwrap();
        assert!(matches!(cfg.model, super::super::ModelConfig::Filler(_)));
        let mut job = VoiceFillJob::from_chorales(&cfg, &model_cfg, train, valid).unwrap();
        let before = job.validate().unwrap();
        let vars = job.varmap.data().lock().unwrap().clone();
        let mut opt = AdamW::new(vars, AdamWParams::default()).unwrap();
        let mut step = 0;
        'run: for epoch in 0.. {
            for i in 0..job.start_epoch(epoch).unwrap() {
                let (loss, _) = job.loss(i).unwrap();
                super::super::run::optimise(&mut opt, &loss, cfg.lr_at(step), 1.0).unwrap();
                step += 1;
                if step >= cfg.total_steps {
                    break 'run;
                }
            }
        }
        let after = job.validate().unwrap();
        assert!(after < before / 4.0, "valid NLL {before} -> {after}");
    }
}
