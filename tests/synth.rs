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
        synth_catalogue: false,
        synth_banks: Vec::new(),
        region_weight: 1.0,
        patience: 0,
        infill: 0.0,
    };
    let out = tmp.path().join("run");
    let opts = TrainOptions {
        config,
        data: sf2,
        out: out.clone(),
        resume: false,
        max_minutes: None,
        init: None,
        valid_share: None,
        cancel: None,
        command: String::new(),
        on_loading: None,
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

    // The evaluation runs on the exported model: a row per program, finite distances, a clone per
    // held-out program that starts from (so is no worse on its recording than) the nearest timbre.
    use reprise::synth::{data::TRAINED, eval, render};
    let dir = out.join("model");
    let net = render::load_network(&dir).unwrap();
    let timbres: Vec<_> = TRAINED
        .iter()
        .map(|t| render::load_timbre(&render::timbre_path(&dir, t.name), net.config()).unwrap())
        .collect();
    let sf = reprise::audio::soundfont::load(None).unwrap();
    let settings = eval::EvalSettings {
        notes: 2,
        recording_seconds: 4.0,
        clone_steps: 2,
        clone_lr: 0.05,
    };
    let result = eval::evaluate(&net, &timbres, &sf, &settings, &mut |_| {}).unwrap();
    assert_eq!(result.trained.len(), 6);
    assert!(result
        .trained
        .iter()
        .all(|(_, row)| row.len() == 6 && row.iter().all(|d| d.is_finite() && *d > 0.0)));
    let names: Vec<&str> = result.held_out.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["oboe", "vibraphone"]);
    for h in &result.held_out {
        let min = h.with_trained.iter().cloned().fold(f64::INFINITY, f64::min);
        assert_eq!(h.nearest.1, min);
        assert!(h.cloned.is_finite());
    }
    let report = result.report(&settings);
    assert!(
        report.contains("vibraphone") && report.contains("clone time"),
        "{report}"
    );
}
