//! Model hyper-parameters, stored as `config.json` beside the weights.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which tokeniser a model reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VocabKind {
    /// The JSB chorale grid (`tokens::GridVocab`).
    Grid,
    /// Performance events (`tokens::PerformanceVocab`).
    Performance,
    /// Beat-aware piano: REMI bars, positions, tempi and notes with durations, every note in one
    /// part (`tokens::RemiVocab` with `one_part`).
    Remi,
}

impl VocabKind {
    /// Number of token ids.
    pub fn size(self) -> usize {
        match self {
            VocabKind::Grid => crate::tokens::grid::SIZE as usize,
            VocabKind::Performance => crate::tokens::performance::SIZE as usize,
            VocabKind::Remi => crate::tokens::remi::SIZE as usize,
        }
    }

    /// The name `config.json` gives it (`grid`, `performance`, `remi`).
    pub fn name(self) -> &'static str {
        match self {
            VocabKind::Grid => "grid",
            VocabKind::Performance => "performance",
            VocabKind::Remi => "remi",
        }
    }

    /// The tokeniser's version: it changes whenever the ids it writes for the same music change,
    /// so that token shards written by an older tokeniser are refused rather than misread.
    pub fn version(self) -> u32 {
        1
    }
}

/// Hyper-parameters of a decoder-only Music Transformer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransformerConfig {
    /// The tokeniser.
    pub vocab: VocabKind,
    /// Number of token ids (must equal `vocab.size()`).
    pub vocab_size: usize,
    /// Model width.
    pub d_model: usize,
    /// Decoder blocks.
    pub n_layers: usize,
    /// Attention heads (must divide `d_model`).
    pub n_heads: usize,
    /// Feed-forward width.
    pub d_ff: usize,
    /// Context length; also the number of learned relative distances M (0 … M−1).
    pub max_len: usize,
    /// Dropout probability during training.
    pub dropout: f32,
    /// Beat-aware vocabulary only: add to each token a learned embedding of its metrical state
    /// (the bar's current sixteenth, `tokens::remi::beat_state`), so that every layer sees where
    /// in the bar the stream is without having to find the last Position token.
    #[serde(default, skip_serializing_if = "is_false")]
    pub beat_embedding: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl TransformerConfig {
    /// Per-head width.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads
    }

    /// Checks that the numbers fit together.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(format!("model config: {m}")));
        if self.vocab_size != self.vocab.size() {
            return bad(format!(
                "vocab_size {} does not match the {:?} vocabulary ({})",
                self.vocab_size,
                self.vocab,
                self.vocab.size()
            ));
        }
        if self.d_model == 0 || self.n_heads == 0 || !self.d_model.is_multiple_of(self.n_heads) {
            return bad(format!(
                "d_model {} must be a positive multiple of n_heads {}",
                self.d_model, self.n_heads
            ));
        }
        if self.n_layers == 0 || self.d_ff == 0 || self.max_len < 2 {
            return bad("n_layers, d_ff must be > 0 and max_len ≥ 2".into());
        }
        if self.beat_embedding && self.vocab != VocabKind::Remi {
            return bad("beat_embedding needs the beat-aware (remi) vocabulary".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {} must be in [0, 1)", self.dropout));
        }
        Ok(())
    }

    /// Reads and validates `config.json`.
    pub fn load(path: &Path) -> Result<Self> {
        read_config(path, "model config", Self::validate)
    }

    /// Writes `config.json` (all-or-nothing).
    pub fn save(&self, path: &Path) -> Result<()> {
        write_config(self, path)
    }
}

/// Reads a model's JSON config and checks it with `validate`; an error names the file, and `what`
/// says what kind of config it should have been.
pub fn read_config<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
    validate: impl Fn(&T) -> Result<()>,
) -> Result<T> {
    let text = crate::input::read_text(path, what)?;
    let cfg: T = serde_json::from_str(&text)
        .map_err(|e| Error::bad_file(path, format!("bad {what}: {e}")))?;
    validate(&cfg).map_err(|e| Error::bad_file(path, e.to_string()))?;
    Ok(cfg)
}

/// Writes a config as pretty JSON (all-or-nothing).
pub fn write_config<T: Serialize>(cfg: &T, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(cfg).map_err(|e| Error::Internal(e.to_string()))?;
    crate::atomic_file::write_atomic(path, |w| {
        use std::io::Write;
        w.write_all(text.as_bytes()).map_err(|e| Error::io(path, e))
    })
}
