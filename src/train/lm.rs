//! Training the decoder-only Music Transformer: token sequences (JSB grid or POP909 performance
//! events), random crops with transposition and time-stretch, bucketed batches.

use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;

use super::dataset::{self, make_batch, Sequences};
use super::run::Job;
use super::{
    evaluate, export, init_from, masked_nll, vocab_for, TrainConfig, TrainOptions, Trainee,
};
use crate::error::{Error, Result};
use crate::model::{MusicTransformer, TransformerConfig};
use crate::tokens::Vocab;

/// A Music Transformer with its data.
pub(crate) struct LmJob {
    trainee: Trainee<TransformerConfig, MusicTransformer>,
    train: Sequences,
    valid: Sequences,
    vocab: Box<dyn Vocab>,
    batches: Vec<Vec<Vec<u32>>>,
    device: Device,
    /// A MIDI folder's scan summary (empty for other data).
    scanned: String,
}

impl LmJob {
    /// Loads both splits, builds the model (from `--init` weights if given) and writes `data.json`.
    pub(crate) fn new(
        cfg: &TrainConfig,
        model_cfg: &TransformerConfig,
        opts: &TrainOptions,
    ) -> Result<Self> {
        let device = Device::Cpu;
        let share = opts
            .valid_share
            .or_else(|| opts.resume.then(|| recorded_share(&opts.out)).flatten())
            .unwrap_or(super::folder::DEFAULT_VALID_SHARE);
        // The model first: a --init model that does not fit is refused before the data is read.
        let init =
            |varmap: &VarMap, c: &TransformerConfig, dir: &Path| init_from(varmap, c, dir, &device);
        let trainee = Trainee::new(cfg, model_cfg, opts, &device, MusicTransformer::new, init)?;
        let scanned = std::sync::Mutex::new(String::new());
        let on = |l: dataset::Loading| {
            if let dataset::Loading::Scanned(summary) = l {
                *scanned.lock().unwrap_or_else(|e| e.into_inner()) = summary.to_string();
            }
            opts.loading(l)
        };
        let (train, valid) = dataset::load_splits(model_cfg.vocab, &opts.data, share, &on)?;
        let scanned = scanned.into_inner().unwrap_or_else(|e| e.into_inner());
        super::write_data_stats(&opts.out.join("data.json"), &train, &valid, share)?;
        Ok(LmJob {
            trainee,
            train,
            valid,
            vocab: vocab_for(model_cfg.vocab),
            batches: Vec::new(),
            device,
            scanned,
        })
    }
}

/// The valid share a run recorded in its `data.json` (a resumed run keeps its split).
fn recorded_share(out: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(out.join("data.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json.get("valid_share")?.as_f64()
}

impl Job for LmJob {
    fn varmap(&self) -> &VarMap {
        &self.trainee.varmap
    }

    fn start_epoch(&mut self, epoch: usize) -> Result<usize> {
        let cfg = &self.trainee.cfg;
        let mut rng = super::epoch_rng(cfg.seed, epoch);
        self.batches = dataset::epoch_batches(
            &self.train,
            self.vocab.as_ref(),
            cfg.crop_len,
            cfg.batch_tokens,
            dataset::Augment {
                transpose: cfg.transpose,
                stretch: cfg.stretch,
                infill: cfg.infill,
            },
            &mut rng,
        );
        Ok(self.batches.len())
    }

    fn loss(&mut self, i: usize) -> Result<(Tensor, usize)> {
        let batch = make_batch(&self.batches[i], &self.device).map_err(Error::tensor)?;
        let run = || -> candle_core::Result<Tensor> {
            let logits = self.trainee.model.forward(&batch.input, None, true)?;
            let (sum, count) = masked_nll(&logits, &batch.target, &batch.mask)?;
            sum / count.to_scalar::<f32>()? as f64
        };
        Ok((run().map_err(Error::tensor)?, batch.tokens))
    }

    fn validate(&self) -> Result<f64> {
        let limit = (self.trainee.cfg.valid_tokens > 0).then_some(self.trainee.cfg.valid_tokens);
        evaluate(
            &self.trainee.model,
            &self.valid,
            self.trainee.cfg.batch_tokens,
            limit,
        )
        .map(|(nll, _)| nll)
        .map_err(Error::tensor)
    }

    fn export(&self, dir: &Path) -> Result<()> {
        export(&self.trainee.varmap, &self.trainee.model_cfg, dir)
    }

    fn data_summary(&self) -> String {
        let split = |name: &str, d: &Sequences| {
            format!(
                "{name}: {} pieces, {} tokens, {:.2} h of music",
                d.seqs.len(),
                d.tokens(),
                d.seconds / 3600.0
            )
        };
        let pieces = format!(
            "{}\n{}",
            split("train", &self.train),
            split("valid", &self.valid)
        );
        if self.scanned.is_empty() {
            pieces
        } else {
            format!("{}\n{pieces}", self.scanned)
        }
    }
}
