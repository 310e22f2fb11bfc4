//! Fuzzes the MIDI reader: any bytes must give a `Score` or an error, never a panic; every score read
//! must survive write → read with the same notes, tempo map and sustain, and tokenise without panicking.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use reprise::midi;
use reprise::tokens::{GridVocab, PerformanceVocab, Vocab};

fuzz_target!(|data: &[u8]| {
    let Ok(score) = midi::parse(data, Path::new("fuzz.mid")) else {
        return;
    };
    let bytes = midi::to_bytes(&score).expect("a score that was read can be written");
    let again = midi::parse(&bytes, Path::new("again.mid")).expect("written score reads back");
    let onsets = |s: &midi::Score| {
        let mut v: Vec<_> = s
            .notes
            .iter()
            .map(|n| (n.start_tick, n.channel, n.pitch, n.velocity, n.program))
            .collect();
        v.sort_unstable();
        v
    };
    assert_eq!(onsets(&score), onsets(&again));
    assert_eq!(score.tempo_map, again.tempo_map);
    assert_eq!(score.sustain.len(), again.sustain.len());
    let perf = PerformanceVocab::default();
    let ids = perf.encode(&score).expect("performance encode");
    perf.decode(&ids).expect("performance decode");
    let _ = GridVocab::default().encode(&score);
});
