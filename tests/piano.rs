//! Piano (performance-event) continuation end to end with a small random-weight model made here: any GM
//! file is accepted, the output keeps the primer and its tempo map, no note sticks, polyphony stays
//! bounded, and the streamed note events are the notes that end up in the file.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use reprise::generate::piano::MAX_POLYPHONY;
use reprise::generate::tasks::{run, GenEvent, Length, Request};
use reprise::generate::SamplerConfig;
use reprise::midi::Score;
use reprise::model::{MusicTransformer, TransformerConfig, VocabKind};
use reprise::tokens::NoteEvent;

mod common;
use common::{reprise, sample};

fn tiny_config() -> TransformerConfig {
    TransformerConfig {
        vocab: VocabKind::Performance,
        vocab_size: VocabKind::Performance.size(),
        d_model: 32,
        n_layers: 1,
        n_heads: 4,
        d_ff: 64,
        max_len: 96,
        dropout: 0.0,
        beat_embedding: false,
    }
}

/// A random performance model in `dir/piano`.
fn tiny_model(dir: &Path) -> PathBuf {
    let cfg = tiny_config();
    let vm = VarMap::new();
    MusicTransformer::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    let out = dir.join("piano");
    reprise::train::export(&vm, &cfg, &out).unwrap();
    out
}

/// The most notes of one track sounding at once.
fn max_polyphony(score: &Score, track: usize) -> usize {
    let mut edges: Vec<(u64, i32)> = score
        .track_notes(track)
        .flat_map(|n| [(n.start_tick, 1), (n.end_tick, -1)])
        .collect();
    edges.sort_by_key(|&(t, d)| (t, d)); // releases before onsets at the same tick
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    most as usize
}

#[test]
fn continues_a_gm_band_file_on_a_piano_track() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let out = dir.path().join("out.mid");
    let run_cli = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "continue",
            &sample_path(),
            "--model",
            model.to_str().unwrap(),
            "--seconds",
            "6",
            "--seed",
            "3",
            "-o",
            out.to_str().unwrap(),
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        reprise(&refs)
    };
    let res = run_cli(&out, &[]);
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{stderr}");
    assert!(stderr.contains("drum notes left out"), "{stderr}");
    assert!(stderr.contains("folded to piano"), "{stderr}");
    assert!(stderr.contains("fit the model's context"), "{stderr}");
    let primer = reprise::midi::read_file(Path::new(&sample_path())).unwrap();
    let score = reprise::midi::read_file(&out).unwrap();
    // The primer's tracks and tempo map, plus the continuation.
    assert_eq!(score.tracks.len(), primer.tracks.len() + 1);
    assert_eq!(score.tempo_map, primer.tempo_map);
    let new = score.tracks.len() - 1;
    assert_eq!(score.tracks[new].name, "Reprise continuation");
    let primer_end = primer.notes.iter().map(|n| n.end).fold(0.0, f64::max);
    let cont: Vec<_> = score.track_notes(new).collect();
    assert!(!cont.is_empty());
    for n in &cont {
        assert!(n.end_tick > n.start_tick, "a note shorter than a tick");
        assert!(n.start >= primer_end - 1e-3, "{} < {primer_end}", n.start);
        assert!(
            n.end <= primer_end + 6.0 + 1.01,
            "note runs past the end: {}",
            n.end
        );
        assert!(!n.is_drum() && n.program == 0);
    }
    assert!(max_polyphony(&score, new) <= MAX_POLYPHONY);
    // The same seed gives the same file; --only-new keeps just the new track, in place.
    let again = dir.path().join("again.mid");
    assert!(run_cli(&again, &[]).status.success());
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
    let only = dir.path().join("only.mid");
    assert!(run_cli(&only, &["--only-new"]).status.success());
    let only = reprise::midi::read_file(&only).unwrap();
    assert_eq!(only.tracks.len(), 1);
    let starts = |s: &Score, t: usize| s.track_notes(t).map(|n| n.start_tick).collect::<Vec<_>>();
    assert_eq!(starts(&only, 0), starts(&score, new));
}

fn sample_path() -> String {
    sample("gm-band.mid")
}

#[test]
fn streamed_notes_are_the_notes_written() {
    let vm = VarMap::new();
    let model = MusicTransformer::new(
        &tiny_config(),
        VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
    )
    .unwrap();
    let primer = reprise::midi::read_file(Path::new(&sample("piano-phrase.mid"))).unwrap();
    let req = Request {
        length: Length::Seconds(4.0),
        sampler: SamplerConfig {
            seed: 11,
            ..Default::default()
        },
        samples: 2,
        bpm: 100.0,
        primer_seconds: 5.0,
        only_new: true,
        cancel: None,
        key_guide: 0.0,
    };
    let mut events: Vec<Vec<NoteEvent>> = vec![Vec::new(); 2];
    let mut tokens = [0usize; 2];
    let out = run(&model, Some(&primer), &req, &mut |i, e| match e {
        GenEvent::Note { event, channel, .. } => {
            assert_eq!(channel, 0);
            events[i].push(event)
        }
        GenEvent::Token(_) => tokens[i] += 1,
    })
    .unwrap();
    assert_eq!(out.scores.len(), 2);
    for (i, score) in out.scores.iter().enumerate() {
        assert!(tokens[i] > 0);
        let mut open = std::collections::HashMap::new();
        let mut streamed = Vec::new();
        for e in &events[i] {
            match *e {
                NoteEvent::On { pitch, time, .. } => {
                    assert!(open.insert(pitch, time).is_none(), "key struck twice");
                }
                NoteEvent::Off { pitch, time } => {
                    let on = open.remove(&pitch).expect("release of a silent key");
                    streamed.push((
                        pitch,
                        (on * 1000.0).round() as i64,
                        (time * 1000.0).round() as i64,
                    ));
                }
            }
        }
        assert!(open.is_empty(), "stuck notes at the end of the stream");
        streamed.sort_unstable();
        let mut written: Vec<(u8, i64, i64)> = score
            .notes
            .iter()
            .map(|n| {
                (
                    n.pitch,
                    (n.start * 1000.0).round() as i64,
                    (n.end * 1000.0).round() as i64,
                )
            })
            .collect();
        written.sort_unstable();
        assert_eq!(streamed, written);
    }
}

#[test]
fn generates_from_nothing_and_refuses_bad_primers() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let m = model.to_str().unwrap();
    let o = dir.path().join("g.mid");
    let res = reprise(&[
        "generate",
        "--model",
        m,
        "--seconds",
        "5",
        "--seed",
        "2",
        "-o",
        o.to_str().unwrap(),
    ]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let score = reprise::midi::read_file(&o).unwrap();
    assert!(score.duration() <= 6.01, "{}", score.duration());
    // Drums only: nothing to continue.
    let mut drums = Score::new(480, 500_000).unwrap();
    let t = drums.add_track("kit", reprise::midi::TrackRole::Other);
    drums.push_note_ticks(t, 9, 0, 36, 100, 0, 120);
    let p = dir.path().join("drums.mid");
    reprise::midi::write_file(&drums, &p).unwrap();
    let x = dir.path().join("x.mid");
    let x = x.to_str().unwrap();
    common::assert_bad_input(
        &reprise(&["continue", p.to_str().unwrap(), "--model", m, "-o", x]),
        "",
        "no pitched notes",
    );
    common::assert_bad_input(
        &reprise(&[
            "continue",
            &sample("piano-phrase.mid"),
            "--model",
            m,
            "--primer-seconds",
            "0",
            "-o",
            x,
        ]),
        "",
        "--primer-seconds 0",
    );
    assert!(!Path::new(x).exists());
}
