//! Fuzzes the JSON files Reprise reads: the input is written as `config.json` and read by every
//! config loader (Music Transformer, Theme Transformer, chord tagger, neural synth, training run)
//! and by the JSB chorale reader. Any bytes must give a config or an error, never a panic; a model
//! config that loads must survive being written (as `save` writes it) and read back unchanged.
#![no_main]

#[path = "../common.rs"]
mod common;

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use reprise::model::chord_tagger::ChordTaggerConfig;
use reprise::model::theme_transformer::ThemeConfig;
use reprise::model::TransformerConfig;
use reprise::tokens::grid::JsbData;
use reprise::train::TrainConfig;

/// Writes `cfg` as `save` does (pretty JSON) and reads it back with `load`.
fn round_trip<T>(cfg: &T, load: impl Fn(&Path) -> reprise::Result<T>)
where
    T: serde::Serialize + PartialEq + std::fmt::Debug,
{
    let text = serde_json::to_string_pretty(cfg).expect("a config serialises");
    let path = common::write_scratch("saved.json", text.as_bytes());
    match load(&path) {
        Ok(again) => assert_eq!(&again, cfg, "config changed on write → read: {text}"),
        Err(e) => panic!("a config that loaded does not load once saved: {e}\n{text}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let path = common::write_scratch("config.json", data);
    if let Ok(cfg) = TransformerConfig::load(&path) {
        round_trip(&cfg, TransformerConfig::load);
    }
    if let Ok(cfg) = ThemeConfig::load(&path) {
        round_trip(&cfg, ThemeConfig::load);
    }
    if let Ok(cfg) = ChordTaggerConfig::load(&path) {
        round_trip(&cfg, ChordTaggerConfig::load);
    }
    // Reads and checks the synth config, then fails for want of `model.safetensors`.
    let _ = reprise::synth::render::load_network(common::scratch());
    let _ = TrainConfig::load(&path);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = JsbData::parse(text);
    }
});
