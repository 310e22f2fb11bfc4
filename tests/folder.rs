//! Training on any folder of MIDI files (issue 21), through the CLI: nested folders, odd names and
//! extensions, a broken file, an empty file and a drums-only file among them; train a tiny model,
//! resume it, and continue a primer with what it exported.

use std::path::Path;

use reprise::midi::{Score, TrackRole};

mod common;
use common::{assert_bad_input, reprise, sample};

/// Eight bars of 4/4 at 120 BPM: a rising line in C over a bass, shifted by `offset` semitones.
fn piece(offset: u8) -> Score {
    let mut s = Score::new(480, 500_000).unwrap();
    let t = s.add_track("Piano", TrackRole::Other);
    for bar in 0..8u64 {
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

fn drums_only() -> Score {
    let mut s = Score::new(480, 500_000).unwrap();
    let t = s.add_track("Kit", TrackRole::Other);
    for i in 0..16 {
        s.push_note_ticks(t, 9, 0, 36, 100, i * 480, i * 480 + 100);
    }
    s
}

fn folder(root: &Path) {
    for (i, rel) in [
        "a.mid",
        "album one/b.MID",
        "album one/disc 2/c.midi",
        "x/y/z/d.kar",
        "e.mid",
        "f.mid",
        "g.mid",
        "h.mid",
    ]
    .iter()
    .enumerate()
    {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        reprise::midi::write_file(&piece(i as u8), &p).unwrap();
    }
    std::fs::write(root.join("broken.mid"), b"MThd\0\0\0\x06garbage").unwrap();
    std::fs::write(root.join("empty.mid"), b"").unwrap();
    reprise::midi::write_file(&drums_only(), &root.join("x/drums.mid")).unwrap();
    std::fs::write(root.join("notes.txt"), b"not music").unwrap();
}

/// `reprise train` on `data` with the config file `config` into `out`, and `extra` flags.
fn train(config: &Path, data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "--config",
        config.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    reprise(&args)
}

const CONFIG: &str = r#"{
  "model": {"vocab": "remi", "vocab_size": 530, "d_model": 32, "n_layers": 2, "n_heads": 4,
            "d_ff": 64, "max_len": 128, "dropout": 0.0, "beat_embedding": true},
  "crop_len": 128, "batch_tokens": 512, "lr": 0.005, "warmup_steps": 2, "total_steps": STEPS,
  "min_lr_ratio": 0.1, "weight_decay": 0.0, "clip_norm": 1.0, "transpose": 2,
  "checkpoint_every": 5, "valid_every": 5, "valid_tokens": 0, "seed": 4
}"#;

#[test]
fn a_folder_of_midi_files_trains_resumes_and_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("my music");
    folder(&data);
    let config = |steps: usize| {
        let p = tmp.path().join(format!("tiny-{steps}.json"));
        std::fs::write(&p, CONFIG.replace("STEPS", &steps.to_string())).unwrap();
        p
    };
    let out = tmp.path().join("run");
    let train = |steps: usize, extra: &[&str]| {
        let mut args = vec!["--valid-share", "0.3", "--verbose"];
        args.extend(extra);
        train(&config(steps), &data, &out, &args)
    };
    let first = train(5, &[]);
    let said = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{said}");
    assert!(
        said.contains("11 MIDI files found, 8 read, 3 skipped"),
        "{said}"
    );
    assert!(
        said.contains("skipped empty.mid") && said.contains("skipped broken.mid"),
        "{said}"
    );
    assert!(
        said.contains("skipped x/drums.mid: no pitched notes"),
        "{said}"
    );
    // Resume to 10 steps from the checkpoint at 5.
    let second = train(10, &["--resume"]);
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{said}");
    assert!(said.contains("stopped at step 10"), "{said}");
    // The exported model continues a primer and is scored on the folder's valid split.
    let model = out.join("model");
    let cont = tmp.path().join("more.mid");
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
        cont.to_str().unwrap(),
    ]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(!reprise::midi::read_file(&cont).unwrap().notes.is_empty());
    let res = reprise(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--valid-share",
        "0.3",
    ]);
    let text = String::from_utf8_lossy(&res.stdout);
    assert!(res.status.success() && text.contains("valid NLL"), "{text}");
}

#[test]
fn a_folder_with_nothing_to_learn_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("nothing");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("sub/empty.mid"), b"").unwrap();
    let c = tmp.path().join("c.json");
    std::fs::write(&c, CONFIG.replace("STEPS", "2")).unwrap();
    let res = train(&c, &data, &tmp.path().join("run"), &[]);
    assert_bad_input(
        &res,
        "nothing",
        "no MIDI file Reprise could learn from (1 found)",
    );
}
