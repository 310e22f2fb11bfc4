//! Harmonic vs noise level of a synth model on one SoundFont-range note per timbre (a health check
//! of training: a collapsed harmonic branch shows as a harmonic RMS far under the noise RMS).
//! `cargo run --release --example amp_check -- MODEL_DIR`
use candle_core::{DType, Device, Tensor};
use reprise::synth::{data::TRAINED, model::*, render::*};

fn main() {
    let dir =
        std::path::PathBuf::from(std::env::args().nth(1).unwrap_or("models/gla-synth".into()));
    let net = load_network(&dir).unwrap();
    let dev = Device::Cpu;
    let rms = |x: &[f32]| (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
    for inst in TRAINED {
        let t = load_timbre(&timbre_path(&dir, inst.name), net.config()).unwrap();
        let pitch = (inst.range.0 + inst.range.1) / 2;
        let frames = note_frames(pitch, 90, 0.5, 1.0);
        let feats: Vec<f32> = frames.iter().flat_map(|f| f.features()).collect();
        let x = Tensor::from_vec(feats, (1, frames.len(), FEATURES), &dev).unwrap();
        let f0 = Tensor::full(frames[0].f0(), (1, frames.len()), &dev).unwrap();
        let silent = Tensor::zeros((1, frames.len() * 128), DType::F32, &dev).unwrap();
        let noise = reprise::synth::loss::fixed_noise(1, frames.len() * 128, &dev).unwrap();
        let states = t.states(1).unwrap();
        let h: Vec<f32> = net
            .render(&x, &f0, &silent, &states)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec1()
            .unwrap();
        let all: Vec<f32> = net
            .render(&x, &f0, &noise, &states)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec1()
            .unwrap();
        let sf = reprise::audio::soundfont::load(None).unwrap();
        let target =
            reprise::synth::data::render_note(&sf, inst.program, pitch, 90, 0.5, frames.len())
                .unwrap();
        println!(
            "{:<8} key {pitch}: harmonic RMS {:.5}, harmonic + noise {:.5}, SoundFont {:.5}",
            inst.name,
            rms(&h),
            rms(&all),
            rms(&target)
        );
    }
}
