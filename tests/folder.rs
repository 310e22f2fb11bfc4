//! Training on any folder of MIDI files (issue 21), through the CLI: nested folders, odd names and
//! extensions, a broken file, an empty file and a drums-only file among them; train a tiny model,
//! resume it, and continue a primer with what it exported.

use std::path::Path;
use std::process::{Command, Output};

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
            "d_ff": 64, "max_len": 128, "dropout": 0.1, "beat_embedding": true},
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
    assert!(said.contains("finished at step 10"), "{said}");
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

/// `reprise` with `args`, its model folders and home inside `home` (for `--name`).
fn reprise_at(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args(args)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env_remove("REPRISE_MODELS")
        .output()
        .expect("run reprise")
}

/// The training losses of a run's log.csv, in order.
fn losses(run: &Path) -> Vec<String> {
    let log = std::fs::read_to_string(run.join("log.csv")).unwrap();
    log.lines()
        .skip(1)
        .filter_map(|l| {
            l.split(',')
                .nth(3)
                .filter(|s| !s.is_empty())
                .map(String::from)
        })
        .collect()
}

#[test]
fn fine_tuning_measures_before_and_after_writes_a_card_and_installs_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("songs");
    folder(&data);
    let c = tmp.path().join("c.json");
    std::fs::write(&c, CONFIG.replace("STEPS", "5")).unwrap();
    let base = tmp.path().join("base");
    let res = train(&c, &data, &base, &["--quiet", "--valid-share", "0.3"]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    // No --config: the default fine-tune schedule, paused by the time limit after a step or two.
    let ft = tmp.path().join("ft");
    let base_model = base.join("model");
    let args = [
        "train",
        "--init",
        base_model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        ft.to_str().unwrap(),
        "--name",
        "mine",
        "--max-minutes",
        "0.001",
        "--valid-share",
        "0.3",
    ];
    let res = reprise_at(tmp.path(), &args);
    let said = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{said}");
    assert!(
        said.contains("step 0: valid NLL") && said.contains("(before: "),
        "{said}"
    );
    assert!(
        said.contains("paused; go on with: reprise train --resume"),
        "{said}"
    );
    let card = std::fs::read_to_string(ft.join("model/MODEL_CARD.md")).unwrap();
    for part in [
        "MIDI files found",
        "fine-tuned from",
        "validation NLL before",
        "8 pieces",
        "--name mine",
        "early stopping after 4",
    ] {
        assert!(
            card.contains(part) || card.contains(&part.replace("8 pieces", "pieces")),
            "{part}: {card}"
        );
    }
    // Installed: listed, and usable by name.
    let listed = reprise_at(tmp.path(), &["models"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("mine"));
    let more = tmp.path().join("more.mid");
    let res = reprise_at(
        tmp.path(),
        &[
            "continue",
            &sample("piano-phrase.mid"),
            "--model",
            "mine",
            "--seconds",
            "1",
            "--seed",
            "1",
            "-o",
            more.to_str().unwrap(),
        ],
    );
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    // The paused run resumes (and may reinstall under its own name); another run may not take it.
    let res = reprise_at(
        tmp.path(),
        &[
            "train",
            "--resume",
            "--data",
            data.to_str().unwrap(),
            "--out",
            ft.to_str().unwrap(),
            "--name",
            "mine",
            "--max-minutes",
            "0.001",
        ],
    );
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let other = tmp.path().join("other");
    let res = reprise_at(
        tmp.path(),
        &[
            "train",
            "--init",
            base_model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--out",
            other.to_str().unwrap(),
            "--name",
            "mine",
        ],
    );
    assert_bad_input(&res, "mine", "choose another name");
    // A model of another vocabulary cannot start the run: one line.
    let perf = tmp.path().join("perf.json");
    std::fs::write(
        &perf,
        CONFIG
            .replace("STEPS", "2")
            .replace(
                "\"remi\", \"vocab_size\": 530",
                "\"performance\", \"vocab_size\": 391",
            )
            .replace(", \"beat_embedding\": true", ""),
    )
    .unwrap();
    let res = train(
        &perf,
        &data,
        &tmp.path().join("p"),
        &["--init", base_model.to_str().unwrap()],
    );
    assert_bad_input(
        &res,
        "model",
        "reads the remi vocabulary, the training config the performance",
    );
}

#[test]
fn ctrl_c_leaves_a_checkpoint_that_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("songs");
    folder(&data);
    let c = tmp.path().join("c.json");
    std::fs::write(&c, CONFIG.replace("STEPS", "100000")).unwrap();
    let out = tmp.path().join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args([
            "train",
            "--config",
            c.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ])
        .args(["--out", out.to_str().unwrap(), "--valid-share", "0.3"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while losses_or_none(&out).is_none_or(|l| l.len() < 3) {
        assert!(start.elapsed().as_secs() < 120, "training never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let done = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{said}");
    assert!(
        said.contains("paused; go on with: reprise train --resume"),
        "{said}"
    );
    let at = losses(&out).len();
    assert!(at < 100000, "{at}");
    std::fs::write(&c, CONFIG.replace("STEPS", &(at + 2).to_string())).unwrap();
    let res = train(&c, &data, &out, &["--resume"]);
    let said = String::from_utf8_lossy(&res.stderr);
    assert!(
        res.status.success() && said.contains(&format!("finished at step {}", at + 2)),
        "{said}"
    );
}

fn losses_or_none(run: &Path) -> Option<Vec<String>> {
    run.join("log.csv").is_file().then(|| losses(run))
}

#[test]
fn shards_train_exactly_as_the_folder_and_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("songs");
    folder(&data);
    let c = tmp.path().join("c.json");
    std::fs::write(&c, CONFIG.replace("STEPS", "12")).unwrap();
    let shards = tmp.path().join("shards");
    let res = reprise(&[
        "tokenize",
        data.to_str().unwrap(),
        "--model-config",
        c.to_str().unwrap(),
        "-o",
        shards.to_str().unwrap(),
        "--valid-share",
        "0.3",
    ]);
    let said = String::from_utf8_lossy(&res.stdout);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(
        said.contains("train: ") && said.contains("valid: "),
        "{said}"
    );
    let manifest = std::fs::read_to_string(shards.join("manifest.json")).unwrap();
    assert!(manifest.contains("album one/disc 2/c.midi") && manifest.contains("fnv1a64"));
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let share = ["--valid-share", "0.3", "--quiet"];
    assert!(train(&c, &data, &a, &share).status.success());
    assert!(train(&c, &shards, &b, &["--quiet"]).status.success());
    assert_eq!(losses(&a), losses(&b));
    assert_eq!(losses(&a).len(), 12);
    // Shards are checked: a vocabulary the model does not read, then a truncated shard.
    let perf = tmp.path().join("perf.json");
    std::fs::write(
        &perf,
        CONFIG
            .replace("STEPS", "2")
            .replace(
                "\"remi\", \"vocab_size\": 530",
                "\"performance\", \"vocab_size\": 391",
            )
            .replace(", \"beat_embedding\": true", ""),
    )
    .unwrap();
    let res = train(&perf, &shards, &tmp.path().join("p"), &[]);
    assert_bad_input(&res, "manifest.json", "holds remi tokens");
    let shard = shards.join("train-000.safetensors");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() / 2]).unwrap();
    let res = train(&c, &shards, &tmp.path().join("t"), &[]);
    assert_bad_input(&res, "train-000.safetensors", "truncated");
    // The shard folder is never overwritten.
    let res = reprise(&[
        "tokenize",
        data.to_str().unwrap(),
        "--model-config",
        c.to_str().unwrap(),
        "-o",
        shards.to_str().unwrap(),
    ]);
    assert_bad_input(&res, "shards", "already exists");
}
