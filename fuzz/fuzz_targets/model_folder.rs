//! Fuzzes model folders: the input's first two bytes (little-endian) are the length of its
//! `config.json`, which follows; the rest is `model.safetensors`. The folder is loaded as every kind
//! of model (Music Transformer, Theme Transformer, harmonizer/chord tagger, neural synth): each must
//! load or give an error, never panic. A Music Transformer that loads must also run a few steps.
//!
//! Input layout: `[len: u16 LE][config.json: len bytes][model.safetensors: the rest]`
//! (`examples/model_seeds.rs` writes real tiny folders in this layout as seeds).
#![no_main]

#[path = "../common.rs"]
mod common;

use candle_core::{Device, Tensor};
use libfuzzer_sys::fuzz_target;
use reprise::accompany::harmony::Harmonizer;
use reprise::model::theme_transformer::ThemeTransformer;
use reprise::model::{Cache, MusicTransformer};

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let (config, weights) = rest.split_at((u16::from_le_bytes(*len) as usize).min(rest.len()));
    common::write_scratch("config.json", config);
    common::write_scratch("model.safetensors", weights);
    let dir = common::scratch();
    let cpu = Device::Cpu;
    if let Ok(model) = MusicTransformer::load(dir, &cpu) {
        let vocab = model.config().vocab_size as u32;
        let ids: Vec<u32> = (0..3).map(|i| i % vocab).collect();
        let ids = Tensor::from_vec(ids, (1, 3), &cpu).expect("ids");
        let mut cache = Cache::default();
        let logits = model
            .forward_cached(&ids, &mut cache)
            .expect("a loaded model runs");
        assert_eq!(logits.dims(), [1, 3, vocab as usize]);
    }
    let _ = ThemeTransformer::load(dir, &cpu);
    let _ = Harmonizer::load(dir);
    let _ = reprise::synth::render::load_network(dir);
});
