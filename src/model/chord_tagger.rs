//! The chord tagger: a small bidirectional transformer encoder that reads a melody as one feature
//! vector per beat and scores one chord class per beat. It is Reprise's harmonizer
//! (`accompany::harmony` turns melodies into its features and its classes into chords).

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{linear, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use super::norm::Norm;
use super::relative_attention::MASKED;
use super::theme_transformer::{sinusoidal, EncoderLayer};
use crate::error::{Error, Result};

/// Hyper-parameters of a chord tagger (`config.json` with `"architecture": "chord-tagger"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChordTaggerConfig {
    /// Always "chord-tagger".
    pub architecture: String,
    /// Features per beat (the input width).
    pub n_features: usize,
    /// Chord classes (the output width).
    pub n_classes: usize,
    /// Model width.
    pub d_model: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Feed-forward width.
    pub d_ff: usize,
    /// Encoder layers.
    pub layers: usize,
    /// Most beats read at once (longer melodies are read in overlapping windows).
    pub max_len: usize,
    /// Dropout during training.
    pub dropout: f32,
}

impl ChordTaggerConfig {
    /// The architecture tag.
    pub const ARCHITECTURE: &'static str = "chord-tagger";

    /// Reads and checks `config.json`.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        super::config::read_config(path, "chord tagger config", Self::validate)
    }

    /// Writes `config.json` (all-or-nothing).
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        super::config::write_config(self, path)
    }

    /// Checks that the numbers fit together.
    pub fn validate(&self) -> Result<()> {
        let ok = self.architecture == Self::ARCHITECTURE
            && self.n_features > 0
            && self.n_classes > 1
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
                "chord tagger config is inconsistent: {self:?}"
            )))
        }
    }
}

/// The chord tagger.
#[derive(Clone)]
pub struct ChordTagger {
    cfg: ChordTaggerConfig,
    input: Linear,
    layers: Vec<EncoderLayer>,
    norm: Norm,
    head: Linear,
    device: Device,
}

impl ChordTagger {
    /// Builds the model from `vb`.
    pub fn new(cfg: &ChordTaggerConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let layers = (0..cfg.layers)
            .map(|i| {
                let vb = vb.pp(format!("layers.{i}"));
                EncoderLayer::new(cfg.d_model, cfg.n_heads, cfg.d_ff, vb)
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(ChordTagger {
            cfg: cfg.clone(),
            input: linear(cfg.n_features, cfg.d_model, vb.pp("input"))?,
            layers,
            norm: Norm::new(cfg.d_model, vb.pp("norm"))?,
            head: linear(cfg.d_model, cfg.n_classes, vb.pp("head"))?,
            device: vb.device().clone(),
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &ChordTaggerConfig {
        &self.cfg
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Loads `config.json` and `model.safetensors` from a model directory.
    pub fn load(dir: &std::path::Path, device: &Device) -> Result<Self> {
        let cfg = ChordTaggerConfig::load(&dir.join("config.json"))?;
        let weights = dir.join("model.safetensors");
        let tensors = super::music_transformer::load_safetensors(&weights, device)?;
        super::weights::build_checked(tensors, &weights, device, |vb| ChordTagger::new(&cfg, vb))
    }

    /// Class logits `[B, L, n_classes]` of `features` `[B, L, n_features]`, where `mask` `[B, L]`
    /// is 1 for real beats and 0 for padding (at the end of a row). Beat `i` of a row has position `i`.
    pub fn forward(
        &self,
        features: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let (b, l, _) = features.dims3()?;
        let positions: Vec<u32> = (0..l as u32).collect();
        let pe = sinusoidal(&positions, self.cfg.d_model, &self.device)?.unsqueeze(0)?;
        let mut x = self.input.forward(features)?.broadcast_add(&pe)?;
        let pad = ((1.0 - mask.to_dtype(DType::F32)?)? * MASKED as f64)?.reshape((b, 1, 1, l))?;
        for layer in &self.layers {
            x = layer.forward(&x, &pad, self.cfg.dropout, train)?;
        }
        self.head.forward(&self.norm.forward(&x, train)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    pub(crate) fn tiny() -> ChordTaggerConfig {
        ChordTaggerConfig {
            architecture: ChordTaggerConfig::ARCHITECTURE.into(),
            n_features: 5,
            n_classes: 7,
            d_model: 16,
            n_heads: 2,
            d_ff: 32,
            layers: 2,
            max_len: 32,
            dropout: 0.0,
        }
    }

    /// Padding at the end of a row changes nothing for the real beats, and training mode (without
    /// dropout) computes what inference does.
    #[test]
    fn padding_is_ignored_and_train_mode_matches_inference() {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let m = ChordTagger::new(&tiny(), vb).unwrap();
        let x = Tensor::randn(0f32, 1.0, (1, 6, 5), &Device::Cpu).unwrap();
        let ones = Tensor::ones((1, 6), DType::F32, &Device::Cpu).unwrap();
        let short = m.forward(&x, &ones, false).unwrap();
        let padded_x = Tensor::cat(
            &[
                &x,
                &Tensor::randn(0f32, 1.0, (1, 3, 5), &Device::Cpu).unwrap(),
            ],
            1,
        )
        .unwrap();
        let mask = Tensor::new(&[[1f32, 1., 1., 1., 1., 1., 0., 0., 0.]], &Device::Cpu).unwrap();
        let padded = m.forward(&padded_x, &mask, false).unwrap();
        let trained = m.forward(&padded_x, &mask, true).unwrap();
        let diff = |a: &Tensor, b: &Tensor| {
            (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        let head = padded.narrow(1, 0, 6).unwrap();
        assert!(diff(&short, &head) < 1e-4);
        assert!(diff(&padded, &trained) < 1e-4);
        assert_eq!(padded.dims(), &[1, 9, 7]);
    }

    #[test]
    fn config_checks_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        tiny().save(&path).unwrap();
        assert_eq!(ChordTaggerConfig::load(&path).unwrap(), tiny());
        let bad = ChordTaggerConfig {
            n_heads: 3,
            ..tiny()
        };
        assert!(bad.validate().is_err());
    }
}
