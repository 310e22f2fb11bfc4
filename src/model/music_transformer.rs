//! The decoder-only Music Transformer: token embedding (no absolute positions), pre-norm blocks of relative
//! self-attention and a feed-forward layer, a final norm and an untied output projection.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{embedding, linear, Embedding, Init, Linear, Module, VarBuilder};

use super::config::TransformerConfig;
use super::norm::Norm;
use super::relative_attention::{LayerCache, RelativeSelfAttention};
use crate::error::{first_line, Error, Result};
use crate::tokens::remi;

struct Block {
    ln1: Norm,
    attn: RelativeSelfAttention,
    ln2: Norm,
    ff1: Linear,
    ff2: Linear,
    dropout: f32,
}

impl Block {
    fn new(cfg: &TransformerConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = cfg.d_model;
        Ok(Block {
            ln1: Norm::new(d, vb.pp("ln1"))?,
            attn: RelativeSelfAttention::new(d, cfg.n_heads, cfg.max_len, vb.pp("attn"))?,
            ln2: Norm::new(d, vb.pp("ln2"))?,
            ff1: linear(d, cfg.d_ff, vb.pp("ff1"))?,
            ff2: linear(cfg.d_ff, d, vb.pp("ff2"))?,
            dropout: cfg.dropout,
        })
    }

    fn drop(&self, x: Tensor, train: bool) -> candle_core::Result<Tensor> {
        if train && self.dropout > 0.0 {
            super::dropout::dropout(&x, self.dropout)
        } else {
            Ok(x)
        }
    }

    fn feed_forward(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let h = super::fused::gelu(&self.ff1.forward(&self.ln2.forward(x, train)?)?)?;
        let h = self.drop(h, train)?;
        self.drop(self.ff2.forward(&h)?, train)
    }

    fn forward(
        &self,
        x: &Tensor,
        key_mask: Option<&Tensor>,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let a = self
            .attn
            .forward(&self.ln1.forward(x, train)?, key_mask, train)?;
        let x = (x + self.drop(a, train)?)?;
        &x + self.feed_forward(&x, train)?
    }

    fn forward_cached(&self, x: &Tensor, cache: &mut LayerCache) -> candle_core::Result<Tensor> {
        let a = self
            .attn
            .forward_cached(&self.ln1.forward(x, false)?, cache)?;
        let x = (x + a)?;
        &x + self.feed_forward(&x, false)?
    }
}

/// Per-layer key/value caches for incremental decoding of a batch.
#[derive(Debug, Clone, Default)]
pub struct Cache {
    layers: Vec<LayerCache>,
    /// Each row's metrical state after its last token (beat embedding only).
    beat: Vec<u32>,
}

impl Cache {
    /// Positions currently cached (at most the model's `max_len`).
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, LayerCache::len)
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A decoder-only Music Transformer.
pub struct MusicTransformer {
    cfg: TransformerConfig,
    embed: Embedding,
    /// Metrical-state embedding (`cfg.beat_embedding`), initialised like the token embedding.
    beat: Option<Embedding>,
    blocks: Vec<Block>,
    norm: Norm,
    head: Linear,
    device: Device,
}

impl MusicTransformer {
    /// Builds the model from `vb` (fresh variables from a `VarMap`, or loaded weights).
    pub fn new(cfg: &TransformerConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let blocks = (0..cfg.n_layers)
            .map(|i| Block::new(cfg, vb.pp(format!("blocks.{i}"))))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let beat = if cfg.beat_embedding {
            let shape = (remi::BEAT_STATES as usize, cfg.d_model);
            let table = vb.pp("beat_embed").get_with_hints(
                shape,
                "weight",
                Init::Randn {
                    mean: 0.0,
                    stdev: 1.0,
                },
            )?;
            Some(Embedding::new(table, cfg.d_model))
        } else {
            None
        };
        Ok(MusicTransformer {
            cfg: cfg.clone(),
            embed: embedding(cfg.vocab_size, cfg.d_model, vb.pp("embed"))?,
            beat,
            blocks,
            norm: Norm::new(cfg.d_model, vb.pp("norm"))?,
            head: linear(cfg.d_model, cfg.vocab_size, vb.pp("head"))?,
            device: vb.device().clone(),
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &TransformerConfig {
        &self.cfg
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Logits `[B, L, V]` for token ids `[B, L]` (u32). `key_mask` `[B, L]` marks real tokens with 1.
    pub fn forward(
        &self,
        ids: &Tensor,
        key_mask: Option<&Tensor>,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let mut x = self.embed_tokens(ids, &mut Vec::new())?;
        for b in &self.blocks {
            x = b.forward(&x, key_mask, train)?;
        }
        self.head.forward(&self.norm.forward(&x, train)?)
    }

    /// Logits `[B, n, V]` for `n` new positions `[B, n]`, appended to `cache`.
    pub fn forward_cached(&self, ids: &Tensor, cache: &mut Cache) -> candle_core::Result<Tensor> {
        if cache.layers.len() != self.blocks.len() {
            cache.layers = vec![LayerCache::default(); self.blocks.len()];
        }
        let mut x = self.embed_tokens(ids, &mut cache.beat)?;
        for (b, c) in self.blocks.iter().zip(&mut cache.layers) {
            x = b.forward_cached(&x, c)?;
        }
        self.head.forward(&self.norm.forward(&x, false)?)
    }

    /// Token embeddings `[B, L, D]` of `ids` `[B, L]`, plus the metrical-state embedding when the
    /// model has one; `beat` holds each row's state before `ids` (empty: a stream's start) and is
    /// left at the state after them.
    fn embed_tokens(&self, ids: &Tensor, beat: &mut Vec<u32>) -> candle_core::Result<Tensor> {
        let x = self.embed.forward(ids)?;
        let Some(table) = &self.beat else {
            return Ok(x);
        };
        let rows = ids.to_vec2::<u32>()?;
        beat.resize(rows.len(), remi::NO_POSITION);
        let mut states = Vec::with_capacity(rows.len() * rows.first().map_or(0, Vec::len));
        for (row, last) in rows.iter().zip(beat.iter_mut()) {
            let s = remi::beat_states(row, *last);
            *last = s.last().copied().unwrap_or(*last);
            states.extend(s);
        }
        let states = Tensor::from_vec(states, ids.dims2()?, ids.device())?;
        x + table.forward(&states)?
    }

    /// Loads `config.json` and `model.safetensors` from a model directory.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let cfg = TransformerConfig::load(&dir.join("config.json"))?;
        let weights = dir.join("model.safetensors");
        let tensors = load_safetensors(&weights, device)?;
        super::weights::build_checked(tensors, &weights, device, |vb| {
            MusicTransformer::new(&cfg, vb)
        })
    }
}

/// Reads every tensor of a safetensors file as f32; a corrupt file, a tensor that is not floating
/// point or a non-finite value is an error naming the file (and the tensor).
pub fn load_safetensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    let bytes = crate::input::read(path, crate::input::MAX_DATA_BYTES, "safetensors file")?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::bad_file(path, format!("not a valid safetensors file: {e}")))?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        if !matches!(
            view.dtype(),
            safetensors::Dtype::F16 | safetensors::Dtype::BF16 | safetensors::Dtype::F32
        ) {
            return Err(Error::bad_file(
                path,
                format!("tensor {name} is {:?}, not floating point", view.dtype()),
            ));
        }
        let t = candle_core::safetensors::Load::load(&view, device)
            .and_then(|t| t.to_dtype(DType::F32))
            .map_err(|e| {
                Error::bad_file(
                    path,
                    format!("tensor {name}: {}", first_line(&e.to_string())),
                )
            })?;
        super::weights::check_finite(&t, &name, path)?;
        out.insert(name, t);
    }
    Ok(out)
}
