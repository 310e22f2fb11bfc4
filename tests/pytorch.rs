//! The PyTorch trainer (`trainer/`, issue 22) and Reprise agree: the same weights give the same
//! logits in both directions, and a model trained by PyTorch on `reprise tokenize`'s shards
//! continues a primer in Reprise and scores there the NLL PyTorch reported.
//!
//! These tests run the trainer with the virtual environment `scripts/setup` makes (`.venv/`), or
//! the Python named by `REPRISE_PYTHON`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use candle_core::{Device, Tensor};
use reprise::model::MusicTransformer;

mod common;
use common::{reprise, sample, theme_song};

/// Max abs logit difference the issue allows in f32.
const TOLERANCE: f32 = 1e-4;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `python -m reprise_trainer ARGS` with the trainer on the path and one thread per process.
fn trainer(args: &[&str]) -> Output {
    let python = std::env::var_os("REPRISE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/setup` (it installs the trainer's Python packages)",
        python.display()
    );
    Command::new(python)
        .args(["-m", "reprise_trainer"])
        .args(args)
        .env("PYTHONPATH", root().join("trainer"))
        .env("OMP_NUM_THREADS", "1")
        .output()
        .expect("run the trainer")
}

fn ok(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

/// Reads a probe: token ids `[B, L]` and logits `[B, L, V]`.
fn read_probe(path: &Path) -> (Tensor, Tensor) {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let ids = st.tensor("ids").unwrap();
    let (b, l) = (ids.shape()[0], ids.shape()[1]);
    let ids: Vec<u32> = ids
        .data()
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as u32)
        .collect();
    let logits = st.tensor("logits").unwrap();
    let shape = logits.shape().to_vec();
    let values: Vec<f32> = logits
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (
        Tensor::from_vec(ids, (b, l), &Device::Cpu).unwrap(),
        Tensor::from_vec(values, shape, &Device::Cpu).unwrap(),
    )
}

/// Writes a probe of `ids` and Reprise's logits for them.
fn write_probe(path: &Path, ids: &Tensor, logits: &Tensor) {
    let id_bytes: Vec<u8> = ids
        .flatten_all()
        .unwrap()
        .to_vec1::<u32>()
        .unwrap()
        .iter()
        .flat_map(|&i| (i as i32).to_le_bytes())
        .collect();
    let values: Vec<u8> = logits
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    use safetensors::tensor::TensorView;
    use safetensors::Dtype;
    let tensors = HashMap::from([
        (
            "ids",
            TensorView::new(Dtype::I32, ids.dims().to_vec(), &id_bytes).unwrap(),
        ),
        (
            "logits",
            TensorView::new(Dtype::F32, logits.dims().to_vec(), &values).unwrap(),
        ),
    ]);
    safetensors::serialize_to_file(tensors, None, path).unwrap();
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn pytorch_weights_give_reprise_the_same_logits() {
    let tmp = tempfile::tempdir().unwrap();
    let configs = [
        r#"{"vocab": "grid", "vocab_size": 132, "d_model": 64, "n_layers": 2, "n_heads": 4, "d_ff": 128, "max_len": 48, "dropout": 0.1}"#,
        r#"{"vocab": "performance", "vocab_size": 391, "d_model": 64, "n_layers": 3, "n_heads": 8, "d_ff": 96, "max_len": 40, "dropout": 0.1}"#,
        r#"{"vocab": "remi", "vocab_size": 530, "d_model": 48, "n_layers": 2, "n_heads": 4, "d_ff": 64, "max_len": 64, "dropout": 0.1, "beat_embedding": true}"#,
    ];
    for (i, cfg) in configs.iter().enumerate() {
        let dir = tmp.path().join(format!("model-{i}"));
        let probe = tmp.path().join(format!("probe-{i}.safetensors"));
        // 60 tokens: longer than the grid model's context in one case, shorter in the others.
        ok(&trainer(&[
            "parity-make",
            "--model-config",
            cfg,
            "--out",
            dir.to_str().unwrap(),
            "--probe",
            probe.to_str().unwrap(),
            "--length",
            "60",
            "--seed",
            &(i + 1).to_string(),
        ]));
        let model = MusicTransformer::load(&dir, &Device::Cpu).unwrap();
        let (ids, theirs) = read_probe(&probe);
        let ours = model.forward(&ids, None, false).unwrap();
        let diff = max_abs_diff(&ours, &theirs);
        eprintln!("{cfg}: PyTorch → Reprise max abs logit diff {diff:.3e}");
        assert!(diff <= TOLERANCE, "{cfg}: max abs diff {diff}");
        assert!(max_abs_diff(&ours, &ours.zeros_like().unwrap()) > 0.1);
    }
}

#[test]
fn shipped_weights_give_pytorch_the_same_logits() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["jsb-chorales", "pop909-piano", "pop909-beat"] {
        let dir = root().join("models").join(name);
        let model = MusicTransformer::load(&dir, &Device::Cpu).unwrap();
        let v = model.config().vocab_size as u32;
        // Two rows of 200 ids spread over the vocabulary, the first from a stream's start.
        let ids: Vec<u32> = (0..400u32)
            .map(|i| {
                if i == 0 {
                    1
                } else {
                    3 + (i * 7919 + i / 3) % (v - 3)
                }
            })
            .collect();
        let ids = Tensor::from_vec(ids, (2, 200), &Device::Cpu).unwrap();
        let logits = model.forward(&ids, None, false).unwrap();
        let probe = tmp.path().join(format!("{name}.safetensors"));
        write_probe(&probe, &ids, &logits);
        let said = ok(&trainer(&[
            "parity-check",
            "--model",
            dir.to_str().unwrap(),
            "--probe",
            probe.to_str().unwrap(),
            "--tolerance",
            &TOLERANCE.to_string(),
        ]));
        eprintln!("Reprise → PyTorch: {}", said.trim());
        assert!(said.contains("within"), "{name}: {said}");
    }
}

/// A small beat-aware piano model, trained for 40 steps.
const TINY: &str = r#"{
  "model": {"vocab": "remi", "vocab_size": 530, "d_model": 32, "n_layers": 2, "n_heads": 4,
            "d_ff": 64, "max_len": 128, "dropout": 0.1, "beat_embedding": true},
  "crop_len": 128, "batch_tokens": 512, "lr": 0.005, "warmup_steps": 4, "total_steps": 40,
  "min_lr_ratio": 0.1, "weight_decay": 0.01, "clip_norm": 1.0, "transpose": 2,
  "checkpoint_every": 10, "valid_every": 10, "valid_tokens": 0, "seed": 4
}"#;

/// The number after `key` in `text` (as in "valid NLL 2.3456").
fn number_after(text: &str, key: &str) -> f64 {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("no '{key}' in {text}"))
        + key.len();
    text[at..]
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number after '{key}' in {text}"))
}

#[test]
fn a_pytorch_trained_model_continues_and_scores_the_same_in_reprise() {
    let tmp = tempfile::tempdir().unwrap();
    let songs = tmp.path().join("songs");
    std::fs::create_dir_all(songs.join("more")).unwrap();
    for i in 0..12u8 {
        let sub = if i % 3 == 0 { "more/" } else { "" };
        let path = songs.join(format!("{sub}song {i}.mid"));
        reprise::midi::write_file(&theme_song(i), &path).unwrap();
    }
    let shards = tmp.path().join("shards");
    let config = tmp.path().join("tiny.json");
    std::fs::write(&config, TINY).unwrap();
    let res = reprise(&[
        "tokenize",
        songs.to_str().unwrap(),
        "--model-config",
        config.to_str().unwrap(),
        "-o",
        shards.to_str().unwrap(),
        "--valid-share",
        "0.25",
    ]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let run = tmp.path().join("run");
    let said = ok(&trainer(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--data",
        shards.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--device",
        "cpu",
    ]));
    let pytorch_nll = number_after(&said, "final: valid NLL");
    let model = run.join("model");
    assert!(model.join("MODEL_CARD.md").is_file());
    let res = reprise(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        shards.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&res.stdout);
    assert!(res.status.success(), "{text}");
    let reprise_nll = number_after(&text, "valid NLL");
    eprintln!("valid NLL: PyTorch {pytorch_nll}, reprise eval {reprise_nll}");
    assert!(
        (reprise_nll - pytorch_nll).abs() <= 0.002,
        "Reprise {reprise_nll} vs PyTorch {pytorch_nll}"
    );
    let more = tmp.path().join("more.mid");
    let res = reprise(&[
        "continue",
        &sample("piano-phrase.mid"),
        "--model",
        model.to_str().unwrap(),
        "--seconds",
        "2",
        "--seed",
        "1",
        "-o",
        more.to_str().unwrap(),
    ]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(!reprise::midi::read_file(&more).unwrap().notes.is_empty());
}
