//! Fuzzes token shard folders (`reprise tokenize`'s output): the input's first two bytes
//! (little-endian) are the length of its `manifest.json`, which follows; the rest is
//! `train-000.safetensors`. Reading the train split as every vocabulary must give checked pieces
//! (ids inside the vocabulary) or an error, never a panic.
//!
//! Input layout: `[len: u16 LE][manifest.json: len bytes][train-000.safetensors: the rest]`.
#![no_main]

#[path = "../common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use reprise::model::VocabKind;

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let (manifest, shard) = rest.split_at((u16::from_le_bytes(*len) as usize).min(rest.len()));
    common::write_scratch("manifest.json", manifest);
    common::write_scratch("train-000.safetensors", shard);
    let dir = common::scratch();
    for kind in [VocabKind::Grid, VocabKind::Performance, VocabKind::Remi] {
        if let Ok(seqs) = reprise::train::shards::read(dir, kind, "train") {
            assert!(seqs.seqs.iter().flatten().all(|&t| (t as usize) < kind.size()));
            assert_eq!(seqs.seqs.len(), seqs.starts.len());
        }
    }
});
