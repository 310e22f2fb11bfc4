//! Fuzzes chord files (`start end label` lines, POP909's `chord_midi.txt`): any bytes must give chords
//! or an error, and the chords read must place onto the beats of a few bars without panicking.
#![no_main]

#[path = "../common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use reprise::accompany::chords::read_chords;
use reprise::accompany::generate::chords_from_file;
use reprise::midi::Score;

fuzz_target!(|data: &[u8]| {
    let path = common::write_scratch("chord_midi.txt", data);
    let Ok(spans) = read_chords(&path) else {
        return;
    };
    for s in &spans {
        assert!(s.pitch_classes != 0 && s.pitch_classes < 1 << 12, "{s:?}");
        assert!(s.root < 12, "{s:?}");
    }
    let score = Score::new(480, 500_000).expect("a valid tempo");
    let bars = [0u64, 1920, 3840, 5760, 7680];
    if let Ok(beats) = chords_from_file(&path, &score, &bars) {
        assert_eq!(beats.len(), 4 * (bars.len() - 1));
    }
});
