//! The Theme Transformer's training end to end on a tiny POP909-shaped corpus made here: themes are
//! found, the loss falls, and the exported model loads.

use std::path::Path;

mod common;
use common::theme_song;

use reprise::model::theme_transformer::{ThemeConfig, ThemeTask, ThemeTransformer};
use reprise::train::{train, ModelConfig, TrainConfig, TrainOptions};

fn corpus(dir: &Path) {
    for (n, off) in [(1u32, 0u8), (2, 2), (801, 1)] {
        let d = dir.join(format!("{n:03}"));
        std::fs::create_dir_all(&d).unwrap();
        reprise::midi::write_file(&theme_song(off), &d.join(format!("{n:03}.mid"))).unwrap();
    }
}

#[test]
fn theme_model_trains_on_songs_with_found_themes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("pop");
    corpus(&data);
    let model = ThemeConfig {
        architecture: ThemeConfig::ARCHITECTURE.into(),
        vocab_size: reprise::tokens::remi::SIZE as usize,
        d_model: 32,
        n_heads: 4,
        d_ff: 64,
        enc_layers: 1,
        dec_layers: 2,
        max_len: 64,
        max_theme: 48,
        dropout: 0.0,
        task: ThemeTask::Theme,
        gated: true,
        time_aligned: false,
        cross_time_bias: false,
        aligned_notes: false,
        chords: false,
    };
    let config = TrainConfig {
        model: ModelConfig::Theme(model),
        crop_len: 64,
        batch_tokens: 260,
        lr: 0.003,
        warmup_steps: 2,
        total_steps: 60,
        min_lr_ratio: 0.1,
        weight_decay: 0.0,
        clip_norm: 1.0,
        transpose: 0,
        checkpoint_every: 20,
        seed: 3,
        stretch: 0.0,
        valid_every: 0,
        valid_tokens: 0,
        notes_per_instrument: 0,
        synth_catalogue: false,
        synth_banks: Vec::new(),
        region_weight: 1.0,
        patience: 0,
        infill: 0.0,
    };
    let out = tmp.path().join("run");
    let opts = TrainOptions {
        config,
        data: data.clone(),
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
    let state = train(&opts, &mut |s| {
        if s.loss.is_finite() {
            losses.push(s.loss)
        }
    })
    .unwrap();
    assert_eq!(state.step, 60);
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("data.json")).unwrap()).unwrap();
    assert_eq!(stats["train"]["pieces"], 2, "{stats}");
    assert_eq!(stats["valid"]["pieces"], 1, "{stats}");
    let first: f64 = losses[..3].iter().sum::<f64>() / 3.0;
    let last: f64 = losses[losses.len() - 3..].iter().sum::<f64>() / 3.0;
    assert!(last < first * 0.5, "loss {first} → {last}");
    let m = ThemeTransformer::load(&out.join("model"), &candle_core::Device::Cpu).unwrap();
    assert_eq!(m.config().dec_layers, 2);
    // Compose from a theme, conditioned and as the prompt-only baseline: well-formed, bar-limited.
    use reprise::generate::theme::{compose, theme_melody, ComposeRequest};
    let theme = reprise::theme::find_theme(&theme_song(0), None, &Default::default()).unwrap();
    let (melody, note) = theme_melody(&theme.to_score(&theme_song(0)).unwrap()).unwrap();
    assert!(note.is_none());
    for conditioned in [true, false] {
        let req = ComposeRequest {
            bars: 6,
            bpm: 100.0,
            sampler: reprise::generate::SamplerConfig {
                seed: 4,
                ..Default::default()
            },
            conditioned,
            cancel: None,
            theme_every: conditioned.then_some(4),
            guidance: if conditioned { 1.5 } else { 0.0 },
        };
        let mut tokens = 0;
        let piece = compose(&m, &melody, &req, &mut |_| tokens += 1).unwrap();
        assert!(tokens > 0);
        assert!(!piece.notes.is_empty());
        let bars = piece.end_tick() as f64 / 1920.0;
        assert!(bars <= 6.0 + 4.0, "{bars} bars"); // a note may ring past the last bar line
        assert!((piece.tempo_map.bpm(0) - 101.0).abs() < 1.5);
    }
    // The same from the command line, then the report on the piece.
    let theme_mid = tmp.path().join("theme.mid");
    reprise::midi::write_file(&melody, &theme_mid).unwrap();
    let piece = tmp.path().join("piece.mid");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
            .args(args)
            .output()
            .unwrap()
    };
    let model_dir = out.join("model");
    let res = run(&[
        "theme",
        "compose",
        theme_mid.to_str().unwrap(),
        "--model",
        model_dir.to_str().unwrap(),
        "--bars",
        "4",
        "-o",
        piece.to_str().unwrap(),
    ]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let res = run(&[
        "theme",
        "report",
        piece.to_str().unwrap(),
        theme_mid.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(stdout.contains("theme recurs"), "{stdout}");
    // The report of the song against its own theme finds every occurrence.
    let song_mid = tmp.path().join("song.mid");
    reprise::midi::write_file(&theme_song(0), &song_mid).unwrap();
    let res = run(&[
        "theme",
        "report",
        song_mid.to_str().unwrap(),
        theme_mid.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(
        stdout.contains("theme recurs 3 times (bars 1, 5, 9); 1 after bar 8 (bars 9)"),
        "{stdout}"
    );
    // The recurrence table on the corpus's validation song.
    let res = run(&[
        "theme",
        "evaluate",
        "--data",
        data.to_str().unwrap(),
        "--model",
        model_dir.to_str().unwrap(),
        "--bars",
        "12",
    ]);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let row = stdout.lines().find(|l| l.starts_with("801")).unwrap();
    assert_eq!(row.split_whitespace().nth(1), Some("1–2"), "{stdout}");
    assert!(
        stdout.contains("1 themes, 12 bars each, theme regions chosen by the model"),
        "{stdout}"
    );
}
