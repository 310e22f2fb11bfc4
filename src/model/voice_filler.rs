//! The voice filler: a bidirectional transformer encoder over a chorale's 16th-note grid that
//! predicts hidden voices from everything visible around them, past and future — the orderless
//! infilling of Coconet (Huang et al. 2017, <https://arxiv.org/abs/1903.07227>) with a transformer
//! encoder in place of the convolutional net. Each step's input is the sum of one embedding per
//! voice (a pitch, a rest or "hidden") of that step and, through their own tables, of the steps
//! just before and after it — a width-3 convolution's locality, so that holding or leaving a note
//! is seen without attention learning it first; the output is a distribution over pitch-or-rest for
//! each of the four voices at every step. `generate::harmonize` samples the hidden voices one at a
//! time.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{embedding, linear, Embedding, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use super::norm::Norm;
use super::relative_attention::MASKED;
use super::theme_transformer::{sinusoidal, EncoderLayer};
use crate::error::{Error, Result};

/// Voices per step (S, A, T, B).
pub const VOICES: usize = 4;
/// The output class of a rest (classes 0–127 are MIDI pitches).
pub const REST_CLASS: u32 = 128;
/// Output classes per voice: 128 pitches and the rest.
pub const CLASSES: usize = 129;
/// The input token of a hidden (to be filled) voice.
pub const HIDDEN: u32 = 129;
/// Input tokens per voice: the classes and `HIDDEN`.
pub const INPUTS: usize = 130;

/// Hyper-parameters of a voice filler (`config.json` with `"architecture": "voice-filler"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceFillerConfig {
    /// Always "voice-filler".
    pub architecture: String,
    /// Model width.
    pub d_model: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Feed-forward width.
    pub d_ff: usize,
    /// Encoder layers.
    pub layers: usize,
    /// Most steps (sixteenths) read at once; longer chorales are read in windows.
    pub max_len: usize,
    /// Dropout during training.
    pub dropout: f32,
}

impl VoiceFillerConfig {
    /// The architecture tag.
    pub const ARCHITECTURE: &'static str = "voice-filler";

    /// Reads and checks `config.json`.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        super::config::read_config(path, "voice filler config", Self::validate)
    }

    /// Writes `config.json` (all-or-nothing).
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        super::config::write_config(self, path)
    }

    /// Checks that the numbers fit together.
    pub fn validate(&self) -> Result<()> {
        let ok = self.architecture == Self::ARCHITECTURE
            && self.n_heads > 0
            && self.d_model.is_multiple_of(self.n_heads)
            && self.d_model.is_multiple_of(2)
            && self.layers > 0
            && self.max_len >= 2
            && (0.0..1.0).contains(&self.dropout);
        if ok {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "voice filler config is inconsistent: {self:?}"
            )))
        }
    }
}

/// The voice filler.
#[derive(Clone)]
pub struct VoiceFiller {
    cfg: VoiceFillerConfig,
    embed: Embedding,
    embed_prev: Embedding,
    embed_next: Embedding,
    layers: Vec<EncoderLayer>,
    norm: Norm,
    head: Linear,
    device: Device,
}

impl VoiceFiller {
    /// Builds the model from `vb`.
    pub fn new(cfg: &VoiceFillerConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let layers = (0..cfg.layers)
            .map(|i| {
                let vb = vb.pp(format!("layers.{i}"));
                EncoderLayer::new(cfg.d_model, cfg.n_heads, cfg.d_ff, vb)
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(VoiceFiller {
            cfg: cfg.clone(),
            embed: embedding(VOICES * INPUTS, cfg.d_model, vb.pp("embed"))?,
            embed_prev: embedding(VOICES * INPUTS, cfg.d_model, vb.pp("embed_prev"))?,
            embed_next: embedding(VOICES * INPUTS, cfg.d_model, vb.pp("embed_next"))?,
            layers,
            norm: Norm::new(cfg.d_model, vb.pp("norm"))?,
            head: linear(cfg.d_model, VOICES * CLASSES, vb.pp("head"))?,
            device: vb.device().clone(),
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &VoiceFillerConfig {
        &self.cfg
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Loads `config.json` and `model.safetensors` from a model directory.
    pub fn load(dir: &std::path::Path, device: &Device) -> Result<Self> {
        let cfg = VoiceFillerConfig::load(&dir.join("config.json"))?;
        let weights = dir.join("model.safetensors");
        let tensors = super::music_transformer::load_safetensors(&weights, device)?;
        super::weights::build_checked(tensors, &weights, device, |vb| VoiceFiller::new(&cfg, vb))
    }

    /// Logits `[B, L, VOICES, CLASSES]` of the grid `tokens` `[B, L, VOICES]` (u32: pitch 0–127,
    /// `REST_CLASS` or `HIDDEN`), where `mask` `[B, L]` is 1 for real steps and 0 for padding at the
    /// end of a row. Step `i` of a row has position `i`.
    pub fn forward(
        &self,
        tokens: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let (b, l, v) = tokens.dims3()?;
        if v != VOICES {
            candle_core::bail!("voice filler input has {v} voices, expected {VOICES}");
        }
        // Padding steps read as hidden, so that no real step sees them as a neighbour.
        let real = mask
            .to_dtype(DType::U8)?
            .reshape((b, l, 1))?
            .broadcast_as((b, l, VOICES))?;
        let hidden = Tensor::full(HIDDEN, (b, l, VOICES), &self.device)?;
        let tokens = real.where_cond(tokens, &hidden)?;
        let edge = Tensor::full(HIDDEN, (b, 1, VOICES), &self.device)?;
        let (prev, next) = if l > 1 {
            (
                Tensor::cat(&[&edge, &tokens.narrow(1, 0, l - 1)?], 1)?,
                Tensor::cat(&[&tokens.narrow(1, 1, l - 1)?, &edge], 1)?,
            )
        } else {
            (edge.clone(), edge)
        };
        let offsets = Tensor::new(&[0u32, 130, 260, 390], &self.device)?.reshape((1, 1, VOICES))?;
        let embed =
            |table: &Embedding, t: &Tensor| table.forward(&t.broadcast_add(&offsets)?)?.sum(2);
        let x = ((embed(&self.embed, &tokens)? + embed(&self.embed_prev, &prev)?)?
            + embed(&self.embed_next, &next)?)?;
        let positions: Vec<u32> = (0..l as u32).collect();
        let pe = sinusoidal(&positions, self.cfg.d_model, &self.device)?.unsqueeze(0)?;
        let mut x = x.broadcast_add(&pe)?;
        let pad = ((1.0 - mask.to_dtype(DType::F32)?)? * MASKED as f64)?.reshape((b, 1, 1, l))?;
        for layer in &self.layers {
            x = layer.forward(&x, &pad, self.cfg.dropout, train)?;
        }
        self.head
            .forward(&self.norm.forward(&x, train)?)?
            .reshape((b, l, VOICES, CLASSES))
    }
}

/// A grid pitch (−1 = rest) as the model's class.
pub fn class_of(pitch: i16) -> u32 {
    if pitch < 0 {
        REST_CLASS
    } else {
        pitch as u32
    }
}

/// A model class back into a grid pitch (−1 = rest).
pub fn pitch_of(class: u32) -> i16 {
    if class >= REST_CLASS {
        -1
    } else {
        class as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    pub(crate) fn tiny() -> VoiceFillerConfig {
        VoiceFillerConfig {
            architecture: VoiceFillerConfig::ARCHITECTURE.into(),
            d_model: 16,
            n_heads: 2,
            d_ff: 32,
            layers: 2,
            max_len: 32,
            dropout: 0.0,
        }
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// Padding at the end of a row changes nothing for the real steps; every step sees the future
    /// (a change at the last step moves the first step's output); the offsets keep voices apart
    /// (the same token in another voice is another input).
    #[test]
    fn padding_is_ignored_the_future_is_seen_and_voices_differ() {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let m = VoiceFiller::new(&tiny(), vb).unwrap();
        let dev = Device::Cpu;
        let grid = |rows: &[[u32; 4]]| {
            let flat: Vec<u32> = rows.iter().flatten().copied().collect();
            Tensor::from_vec(flat, (1, rows.len(), 4), &dev).unwrap()
        };
        let a = [
            [72, HIDDEN, 55, 48],
            [72, 64, HIDDEN, 48],
            [74, 65, 59, HIDDEN],
        ];
        let ones = Tensor::ones((1, 3), DType::F32, &dev).unwrap();
        let short = m.forward(&grid(&a), &ones, false).unwrap();
        let mut padded_rows = a.to_vec();
        padded_rows.push([1, 2, 3, 4]);
        let mask = Tensor::new(&[[1f32, 1., 1., 0.]], &dev).unwrap();
        let padded = m.forward(&grid(&padded_rows), &mask, false).unwrap();
        assert!(max_diff(&short, &padded.narrow(1, 0, 3).unwrap()) < 1e-4);
        let mut later = a;
        later[2][0] = 76;
        let moved = m.forward(&grid(&later), &ones, false).unwrap();
        let first = |t: &Tensor| t.narrow(1, 0, 1).unwrap();
        assert!(max_diff(&first(&short), &first(&moved)) > 1e-6);
        let mut swapped = a;
        swapped[0].swap(0, 2);
        let other = m.forward(&grid(&swapped), &ones, false).unwrap();
        assert!(max_diff(&first(&short), &first(&other)) > 1e-6);
        assert_eq!(short.dims(), &[1, 3, VOICES, CLASSES]);
    }

    #[test]
    fn config_checks_and_round_trips_and_classes_map_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        tiny().save(&path).unwrap();
        assert_eq!(VoiceFillerConfig::load(&path).unwrap(), tiny());
        assert!(VoiceFillerConfig {
            n_heads: 3,
            ..tiny()
        }
        .validate()
        .is_err());
        for p in [-1i16, 0, 60, 127] {
            assert_eq!(pitch_of(class_of(p)), p);
        }
    }
}
