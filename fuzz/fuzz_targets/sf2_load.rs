//! Fuzzes SoundFont loading: any bytes must give a bank or an error (rustysynth's panics are
//! contained by `reprise::guard::contain`), and a bank that loads must render a short score (up to
//! four of its presets, drums included) without panicking.
#![no_main]

#[path = "../common.rs"]
mod common;

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use reprise::audio::{self, soundfont, RenderOptions};
use reprise::midi::{Score, TrackRole};

fuzz_target!(init: common::install_panic_hook(), |data: &[u8]| {
    let Ok(sf) = common::contained(|| soundfont::parse(data, Path::new("fuzz.sf2"))) else {
        return;
    };
    let mut score = Score::new(480, 500_000).expect("a valid tempo");
    let track = score.add_track("fuzz", TrackRole::Other);
    let mut notes = 0;
    for (i, preset) in sf.get_presets().iter().take(4).enumerate() {
        let (channel, program) = if preset.get_bank_number() == 128 {
            (9, 0)
        } else {
            (i as u8, (preset.get_patch_number() & 127) as u8)
        };
        let start = i as f64 * 0.03;
        score.push_note_seconds(track, channel, program, 36 + 12 * i as u8, 100, start, start + 0.1);
        notes += 1;
    }
    if notes == 0 {
        score.push_note_seconds(track, 0, 0, 60, 100, 0.0, 0.1);
    }
    score.sort();
    let opts = RenderOptions {
        sample_rate: 16_000,
        gain: 1.0,
        threads: 1,
        max_tail_seconds: 0.1,
    };
    // An error (a synthesizer the bank cannot make) is fine; a panic is a finding.
    let _ = audio::render(&score, &sf, &opts, &mut |_| {});
});
