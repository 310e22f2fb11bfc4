//! Inputs the fuzzers (`fuzz/`) found, kept as regression tests: each must give the documented
//! outcome, never a panic.

use std::path::{Path, PathBuf};

fn input(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(name)
}

/// A sample with a negative rate (and the fuzzer's own find) parsed, then panicked in rustysynth's
/// oscillator while rendering: now refused at load, naming the sample.
#[test]
fn soundfonts_whose_samples_play_outside_their_data_are_refused() {
    for name in ["sf2-negative-sample-rate.sf2", "sf2-render-crash.sf2"] {
        let bytes = std::fs::read(input(name)).unwrap();
        let err = reprise::audio::soundfont::parse(&bytes, Path::new(name))
            .err()
            .unwrap_or_else(|| panic!("{name} must be refused"))
            .to_string();
        assert!(
            err.starts_with(name) && err.contains("corrupt SoundFont"),
            "{err}"
        );
    }
}

/// Size fields of billions of bytes (an SF2 string, a FLAC comment block): an error, not an abort.
#[test]
fn absurd_size_fields_are_errors() {
    let sf2 = std::fs::read(input("sf2-huge-string.sf2")).unwrap();
    assert!(reprise::audio::soundfont::parse(&sf2, Path::new("x.sf2")).is_err());
    assert!(reprise::audio::decode::decode_file(&input("audio-huge-comment.flac")).is_err());
}

/// A first tempo event equal to the default at a tick above 0 read as a repeated tempo, which a
/// write → read round trip dropped: the tempo map is now the same both ways.
#[test]
fn a_first_tempo_equal_to_the_default_round_trips() {
    let path = input("midi-repeated-default-tempo.mid");
    let score = reprise::midi::read_file(&path).unwrap();
    let bytes = reprise::midi::to_bytes(&score).unwrap();
    let again = reprise::midi::parse(&bytes, Path::new("again.mid")).unwrap();
    assert_eq!(score.tempo_map, again.tempo_map);
}
