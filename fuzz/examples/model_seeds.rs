//! Writes the seed corpus of the `model_folder` fuzz target: real, tiny model folders (random
//! weights) of every architecture, each checked to load, in the target's input layout
//! `[config length: u16 LE][config.json][model.safetensors]`.
//!
//! Run from `fuzz/`: `cargo run --example model_seeds -- corpus/model_folder`

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use reprise::accompany::harmony::Harmonizer;
use reprise::model::chord_tagger::{ChordTagger, ChordTaggerConfig};
use reprise::model::theme_transformer::{ThemeConfig, ThemeTransformer};
use reprise::model::{MusicTransformer, TransformerConfig};
use reprise::synth::model::{NeuralSynth, SynthConfig};

const MUSIC_GRID: &str = r#"{"vocab":"grid","vocab_size":132,"d_model":8,"n_layers":1,"n_heads":2,"d_ff":16,"max_len":16,"dropout":0.1}"#;
const MUSIC_REMI: &str = r#"{"vocab":"remi","vocab_size":530,"d_model":8,"n_layers":1,"n_heads":2,"d_ff":16,"max_len":16,"dropout":0.1,"beat_embedding":true}"#;
const MUSIC_PERF: &str = r#"{"vocab":"performance","vocab_size":391,"d_model":4,"n_layers":2,"n_heads":1,"d_ff":8,"max_len":4,"dropout":0.0}"#;
const THEME: &str = r#"{"architecture":"theme-transformer","vocab_size":530,"d_model":8,"n_heads":2,"d_ff":16,"enc_layers":1,"dec_layers":2,"max_len":16,"max_theme":8,"dropout":0.1,"task":"theme","gated":true,"time_aligned":true,"cross_time_bias":true,"aligned_notes":true}"#;
const ACCOMP: &str = r#"{"architecture":"theme-transformer","vocab_size":530,"d_model":8,"n_heads":2,"d_ff":16,"enc_layers":1,"dec_layers":2,"max_len":16,"max_theme":8,"dropout":0.1,"task":"accompany","gated":false,"time_aligned":false,"cross_time_bias":false,"aligned_notes":true,"chords":true}"#;
const TAGGER: &str = r#"{"architecture":"chord-tagger","n_features":53,"n_classes":72,"d_model":8,"n_heads":2,"d_ff":16,"layers":1,"max_len":16,"dropout":0.1}"#;
const SYNTH: &str = r#"{"architecture":"gla-synth","d_model":8,"heads":2,"layers":1,"state_rank":2,"d_ff":16,"chunk":4}"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).unwrap_or_else(|| "corpus/model_folder".into());
    let out = Path::new(&out);
    std::fs::create_dir_all(out)?;
    let cpu = Device::Cpu;
    let dir = tempfile::tempdir()?;
    let cfg_path = dir.path().join("config.json");
    let weights = dir.path().join("model.safetensors");

    // (name, config text, builds the network's variables into the VarMap, loads the folder back)
    type Build = fn(&Path, VarBuilder) -> Result<(), Box<dyn std::error::Error>>;
    type Load = fn(&Path) -> Result<(), Box<dyn std::error::Error>>;
    let music: Build = |p, vb| {
        MusicTransformer::new(&TransformerConfig::load(p)?, vb)?;
        Ok(())
    };
    let music_load: Load = |d| {
        MusicTransformer::load(d, &Device::Cpu)?;
        Ok(())
    };
    let theme: Build = |p, vb| {
        ThemeTransformer::new(&ThemeConfig::load(p)?, vb)?;
        Ok(())
    };
    let theme_load: Load = |d| {
        ThemeTransformer::load(d, &Device::Cpu)?;
        Ok(())
    };
    let tagger: Build = |p, vb| {
        ChordTagger::new(&ChordTaggerConfig::load(p)?, vb)?;
        Ok(())
    };
    let tagger_load: Load = |d| {
        Harmonizer::load(d)?;
        Ok(())
    };
    let synth: Build = |p, vb| {
        let cfg: SynthConfig = serde_json::from_str(&std::fs::read_to_string(p)?)?;
        NeuralSynth::new(&cfg, vb)?;
        Ok(())
    };
    let synth_load: Load = |d| {
        reprise::synth::render::load_network(d)?;
        Ok(())
    };
    let seeds: [(&str, &str, Build, Load, DType); 8] = [
        ("music-grid", MUSIC_GRID, music, music_load, DType::F32),
        ("music-grid-f16", MUSIC_GRID, music, music_load, DType::F16),
        ("music-remi-beat", MUSIC_REMI, music, music_load, DType::F32),
        ("music-performance-bf16", MUSIC_PERF, music, music_load, DType::BF16),
        ("theme", THEME, theme, theme_load, DType::F16),
        ("accompany-chords", ACCOMP, theme, theme_load, DType::F16),
        ("chord-tagger", TAGGER, tagger, tagger_load, DType::F32),
        ("gla-synth", SYNTH, synth, synth_load, DType::F32),
    ];
    for (name, config, build, load, dtype) in seeds {
        std::fs::write(&cfg_path, config)?;
        let vm = VarMap::new();
        build(&cfg_path, VarBuilder::from_varmap(&vm, DType::F32, &cpu))?;
        let tensors: HashMap<String, Tensor> = vm
            .data()
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.as_tensor().to_dtype(dtype)?)))
            .collect::<candle_core::Result<_>>()?;
        candle_core::safetensors::save(&tensors, &weights)?;
        load(dir.path()).map_err(|e| format!("{name}: the seed does not load: {e}"))?;
        let w = std::fs::read(&weights)?;
        let mut seed = (config.len() as u16).to_le_bytes().to_vec();
        seed.extend_from_slice(config.as_bytes());
        seed.extend_from_slice(&w);
        std::fs::write(out.join(name), &seed)?;
        println!("{name}: {} bytes ({} tensors)", seed.len(), tensors.len());
    }
    Ok(())
}
