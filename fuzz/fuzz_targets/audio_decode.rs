//! Fuzzes recording decoding (symphonia): the first byte picks the file name's extension, which is
//! the format hint (wav, flac, mp3, ogg); the rest is the file. Any bytes must give a recording or an
//! error (the decoder's panics are contained by `reprise::guard::contain`); a recording has samples
//! and a sample rate in range.
#![no_main]

#[path = "../common.rs"]
mod common;

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use reprise::audio::decode;

const NAMES: [&str; 4] = ["fuzz.wav", "fuzz.flac", "fuzz.mp3", "fuzz.ogg"];

fuzz_target!(init: common::install_panic_hook(), |data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let origin = Path::new(NAMES[pick as usize % NAMES.len()]);
    if let Ok(rec) = common::contained(|| decode::decode_bytes(file.to_vec(), origin)) {
        assert!(!rec.samples.is_empty(), "a recording holds samples");
        assert!(
            (1_000..=384_000).contains(&rec.sample_rate),
            "sample rate {} out of range",
            rec.sample_rate
        );
    }
});
