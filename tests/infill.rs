//! `reprise infill` through the CLI (issue 23): a span of a piano piece rewritten with the shipped
//! infilling model, every note outside it kept; bad spans are one-line errors.

use reprise::midi::{read_file, Note, Score};

mod common;
use common::{assert_bad_input, reprise, sample};

/// The notes of `s` that start outside `from..to` seconds, sorted.
fn outside(s: &Score, from: f64, to: f64) -> Vec<Note> {
    let mut v: Vec<Note> = s
        .notes
        .iter()
        .filter(|n| n.start < from - 1e-9 || n.start >= to - 1e-9)
        .cloned()
        .collect();
    v.sort_by_key(|n| (n.start_tick, n.pitch, n.track));
    v
}

#[test]
fn a_span_is_rewritten_and_everything_else_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let input = sample("piano-phrase.mid");
    let out = tmp.path().join("take.mid");
    let res = reprise(&[
        "infill",
        &input,
        "--bars",
        "2-3",
        "--samples",
        "2",
        "--seed",
        "4",
        "-o",
        out.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{said}");
    assert!(said.contains("infill: bars 2–3"), "{said}");
    let original = read_file(std::path::Path::new(&input)).unwrap();
    // 84 BPM 4/4: a bar is 60/84·4 s; bars 2–3 are [1, 3) bars from the start.
    let bar = 4.0 * 60.0 / 84.0;
    for i in 1..=2 {
        let take = read_file(&tmp.path().join(format!("take-{i}.mid"))).unwrap();
        assert_eq!(
            outside(&take, bar, 3.0 * bar),
            outside(&original, bar, 3.0 * bar)
        );
        let new = take.notes.len() - outside(&take, bar, 3.0 * bar).len();
        assert!(new > 0, "take {i} wrote nothing in the span");
    }
}

#[test]
fn bad_spans_are_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let input = sample("piano-phrase.mid");
    let out = tmp.path().join("x.mid");
    let o = out.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["infill", input.as_str()];
        all.extend(args);
        all.extend(["-o", o]);
        reprise(&all)
    };
    assert_bad_input(&run(&["--bars", "4-2"]), "", "backwards");
    assert_bad_input(&run(&["--bars", "40-42"]), "", "past the end");
    assert_bad_input(&run(&["--bars", "0-2"]), "", "from 1");
    assert_bad_input(&run(&["--from", "0:03", "--to", "0:03"]), "", "empty");
    assert_bad_input(
        &run(&["--from", "9:00", "--to", "9:30"]),
        "",
        "past the end",
    );
    let res = run(&["--bars", "2.5-3"]);
    assert_eq!(res.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&res.stderr).contains("whole numbers"));
    assert!(!out.exists());
    let same = reprise(&["infill", &input, "--bars", "2", "-o", &input]);
    assert_bad_input(&same, "piano-phrase.mid", "refusing to overwrite");
}
