//! The Theme Transformer (Shih et al. 2022): an encoder reads the theme; a decoder writes the piece
//! with *gated parallel attention*. In decoder layer l, S is (relative, causal) self-attention and C is
//! cross-attention to the encoded theme, with gate g = 1 inside a theme region and 0 outside:
//!
//! - layers in the lower half: `h = LN(x + (S + g·C)/2)`
//! - layers in the upper half: `h = LN(x + ((1−g)·S + g·C)/2)`
//!
//! then `LN(h + FFN(h))`. The cross-attention query is `x + PE(c)`, where `c` is a counter that runs
//! 1, 2, 3, … from each Theme_Start token to its Theme_End (0 elsewhere): theme-aligned positions, so
//! the decoder knows where in the theme it is.

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{embedding, linear, Embedding, Linear, Module, VarBuilder};
use serde::{Deserialize, Serialize};

use super::norm::Norm;
use super::relative_attention::{softmax, RelativeSelfAttention, MASKED};
use crate::error::{Error, Result};
use crate::tokens::remi;

/// Hyper-parameters of a Theme Transformer (`config.json`, with `"architecture": "theme-transformer"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThemeConfig {
    /// Always "theme-transformer".
    pub architecture: String,
    /// Number of token ids (the REMI vocabulary).
    pub vocab_size: usize,
    /// Model width.
    pub d_model: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Feed-forward width.
    pub d_ff: usize,
    /// Encoder layers.
    pub enc_layers: usize,
    /// Decoder layers (the lower half gate only C; the upper half trade S for C).
    pub dec_layers: usize,
    /// Decoder context (and relative distances).
    pub max_len: usize,
    /// Longest theme in tokens.
    pub max_theme: usize,
    /// Dropout during training.
    pub dropout: f32,
    /// What the model does: grow a piece from a theme, or accompany a melody.
    #[serde(default)]
    pub task: ThemeTask,
    /// Gated parallel attention as in the paper: the upper half of the decoder weights S by
    /// (1 − g). False: every layer is `LN(x + (S + g·C)/2)` (plain parallel cross-attention).
    #[serde(default = "yes")]
    pub gated: bool,
    /// Theme task: the theme-aligned positions count time (`1 + 16·bar + position` from the
    /// region's Theme_Start, and the same on the encoder's theme) instead of tokens.
    #[serde(default)]
    pub time_aligned: bool,
    /// Cross-attention scores get a fixed bias `−m_h·|c − p|` per head (ALiBi-style slopes
    /// `m_h = 2^(−8(h+1)/H)` per sixteenth), where `c` is the query's counter and `p` the key's
    /// encoder position: with time positions each head starts out listening to the melody or theme
    /// notes that sound near its own time, some heads narrowly and some broadly.
    #[serde(default)]
    pub cross_time_bias: bool,
    /// With time positions: the decoder's input also gets a learned projection (zero at
    /// initialisation) of the encoder-side notes sounding at the token's time: a multi-hot of
    /// their 128 pitches and 12 pitch classes. Cross-attention finds the melody's rhythm readily
    /// but learns its pitches slowly; this hands the decoder the pitches that sound with it.
    #[serde(default)]
    pub aligned_notes: bool,
    /// Accompany task: the encoder also reads the harmony, one chord per beat, as notes below the
    /// melody (see `accompany::bars::chord_notes`): POP909's chord annotation in training, the
    /// harmonizer's chords (or the user's) when accompanying.
    #[serde(default)]
    pub chords: bool,
}

/// Width of the aligned-notes feature: 128 pitches, then 12 pitch classes.
pub const ALIGNED_NOTE_FEATURES: usize = 140;

fn yes() -> bool {
    true
}

/// The task of an encoder–decoder, which fixes what the encoder reads and what the positions mean.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThemeTask {
    /// The encoder reads a theme; the decoder's cross-attention positions are the theme counter and
    /// the gate is 1 inside theme regions.
    #[default]
    Theme,
    /// The encoder reads the melody of a window of bars; encoder positions and the decoder's
    /// cross-attention positions are both the time in sixteenths from the window's first bar, so
    /// the decoder finds the melody notes that sound with it; the gate is 1 everywhere.
    Accompany,
}

impl ThemeConfig {
    /// The architecture tag.
    pub const ARCHITECTURE: &'static str = "theme-transformer";

    /// Reads and checks `config.json`.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        super::config::read_config(path, "theme model config", Self::validate)
    }

    /// Writes `config.json` (all-or-nothing).
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        super::config::write_config(self, path)
    }

    /// Checks that the numbers fit together.
    pub fn validate(&self) -> Result<()> {
        let ok = self.architecture == Self::ARCHITECTURE
            && self.vocab_size == remi::SIZE as usize
            && self.n_heads > 0
            && self.d_model.is_multiple_of(self.n_heads)
            && (self.d_model / self.n_heads).is_multiple_of(2)
            && self.enc_layers > 0
            && self.dec_layers > 0
            && self.max_len >= 2
            && self.max_theme >= 1
            && (0.0..1.0).contains(&self.dropout)
            && (!self.aligned_notes || self.time_aligned || self.task == ThemeTask::Accompany)
            && (!self.chords || self.task == ThemeTask::Accompany);
        if ok {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "theme model config is inconsistent: {self:?}"
            )))
        }
    }
}

/// Sinusoidal encodings `[len(positions), d]` of integer positions (Vaswani et al.).
pub fn sinusoidal(positions: &[u32], d: usize, device: &Device) -> candle_core::Result<Tensor> {
    let mut data = Vec::with_capacity(positions.len() * d);
    for &p in positions {
        for i in 0..d {
            let rate = 1.0 / 10000f64.powf((2 * (i / 2)) as f64 / d as f64);
            let a = p as f64 * rate;
            data.push(if i % 2 == 0 { a.sin() } else { a.cos() } as f32);
        }
    }
    Tensor::from_vec(data, (positions.len(), d), device)
}

/// Theme-aligned positions and gates of one token sequence (see [`ThemeCounter`]); the gate is 1
/// where the counter is > 0.
pub fn theme_positions(ids: &[u32], time_aligned: bool) -> (Vec<u32>, Vec<f32>) {
    let mut c = ThemeCounter::new(time_aligned);
    let counter: Vec<u32> = ids.iter().map(|&id| c.next(id)).collect();
    let gate = counter.iter().map(|&c| f32::from(c > 0)).collect();
    (counter, gate)
}

/// The theme counter one token at a time (for generation), 0 outside theme regions. Counting
/// tokens it runs 1, 2, 3, … from Theme_Start through Theme_End; counting time it is 1 at
/// Theme_Start and then `1 + 16·bar + position` from the region's first Bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThemeCounter {
    c: u32,
    time: Option<remi::TimeCounter>,
    time_aligned: bool,
}

impl ThemeCounter {
    /// A counter of tokens, or of time.
    pub fn new(time_aligned: bool) -> Self {
        ThemeCounter {
            time_aligned,
            ..Default::default()
        }
    }

    /// The counter value of the next token `id`.
    pub fn next(&mut self, id: u32) -> u32 {
        if id == remi::THEME_START {
            self.c = 1;
            self.time = Some(remi::TimeCounter::default());
        } else if self.c > 0 {
            self.c += 1;
        }
        let value = match (self.time_aligned, self.time.as_mut()) {
            (false, _) => self.c,
            (true, Some(t)) if self.c > 0 => t.next(id).max(1),
            (true, _) => 0,
        };
        if id == remi::THEME_END {
            self.c = 0;
            self.time = None;
        }
        value
    }
}

/// The encoded theme (or melody) that the decoder attends to.
pub struct ThemeMemory {
    /// Cross-attention keys and values per decoder layer, each `[B, H, T, Dh]`.
    kv: Vec<(Tensor, Tensor)>,
    /// `[B, 1, 1, T]` additive padding mask (0 or MASKED).
    pad: Tensor,
    /// `[B, 1, 1, T]` encoder positions (f32), for the time-distance bias.
    positions: Tensor,
    /// Per batch row, the encoder-side notes as `(onset, end, pitch)` in position units (only
    /// with `aligned_notes`).
    notes: Vec<Vec<(u32, u32, u8)>>,
}

/// The notes of a REMI stream as `(onset, end, pitch)`: a Note-On at its token's position, lasting
/// its Duration (in sixteenths, which are position units when positions count time).
pub fn sounding_notes(ids: &[u32], positions: &[u32]) -> Vec<(u32, u32, u8)> {
    let mut out = Vec::new();
    for (i, &id) in ids.iter().enumerate() {
        if let Some(remi::Token::NoteOn(_, pitch)) = remi::token(id) {
            let d = match ids.get(i + 1).and_then(|&n| remi::token(n)) {
                Some(remi::Token::Duration(_, d)) => d,
                _ => 1,
            };
            out.push((positions[i], positions[i] + d, pitch));
        }
    }
    out
}

/// The aligned-notes feature of one token at time `c` (0: none): which of `notes` sound at `c`,
/// as 128 pitch flags and 12 pitch-class flags.
pub fn aligned_note_feature(notes: &[(u32, u32, u8)], c: u32) -> [f32; ALIGNED_NOTE_FEATURES] {
    let mut f = [0f32; ALIGNED_NOTE_FEATURES];
    if c > 0 {
        for &(on, off, pitch) in notes {
            if on <= c && c < off {
                f[pitch as usize] = 1.0;
                f[128 + pitch as usize % 12] = 1.0;
            }
        }
    }
    f
}

/// The per-head slopes `m_h = 2^(−8(h+1)/H)` of the cross-attention time bias.
pub fn time_bias_slopes(n_heads: usize) -> Vec<f32> {
    (0..n_heads)
        .map(|h| 2f32.powf(-8.0 * (h + 1) as f32 / n_heads as f32))
        .collect()
}

/// Multi-head attention from decoder queries to encoder keys/values.
#[derive(Clone)]
struct CrossAttention {
    q: Linear,
    kv: Linear,
    out: Linear,
    n_heads: usize,
}

impl CrossAttention {
    fn new(d: usize, n_heads: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(CrossAttention {
            q: linear(d, d, vb.pp("q"))?,
            kv: linear(d, 2 * d, vb.pp("kv"))?,
            out: linear(d, d, vb.pp("out"))?,
            n_heads,
        })
    }

    fn heads(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, l, d) = x.dims3()?;
        x.reshape((b, l, self.n_heads, d / self.n_heads))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Keys and values of the encoded theme `[B, T, D]`, each `[B, H, T, Dh]`.
    fn keys_values(&self, memory: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let kv = self.kv.forward(memory)?;
        let d = kv.dim(D::Minus1)? / 2;
        Ok((
            self.heads(&kv.narrow(D::Minus1, 0, d)?)?,
            self.heads(&kv.narrow(D::Minus1, d, d)?)?,
        ))
    }

    /// `query` `[B, L, D]` against `(k, v)`; `bias` is added to the scores before their 1/√dh
    /// scaling: `[B, 1, 1, T]` (padding, 0 or MASKED) or `[B, H, L, T]`.
    fn forward(
        &self,
        query: &Tensor,
        (k, v): (&Tensor, &Tensor),
        bias: &Tensor,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let (b, l, d) = query.dims3()?;
        let q = self.heads(&self.q.forward(query)?)?;
        let dh = d / self.n_heads;
        let scores = q.matmul(&k.t()?)?.broadcast_add(bias)?;
        let o = softmax(&scores, (dh as f64).powf(-0.5), train)?.matmul(v)?;
        self.out.forward(&o.transpose(1, 2)?.reshape((b, l, d))?)
    }
}

fn feed_forward(ff1: &Linear, ff2: &Linear, x: &Tensor) -> candle_core::Result<Tensor> {
    ff2.forward(&super::fused::gelu(&ff1.forward(x)?)?)
}

fn dropout(x: Tensor, p: f32, train: bool) -> candle_core::Result<Tensor> {
    if train && p > 0.0 {
        super::dropout::dropout(&x, p)
    } else {
        Ok(x)
    }
}

/// Encoder layer: pre-norm self-attention (bidirectional, padding masked) and feed-forward.
#[derive(Clone)]
pub(crate) struct EncoderLayer {
    ln1: Norm,
    attn: CrossAttention,
    ln2: Norm,
    ff1: Linear,
    ff2: Linear,
}

impl EncoderLayer {
    /// A layer of width `d` with `n_heads` heads and a feed-forward of width `d_ff`.
    pub(crate) fn new(
        d: usize,
        n_heads: usize,
        d_ff: usize,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        Ok(EncoderLayer {
            ln1: Norm::new(d, vb.pp("ln1"))?,
            attn: CrossAttention::new(d, n_heads, vb.pp("attn"))?,
            ln2: Norm::new(d, vb.pp("ln2"))?,
            ff1: linear(d, d_ff, vb.pp("ff1"))?,
            ff2: linear(d_ff, d, vb.pp("ff2"))?,
        })
    }

    /// `x` `[B, T, D]` with the padding bias `pad` `[B, 1, 1, T]` (0 or `MASKED`), dropout `p`.
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        pad: &Tensor,
        p: f32,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let h = self.ln1.forward(x, train)?;
        let kv = self.attn.keys_values(&h)?;
        let a = self.attn.forward(&h, (&kv.0, &kv.1), pad, train)?;
        let x = (x + dropout(a, p, train)?)?;
        let f = feed_forward(&self.ff1, &self.ff2, &self.ln2.forward(&x, train)?)?;
        &x + dropout(f, p, train)?
    }
}

/// Decoder layer with gated parallel attention.
struct DecoderLayer {
    self_attn: RelativeSelfAttention,
    cross: CrossAttention,
    ln1: Norm,
    ff1: Linear,
    ff2: Linear,
    ln2: Norm,
    /// Upper half: S is weighted by (1 − g).
    upper: bool,
}

/// What a decoder layer needs besides its input.
struct DecoderInputs<'a> {
    /// Encoded theme keys/values per layer.
    memory: &'a [(Tensor, Tensor)],
    /// Additive cross-attention bias: the theme's padding mask `[B, 1, 1, T]`, plus the time bias
    /// `[B, H, L, T]` when the model has one.
    cross_bias: Tensor,
    /// `[B, L, D]` positional encodings of the theme counter.
    counter_pe: Tensor,
    /// `[B, L, 1]` gates.
    gate: Tensor,
}

impl DecoderLayer {
    fn new(cfg: &ThemeConfig, upper: bool, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = cfg.d_model;
        Ok(DecoderLayer {
            self_attn: RelativeSelfAttention::new(d, cfg.n_heads, cfg.max_len, vb.pp("self"))?,
            cross: CrossAttention::new(d, cfg.n_heads, vb.pp("cross"))?,
            ln1: Norm::new(d, vb.pp("ln1"))?,
            ff1: linear(d, cfg.d_ff, vb.pp("ff1"))?,
            ff2: linear(cfg.d_ff, d, vb.pp("ff2"))?,
            ln2: Norm::new(d, vb.pp("ln2"))?,
            upper,
        })
    }

    /// The gated parallel attention sub-layer: `LN(x + (a·S + g·C)/2)` with `a = 1` (lower half) or
    /// `1 − g` (upper half).
    fn mix(
        &self,
        x: &Tensor,
        s: &Tensor,
        c: &Tensor,
        gate: &Tensor,
        p: f32,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let s_weight = if self.upper {
            (1.0 - gate)?
        } else {
            gate.ones_like()?
        };
        let mixed = ((s.broadcast_mul(&s_weight)? + c.broadcast_mul(gate)?)? * 0.5)?;
        self.ln1.forward(&(x + dropout(mixed, p, train)?)?, train)
    }

    /// The layer's output from its input `x` and its self-attention output `s`: cross-attention
    /// from `x` plus the counter encoding to layer `i`'s encoded theme, `mix`, then the feed-forward
    /// sub-layer `LN(h + FFN(h))`.
    fn cross_and_combine(
        &self,
        i: usize,
        x: &Tensor,
        s: &Tensor,
        inputs: &DecoderInputs,
        p: f32,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let q = (x + &inputs.counter_pe)?;
        let (k, v) = &inputs.memory[i];
        let c = self.cross.forward(&q, (k, v), &inputs.cross_bias, train)?;
        let h = self.mix(x, s, &c, &inputs.gate, p, train)?;
        let f = feed_forward(&self.ff1, &self.ff2, &h)?;
        self.ln2.forward(&(&h + dropout(f, p, train)?)?, train)
    }
}

/// The Theme Transformer.
pub struct ThemeTransformer {
    cfg: ThemeConfig,
    embed: Embedding,
    encoder: Vec<EncoderLayer>,
    enc_norm: Norm,
    decoder: Vec<DecoderLayer>,
    head: Linear,
    /// `[D, 140]` projection of the aligned-notes feature (with `aligned_notes`), applied with a
    /// gain of √D.
    aligned_notes: Option<Tensor>,
    device: Device,
}

impl ThemeTransformer {
    /// Builds the model from `vb`.
    pub fn new(cfg: &ThemeConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let encoder = (0..cfg.enc_layers)
            .map(|i| {
                let vb = vb.pp(format!("encoder.{i}"));
                EncoderLayer::new(cfg.d_model, cfg.n_heads, cfg.d_ff, vb)
            })
            .collect::<candle_core::Result<_>>()?;
        let decoder = (0..cfg.dec_layers)
            .map(|i| {
                let upper = cfg.gated && i >= cfg.dec_layers / 2;
                DecoderLayer::new(cfg, upper, vb.pp(format!("decoder.{i}")))
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(ThemeTransformer {
            cfg: cfg.clone(),
            embed: embedding(cfg.vocab_size, cfg.d_model, vb.pp("embed"))?,
            encoder,
            enc_norm: Norm::new(cfg.d_model, vb.pp("enc_norm"))?,
            decoder,
            head: linear(cfg.d_model, cfg.vocab_size, vb.pp("head"))?,
            aligned_notes: if cfg.aligned_notes {
                Some(vb.get_with_hints(
                    (cfg.d_model, ALIGNED_NOTE_FEATURES),
                    "aligned_notes",
                    candle_nn::Init::Const(0.0),
                )?)
            } else {
                None
            },
            device: vb.device().clone(),
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &ThemeConfig {
        &self.cfg
    }

    /// Loads `config.json` and `model.safetensors` from a model directory.
    pub fn load(dir: &std::path::Path, device: &Device) -> Result<Self> {
        let cfg = ThemeConfig::load(&dir.join("config.json"))?;
        let weights = dir.join("model.safetensors");
        let tensors = super::music_transformer::load_safetensors(&weights, device)?;
        super::weights::build_checked(tensors, &weights, device, |vb| {
            ThemeTransformer::new(&cfg, vb)
        })
    }

    /// Encodes themes `[B, T]` (with `theme_mask` `[B, T]`, 1 for real tokens, and `positions`
    /// `[B, T]` u32, the token index for themes or the time for melodies): per decoder layer the
    /// cross-attention keys and values, with the padding mask and the positions.
    pub fn encode(
        &self,
        theme: &Tensor,
        theme_mask: &Tensor,
        positions: &Tensor,
        train: bool,
    ) -> candle_core::Result<ThemeMemory> {
        let (b, t) = theme.dims2()?;
        let flat: Vec<u32> = positions.flatten_all()?.to_vec1()?;
        let pe =
            sinusoidal(&flat, self.cfg.d_model, &self.device)?.reshape((b, t, self.cfg.d_model))?;
        let mut x = (self.embed.forward(theme)? + pe)?;
        let pad =
            ((1.0 - theme_mask.to_dtype(DType::F32)?)? * MASKED as f64)?.reshape((b, 1, 1, t))?;
        for layer in &self.encoder {
            x = layer.forward(&x, &pad, self.cfg.dropout, train)?;
        }
        let memory = self.enc_norm.forward(&x, train)?;
        let kv = self
            .decoder
            .iter()
            .map(|l| l.cross.keys_values(&memory))
            .collect::<candle_core::Result<_>>()?;
        let notes = if self.cfg.aligned_notes {
            let ids = theme.to_vec2::<u32>()?;
            let pos = positions.to_vec2::<u32>()?;
            let real = theme_mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
            (0..b)
                .map(|r| {
                    let n = real[r].iter().filter(|&&m| m > 0.0).count();
                    sounding_notes(&ids[r][..n], &pos[r][..n])
                })
                .collect()
        } else {
            Vec::new()
        };
        let positions = positions.to_dtype(DType::F32)?.reshape((b, 1, 1, t))?;
        Ok(ThemeMemory {
            kv,
            pad,
            positions,
            notes,
        })
    }

    /// The decoder's input: token embeddings, plus the projected aligned-notes feature of each
    /// token's counter `[B][L]` (batch rows beyond the memory's use its last row).
    fn decoder_input(
        &self,
        ids: &Tensor,
        counter: &[Vec<u32>],
        memory: &ThemeMemory,
    ) -> candle_core::Result<Tensor> {
        let x = self.embed.forward(ids)?;
        let Some(w) = &self.aligned_notes else {
            return Ok(x);
        };
        let (b, l) = ids.dims2()?;
        let mut data = Vec::with_capacity(b * l * ALIGNED_NOTE_FEATURES);
        for (r, row) in counter.iter().enumerate() {
            let notes = &memory.notes[r.min(memory.notes.len().saturating_sub(1))];
            for &c in row {
                data.extend(aligned_note_feature(notes, c));
            }
        }
        let f = Tensor::from_vec(data, (b * l, ALIGNED_NOTE_FEATURES), &self.device)?;
        // Scaled by √d like an embedding lookup would be: the projection starts at zero, and
        // Adam moves each weight by about the learning rate per step, so without the gain it
        // would take thousands of steps to reach the embeddings' scale (norm ≈ √d).
        let gain = (self.cfg.d_model as f64).sqrt();
        x + (f.matmul(&w.t()?)? * gain)?.reshape((b, l, self.cfg.d_model))?
    }

    /// The additive cross-attention bias for queries at `counter` (`[B or 1, 1, L, 1]`, f32): the
    /// padding mask, plus `−m_h·|counter − position|` with `cross_time_bias`.
    fn cross_bias(&self, counter: &Tensor, memory: &ThemeMemory) -> candle_core::Result<Tensor> {
        if !self.cfg.cross_time_bias {
            return Ok(memory.pad.clone());
        }
        let h = self.cfg.n_heads;
        // Scores are scaled by 1/√dh after the bias is added: undo that for the bias.
        let root = ((self.cfg.d_model / h) as f32).sqrt();
        let slopes: Vec<f32> = time_bias_slopes(h).iter().map(|m| -m * root).collect();
        let slopes = Tensor::from_vec(slopes, (1, h, 1, 1), &self.device)?;
        let distance = counter.broadcast_sub(&memory.positions)?.abs()?;
        distance.broadcast_mul(&slopes)?.broadcast_add(&memory.pad)
    }

    /// What the decoder layers need besides their input, for queries at `counter` (see
    /// `cross_bias`) with their counter encodings and gates.
    fn decoder_inputs<'a>(
        &self,
        memory: &'a ThemeMemory,
        counter: &Tensor,
        counter_pe: Tensor,
        gate: Tensor,
    ) -> candle_core::Result<DecoderInputs<'a>> {
        Ok(DecoderInputs {
            memory: &memory.kv,
            cross_bias: self.cross_bias(counter, memory)?,
            counter_pe,
            gate,
        })
    }

    /// Logits `[B, L, V]` of decoder ids `[B, L]` with their theme counters `[B, L]` (u32) and gates
    /// `[B, L]` (f32), given the encoded theme.
    pub fn decode(
        &self,
        ids: &Tensor,
        counter: &Tensor,
        gate: &Tensor,
        memory: &ThemeMemory,
        key_mask: Option<&Tensor>,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let (b, l) = ids.dims2()?;
        let rows: Vec<Vec<u32>> = counter.to_vec2()?;
        let flat: Vec<u32> = rows.concat();
        let counter_pe =
            sinusoidal(&flat, self.cfg.d_model, &self.device)?.reshape((b, l, self.cfg.d_model))?;
        let gate = gate.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
        let query_time = counter.to_dtype(DType::F32)?.reshape((b, 1, l, 1))?;
        let inputs = self.decoder_inputs(memory, &query_time, counter_pe, gate)?;
        let mut x = self.decoder_input(ids, &rows, memory)?;
        for (i, layer) in self.decoder.iter().enumerate() {
            let s = layer.self_attn.forward(&x, key_mask, train)?;
            x = layer.cross_and_combine(i, &x, &s, &inputs, self.cfg.dropout, train)?;
        }
        self.head.forward(&x)
    }
}

/// Decoder caches for incremental generation: one self-attention cache per layer.
#[derive(Debug, Clone, Default)]
pub struct ThemeCache {
    layers: Vec<super::relative_attention::LayerCache>,
}

impl ThemeTransformer {
    /// Logits `[B, n, V]` of `n` new decoder positions, appended to `cache` (which slides past
    /// `max_len`); `counter` and `gate` are those of the new positions.
    pub fn decode_cached(
        &self,
        ids: &Tensor,
        counter: &[u32],
        gate: &[f32],
        memory: &ThemeMemory,
        cache: &mut ThemeCache,
    ) -> candle_core::Result<Tensor> {
        if cache.layers.len() != self.decoder.len() {
            cache.layers = vec![Default::default(); self.decoder.len()];
        }
        let (b, n) = ids.dims2()?;
        let d = self.cfg.d_model;
        let counter_pe = sinusoidal(counter, d, &self.device)?
            .reshape((1, n, d))?
            .broadcast_as((b, n, d))?
            .contiguous()?;
        let gate = Tensor::from_vec(gate.to_vec(), (1, n, 1), &self.device)?
            .broadcast_as((b, n, 1))?
            .contiguous()?;
        let query_time: Vec<f32> = counter.iter().map(|&c| c as f32).collect();
        let query_time = Tensor::from_vec(query_time, (1, 1, n, 1), &self.device)?;
        let inputs = self.decoder_inputs(memory, &query_time, counter_pe, gate)?;
        let mut x = self.decoder_input(ids, &vec![counter.to_vec(); b], memory)?;
        for (i, (layer, c)) in self.decoder.iter().zip(&mut cache.layers).enumerate() {
            let s = layer.self_attn.forward_cached(&x, c)?;
            x = layer.cross_and_combine(i, &x, &s, &inputs, 0.0, false)?;
        }
        self.head.forward(&x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::max_diff;
    use crate::tokens::remi::Part;
    use candle_nn::VarMap;

    fn cfg() -> ThemeConfig {
        crate::test_util::tiny_theme_config(ThemeTask::Theme, 32, 16)
    }

    #[test]
    fn counter_runs_from_theme_start_through_theme_end() {
        use remi::{BAR, THEME_END, THEME_START};
        // Both sequences end a first theme region, hold a second one of one bar, then a token
        // outside.
        let ends = [THEME_END, BAR, THEME_START, BAR, THEME_END, 4];
        let ids = [&[BAR, 5, THEME_START, BAR, 7, 9][..], &ends].concat();
        let (c, g) = theme_positions(&ids, false);
        assert_eq!(c, [0, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 0]);
        assert_eq!(g, [0., 0., 1., 1., 1., 1., 1., 0., 1., 1., 1., 0.]);
        // Counting time: 1 at Theme_Start and its first Bar, Position 5 → 6, 7 → 8, and a new
        // region starts again from 1.
        let p = |n| remi::POSITION + n;
        let ids = [&[BAR, p(2), THEME_START, BAR, p(5), p(7), BAR][..], &ends].concat();
        let (c, g) = theme_positions(&ids, true);
        assert_eq!(c, [0, 0, 1, 1, 6, 8, 17, 17, 0, 1, 1, 1, 0]);
        assert_eq!(g.iter().filter(|&&x| x > 0.0).count(), 9);
    }

    #[test]
    fn sinusoids_have_the_textbook_values() {
        let pe = sinusoidal(&[0, 3], 4, &Device::Cpu)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(pe[0], [0.0, 1.0, 0.0, 1.0]);
        let r = 1.0 / 100f64;
        let want = [3f64.sin(), 3f64.cos(), (3.0 * r).sin(), (3.0 * r).cos()];
        for (a, b) in pe[1].iter().zip(want) {
            assert!((*a as f64 - b).abs() < 1e-6);
        }
    }

    /// A layer's combination on hand-made S and C: the lower half adds g·C to S, the upper half
    /// replaces S by C where g = 1.
    #[test]
    fn gate_mixes_self_and_cross_attention_as_designed() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let m =
            ThemeTransformer::new(&cfg(), VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        let x = Tensor::zeros((1, 2, 32), DType::F32, &dev).unwrap();
        let s = Tensor::randn(0f32, 1.0, (1, 2, 32), &dev).unwrap();
        let c = Tensor::randn(0f32, 1.0, (1, 2, 32), &dev).unwrap();
        let gate = Tensor::new(&[[[0f32], [1f32]]], &dev).unwrap();
        let ln = |t: &Tensor| m.decoder[0].ln1.forward(t, false).unwrap();
        // What the sub-layer must produce before its feed-forward: LN(x + mix/2).
        let half = |t: Tensor| (t * 0.5).unwrap();
        let row = |t: &Tensor, i: usize| t.narrow(1, i, 1).unwrap();
        let expected_lower = ln(&half((&s + c.broadcast_mul(&gate).unwrap()).unwrap()));
        let expected_upper = ln(&half(
            (s.broadcast_mul(&(1.0 - &gate).unwrap()).unwrap() + c.broadcast_mul(&gate).unwrap())
                .unwrap(),
        ));
        for (layer, expected) in [
            (&m.decoder[0], &expected_lower),
            (&m.decoder[1], &expected_upper),
        ] {
            let got = layer.mix(&x, &s, &c, &gate, 0.0, false).unwrap();
            let d = max_diff(&got, expected);
            assert!(d < 1e-6, "{d}");
        }
        assert!(!m.decoder[0].upper && m.decoder[1].upper);
        // Outside the theme (g = 0) both halves see only S; inside, the upper half sees only C.
        let lower_out = row(&expected_lower, 0);
        let upper_out = row(&expected_upper, 0);
        assert!(max_diff(&lower_out, &upper_out) < 1e-6);
        let only_c = ln(&half(row(&c, 1)));
        assert!(max_diff(&row(&expected_upper, 1), &only_c) < 1e-6);
    }

    #[test]
    fn outside_theme_regions_the_theme_does_not_matter() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let m =
            ThemeTransformer::new(&cfg(), VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        let ids: Vec<u32> = vec![
            remi::BAR,
            10,
            100,
            200,
            remi::THEME_START,
            remi::BAR,
            120,
            300,
        ];
        let (counter, gate) = theme_positions(&ids, false);
        let l = ids.len();
        let t = |v: Vec<u32>| Tensor::from_vec(v, (1, l), &dev).unwrap();
        let logits_for = |theme: Vec<u32>| {
            let n = theme.len();
            let th = Tensor::from_vec(theme, (1, n), &dev).unwrap();
            let mask = Tensor::ones((1, n), DType::F32, &dev).unwrap();
            let pos = Tensor::arange(0u32, n as u32, &dev)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let mem = m.encode(&th, &mask, &pos, false).unwrap();
            let g = Tensor::from_vec(gate.clone(), (1, l), &dev).unwrap();
            m.decode(&t(ids.clone()), &t(counter.clone()), &g, &mem, None, false)
                .unwrap()
        };
        let a = logits_for(vec![remi::BAR, 150, 250]);
        let b = logits_for(vec![remi::BAR, 160, 170, 180, 190]);
        let diff = |i: usize| max_diff(&a.narrow(1, i, 1).unwrap(), &b.narrow(1, i, 1).unwrap());
        // Before the theme region (gate 0 everywhere so far) the logits ignore the theme …
        for i in 0..4 {
            assert!(diff(i) < 1e-5, "position {i}: {}", diff(i));
        }
        // … inside it they depend on it.
        assert!(diff(5) > 1e-4);
    }

    #[test]
    fn cached_decoding_equals_the_full_forward() {
        for (cross_time_bias, aligned_notes) in [(false, false), (true, false), (true, true)] {
            cached_equals_full(&ThemeConfig {
                cross_time_bias,
                aligned_notes,
                time_aligned: aligned_notes,
                ..cfg()
            });
        }
    }

    /// The aligned-notes feature on hand-made tokens: a note sounds from its onset for its
    /// duration, and time 0 (outside theme regions) hears nothing.
    #[test]
    fn aligned_notes_sound_from_onset_for_their_duration() {
        let m = Part::Melody;
        let ids = [
            remi::BAR,
            remi::POSITION,
            m.velocity(3),
            m.note_on(60),
            m.duration(4),
            remi::POSITION + 2,
            m.velocity(3),
            m.note_on(67),
            m.duration(1),
        ];
        let pos = remi::time_positions(&ids);
        let notes = sounding_notes(&ids, &pos);
        assert_eq!(notes, [(1, 5, 60), (3, 4, 67)]);
        let on = |c: u32| -> Vec<usize> {
            let f = aligned_note_feature(&notes, c);
            (0..ALIGNED_NOTE_FEATURES).filter(|&i| f[i] > 0.0).collect()
        };
        assert_eq!(on(0), Vec::<usize>::new());
        assert_eq!(on(1), [60, 128]);
        assert_eq!(on(3), [60, 67, 128, 128 + 7]);
        assert_eq!(on(4), [60, 128]);
        assert_eq!(on(5), Vec::<usize>::new());
    }

    /// The time bias against a slow loop: `−m_h·|c − p|` (before the 1/√dh scaling, so times √dh),
    /// plus the padding mask.
    #[test]
    fn cross_time_bias_matches_a_loop() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let c = ThemeConfig {
            cross_time_bias: true,
            ..cfg()
        };
        let m = ThemeTransformer::new(&c, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        let theme = Tensor::new(&[[remi::BAR, 150, 250, 300]], &dev).unwrap();
        let mask = Tensor::new(&[[1f32, 1.0, 1.0, 0.0]], &dev).unwrap();
        let positions = [1u32, 3, 3, 17];
        let mem = m
            .encode(
                &theme,
                &mask,
                &Tensor::new(&[positions], &dev).unwrap(),
                false,
            )
            .unwrap();
        let counter = [0f32, 2.0, 9.0];
        let bias = m
            .cross_bias(
                &Tensor::new(&counter, &dev)
                    .unwrap()
                    .reshape((1, 1, 3, 1))
                    .unwrap(),
                &mem,
            )
            .unwrap();
        assert_eq!(bias.dims(), [1, 4, 3, 4]);
        let got = bias.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let slopes = time_bias_slopes(4);
        assert_eq!(slopes, [0.25, 1.0 / 16.0, 1.0 / 64.0, 1.0 / 256.0]);
        let root = (32f32 / 4.0).sqrt();
        for h in 0..4 {
            for (i, &q) in counter.iter().enumerate() {
                for (j, &p) in positions.iter().enumerate() {
                    let pad = if j == 3 { MASKED } else { 0.0 };
                    let want = -slopes[h] * root * (q - p as f32).abs() + pad;
                    let at = got[(h * 3 + i) * 4 + j];
                    assert!(
                        (at - want).abs() <= 1e-4 * want.abs().max(1.0),
                        "{at} {want}"
                    );
                }
            }
        }
        // Without the option the bias is the padding mask alone.
        let plain =
            ThemeTransformer::new(&cfg(), VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        let b = plain
            .cross_bias(
                &Tensor::zeros((1, 1, 3, 1), DType::F32, &dev).unwrap(),
                &mem,
            )
            .unwrap();
        assert_eq!(b.dims(), [1, 1, 1, 4]);
    }

    fn cached_equals_full(c: &ThemeConfig) {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let m = ThemeTransformer::new(c, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        if c.aligned_notes {
            // Zero at initialisation: give it weights so that the test sees it.
            let data = vm.data().lock().unwrap();
            let w = data.get("aligned_notes").unwrap();
            w.set(&Tensor::randn(0f32, 1.0, w.dims(), &dev).unwrap())
                .unwrap();
        }
        let theme = Tensor::new(&[[remi::BAR, 150, 250, 300]], &dev).unwrap();
        let mem = m
            .encode(
                &theme,
                &theme.ones_like().unwrap().to_dtype(DType::F32).unwrap(),
                &Tensor::new(&[[0u32, 1, 2, 3]], &dev).unwrap(),
                false,
            )
            .unwrap();
        if c.aligned_notes {
            assert!(!mem.notes[0].is_empty(), "the theme has notes");
        }
        let ids: Vec<u32> = vec![
            1,
            remi::THEME_START,
            remi::BAR,
            4,
            20,
            100,
            200,
            300,
            remi::THEME_END,
            remi::BAR,
            5,
            110,
        ];
        let (counter, gate) = theme_positions(&ids, false);
        let l = ids.len();
        let full = m
            .decode(
                &Tensor::from_vec(ids.clone(), (1, l), &dev).unwrap(),
                &Tensor::from_vec(counter.clone(), (1, l), &dev).unwrap(),
                &Tensor::from_vec(gate.clone(), (1, l), &dev).unwrap(),
                &mem,
                None,
                false,
            )
            .unwrap();
        let mut cache = ThemeCache::default();
        let prefill = 5;
        let mut rows = vec![m
            .decode_cached(
                &Tensor::from_vec(ids[..prefill].to_vec(), (1, prefill), &dev).unwrap(),
                &counter[..prefill],
                &gate[..prefill],
                &mem,
                &mut cache,
            )
            .unwrap()];
        for t in prefill..l {
            rows.push(
                m.decode_cached(
                    &Tensor::new(&[[ids[t]]], &dev).unwrap(),
                    &counter[t..t + 1],
                    &gate[t..t + 1],
                    &mem,
                    &mut cache,
                )
                .unwrap(),
            );
        }
        let cached = Tensor::cat(&rows, 1).unwrap();
        let d = max_diff(&full, &cached);
        assert!(d < 1e-4, "{d}");
    }
}
