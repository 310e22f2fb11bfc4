//! The beat-aware piano model end to end on a tiny POP909-shaped corpus made here (songs with
//! `beat_midi.txt`): `reprise train` learns it, `eval` reports NLL per token and per bar,
//! `continue --report` lands on the primer's bar grid in its key, and `eval --continuation` prints
//! the report's table against the real music and the loop baseline.

use std::path::Path;

use reprise::midi::{Score, TrackRole};
use reprise::model::{TransformerConfig, VocabKind};
use reprise::train::{train, ModelConfig, TrainConfig, TrainOptions};

mod common;
use common::{reprise as run, sample};

/// 40 bars of 4/4 at 120 BPM (80 s) in C major with a one-bar pickup rest: a melody of
/// quarters and a bass of half notes over C F G C.
fn song(offset: u8) -> Score {
    let mut s = Score::new(480, 500_000).unwrap();
    let m = s.add_track("MELODY", TrackRole::Melody);
    let p = s.add_track("PIANO", TrackRole::Accompaniment);
    let roots = [0u8, 5, 7, 0];
    for bar in 1..41u64 {
        let root = roots[bar as usize % 4] + offset;
        let t = bar * 1920;
        for (i, step) in [0u8, 4, 7, 12].iter().enumerate() {
            let start = t + i as u64 * 480;
            s.push_note_ticks(m, 0, 0, 72 + root + step, 90, start, start + 400);
        }
        for half in 0..2 {
            let start = t + half * 960;
            s.push_note_ticks(p, 1, 0, 48 + root, 70, start, start + 900);
        }
    }
    s.sort();
    s
}

/// Songs 001, 002 (train) and 801 (valid), each with its beat annotation (a beat every 0.5 s, a
/// downbeat every four).
fn corpus(dir: &Path) {
    for (n, off) in [(1u32, 0u8), (2, 0), (801, 0)] {
        let d = dir.join(format!("{n:03}"));
        std::fs::create_dir_all(&d).unwrap();
        reprise::midi::write_file(&song(off), &d.join(format!("{n:03}.mid"))).unwrap();
        let beats: String = (0..164)
            .map(|b| {
                let down = if b % 4 == 0 { 1.0 } else { 0.0 };
                format!("{} 1.0 {down}\n", b as f64 * 0.5)
            })
            .collect();
        std::fs::write(d.join("beat_midi.txt"), beats).unwrap();
    }
}

fn tiny_config() -> TrainConfig {
    TrainConfig {
        model: ModelConfig::Music(TransformerConfig {
            vocab: VocabKind::Remi,
            vocab_size: VocabKind::Remi.size(),
            d_model: 32,
            n_layers: 2,
            n_heads: 4,
            d_ff: 64,
            max_len: 128,
            dropout: 0.0,
            beat_embedding: false,
        }),
        crop_len: 128,
        batch_tokens: 512,
        lr: 0.005,
        warmup_steps: 2,
        total_steps: 60,
        min_lr_ratio: 0.1,
        weight_decay: 0.0,
        clip_norm: 1.0,
        transpose: 0,
        checkpoint_every: 60,
        seed: 3,
        stretch: 0.0,
        valid_every: 60,
        valid_tokens: 0,
        notes_per_instrument: 0,
        synth_catalogue: false,
        synth_banks: Vec::new(),
        region_weight: 1.0,
        patience: 0,
        infill: 0.0,
    }
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_beat_aware_model_trains_continues_on_the_grid_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("pop");
    corpus(&data);
    let out = tmp.path().join("run");
    let opts = TrainOptions {
        config: tiny_config(),
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
    train(&opts, &mut |s| {
        if s.loss.is_finite() {
            losses.push(s.loss)
        }
    })
    .unwrap();
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    assert!(last < first * 0.3, "loss {first} → {last}");
    let model = out.join("model");
    let model = model.to_str().unwrap();

    // NLL per token, per annotated bar and per second of music.
    let text = stdout(&run(&[
        "eval",
        "--model",
        model,
        "--data",
        data.to_str().unwrap(),
    ]));
    assert!(
        text.contains("nats/token") && text.contains("nats/bar over 41 annotated bars"),
        "{text}"
    );

    // A user's file: the continuation starts after the primer's last note, on its 16th grid,
    // holds no key 8 s, and the report line says where it starts and its key.
    let new = tmp.path().join("more.mid");
    let text = stdout(&run(&[
        "continue",
        &sample("piano-phrase.mid"),
        "--model",
        model,
        "--seconds",
        "12",
        "--seed",
        "2",
        "--report",
        "-q",
        "-o",
        new.to_str().unwrap(),
    ]));
    assert!(text.starts_with("continuation: "), "{text}");
    assert!(text.contains("onsets 0.00 16ths off the grid"), "{text}");
    assert!(text.contains("notes ≥ 8 s: 0"), "{text}");
    let primer = reprise::midi::read_file(Path::new(&sample("piano-phrase.mid"))).unwrap();
    let written = reprise::midi::read_file(&new).unwrap();
    let track = written.tracks.len() - 1;
    let end = primer.notes.iter().map(|n| n.end_tick).max().unwrap();
    let sixteenth = primer.ppq() as u64 / 4;
    let added: Vec<_> = written.track_notes(track).collect();
    assert!(!added.is_empty());
    for n in added {
        assert!(
            n.start_tick >= end && n.start_tick % sixteenth == 0,
            "{n:?}"
        );
        assert!(n.duration() < 8.0);
    }

    // The continuation report on the validation song.
    let text = stdout(&run(&[
        "eval",
        "--model",
        model,
        "--data",
        data.to_str().unwrap(),
        "--continuation",
        "--seed",
        "4",
    ]));
    assert!(
        text.contains("| 1 songs | real music | Reprise | loop the primer"),
        "{text}"
    );
    let row = |name: &str| -> Vec<f64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no row {name} in {text}"));
        line.split('|')
            .skip(2)
            .take(3)
            .map(|c| c.trim().parse().unwrap())
            .collect()
    };
    // The song itself sits on its grid and in its key; looping a 2-bar-periodic primer by 10 s
    // (5 bars) keeps it in key.
    assert_eq!(row("onset offset from the beat grid (16ths)")[0], 0.0);
    assert_eq!(row("same key as the primer")[0], 1.0);
    assert_eq!(row("same key as the primer")[2], 1.0);
    assert_eq!(row("onset offset from the beat grid (16ths)")[1], 0.0);
    assert_eq!(row("notes ≥ 8 s (share of notes)")[1], 0.0);
    assert_eq!(text.lines().filter(|l| l.starts_with("| ")).count(), 1 + 13);
    assert!(
        text.contains("Reprise is closer to the real music than the loop on "),
        "{text}"
    );

    // The chorale model has no continuation report.
    let out = run(&[
        "eval",
        "--model",
        "jsb-chorales",
        "--data",
        data.to_str().unwrap(),
        "--continuation",
    ]);
    assert_eq!(out.status.code(), Some(2));
}
