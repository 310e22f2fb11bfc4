//! Accompaniment end to end on a tiny POP909-shaped corpus made here: the model trains and its loss
//! falls; `reprise accompany` writes melody + piano on the melody's tempo map (one sample or
//! several); bad melodies fail cleanly; `--report` prints the three-way table; the TUI's `a` key
//! accompanies the loaded file.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use reprise::midi::{Score, TrackRole};
use reprise::model::chord_tagger::ChordTaggerConfig;
use reprise::model::theme_transformer::{ThemeConfig, ThemeTask, ThemeTransformer};
use reprise::train::{train, ModelConfig, TrainConfig, TrainOptions};

mod common;
use common::{assert_bad_input, reprise as run};

/// Roots of the song's chords, one per bar: C F G C.
const ROOTS: [u8; 4] = [0, 5, 7, 0];

/// Eight bars at 120 BPM: a melody of chord tones, and a piano part of root-position triads.
fn song(offset: u8) -> Score {
    let mut s = Score::new(480, 500_000).unwrap();
    let m = s.add_track("MELODY", TrackRole::Melody);
    let p = s.add_track("PIANO", TrackRole::Accompaniment);
    for bar in 0..8u64 {
        let root = ROOTS[bar as usize % 4] + offset;
        let t = bar * 1920;
        for (i, step) in [0u8, 4, 7, 4].iter().enumerate() {
            let start = t + i as u64 * 480;
            s.push_note_ticks(m, 0, 0, 72 + root + step, 90, start, start + 480);
        }
        for step in [0u8, 4, 7] {
            s.push_note_ticks(p, 1, 0, 48 + root + step, 70, t, t + 960);
            s.push_note_ticks(p, 1, 0, 48 + root + step, 60, t + 960, t + 1920);
        }
    }
    s.sort();
    s
}

fn corpus(dir: &Path) {
    for (n, off) in [(1u32, 0u8), (2, 2), (801, 0)] {
        let d = dir.join(format!("{n:03}"));
        std::fs::create_dir_all(&d).unwrap();
        reprise::midi::write_file(&song(off), &d.join(format!("{n:03}.mid"))).unwrap();
        let names = ["C", "F", "G", "C"];
        let chords: String = (0..8)
            .map(|b| format!("{}.0\t{}.0\t{}:maj\n", b * 2, b * 2 + 2, names[b % 4]))
            .collect();
        std::fs::write(d.join("chord_midi.txt"), chords).unwrap();
    }
}

/// The tiny model; `chords`: it also reads the chords (and ships a harmonizer).
fn tiny_config(chords: bool) -> TrainConfig {
    let model = ThemeConfig {
        architecture: ThemeConfig::ARCHITECTURE.into(),
        vocab_size: reprise::tokens::remi::SIZE as usize,
        d_model: 32,
        n_heads: 4,
        d_ff: 64,
        enc_layers: 1,
        dec_layers: 2,
        max_len: 96,
        max_theme: 64,
        dropout: 0.0,
        task: ThemeTask::Accompany,
        gated: false,
        time_aligned: false,
        cross_time_bias: true,
        aligned_notes: true,
        chords,
    };
    TrainConfig {
        model: ModelConfig::Theme(model),
        crop_len: 96,
        batch_tokens: 400,
        lr: 0.003,
        warmup_steps: 2,
        total_steps: 80,
        min_lr_ratio: 0.1,
        weight_decay: 0.0,
        clip_norm: 1.0,
        transpose: 0,
        checkpoint_every: 40,
        seed: 3,
        stretch: 0.0,
        valid_every: 80,
        valid_tokens: 0,
        notes_per_instrument: 0,
        synth_catalogue: false,
        synth_banks: Vec::new(),
        region_weight: 1.0,
        patience: 0,
        infill: 0.0,
    }
}

/// The tiny harmonizer: a chord tagger of two layers.
fn tiny_tagger_config() -> TrainConfig {
    let model = ChordTaggerConfig {
        architecture: ChordTaggerConfig::ARCHITECTURE.into(),
        n_features: reprise::accompany::harmony::N_FEATURES,
        n_classes: reprise::accompany::harmony::N_CLASSES,
        d_model: 16,
        n_heads: 2,
        d_ff: 32,
        layers: 2,
        max_len: 32,
        dropout: 0.0,
    };
    TrainConfig {
        model: ModelConfig::Tagger(model),
        crop_len: 32,
        batch_tokens: 64,
        total_steps: 30,
        transpose: 6,
        ..tiny_config(false)
    }
}

/// A melody that did not come from POP909: one track, 90 BPM, 3 bars and a half.
fn user_melody(path: &Path) -> Score {
    let mut s = Score::new(96, 666_667).unwrap();
    let t = s.add_track("Flute", TrackRole::Other);
    for (i, pitch) in [67u8, 69, 71, 72, 74, 72, 71, 69, 67, 65, 64, 62, 60, 64]
        .iter()
        .enumerate()
    {
        let start = i as u64 * 96;
        s.push_note_ticks(t, 0, 73, *pitch, 80, start, start + 90);
    }
    s.sort();
    reprise::midi::write_file(&s, path).unwrap();
    s
}

/// `reprise accompany MELODY --model MODEL EXTRA… -o OUT`.
fn accompany(melody: &Path, model: &str, extra: &[&str], out: &Path) -> std::process::Output {
    let mut a = vec!["accompany", melody.to_str().unwrap(), "--model", model];
    a.extend(extra);
    a.extend(["-o", out.to_str().unwrap()]);
    run(&a)
}

#[test]
fn accompaniment_trains_writes_reports_and_runs_in_the_tui() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("pop");
    corpus(&data);
    let out = tmp.path().join("run");
    let opts = TrainOptions {
        config: tiny_config(false),
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
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("data.json")).unwrap()).unwrap();
    // A bar of piano is 21 tokens, so a 96-token window holds four bars: training windows start
    // every four bars (two per song), validation windows do not overlap (two for the one song).
    assert_eq!(stats["train"]["pieces"], 4, "{stats}");
    assert_eq!(stats["valid"]["pieces"], 2, "{stats}");
    let first: f64 = losses[..3].iter().sum::<f64>() / 3.0;
    let last: f64 = losses[losses.len() - 3..].iter().sum::<f64>() / 3.0;
    assert!(last < first * 0.5, "loss {first} → {last}");
    let model_dir = out.join("model");
    let m = ThemeTransformer::load(&model_dir, &candle_core::Device::Cpu).unwrap();
    assert_eq!(m.config().task, ThemeTask::Accompany);
    let model = model_dir.to_str().unwrap();

    // Fine-tuning starts from the exported weights: its first loss is the trained model's, not a
    // random one's.
    let mut config = tiny_config(false);
    config.total_steps = 1;
    let tuned = TrainOptions {
        config,
        data: data.clone(),
        out: tmp.path().join("tuned"),
        resume: false,
        max_minutes: None,
        init: Some(model_dir.clone()),
        valid_share: None,
        cancel: None,
        command: String::new(),
        on_loading: None,
    };
    let mut first_tuned = f64::NAN;
    train(&tuned, &mut |s| {
        if s.loss.is_finite() {
            first_tuned = s.loss
        }
    })
    .unwrap();
    assert!(
        first_tuned < first * 0.5,
        "fine-tuning starts at {first_tuned}, fresh at {first}"
    );

    // A melody from outside POP909, from the command line: both tracks, the tempo map kept.
    let melody = tmp.path().join("flute.mid");
    let original = user_melody(&melody);
    let accompanied = tmp.path().join("accompanied.mid");
    let res = accompany(&melody, model, &["--seed", "5"], &accompanied);
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{stderr}");
    assert!(
        stderr.contains("melody: track 0 (Flute) (the only track)"),
        "{stderr}"
    );
    let score = reprise::midi::read_file(&accompanied).unwrap();
    let roles: Vec<TrackRole> = score.tracks.iter().map(|t| t.role).collect();
    assert!(roles.contains(&TrackRole::Melody) && roles.contains(&TrackRole::Accompaniment));
    let melody_track = roles.iter().position(|&r| r == TrackRole::Melody).unwrap();
    let piano_track = roles
        .iter()
        .position(|&r| r == TrackRole::Accompaniment)
        .unwrap();
    let pitches = |s: &Score, t: usize| s.track_notes(t).map(|n| n.pitch).collect::<Vec<_>>();
    assert_eq!(pitches(&score, melody_track), pitches(&original, 0));
    // The melody keeps its instrument (flute, program 73).
    assert!(score.track_notes(melody_track).all(|n| n.program == 73));
    assert!((score.tempo_map.bpm(0) - 90.0).abs() < 0.1);
    let piano: Vec<_> = score.track_notes(piano_track).collect();
    assert!(!piano.is_empty());
    // Four bars of 4/4 at 96 PPQ: no piano note starts after the melody's last bar.
    assert!(piano.iter().all(|n| n.start_tick < 4 * 384), "{piano:?}");
    // The same seed gives the same file; --samples writes NAME-1 and NAME-2.
    let again = tmp.path().join("again.mid");
    let args = |o: &Path| {
        vec![
            "accompany".to_string(),
            melody.to_string_lossy().into_owned(),
            "--model".into(),
            model.into(),
            "--seed".into(),
            "5".into(),
            "-q".into(),
            "-o".into(),
            o.to_string_lossy().into_owned(),
        ]
    };
    let run_owned = |v: &[String]| run(&v.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(run_owned(&args(&again)).status.success());
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&accompanied).unwrap()
    );
    let mut multi = args(&tmp.path().join("multi.mid"));
    multi.extend(["--samples".into(), "2".into()]);
    assert!(run_owned(&multi).status.success());
    assert!(tmp.path().join("multi-1.mid").is_file() && tmp.path().join("multi-2.mid").is_file());

    // Chords in one track: the top voice, said so.
    let chords = tmp.path().join("chords.mid");
    let mut s = Score::new(480, 500_000).unwrap();
    let t = s.add_track("Keys", TrackRole::Other);
    for (i, root) in [60u8, 65, 67, 60].iter().enumerate() {
        for step in [0u8, 4, 7] {
            let start = i as u64 * 1920;
            s.push_note_ticks(t, 0, 0, root + step, 80, start, start + 1920);
        }
    }
    s.sort();
    reprise::midi::write_file(&s, &chords).unwrap();
    let res = run(&[
        "accompany",
        chords.to_str().unwrap(),
        "--model",
        model,
        "-o",
        tmp.path().join("c.mid").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{stderr}");
    assert!(stderr.contains("top voice"), "{stderr}");

    // Drums only, no notes, a missing track: exit 2, one line, nothing written.
    let drums = tmp.path().join("drums.mid");
    let mut d = Score::new(480, 500_000).unwrap();
    let dt = d.add_track("Drums", TrackRole::Other);
    d.push_note_ticks(dt, 9, 0, 36, 100, 0, 240);
    reprise::midi::write_file(&d, &drums).unwrap();
    let empty = tmp.path().join("empty.mid");
    let mut e = Score::new(480, 500_000).unwrap();
    e.add_track("Nothing", TrackRole::Other);
    reprise::midi::write_file(&e, &empty).unwrap();
    let never = tmp.path().join("never.mid");
    for (file, extra, problem) in [
        (&drums, None, "no pitched notes"),
        (&empty, None, "no pitched notes"),
        (&melody, Some("3"), "--track 3"),
    ] {
        let mut a = vec![
            "accompany",
            file.to_str().unwrap(),
            "--model",
            model,
            "-o",
            never.to_str().unwrap(),
        ];
        if let Some(t) = extra {
            a.extend(["--track", t]);
        }
        let res = run(&a);
        let name = file.file_name().unwrap().to_str().unwrap();
        assert_bad_input(&res, name, problem);
        assert!(!never.exists());
    }

    // The report on the corpus's validation song.
    let res = run(&[
        "accompany",
        "--report",
        "--data",
        data.to_str().unwrap(),
        "--model",
        model,
        "--bars",
        "8",
        "--seed",
        "1",
    ]);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(stdout.contains("1 songs, 8 bars"), "{stdout}");
    // The original piano plays only chord tones, never a semitone from the melody, on every bar
    // start; the fixture's melody is all chord tones too.
    let row = |name: &str| -> Vec<String> {
        let line = stdout.lines().find(|l| l.starts_with(name)).unwrap();
        line[name.len()..]
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        row("(a) original PIANO"),
        ["48", "100.0", "%", "0.0", "%", "100.0", "%", "(8", "of", "8)"],
        "{stdout}"
    );
    assert_eq!(row("melody")[..3], ["32", "100.0", "%"], "{stdout}");
    assert!(stdout.contains("(b) Reprise") && stdout.contains("(c) random notes in key"));

    // The TUI's `a` key on the loaded melody.
    use reprise::tui::app::{App, Effect, Key};
    use reprise::tui::types::{JobMsg, JobResult};
    use reprise::tui::worker::run_job;
    let entry = reprise::ops::models::inspect(&model_dir).unwrap();
    let mut app = App::new(vec![entry]);
    app.load(&melody);
    let Some(Effect::Start(spec)) = app.key(Key::Char('a')) else {
        panic!("the a key should start a job: {}", app.status);
    };
    let mut messages = Vec::new();
    run_job(*spec, Arc::new(AtomicBool::new(false)), &mut |m| {
        messages.push(m)
    });
    assert!(matches!(
        messages.last(),
        Some(JobMsg::Done(Ok(JobResult::Generated { .. })))
    ));
    for m in messages {
        app.job_message(m);
    }
    let s = app.score().unwrap();
    assert_eq!(s.tracks.len(), 2, "{}", app.status);
    assert!(s.notes.len() > original.notes.len());
}

#[test]
fn a_model_that_reads_chords_follows_the_chords_it_is_given() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("pop");
    corpus(&data);
    let out = tmp.path().join("run");
    let opts = TrainOptions {
        config: tiny_config(true),
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
    train(&opts, &mut |_| {}).unwrap();
    let model_dir = out.join("model");
    let model = model_dir.to_str().unwrap();
    // The harmonizer: a tiny chord tagger trained by `reprise train` on the same songs.
    let tagger_out = tmp.path().join("tagger");
    let tagger_opts = TrainOptions {
        config: tiny_tagger_config(),
        data: data.clone(),
        out: tagger_out.clone(),
        resume: false,
        max_minutes: None,
        init: None,
        valid_share: None,
        cancel: None,
        command: String::new(),
        on_loading: None,
    };
    train(&tagger_opts, &mut |_| {}).unwrap();
    let tagger_dir = tagger_out.join("model");
    let tagger = tagger_dir.to_str().unwrap();
    let res = run(&["eval", "--model", tagger, "--data", data.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(
        stdout.contains("labelled beats") && stdout.contains("root right on"),
        "{stdout}"
    );
    let melody = tmp.path().join("flute.mid");
    user_melody(&melody);
    // Without --chords the harmonizer chooses them.
    let with_tagger = ["--harmonizer", tagger, "--seed", "2"];
    let res = accompany(&melody, model, &with_tagger, &tmp.path().join("h.mid"));
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{stderr}");
    assert!(stderr.contains("chords: the harmonizer's"), "{stderr}");
    // A harmonizer that is not there: exit 2, one line.
    let missing = ["--harmonizer", "/no/such/tagger"];
    let res = accompany(&melody, model, &missing, &tmp.path().join("never.mid"));
    assert_bad_input(&res, "/no/such/tagger", "no such model");
    // The piano pitches of four samples (the tiny model, whose initialisation cannot be seeded,
    // now and then writes a sample without a piano note).
    let piano_with = |label: &str| -> Vec<u8> {
        let chords = tmp.path().join(format!("{label}.txt"));
        std::fs::write(&chords, format!("0.0 10.0 {label}\n")).unwrap();
        let o = tmp.path().join(format!("{label}.mid"));
        let extra = [
            "--chords",
            chords.to_str().unwrap(),
            "--seed",
            "2",
            "--samples",
            "4",
            "-q",
        ];
        let res = accompany(&melody, model, &extra, &o);
        assert!(
            res.status.success(),
            "{}",
            String::from_utf8_lossy(&res.stderr)
        );
        let mut pitches = Vec::new();
        for i in 1..=4 {
            let s = reprise::midi::read_file(&tmp.path().join(format!("{label}-{i}.mid"))).unwrap();
            let piano = s
                .tracks
                .iter()
                .position(|t| t.role == TrackRole::Accompaniment);
            pitches.extend(
                piano
                    .into_iter()
                    .flat_map(|p| s.track_notes(p).map(|n| n.pitch)),
            );
        }
        pitches
    };
    // Given chords (F major, then A major, for the whole melody) reach the model: with the same
    // seeds it writes other parts. (How well the shipped model follows given chords is what
    // `accompany --report --annotated-chords` measures.)
    let f = piano_with("F:maj");
    let a = piano_with("A:maj");
    assert!(!f.is_empty() && !a.is_empty());
    assert_ne!(f, a);
    // A chord file Reprise cannot read, and --chords for a model that reads none: exit 2.
    let bad = tmp.path().join("bad.txt");
    std::fs::write(&bad, "0.0 1.0 H:maj\n").unwrap();
    let never = tmp.path().join("never.mid");
    let args = |model: &str, chords: &Path| {
        accompany(
            &melody,
            model,
            &["--chords", chords.to_str().unwrap()],
            &never,
        )
    };
    assert_bad_input(&args(model, &bad), "bad.txt", "no chord");
    let mut plain = tiny_config(false);
    plain.total_steps = 1;
    let plain_out = tmp.path().join("plain");
    let opts = TrainOptions {
        config: plain,
        out: plain_out.clone(),
        ..opts
    };
    train(&opts, &mut |_| {}).unwrap();
    let plain_model = plain_out.join("model");
    let fine = tmp.path().join("F:maj.txt");
    assert_bad_input(
        &args(plain_model.to_str().unwrap(), &fine),
        "--chords",
        "reads no chords",
    );
    assert!(!never.exists());
    // The report with the harmonizer's chords says how they agree with the annotation; with
    // --annotated-chords the model gets the annotation.
    for (extra, says) in [
        (None, "harmonizer against the annotation"),
        (Some("--annotated-chords"), "POP909's annotated chords"),
    ] {
        let mut a = vec![
            "accompany",
            "--report",
            "--data",
            data.to_str().unwrap(),
            "--model",
            model,
            "--harmonizer",
            tagger,
            "--bars",
            "8",
            "--seed",
            "1",
        ];
        a.extend(extra);
        let res = run(&a);
        let stdout = String::from_utf8_lossy(&res.stdout);
        assert!(
            res.status.success(),
            "{}",
            String::from_utf8_lossy(&res.stderr)
        );
        assert!(stdout.contains(says), "{stdout}");
        assert!(
            stdout.contains("(b) against the chords it was given: "),
            "{stdout}"
        );
    }
}
