//! `reprise train` and `reprise eval`: the training loop (AdamW, warm-up then cosine decay, clipping,
//! dropout, bucketed random crops, transposition), validation NLL, CSV and PNG logs, resumable checkpoints.

pub mod accomp;
pub mod card;
pub mod corpus;
pub mod dataset;
pub mod eval;
pub mod finetune;
pub mod folder;
pub mod harmony;
pub mod infill;
pub mod lm;
use crate::plot;
mod run;
pub mod seeded;
pub mod sequences;
pub mod shards;
pub mod synth;
pub mod theme;
pub mod voice_eval;
pub mod voice_fill;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::chord_tagger::ChordTaggerConfig;
use crate::model::optim::AdamW;
use crate::model::theme_transformer::ThemeConfig;
use crate::model::voice_filler::VoiceFillerConfig;
use crate::model::weights::save_tensors;
use crate::model::{MusicTransformer, TransformerConfig, VocabKind};
use crate::synth::model::SynthConfig;
use crate::tokens::{GridVocab, PerformanceVocab, Vocab};
use dataset::{eval_windows, make_batch, Sequences};

/// The model a run trains: a Theme Transformer (its config has `"architecture": "theme-transformer"`)
/// or a decoder-only Music Transformer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ModelConfig {
    /// The theme-conditioned encoder–decoder.
    Theme(ThemeConfig),
    /// The neural synthesizer (GLA, harmonic-plus-noise).
    Synth(SynthConfig),
    /// The decoder-only Music Transformer.
    Music(TransformerConfig),
    /// The harmonizer's chord tagger (melody features in, one chord per beat out).
    Tagger(ChordTaggerConfig),
    /// The chorale voice filler (some voices in, the others out).
    Filler(VoiceFillerConfig),
}

impl ModelConfig {
    /// Decoder context length.
    pub fn max_len(&self) -> usize {
        match self {
            ModelConfig::Theme(t) => t.max_len,
            ModelConfig::Synth(_) => 4096,
            ModelConfig::Music(m) => m.max_len,
            ModelConfig::Tagger(t) => t.max_len,
            ModelConfig::Filler(f) => f.max_len,
        }
    }

    fn validate(&self) -> Result<()> {
        match self {
            ModelConfig::Theme(t) => t.validate(),
            ModelConfig::Synth(s) => s.validate(),
            ModelConfig::Music(m) => m.validate(),
            ModelConfig::Tagger(t) => t.validate(),
            ModelConfig::Filler(f) => f.validate(),
        }
    }
}

impl From<TransformerConfig> for ModelConfig {
    fn from(m: TransformerConfig) -> Self {
        ModelConfig::Music(m)
    }
}

/// A training run's settings, read from a JSON file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The model to train.
    pub model: ModelConfig,
    /// Tokens per training crop (inputs); at most `model.max_len`.
    pub crop_len: usize,
    /// Tokens per batch (padded), about.
    pub batch_tokens: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warm-up steps.
    pub warmup_steps: usize,
    /// Total optimiser steps; the cosine decay ends here.
    pub total_steps: usize,
    /// Final learning rate as a fraction of `lr`.
    pub min_lr_ratio: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Global gradient-norm clip.
    pub clip_norm: f64,
    /// Random transposition range in semitones (±).
    pub transpose: i32,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
    /// Seed for initialisation, crops and dropout order.
    pub seed: u64,
    /// Random time stretch of each crop, ± this fraction in five steps (0.05: ×0.95, 0.975, 1, 1.025,
    /// 1.05); vocabularies without free timing ignore it.
    #[serde(default)]
    pub stretch: f64,
    /// Also validate (and export if best) every this many steps; 0: only at the end of each epoch.
    #[serde(default)]
    pub valid_every: usize,
    /// Validate during training on about this many tokens (evenly spread windows); 0: the whole split.
    /// `reprise eval` always scores the whole split.
    #[serde(default)]
    pub valid_tokens: usize,
    /// Synth runs: notes rendered per trained instrument (a tenth more for validation).
    #[serde(default)]
    pub notes_per_instrument: usize,
    /// Synth runs: train every program of the catalogue (`synth::data::CATALOGUE`), in the data
    /// SoundFont and in the bundled one, each its own timbre; only the data SoundFont's presets ship.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub synth_catalogue: bool,
    /// Synth runs with `synth_catalogue`: more sample sets (SF2 files) whose catalogue programs train
    /// too, each its own timbre named `STEM-PROGRAM`; a program whose samples all come with the data
    /// SoundFont is left out of them (nothing new to learn).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub synth_banks: Vec<std::path::PathBuf>,
    /// Theme runs: training-loss weight of the tokens inside theme regions, against 1 for the rest
    /// (the loss is the weighted mean NLL); validation is always unweighted.
    #[serde(default = "one")]
    pub region_weight: f32,
    /// Early stopping: stop after this many validations in a row without a new best; 0: never.
    #[serde(default)]
    pub patience: usize,
    /// Beat-aware piano runs: the share of training crops rewritten in fill-in-the-middle order
    /// (`train::infill`), so that the model learns to write a span between what comes before and
    /// after it; 0: none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub infill: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn one() -> f32 {
    1.0
}

impl TrainConfig {
    /// Reads and checks a JSON config.
    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::input::read_text(path, "training config")?;
        let cfg: Self = serde_json::from_str(&text)
            .map_err(|e| Error::bad_file(path, format!("bad training config: {e}")))?;
        cfg.validate()
            .map_err(|e| Error::bad_file(path, e.to_string()))?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        self.model.validate()?;
        let bad = |m: &str| Err(Error::Invalid(format!("training config: {m}")));
        if self.crop_len < 2 || self.crop_len > self.model.max_len() {
            return bad("crop_len must be in 2 ..= model.max_len");
        }
        if self.batch_tokens < self.crop_len + 1
            || self.total_steps == 0
            || self.checkpoint_every == 0
        {
            return bad(
                "batch_tokens must hold one crop; total_steps and checkpoint_every must be > 0",
            );
        }
        if !(0.0..0.5).contains(&self.stretch) {
            return bad("stretch must be in [0, 0.5)");
        }
        let remi = matches!(&self.model, ModelConfig::Music(m) if m.vocab == VocabKind::Remi);
        if !(0.0..=1.0).contains(&self.infill) || (self.infill > 0.0 && !remi) {
            return bad(
                "infill must be in [0, 1], and above 0 only for the beat-aware (remi) piano model",
            );
        }
        if !(self.region_weight > 0.0 && self.region_weight.is_finite()) {
            return bad("region_weight must be > 0");
        }
        let lr_ok = self.lr > 0.0 && self.lr < 1.0;
        let clip_ok = self.clip_norm > 0.0 && self.clip_norm.is_finite();
        if !lr_ok || !(0.0..=1.0).contains(&self.min_lr_ratio) || !clip_ok {
            return bad("lr must be in (0, 1), min_lr_ratio in [0, 1], clip_norm > 0");
        }
        if !(0.0..1.0).contains(&self.weight_decay) {
            return bad("weight_decay must be in [0, 1)");
        }
        Ok(())
    }

    /// Learning rate at `step` (0-based): linear warm-up, then cosine decay to `lr · min_lr_ratio`.
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let t = ((step - self.warmup_steps) as f64 / span).min(1.0);
        let floor = self.lr * self.min_lr_ratio;
        floor + (self.lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

/// The vocabulary object for a kind.
pub fn vocab_for(kind: VocabKind) -> Box<dyn Vocab> {
    match kind {
        VocabKind::Grid => Box::new(GridVocab::default()),
        VocabKind::Performance => Box::new(PerformanceVocab::default()),
        VocabKind::Remi => Box::new(crate::tokens::RemiVocab {
            one_part: true,
            ..Default::default()
        }),
    }
}

/// Where a run stands; stored in the checkpoint's metadata.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunState {
    /// Optimiser steps done.
    pub step: usize,
    /// Current epoch (0-based).
    pub epoch: usize,
    /// Batches of the current epoch already used.
    pub batch_in_epoch: usize,
    /// Best validation NLL so far (per token, nats), if evaluated.
    pub best_valid_nll: Option<f64>,
    /// Seconds of training so far, over all sessions of the run.
    pub elapsed_s: f64,
    /// Validation NLL of the `--init` model before any step (a fine-tune's "before").
    #[serde(default)]
    pub initial_valid_nll: Option<f64>,
    /// Step of the best validation so far (the exported model's).
    #[serde(default)]
    pub best_step: usize,
    /// Validations in a row without a new best.
    #[serde(default)]
    pub since_best: usize,
    /// Why the run stopped (or this session of it).
    #[serde(default)]
    pub stop: Stop,
    /// The model the run started from (`--init`), if any.
    #[serde(default)]
    pub init: Option<PathBuf>,
}

/// Why a run (or one session of it) ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stop {
    /// It ran all its steps.
    #[default]
    Finished,
    /// It is still training.
    Running,
    /// Validation stopped improving for `patience` validations.
    EarlyStopped,
    /// `--max-minutes` ran out; resume to go on.
    OutOfTime,
    /// Interrupted (Ctrl-C); resume to go on.
    Interrupted,
}

/// What the progress callback sees after each step.
#[derive(Debug, Clone)]
pub struct StepInfo {
    /// Steps done.
    pub step: usize,
    /// Total steps.
    pub total_steps: usize,
    /// Epoch.
    pub epoch: usize,
    /// Loss of this step.
    pub loss: f64,
    /// Training throughput over the last steps, tokens per second.
    pub tokens_per_s: f64,
    /// Validation NLL when this step ended an epoch.
    pub valid_nll: Option<f64>,
}

/// Options of `reprise train`.
pub struct TrainOptions {
    /// The run's settings.
    pub config: TrainConfig,
    /// The data file or directory.
    pub data: PathBuf,
    /// The run directory: checkpoint, logs, and the exported best model in `model/`.
    pub out: PathBuf,
    /// Continue from the run directory's checkpoint.
    pub resume: bool,
    /// Stop (after a checkpoint) when this many minutes have passed in this session.
    pub max_minutes: Option<f64>,
    /// Start a new run from an exported model's weights (same config) instead of random ones.
    pub init: Option<PathBuf>,
    /// A plain MIDI folder as data: the share of files held out for validation (`None`: 10 %).
    pub valid_share: Option<f64>,
    /// Set (e.g. by Ctrl-C) to stop after the current step with a checkpoint, to be resumed.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The command line that started the run, for the generated model card.
    pub command: String,
    /// Sees the data being read (progress, a MIDI folder's summary) before training starts.
    pub on_loading: Option<dataset::LoadingReporter>,
}

impl TrainOptions {
    /// A new run of `config` on `data` into `out`, with no options.
    pub fn new(config: TrainConfig, data: PathBuf, out: PathBuf) -> Self {
        TrainOptions {
            config,
            data,
            out,
            resume: false,
            max_minutes: None,
            init: None,
            valid_share: None,
            cancel: None,
            command: String::new(),
            on_loading: None,
        }
    }

    /// Reports `loading` to [`Self::on_loading`], if any.
    pub fn loading(&self, loading: dataset::Loading) {
        if let Some(f) = &self.on_loading {
            f(loading);
        }
    }
}

/// The checkpoint's file name in a run directory.
pub(crate) const CHECKPOINT: &str = "checkpoint.safetensors";

/// Trains; returns the final state. `on_step` is called after every optimiser step.
pub fn train(opts: &TrainOptions, on_step: &mut dyn FnMut(&StepInfo)) -> Result<RunState> {
    let cfg = &opts.config;
    cfg.validate()?;
    if let Some(m) = opts.max_minutes.filter(|m| !(m.is_finite() && *m > 0.0)) {
        return Err(Error::Invalid(format!(
            "a time limit of {m} minutes must be > 0"
        )));
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    if !opts.resume && opts.out.join(CHECKPOINT).exists() {
        return Err(Error::bad_file(
            &opts.out,
            "already holds a checkpoint: resume that run, or write this one elsewhere",
        ));
    }
    let mut job: Box<dyn run::Job> = match &cfg.model {
        ModelConfig::Music(m) => Box::new(lm::LmJob::new(cfg, m, opts)?),
        ModelConfig::Theme(t) => Box::new(theme::ThemeJob::new(cfg, t, opts)?),
        ModelConfig::Synth(s) => Box::new(synth::SynthJob::new(cfg, s, opts)?),
        ModelConfig::Tagger(t) => Box::new(harmony::HarmonyJob::new(cfg, t, opts)?),
        ModelConfig::Filler(f) => Box::new(voice_fill::VoiceFillJob::new(cfg, f, opts)?),
    };
    let cfg_text = serde_json::to_string_pretty(cfg).map_err(|e| Error::Internal(e.to_string()))?;
    let cfg_path = opts.out.join("train_config.json");
    crate::atomic_file::write_atomic(&cfg_path, |w| {
        w.write_all(cfg_text.as_bytes())
            .map_err(|e| Error::io(&cfg_path, e))
    })?;
    run::run(job.as_mut(), opts, on_step)
}

/// Writes the size of both splits (pieces, tokens, hours of music) and a MIDI folder's valid share
/// as JSON, for the model card and for resuming with the same split.
pub(crate) fn write_data_stats(
    path: &Path,
    train: &Sequences,
    valid: &Sequences,
    valid_share: f64,
) -> Result<()> {
    let split = |d: &Sequences| {
        serde_json::json!({
            "pieces": d.seqs.len(),
            "tokens": d.tokens(),
            "hours": (d.seconds / 3600.0 * 100.0).round() / 100.0,
        })
    };
    write_json(
        path,
        &serde_json::json!({
            "train": split(train),
            "valid": split(valid),
            "valid_share": valid_share,
        }),
    )
}

/// Masked mean cross-entropy of `logits` `[B, L, V]` against `target` `[B, L]`, with `mask` `[B, L]`.
pub fn masked_nll(
    logits: &Tensor,
    target: &Tensor,
    mask: &Tensor,
) -> candle_core::Result<(Tensor, Tensor)> {
    let (b, l, v) = logits.dims3()?;
    let logp = candle_nn::ops::log_softmax(&logits.reshape((b * l, v))?, D::Minus1)?;
    let picked = logp
        .gather(&target.reshape((b * l, 1))?, 1)?
        .reshape((b, l))?;
    let summed = (picked * mask)?.sum_all()?.neg()?;
    let count = mask.sum_all()?;
    Ok((summed, count))
}

/// Mean NLL per token (nats) of `data` under `model` and the number of tokens scored. Pieces longer than
/// the context are scored in half-overlapping windows, each token once; with `limit`, only an evenly
/// spread subset of the windows holding about that many tokens.
pub fn evaluate(
    model: &MusicTransformer,
    data: &Sequences,
    batch_tokens: usize,
    limit: Option<usize>,
) -> candle_core::Result<(f64, usize)> {
    let mut windows = eval_windows(data, model.config().max_len);
    if let Some(limit) = limit {
        // An evenly spread, fixed subset of the windows, about `limit` tokens.
        let total: usize = windows.iter().map(|w| w.0.len()).sum();
        let every = total.div_ceil(limit.max(1)).max(1);
        windows = windows.into_iter().step_by(every).collect();
    }
    score_windows(model, windows, batch_tokens, &|_| true)
}

/// As [`evaluate`] over the whole of `data`, scoring only the targets whose index in their window
/// (`eval_windows`' windows) `scored` accepts.
pub fn evaluate_where(
    model: &MusicTransformer,
    data: &Sequences,
    batch_tokens: usize,
    scored: &dyn Fn(usize) -> bool,
) -> candle_core::Result<(f64, usize)> {
    let windows = eval_windows(data, model.config().max_len);
    score_windows(model, windows, batch_tokens, scored)
}

fn score_windows(
    model: &MusicTransformer,
    mut windows: Vec<(Vec<u32>, usize)>,
    batch_tokens: usize,
    scored: &dyn Fn(usize) -> bool,
) -> candle_core::Result<(f64, usize)> {
    let device = model.device().clone();
    windows.sort_by_key(|w| w.0.len());
    let (mut total, mut count) = (0f64, 0usize);
    let mut i = 0;
    while i < windows.len() {
        let longest = windows[i].0.len();
        let mut j = i + 1;
        while j < windows.len() && windows[j].0.len() * (j - i + 1) <= batch_tokens.max(longest) {
            j += 1;
        }
        let group = &windows[i..j];
        let crops: Vec<Vec<u32>> = group.iter().map(|w| w.0.clone()).collect();
        let batch = make_batch(&crops, &device)?;
        // Score only each window's new targets.
        let len = batch.mask.dim(1)?;
        let mut mask = batch.mask.to_vec2::<f32>()?;
        for (row, (_, first)) in mask.iter_mut().zip(group) {
            row[..(*first).min(len)].iter_mut().for_each(|m| *m = 0.0);
            for (j, m) in row.iter_mut().enumerate() {
                if !scored(j) {
                    *m = 0.0;
                }
            }
        }
        let mask = Tensor::new(mask, &device)?;
        let logits = model.forward(&batch.input, None, false)?;
        let (sum, n) = masked_nll(&logits, &batch.target, &mask)?;
        total += sum.to_scalar::<f32>()? as f64;
        count += n.to_scalar::<f32>()? as usize;
        i = j;
    }
    Ok((total / count.max(1) as f64, count))
}

/// Writes the model's weights as f16 safetensors with its `config.json` into `dir` (all-or-nothing per file).
pub fn export(varmap: &VarMap, cfg: &TransformerConfig, dir: &Path) -> Result<()> {
    export_weights(varmap, dir)?;
    cfg.save(&dir.join("config.json"))
}

/// Writes the variables as f16 `model.safetensors` into `dir`.
pub fn export_weights(varmap: &VarMap, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::Internal("var map lock".into()))?;
    let mut tensors = HashMap::new();
    for (name, var) in data.iter() {
        tensors.insert(
            name.clone(),
            var.as_tensor()
                .to_dtype(DType::F16)
                .map_err(Error::tensor)?,
        );
    }
    drop(data);
    save_tensors(&dir.join("model.safetensors"), &tensors, None)
}

/// Sets every variable from the exported model in `dir`, whose config must equal `cfg` except for
/// dropout, a beat embedding `cfg` adds (it starts at zero) and the context length `max_len`: relative embeddings are resized with
/// [`resize_relative`], which leaves the model's function unchanged within the shorter context.
pub fn init_from(
    varmap: &VarMap,
    cfg: &TransformerConfig,
    dir: &Path,
    device: &Device,
) -> Result<()> {
    let their = TransformerConfig::load(&dir.join("config.json"))?;
    let ours = TransformerConfig {
        dropout: their.dropout,
        max_len: their.max_len,
        beat_embedding: their.beat_embedding,
        ..cfg.clone()
    };
    if their.vocab != cfg.vocab {
        return Err(Error::bad_file(
            dir,
            format!(
                "the model to start from reads the {} vocabulary, the training config the {}: they must match",
                their.vocab.name(),
                cfg.vocab.name()
            ),
        ));
    }
    if their.beat_embedding && !cfg.beat_embedding {
        return Err(Error::bad_file(
            dir,
            "the model to start from has a beat embedding the training config lacks",
        ));
    }
    if their != ours {
        return Err(Error::bad_file(
            dir,
            "the model to start from has a different architecture from the training config",
        ));
    }
    set_vars_from(
        varmap,
        dir,
        device,
        |name, t| {
            if name.ends_with(".er") {
                resize_relative(t, cfg.max_len)
            } else {
                Ok(t.clone())
            }
        },
        |name| name.starts_with("beat_embed."),
    )?;
    if cfg.beat_embedding && !their.beat_embedding {
        // A beat embedding added to a model without one starts at zero: the same function.
        zero_var(varmap, "beat_embed.weight")?;
    }
    Ok(())
}

/// Sets the variable `name` of `varmap` to zeros.
fn zero_var(varmap: &VarMap, name: &str) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::Internal("var map lock".into()))?;
    let var = data
        .get(name)
        .ok_or_else(|| Error::Internal(format!("no variable {name}")))?;
    var.set(&var.zeros_like().map_err(Error::tensor)?)
        .map_err(Error::tensor)
}

/// Sets every variable of `varmap` from `dir/model.safetensors` (an exported model), through
/// `adapt`; a missing or mis-shaped tensor is an error that names the file and the tensor, except
/// that variables for which `may_be_new` holds (added by a new option) keep their initialisation
/// when the file lacks them.
pub(crate) fn set_vars_from(
    varmap: &VarMap,
    dir: &Path,
    device: &Device,
    adapt: impl Fn(&str, &Tensor) -> candle_core::Result<Tensor>,
    may_be_new: impl Fn(&str) -> bool,
) -> Result<()> {
    let weights = dir.join("model.safetensors");
    let tensors = crate::model::music_transformer::load_safetensors(&weights, device)?;
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::Internal("var map lock".into()))?;
    for (name, var) in data.iter() {
        let Some(t) = tensors.get(name) else {
            if may_be_new(name) {
                continue;
            }
            return Err(Error::bad_file(&weights, format!("missing tensor {name}")));
        };
        var.set(&adapt(name, t).map_err(Error::tensor)?)
            .map_err(|e| {
                Error::bad_file(
                    &weights,
                    format!(
                        "tensor {name}: {}",
                        crate::error::first_line(&e.to_string())
                    ),
                )
            })?;
    }
    Ok(())
}

/// Resizes relative embeddings `[H, M, Dh]` (row `M−1−d` holds distance `d`) to `max_len` rows:
/// distances the old table lacked get zero vectors, which is what distances `≥ M` already used, so a
/// longer table computes the same attention; a shorter one keeps the nearest distances.
pub fn resize_relative(er: &Tensor, max_len: usize) -> candle_core::Result<Tensor> {
    let (h, m, dh) = er.dims3()?;
    if max_len >= m {
        let zeros = Tensor::zeros((h, max_len - m, dh), er.dtype(), er.device())?;
        Tensor::cat(&[&zeros, er], 1)
    } else {
        er.narrow(1, m - max_len, max_len)
    }
}

pub(crate) fn save_checkpoint(path: &Path, opt: &AdamW, state: &RunState) -> Result<()> {
    let meta = HashMap::from([(
        "state".to_string(),
        serde_json::to_string(state).map_err(|e| Error::Internal(e.to_string()))?,
    )]);
    save_tensors(path, &opt.state_tensors(), Some(meta))
}

pub(crate) fn load_checkpoint(path: &Path, opt: &mut AdamW, device: &Device) -> Result<RunState> {
    let bytes = crate::input::read(path, crate::input::MAX_DATA_BYTES, "checkpoint")?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::bad_file(path, format!("not a checkpoint: {e}")))?;
    let state: RunState = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("state"))
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| Error::bad_file(path, "checkpoint has no run state"))?;
    let tensors = crate::model::music_transformer::load_safetensors(path, device)?;
    opt.load_state(&tensors, state.step)
        .map_err(|m| Error::bad_file(path, m))?;
    Ok(state)
}

/// The CSV loss log and the points for its PNG.
pub(crate) struct CsvLog {
    file: std::fs::File,
    path: PathBuf,
    train: Vec<(f64, f64)>,
    valid: Vec<(f64, f64)>,
}

impl CsvLog {
    /// Opens the log: a new one, or (resuming at `resumed_at` steps) the run's log cut back to the
    /// rows up to that step, since the steps after the checkpoint will be run again.
    pub(crate) fn open(path: &Path, resumed_at: Option<usize>) -> Result<Self> {
        let append = resumed_at.is_some();
        let mut kept = String::new();
        if let Some(at) = resumed_at {
            let text = crate::input::read_text(path, "training log").unwrap_or_default();
            for line in text.lines() {
                let step = line.split(',').next().and_then(|s| s.parse::<usize>().ok());
                if step.is_none_or(|s| s <= at) {
                    kept.push_str(line);
                    kept.push('\n');
                }
            }
            crate::atomic_file::write_atomic(path, |w| {
                w.write_all(kept.as_bytes()).map_err(|e| Error::io(path, e))
            })?;
        }
        let mut log = CsvLog {
            file: open_log(path, append)?,
            path: path.to_path_buf(),
            train: Vec::new(),
            valid: Vec::new(),
        };
        if append {
            for line in kept.lines().skip(1) {
                let f: Vec<&str> = line.split(',').collect();
                let (Some(step), Some(loss), Some(valid)) = (f.first(), f.get(3), f.get(5)) else {
                    continue;
                };
                let step: f64 = step.parse().unwrap_or(f64::NAN);
                if let Ok(l) = loss.parse() {
                    log.train.push((step, l));
                }
                if let Ok(v) = valid.parse() {
                    log.valid.push((step, v));
                }
            }
        }
        if log.file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
            writeln!(
                log.file,
                "step,epoch,lr,train_loss,tokens_per_s,valid_nll,elapsed_s"
            )
            .map_err(|e| Error::io(path, e))?;
        }
        Ok(log)
    }

    pub(crate) fn row(
        &mut self,
        s: &RunState,
        lr: f64,
        loss: Option<f64>,
        tps: f64,
        valid: Option<f64>,
    ) -> Result<()> {
        let opt = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.5}"));
        writeln!(
            self.file,
            "{},{},{lr:.3e},{},{tps:.0},{},{:.1}",
            s.step,
            s.epoch,
            opt(loss),
            opt(valid),
            s.elapsed_s
        )
        .map_err(|e| Error::io(&self.path, e))?;
        if let Some(l) = loss {
            self.train.push((s.step as f64, l));
        }
        if let Some(v) = valid {
            self.valid.push((s.step as f64, v));
        }
        Ok(())
    }

    /// Train loss (blue, averaged over 20-step bins) and validation NLL (red).
    pub(crate) fn plot(&self, path: &Path) -> Result<()> {
        let binned: Vec<(f64, f64)> = self
            .train
            .chunks(20)
            .map(|c| {
                (
                    c.iter().map(|p| p.0).sum::<f64>() / c.len() as f64,
                    c.iter().map(|p| p.1).sum::<f64>() / c.len() as f64,
                )
            })
            .collect();
        plot::line_chart(
            path,
            &[
                plot::Series {
                    points: &binned,
                    rgb: [40, 90, 200],
                },
                plot::Series {
                    points: &self.valid,
                    rgb: [210, 40, 40],
                },
            ],
        )
    }
}

fn open_log(path: &Path, append: bool) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(append)
        .write(true)
        .truncate(!append)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

/// The random generator of one epoch of a run: the same for every session of the run (resuming keeps
/// the data order).
pub(crate) fn epoch_rng(seed: u64, epoch: usize) -> rand_chacha::ChaCha8Rng {
    use rand::SeedableRng;
    rand_chacha::ChaCha8Rng::seed_from_u64(
        seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

/// What a training job trains: its configs, its variables and the model over them.
pub(crate) struct Trainee<C, M> {
    pub(crate) cfg: TrainConfig,
    pub(crate) model_cfg: C,
    pub(crate) varmap: VarMap,
    pub(crate) model: M,
}

impl<C: Clone, M> Trainee<C, M> {
    /// A new model of `model_cfg`, made by `build` over variables seeded with `cfg.seed` on
    /// `device`; unless the run resumes, `init(varmap, model_cfg, dir)` then sets them from the
    /// `--init` model when there is one.
    pub(crate) fn new(
        cfg: &TrainConfig,
        model_cfg: &C,
        opts: &TrainOptions,
        device: &Device,
        build: impl FnOnce(&C, candle_nn::VarBuilder) -> candle_core::Result<M>,
        init: impl FnOnce(&VarMap, &C, &Path) -> Result<()>,
    ) -> Result<Self> {
        let varmap = VarMap::new();
        let vb = seeded::var_builder(&varmap, cfg.seed, DType::F32, device);
        let model = build(model_cfg, vb).map_err(Error::tensor)?;
        if let (false, Some(dir)) = (opts.resume, &opts.init) {
            init(&varmap, model_cfg, dir)?;
        }
        Ok(Trainee {
            cfg: cfg.clone(),
            model_cfg: model_cfg.clone(),
            varmap,
            model,
        })
    }
}

/// The batches of one epoch of random crops: from each piece, given by its length `n`,
/// `⌈n / crop⌉` crops of `min(n, crop)` items, each placed by `draw(rng, n, len) -> (start, key)`;
/// all shuffled and cut into batches of `batch_items / crop` (at least one). A crop is
/// `(piece, start, length, key)`.
pub(crate) fn crop_batches<K: Clone>(
    rng: &mut rand_chacha::ChaCha8Rng,
    lengths: impl IntoIterator<Item = usize>,
    crop: usize,
    batch_items: usize,
    mut draw: impl FnMut(&mut rand_chacha::ChaCha8Rng, usize, usize) -> (usize, K),
) -> Vec<Vec<(usize, usize, usize, K)>> {
    use rand::seq::SliceRandom;
    let mut crops = Vec::new();
    for (piece, n) in lengths.into_iter().enumerate() {
        let len = n.min(crop);
        for _ in 0..n.div_ceil(crop) {
            let (start, key) = draw(rng, n, len);
            crops.push((piece, start, len, key));
        }
    }
    crops.shuffle(rng);
    let per_batch = (batch_items / crop).max(1);
    crops.chunks(per_batch).map(<[_]>::to_vec).collect()
}

/// Writes `value` as JSON to `path` (all-or-nothing).
pub(crate) fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = value.to_string();
    crate::atomic_file::write_atomic(path, |w| {
        w.write_all(text.as_bytes()).map_err(|e| Error::io(path, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A variable the exported model lacks is an error, unless it is one a new option adds.
    #[test]
    fn init_keeps_new_variables_only_when_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let dev = Device::Cpu;
        let old = VarMap::new();
        let vb = candle_nn::VarBuilder::from_varmap(&old, DType::F32, &dev);
        vb.get_with_hints(3, "a", candle_nn::Init::Const(2.0))
            .unwrap();
        export_weights(&old, dir.path()).unwrap();
        let new = VarMap::new();
        let vb = candle_nn::VarBuilder::from_varmap(&new, DType::F32, &dev);
        vb.get_with_hints(3, "a", candle_nn::Init::Const(0.0))
            .unwrap();
        vb.get_with_hints(2, "b", candle_nn::Init::Const(5.0))
            .unwrap();
        let copy = |_: &str, t: &Tensor| Ok(t.clone());
        let err = set_vars_from(&new, dir.path(), &dev, copy, |_| false).unwrap_err();
        assert!(err.to_string().contains("missing tensor b"), "{err}");
        set_vars_from(&new, dir.path(), &dev, copy, |n| n == "b").unwrap();
        let data = new.data().lock().unwrap();
        let get = |n: &str| {
            data[n]
                .as_tensor()
                .to_dtype(DType::F32)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        assert_eq!(get("a"), [2.0; 3]);
        assert_eq!(get("b"), [5.0; 2]);
    }

    /// `--init` from a beat-aware model without a beat embedding into a config with one: every
    /// shared tensor is copied and the new table is zero; the other way round is refused.
    #[test]
    fn init_adds_a_zero_beat_embedding() {
        let dir = tempfile::tempdir().unwrap();
        let dev = Device::Cpu;
        let plain = crate::test_util::tiny_lm_config(VocabKind::Remi, VocabKind::Remi.size());
        // The variables of a fresh model of `cfg`.
        let model = |cfg: &TransformerConfig| {
            let vm = VarMap::new();
            MusicTransformer::new(
                cfg,
                candle_nn::VarBuilder::from_varmap(&vm, DType::F32, &dev),
            )
            .unwrap();
            vm
        };
        let old = model(&plain);
        export(&old, &plain, dir.path()).unwrap();
        let beat = TransformerConfig {
            beat_embedding: true,
            ..plain.clone()
        };
        let new = model(&beat);
        init_from(&new, &beat, dir.path(), &dev).unwrap();
        let data = new.data().lock().unwrap();
        let table = data["beat_embed.weight"].as_tensor();
        let sum = table.abs().unwrap().sum_all().unwrap();
        assert_eq!(sum.to_scalar::<f32>().unwrap(), 0.0);
        drop(data);
        export(&new, &beat, dir.path()).unwrap();
        let err = init_from(&old, &plain, dir.path(), &dev).unwrap_err();
        assert!(err.to_string().contains("beat embedding"), "{err}");
    }
}
