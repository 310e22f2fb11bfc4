//! `continue`, `generate` and `eval` end to end with a small random-weight model made here (the shipped
//! model's quality is measured by `reprise eval`, not by tests).

use std::path::{Path, PathBuf};
use std::process::Output;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use reprise::model::{MusicTransformer, TransformerConfig, VocabKind};

mod common;
use common::{reprise, sample};

/// A random grid model with a 64-token context in `dir/tiny`.
fn tiny_model(dir: &Path) -> PathBuf {
    let cfg = TransformerConfig {
        vocab: VocabKind::Grid,
        vocab_size: VocabKind::Grid.size(),
        d_model: 32,
        n_layers: 2,
        n_heads: 4,
        d_ff: 64,
        max_len: 64,
        dropout: 0.0,
        beat_embedding: false,
    };
    let vm = VarMap::new();
    MusicTransformer::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    let out = dir.join("tiny");
    reprise::train::export(&vm, &cfg, &out).unwrap();
    out
}

fn assert_bad_input(out: &Output, problem: &str) {
    common::assert_bad_input(out, "", problem)
}

#[test]
fn continue_writes_primer_plus_four_voices_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let out = dir.path().join("out.mid");
    let run = |out: &Path| {
        reprise(&[
            "continue",
            &sample("bach-chorale.mid"),
            "--model",
            model.to_str().unwrap(),
            "--seconds",
            "3",
            "--seed",
            "7",
            "-o",
            out.to_str().unwrap(),
        ])
    };
    let res = run(&out);
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{stderr}");
    assert!(
        stderr.contains("prompting with its last 15 sixteenths"),
        "{stderr}"
    );
    let score = reprise::midi::read_file(&out).unwrap();
    assert_eq!(score.tracks.len(), 4);
    // 19.2 s of primer and 3 s more (20 sixteenths at 100 BPM); the last note may end on the last step.
    assert!(
        (18.0..=22.25).contains(&score.duration()),
        "{}",
        score.duration()
    );
    let again = dir.path().join("again.mid");
    run(&again);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn generate_several_samples() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let out = dir.path().join("gen.mid");
    let res = reprise(&[
        "generate",
        "--model",
        model.to_str().unwrap(),
        "--steps",
        "200",
        "--samples",
        "3",
        "--top-k",
        "8",
        "--top-p",
        "0.9",
        "--temperature",
        "0.8",
        "--tempo",
        "90",
        "--seed",
        "1",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    for i in 1..=3 {
        let s = reprise::midi::read_file(&dir.path().join(format!("gen-{i}.mid"))).unwrap();
        assert!((s.tempo_map.bpm(0) - 90.0).abs() < 0.01);
        assert!(s.duration() <= 50.0 * 60.0 / 90.0 / 4.0 + 0.01);
    }
}

#[test]
fn bad_hyper_parameters_and_primers() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let m = model.to_str().unwrap();
    let o = dir.path().join("x.mid");
    let o = o.to_str().unwrap();
    let chorale = sample("bach-chorale.mid");
    assert_bad_input(
        &reprise(&["continue", &chorale, "--model", m, "--top-p", "0", "-o", o]),
        "--top-p 0",
    );
    assert_bad_input(
        &reprise(&[
            "continue", &chorale, "--model", m, "--top-p", "1.5", "-o", o,
        ]),
        "--top-p 1.5",
    );
    assert_bad_input(
        &reprise(&[
            "continue",
            &chorale,
            "--model",
            m,
            "--temperature",
            "0",
            "-o",
            o,
        ]),
        "--temperature 0",
    );
    assert_bad_input(
        &reprise(&[
            "continue",
            &chorale,
            "--model",
            m,
            "--temperature=-1",
            "-o",
            o,
        ]),
        "--temperature -1",
    );
    assert_bad_input(
        &reprise(&["continue", &chorale, "--model", "no-such-model", "-o", o]),
        "no such model",
    );
    // A primer with no pitched notes (drums only).
    let mut drums = reprise::midi::Score::new(480, 500_000).unwrap();
    let t = drums.add_track("kit", reprise::midi::TrackRole::Other);
    drums.push_note_ticks(t, 9, 0, 36, 100, 0, 120);
    let p = dir.path().join("drums.mid");
    reprise::midi::write_file(&drums, &p).unwrap();
    assert_bad_input(
        &reprise(&["continue", p.to_str().unwrap(), "--model", m, "-o", o]),
        "no pitched notes",
    );
    assert!(!Path::new(o).exists());
}

#[test]
fn corrupt_or_truncated_weights_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let weights = model.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    let o = dir.path().join("x.mid");
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let res = reprise(&[
        "generate",
        "--model",
        model.to_str().unwrap(),
        "-o",
        o.to_str().unwrap(),
    ]);
    assert_bad_input(&res, "model.safetensors");
    std::fs::write(&weights, b"garbage").unwrap();
    let res = reprise(&[
        "generate",
        "--model",
        model.to_str().unwrap(),
        "-o",
        o.to_str().unwrap(),
    ]);
    assert_bad_input(&res, "not a valid safetensors file");
    // A config that does not fit the weights names the tensor.
    std::fs::write(&weights, &bytes).unwrap();
    let cfg = std::fs::read_to_string(model.join("config.json"))
        .unwrap()
        .replace("\"d_ff\": 64", "\"d_ff\": 48");
    std::fs::write(model.join("config.json"), cfg).unwrap();
    let res = reprise(&[
        "generate",
        "--model",
        model.to_str().unwrap(),
        "-o",
        o.to_str().unwrap(),
    ]);
    assert_bad_input(&res, "ff1");
}

#[test]
fn eval_scores_a_data_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let data = dir.path().join("jsb.json");
    std::fs::write(
        &data,
        r#"{"valid": [[[60, 55, 52, 48], [60, 55, 52, 48], [62, 57, 53, 50]]], "train": []}"#,
    )
    .unwrap();
    let res = reprise(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&res.stdout);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(
        text.contains("valid NLL") && text.contains("over 12 tokens"),
        "{text}"
    );
    let res = reprise(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--split",
        "test",
    ]);
    assert_bad_input(&res, "no split 'test'");
}

/// Chorale generation streams its notes as it goes: the events pair up into exactly the notes written.
#[test]
fn grid_generation_streams_the_notes_it_writes() {
    use reprise::generate::tasks::{run, GenEvent, Length, Request};
    use reprise::tokens::NoteEvent;
    let dir = tempfile::tempdir().unwrap();
    let model = MusicTransformer::load(&tiny_model(dir.path()), &Device::Cpu).unwrap();
    let req = Request {
        length: Length::Seconds(4.0),
        sampler: reprise::generate::SamplerConfig {
            seed: 5,
            ..Default::default()
        },
        samples: 1,
        bpm: 90.0,
        primer_seconds: 20.0,
        only_new: false,
        cancel: None,
        key_guide: 0.0,
    };
    let mut open = std::collections::HashMap::new();
    let mut streamed = Vec::new();
    let out = run(&model, None, &req, &mut |_, e| {
        if let GenEvent::Note { channel, event, .. } = e {
            match event {
                NoteEvent::On { pitch, time, .. } => {
                    assert!(open.insert((channel, pitch), time).is_none());
                }
                NoteEvent::Off { pitch, time } => {
                    let on = open.remove(&(channel, pitch)).unwrap();
                    let ms = |t: f64| (t * 1000.0).round() as i64;
                    streamed.push((channel, pitch, ms(on), ms(time)));
                }
            }
        }
    })
    .unwrap();
    assert!(open.is_empty());
    streamed.sort_unstable();
    let ms = |t: f64| (t * 1000.0).round() as i64;
    let mut written: Vec<_> = out.scores[0]
        .notes
        .iter()
        .map(|n| (n.channel, n.pitch, ms(n.start), ms(n.end)))
        .collect();
    written.sort_unstable();
    assert!(!written.is_empty());
    assert_eq!(streamed, written);
}
