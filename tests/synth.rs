//! The neural synthesizer's training end to end on a few notes rendered from the built-in SoundFont:
//! the STFT loss falls, and the network and a timbre file per instrument are exported.

use reprise::synth::model::SynthConfig;
use reprise::train::{train, ModelConfig, TrainConfig, TrainOptions};

#[test]
fn synth_trains_and_exports_its_timbres() {
    let tmp = tempfile::tempdir().unwrap();
    let sf2 = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("soundfonts/sf_GMbank.sf2");
    let config = TrainConfig {
        model: ModelConfig::Synth(SynthConfig {
            architecture: SynthConfig::ARCHITECTURE.into(),
            d_model: 32,
            heads: 4,
            layers: 1,
            state_rank: 2,
            d_ff: 64,
            chunk: 16,
        }),
        crop_len: 64,
        batch_tokens: 6 * 64,
        lr: 0.01,
        warmup_steps: 2,
        total_steps: 25,
        min_lr_ratio: 0.2,
        weight_decay: 0.0,
        clip_norm: 1.0,
        transpose: 0,
        checkpoint_every: 10,
        seed: 2,
        stretch: 0.0,
        valid_every: 0,
        valid_tokens: 0,
        notes_per_instrument: 2,
    };
    let out = tmp.path().join("run");
    let opts = TrainOptions {
        config,
        data: sf2,
        out: out.clone(),
        resume: false,
        max_minutes: None,
        init: None,
    };
    let mut losses = Vec::new();
    train(&opts, &mut |s| {
        if s.loss.is_finite() {
            losses.push(s.loss)
        }
    })
    .unwrap();
    let first: f64 = losses[..3].iter().sum::<f64>() / 3.0;
    let last: f64 = losses[losses.len() - 3..].iter().sum::<f64>() / 3.0;
    assert!(last < first * 0.8, "loss {first} → {last}");
    for name in ["piano", "strings", "flute", "organ", "guitar", "brass"] {
        assert!(out
            .join("model/timbres")
            .join(format!("{name}.safetensors"))
            .is_file());
    }
    assert!(out.join("model/model.safetensors").is_file());
}
