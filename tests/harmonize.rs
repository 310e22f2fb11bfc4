//! `reprise harmonize` through the CLI (issue 23): alto, tenor and bass under a melody with the
//! shipped voice filler, `--keep` on a four-part chorale, the rule-based baseline, and bad input
//! as one-line errors.

use std::path::Path;

use reprise::midi::{read_file, Note, Score, TrackRole};

mod common;
use common::{assert_bad_input, reprise, sample};

fn notes_of(s: &Score, track: usize) -> Vec<Note> {
    s.track_notes(track).cloned().collect()
}

#[test]
fn a_melody_gets_three_voices_under_it_and_stays_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let input = sample("melody-ode-to-joy.mid");
    let out = tmp.path().join("satb.mid");
    let res = reprise(&[
        "harmonize",
        &input,
        "--samples",
        "2",
        "--seed",
        "3",
        "-o",
        out.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{said}");
    assert!(said.contains("kept soprano"), "{said}");
    let melody = read_file(Path::new(&input)).unwrap();
    let mut takes = Vec::new();
    for i in 1..=2 {
        let take = read_file(&tmp.path().join(format!("satb-{i}.mid"))).unwrap();
        assert_eq!(
            notes_of(&take, 0),
            notes_of(&melody, 0),
            "the melody is kept"
        );
        assert_eq!(take.tracks.len(), melody.tracks.len() + 3);
        let end = melody.end_tick();
        for v in 1..=3u8 {
            let t = melody.tracks.len() + usize::from(v) - 1;
            assert_eq!(take.tracks[t].role, TrackRole::Voice(v));
            let new = notes_of(&take, t);
            assert!(!new.is_empty(), "voice {v} is empty");
            assert!(new.iter().all(|n| n.end_tick <= end + 120));
        }
        takes.push(take);
    }
    assert_ne!(takes[0].notes, takes[1].notes, "two seeds, one take");
}

#[test]
fn keep_rewrites_only_the_other_voices_of_a_chorale() {
    let tmp = tempfile::tempdir().unwrap();
    let input = sample("bach-chorale.mid");
    let out = tmp.path().join("ab.mid");
    let res = reprise(&[
        "harmonize",
        &input,
        "--keep",
        "soprano,bass",
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
    let bach = read_file(Path::new(&input)).unwrap();
    let take = read_file(&out).unwrap();
    assert_eq!(take.tracks.len(), 4);
    assert_eq!(notes_of(&take, 0), notes_of(&bach, 0));
    assert_eq!(notes_of(&take, 3), notes_of(&bach, 3));
    assert!(!notes_of(&take, 1).is_empty() && !notes_of(&take, 2).is_empty());
    assert_ne!(
        (notes_of(&take, 1), notes_of(&take, 2)),
        (notes_of(&bach, 1), notes_of(&bach, 2))
    );
}

#[test]
fn the_rules_harmonize_too() {
    let tmp = tempfile::tempdir().unwrap();
    let input = sample("melody-ode-to-joy.mid");
    let out = tmp.path().join("rules.mid");
    let res = reprise(&["harmonize", &input, "--rules", "-o", out.to_str().unwrap()]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let take = read_file(&out).unwrap();
    assert_eq!(take.tracks.len(), 4);
    assert!((1..4).all(|t| take.track_notes(t).count() > 0));
}

#[test]
fn bad_input_is_a_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    let input = sample("melody-ode-to-joy.mid");
    let out = tmp.path().join("x.mid");
    let o = out.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["harmonize", input.as_str()];
        all.extend(args);
        all.extend(["-o", o]);
        reprise(&all)
    };
    let all_four = run(&["--keep", "soprano,alto,tenor,bass"]);
    assert_eq!(all_four.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&all_four.stderr).contains("nothing to fill"));
    let piano = run(&["--keep", "piano"]);
    assert_eq!(piano.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&piano.stderr).contains("not a voice"));
    assert_bad_input(&run(&["--keep", "alto"]), "", "no notes to harmonize");
    assert_bad_input(&run(&["--track", "7"]), "", "track 7");
    assert_bad_input(
        &run(&["--rules", "--keep", "soprano,bass"]),
        "",
        "soprano only",
    );
    assert_bad_input(
        &run(&["--model", "pop909-beat"]),
        "pop909-beat",
        "cannot write a chorale",
    );
    assert!(!out.exists());
    let same = reprise(&["harmonize", &input, "-o", &input]);
    assert_bad_input(&same, "melody-ode-to-joy.mid", "refusing to overwrite");
    let empty = tmp.path().join("empty.mid");
    Score::new(480, 500_000).unwrap();
    std::fs::write(&empty, b"MThd").unwrap();
    let broken = reprise(&["harmonize", empty.to_str().unwrap(), "-o", o]);
    assert_eq!(broken.status.code(), Some(2));
}

/// `eval --harmonize` on a small JSB-layout file: the voice filler's NLL and the part-writing table
/// for it, Bach and the rules; the decoder-only chorale model's NLL of the same voices.
#[test]
fn eval_harmonize_reports_nll_and_part_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let chorale = |k: i32| -> Vec<[i32; 4]> {
        (0..24)
            .map(|i| {
                let s = 72 + k + [0, 2, 4, 5, 7, 5, 4, 2][(i / 4) % 8];
                [s, s - 5, s - 12, s - 24]
            })
            .collect()
    };
    let data = tmp.path().join("jsb.json");
    let json = serde_json::json!({ "train": [chorale(0)], "valid": [chorale(0), chorale(2)] });
    std::fs::write(&data, json.to_string()).unwrap();
    let d = data.to_str().unwrap();
    let res = reprise(&[
        "eval",
        "--model",
        "jsb-voices",
        "--data",
        d,
        "--harmonize",
        "--seed",
        "2",
    ]);
    let text = String::from_utf8_lossy(&res.stdout);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(text.contains("over 144 values (2 chorales)"), "{text}");
    for row in [
        "| Reprise (jsb-voices) |",
        "| Bach |",
        "| rule-based baseline |",
    ] {
        assert!(text.contains(row), "{text}");
    }
    let res = reprise(&[
        "eval",
        "--model",
        "jsb-chorales",
        "--data",
        d,
        "--harmonize",
    ]);
    let text = String::from_utf8_lossy(&res.stdout);
    assert!(text.contains("alto, tenor and bass tokens"), "{text}");
    assert!(text.contains("over 144 tokens"), "{text}");
}
