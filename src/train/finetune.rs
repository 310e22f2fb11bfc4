//! The default schedule for fine-tuning a shipped Music Transformer on a small folder of music
//! (`reprise train --init MODEL --data DIR` without `--config`): a tenth of the learning rate the
//! shipped piano models peaked at, held constant after a short warm-up, validation every 25 steps
//! and early stopping after 4 validations without a new best, so a few hundred files cannot be
//! over-fitted for long. `total_steps` is only a bound.

use super::{ModelConfig, TrainConfig};
use crate::model::{TransformerConfig, VocabKind};

/// Steps between validations (and exports of a new best) in the default fine-tune.
pub const VALID_EVERY: usize = 25;
/// Validations without a new best before the default fine-tune stops.
pub const PATIENCE: usize = 4;
/// The most steps the default fine-tune takes (about 70 minutes for the piano models on two cores).
pub const MAX_STEPS: usize = 1000;

/// The fine-tune schedule for a model of `model` (its exported `config.json`).
pub fn schedule(model: &TransformerConfig) -> TrainConfig {
    let crop_len = model.max_len.min(1024);
    TrainConfig {
        model: ModelConfig::Music(model.clone()),
        crop_len,
        batch_tokens: (4 * (crop_len + 1)).max(4096),
        lr: 1e-4,
        warmup_steps: 20,
        total_steps: MAX_STEPS,
        min_lr_ratio: 1.0,
        weight_decay: 0.01,
        clip_norm: 1.0,
        transpose: if model.vocab == VocabKind::Grid { 3 } else { 5 },
        checkpoint_every: VALID_EVERY,
        seed: 1,
        stretch: 0.0,
        valid_every: VALID_EVERY,
        valid_tokens: 100_000,
        notes_per_instrument: 0,
        synth_catalogue: false,
        synth_banks: Vec::new(),
        region_weight: 1.0,
        patience: PATIENCE,
        infill: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_valid_and_constant_after_warm_up() {
        let model = crate::test_util::tiny_lm_config(VocabKind::Remi, VocabKind::Remi.size());
        let cfg = schedule(&model);
        cfg.validate().unwrap();
        assert_eq!(cfg.lr_at(cfg.warmup_steps), cfg.lr_at(MAX_STEPS - 1));
        assert!(cfg.lr_at(0) < cfg.lr);
        assert!(cfg.crop_len <= model.max_len);
    }
}
