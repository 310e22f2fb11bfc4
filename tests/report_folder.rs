//! The continuation report on any folder of MIDI files, through the CLI: a tiny beat-aware model
//! trained for two steps is measured on the folder's valid split (a broken file and a short one in
//! it are skipped), and a folder without a long enough piece is one clear error.

use std::path::Path;

use reprise::midi::folder::is_valid;
use reprise::midi::{Score, TrackRole};

mod common;
use common::{assert_bad_input, reprise};

/// The valid share every command here uses.
const SHARE: &str = "0.5";

/// `bars` bars of 4/4 at 120 BPM (2 s a bar): a broken chord over a bass, shifted by `offset`.
fn piece(bars: u64, offset: u8) -> Score {
    let mut s = Score::new(480, 500_000).unwrap();
    let t = s.add_track("Piano", TrackRole::Other);
    for bar in 0..bars {
        for beat in 0..4u64 {
            let start = bar * 1920 + beat * 480;
            let pitch = 60 + offset + [0, 4, 7, 12][beat as usize];
            s.push_note_ticks(t, 0, 0, pitch, 90, start, start + 400);
        }
        s.push_note_ticks(t, 0, 0, 48 + offset, 70, bar * 1920, bar * 1920 + 1800);
    }
    s.sort();
    s
}

/// The first `n` names `{stem}-{i}.mid` whose split (valid or not) is `valid`.
fn names(stem: &str, valid: bool, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{stem}-{i}.mid"))
        .filter(|name| is_valid(name, 0.5) == valid)
        .take(n)
        .collect()
}

/// Writes `score` to `root/name`.
fn write(root: &Path, name: &str, score: &Score) {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    reprise::midi::write_file(score, &path).unwrap();
}

const CONFIG: &str = r#"{
  "model": {"vocab": "remi", "vocab_size": 530, "d_model": 32, "n_layers": 2, "n_heads": 4,
            "d_ff": 64, "max_len": 128, "dropout": 0.0, "beat_embedding": true},
  "crop_len": 128, "batch_tokens": 512, "lr": 0.005, "warmup_steps": 1, "total_steps": 2,
  "min_lr_ratio": 0.1, "weight_decay": 0.0, "clip_norm": 1.0, "transpose": 0,
  "checkpoint_every": 2, "valid_every": 2, "valid_tokens": 0, "seed": 4
}"#;

/// `reprise eval --continuation` of `model` on `data` with short excerpts (4 s primer, 4 s
/// compared, 2 s loop).
fn report(model: &Path, data: &Path) -> std::process::Output {
    reprise(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--continuation",
        "--valid-share",
        SHARE,
        "--primer-seconds",
        "4",
        "--seconds",
        "4",
        "--loop-seconds",
        "2",
        "--seed",
        "1",
    ])
}

#[test]
fn the_continuation_report_measures_a_midi_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("my music");
    // Three long valid pieces (one in a sub-folder), two training ones, and in the valid split a
    // broken file and one too short for 8 s after its first note.
    let mut valid = names("song", true, 2);
    valid.extend(names("sub/song", true, 1));
    for (i, name) in valid.iter().enumerate() {
        write(&data, name, &piece(8, i as u8));
    }
    for (i, name) in names("train", false, 2).iter().enumerate() {
        write(&data, name, &piece(8, 5 + i as u8));
    }
    let short = &names("short", true, 1)[0];
    write(&data, short, &piece(3, 0));
    let broken = &names("broken", true, 1)[0];
    std::fs::write(data.join(broken), b"MThd\0\0\0\x06garbage").unwrap();

    let config = tmp.path().join("tiny.json");
    std::fs::write(&config, CONFIG).unwrap();
    let run = tmp.path().join("run");
    let trained = reprise(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--valid-share",
        SHARE,
        "--quiet",
    ]);
    let said = String::from_utf8_lossy(&trained.stderr);
    assert!(trained.status.success(), "{said}");

    let model = run.join("model");
    let res = report(&model, &data);
    let (out, err) = (
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr),
    );
    assert!(res.status.success(), "{err}");
    assert!(out.contains("| 3 songs |"), "{out}");
    assert!(out.contains("continuation report, seed 1"), "{out}");
    assert_eq!(err.lines().filter(|l| l.starts_with("song ")).count(), 3);
    for name in &valid {
        assert!(err.contains(&format!("song {name}: ")), "{err}");
    }
    assert!(
        !err.contains(broken.as_str()) && !err.contains(short.as_str()),
        "{err}"
    );

    // The same twice: each piece's seed is the seed plus its place in the valid split.
    let again = report(&model, &data);
    assert_eq!(again.stderr, res.stderr);

    // Only the short piece left in the valid split: one line, exit 2.
    let too_short = tmp.path().join("too short");
    write(&too_short, short, &piece(3, 0));
    assert_bad_input(
        &report(&model, &too_short),
        "too short",
        "has no validation song long enough to measure",
    );
}
