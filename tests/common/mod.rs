//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `reprise` binary with `args`.
pub fn reprise(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args(args)
        .output()
        .expect("run reprise")
}

/// The path of a file in `samples/`.
pub fn sample(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Asserts a clean failure: exit code 2, one stderr line naming `names` and containing `problem`.
pub fn assert_bad_input(out: &Output, names: &str, problem: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected: {stderr}"
    );
    assert!(stderr.contains(names), "{stderr:?} should name {names}");
    assert!(
        stderr.contains(problem),
        "{stderr:?} should say {problem:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A song whose 2-bar melody phrase comes back three times, over a simple piano part, shifted by
/// `offset` semitones (tests/theme.rs, tests/tui.rs).
pub fn theme_song(offset: u8) -> reprise::midi::Score {
    use reprise::midi::{Score, TrackRole};
    let mut s = Score::new(480, 500_000).unwrap();
    let m = s.add_track("MELODY", TrackRole::Melody);
    let p = s.add_track("PIANO", TrackRole::Accompaniment);
    let phrase = [
        (0u64, 4u64, 0u8),
        (4, 4, 2),
        (8, 4, 4),
        (12, 4, 7),
        (16, 8, 5),
        (24, 8, 4),
    ];
    let other = [(0u64, 8u64, 9u8), (8, 8, 7), (16, 16, 5)];
    for bar in (0..12u64).step_by(2) {
        let notes: &[(u64, u64, u8)] = if bar % 4 == 0 { &phrase } else { &other };
        for &(at, len, step) in notes {
            let start = bar * 1920 + at * 120;
            s.push_note_ticks(m, 0, 0, 60 + offset + step, 90, start, start + len * 120);
        }
        for k in 0..2 {
            let start = (bar + k) * 1920;
            s.push_note_ticks(p, 1, 0, 48 + offset, 70, start, start + 1920);
        }
    }
    s.sort();
    s
}
