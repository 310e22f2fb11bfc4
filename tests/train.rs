//! Training end to end on a tiny data set made here: the loss falls, the logs and the exported model are
//! written, and a run resumed from a checkpoint ends exactly where an uninterrupted run does.

use std::path::Path;

use reprise::model::{MusicTransformer, TransformerConfig, VocabKind};
use reprise::train::{train, ModelConfig, TrainConfig, TrainOptions};

/// Two "chorales" in the Coconet layout, in both splits: scales in four voices.
fn data(dir: &Path) -> std::path::PathBuf {
    let piece = |offset: i32| -> Vec<[i32; 4]> {
        (0..48)
            .map(|i| {
                let p = 60 + offset + [0, 2, 4, 5, 7, 9, 11, 12][(i / 4) % 8];
                [p + 12, p + 7, p + 4, p - 12]
            })
            .collect()
    };
    let json = serde_json::json!({ "train": [piece(0), piece(2)], "valid": [piece(1)] });
    let path = dir.join("data.json");
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

fn config(total_steps: usize) -> TrainConfig {
    TrainConfig {
        model: ModelConfig::Music(TransformerConfig {
            vocab: VocabKind::Grid,
            vocab_size: VocabKind::Grid.size(),
            d_model: 32,
            n_layers: 2,
            n_heads: 4,
            d_ff: 64,
            max_len: 64,
            dropout: 0.0,
            beat_embedding: false,
        }),
        crop_len: 64,
        batch_tokens: 130,
        lr: 0.01,
        warmup_steps: 2,
        total_steps,
        min_lr_ratio: 0.1,
        weight_decay: 0.01,
        clip_norm: 1.0,
        transpose: 2,
        checkpoint_every: 3,
        seed: 4,
        stretch: 0.0,
        valid_every: 0,
        valid_tokens: 0,
        notes_per_instrument: 0,
        synth_catalogue: false,
        synth_banks: Vec::new(),
        region_weight: 1.0,
        patience: 0,
        infill: 0.0,
    }
}

/// Options of a run of `total` steps on `data` into `out`.
fn options(data: &Path, total: usize, out: &Path, resume: bool) -> TrainOptions {
    TrainOptions {
        config: config(total),
        data: data.to_path_buf(),
        out: out.to_path_buf(),
        resume,
        max_minutes: None,
        init: None,
        valid_share: None,
        cancel: None,
        command: String::new(),
        on_loading: None,
    }
}

/// The largest difference between the parameters of two runs' checkpoints.
fn max_param_diff(a: &Path, b: &Path) -> f32 {
    let load = |d: &Path| {
        reprise::model::music_transformer::load_safetensors(
            &d.join("checkpoint.safetensors"),
            &candle_core::Device::Cpu,
        )
        .unwrap()
    };
    let (ta, tb) = (load(a), load(b));
    assert_eq!(ta.len(), tb.len());
    ta.iter()
        .filter(|(k, _)| k.starts_with("param."))
        .map(|(k, t)| {
            let d = (t - &tb[k])
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap();
            d.to_scalar::<f32>().unwrap()
        })
        .fold(0.0, f32::max)
}

#[test]
fn learns_logs_exports_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data(tmp.path());
    let out = tmp.path().join("run");
    let opts = |total, out: &Path, resume| options(&data, total, out, resume);
    // Run A: 6 steps; keep a copy of that checkpoint; then resume A itself to step 40.
    let state = train(&opts(6, &out, false), &mut |_| {}).unwrap();
    assert_eq!(state.step, 6);
    let resumed = tmp.path().join("resumed");
    std::fs::create_dir_all(&resumed).unwrap();
    std::fs::copy(
        out.join("checkpoint.safetensors"),
        resumed.join("checkpoint.safetensors"),
    )
    .unwrap();
    std::fs::copy(out.join("log.csv"), resumed.join("log.csv")).unwrap();
    let mut losses = Vec::new();
    let a = train(&opts(40, &out, true), &mut |s| {
        if s.loss.is_finite() {
            losses.push(s.loss)
        }
    })
    .unwrap();
    assert_eq!(a.step, 40);
    // Run B: resume the copy of step 6 to the same end.
    let b = train(&opts(40, &resumed, true), &mut |_| {}).unwrap();
    assert_eq!(b.step, 40);
    assert_eq!(
        max_param_diff(&out, &resumed),
        0.0,
        "a resumed run must end with identical weights"
    );
    // It learned: the scales are easy.
    let first: f64 = losses[..3].iter().sum::<f64>() / 3.0;
    let last: f64 = losses[losses.len() - 3..].iter().sum::<f64>() / 3.0;
    assert!(last < first * 0.5, "loss {first} → {last}");
    assert!(a.best_valid_nll.unwrap() < 2.0, "{:?}", a.best_valid_nll);
    // Logs and the exported model.
    let csv = std::fs::read_to_string(out.join("log.csv")).unwrap();
    assert!(csv.starts_with("step,epoch,lr,train_loss,tokens_per_s,valid_nll,elapsed_s"));
    assert_eq!(
        csv.lines().filter(|l| l.starts_with("40,")).count(),
        2,
        "{csv}"
    );
    assert!(std::fs::metadata(out.join("loss.png")).unwrap().len() > 1000);
    let model = MusicTransformer::load(&out.join("model"), &candle_core::Device::Cpu).unwrap();
    assert_eq!(model.config().d_model, 32);
    // A new run can start from the exported weights: before any step it scores what the export scores.
    let warm = tmp.path().join("warm");
    let mut warm_opts = opts(1, &warm, false);
    warm_opts.config.lr = 1e-9;
    warm_opts.init = Some(out.join("model"));
    let w = train(&warm_opts, &mut |_| {}).unwrap();
    let exported = a.best_valid_nll.unwrap();
    assert!(
        (w.best_valid_nll.unwrap() - exported).abs() < 0.02,
        "{:?} vs {exported}",
        w.best_valid_nll
    );
    // A new run refuses to overwrite a checkpoint.
    assert!(train(&opts(40, &out, false), &mut |_| {})
        .unwrap_err()
        .to_string()
        .contains("resume"));
}

/// Padding the relative embeddings to a longer context leaves the model's logits unchanged, even on
/// inputs longer than the old context (distances past it had zero embeddings before and after).
#[test]
fn longer_context_keeps_the_function() {
    use candle_core::{DType, Device, Tensor};
    use candle_nn::{VarBuilder, VarMap};
    let dev = Device::Cpu;
    let ModelConfig::Music(short) = config(1).model else {
        unreachable!()
    };
    let long = TransformerConfig {
        max_len: 96,
        ..short.clone()
    };
    let varmap = VarMap::new();
    let model =
        MusicTransformer::new(&short, VarBuilder::from_varmap(&varmap, DType::F32, &dev)).unwrap();
    let tensors: std::collections::HashMap<String, Tensor> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let t = v.as_tensor().clone();
            let t = if k.ends_with(".er") {
                reprise::train::resize_relative(&t, 96).unwrap()
            } else {
                t
            };
            (k.clone(), t)
        })
        .collect();
    let resized =
        MusicTransformer::new(&long, VarBuilder::from_tensors(tensors, DType::F32, &dev)).unwrap();
    let ids = Tensor::arange(0u32, 80, &dev)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let a = model.forward(&ids, None, false).unwrap();
    let b = resized.forward(&ids, None, false).unwrap();
    let diff: f32 = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!(diff < 1e-5, "{diff}");
    // Shrinking back keeps the nearest distances: the original table.
    let er = varmap.data().lock().unwrap()["blocks.0.attn.er"]
        .as_tensor()
        .clone();
    let back =
        reprise::train::resize_relative(&reprise::train::resize_relative(&er, 96).unwrap(), 64)
            .unwrap();
    let d: f32 = (er - back)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    assert_eq!(d, 0.0);
}

/// The issue-19 training reproducers: one seed gives one run; a resumed run's log has no repeated
/// steps; a checkpoint with a NaN is refused; an empty split is refused rather than looped over.
#[test]
fn runs_are_reproducible_and_bad_states_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data(tmp.path());
    let opts = |total, out: &Path, resume| options(&data, total, out, resume);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut first = Vec::new();
    for dir in [&a, &b] {
        let mut loss = None;
        train(&opts(3, dir, false), &mut |s| {
            if s.step == 1 && s.loss.is_finite() {
                loss = Some(s.loss);
            }
        })
        .unwrap();
        first.push(loss.unwrap());
    }
    assert_eq!(first[0], first[1], "step-1 loss of two runs with one seed");
    assert_eq!(max_param_diff(&a, &b), 0.0);
    // A run killed at step 5 with its checkpoint at 3: the log's rows 4 and 5 are run again.
    let log = a.join("log.csv");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("4,0,1e-2,9.9,1,,1.0\n5,0,1e-2,9.9,1,,1.0\n");
    std::fs::write(&log, text).unwrap();
    train(&opts(6, &a, true), &mut |_| {}).unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    for step in ["4,", "5,"] {
        assert_eq!(
            text.lines().filter(|l| l.starts_with(step)).count(),
            1,
            "{text}"
        );
    }
    assert!(!text.contains("9.9"), "{text}");
    // A NaN in the checkpoint (its last value) is refused on resume; the file is kept as it was.
    let ckpt = b.join("checkpoint.safetensors");
    let mut bytes = std::fs::read(&ckpt).unwrap();
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&ckpt, &bytes).unwrap();
    let err = train(&opts(6, &b, true), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("non-finite"), "{err}");
    assert_eq!(std::fs::read(&ckpt).unwrap(), bytes);
    // An empty training split.
    let empty = tmp.path().join("empty.json");
    std::fs::write(&empty, r#"{"train": [], "valid": [[[60, 55, 52, 48]]]}"#).unwrap();
    let mut o = opts(3, &tmp.path().join("c"), false);
    o.data = empty;
    let err = train(&o, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("no piece"), "{err}");
}
