//! Can the harmonic-plus-noise representation itself match a held-out recording? Free per-frame
//! controls (amplitude, harmonic logits, noise bands: no network, no timbre) are fitted by Adam to
//! single notes of TimGM6mb's oboe with the synth's STFT loss, and compared with the shipped synth's
//! nearest timbre and with the bundled SoundFont's same notes (scripts/soundfonts).
//! `cargo run --release --example ddsp_oracle -- [NOTES] [STEPS]`.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use reprise::model::optim::{AdamW, AdamWParams};
use reprise::synth::data::{make_notes, NoteExample, HELD_OUT};
use reprise::synth::ddsp::{
    filtered_noise, harmonic, multi_resolution_stft_loss, HARMONICS, NOISE_BANDS,
};
use reprise::synth::model::split_controls;
use reprise::synth::render::{load_network, load_timbre, timbre_names, timbre_path};

fn fit(note: &NoteExample, steps: usize) -> candle_core::Result<f64> {
    let dev = Device::Cpu;
    let f = note.frames.len();
    let n = note.audio.len();
    let target = Tensor::from_vec(note.audio.clone(), (1, n), &dev)?;
    let f0 = Tensor::from_vec(note.frames.iter().map(|x| x.f0()).collect(), (1, f), &dev)?;
    // Raw head outputs at zero: the untrained synth's priors, as the network starts.
    let width = 1 + HARMONICS + NOISE_BANDS;
    let raw = Var::from_tensor(&Tensor::zeros((1, f, width), DType::F32, &dev)?)?;
    let noise = reprise::synth::loss::fixed_noise(1, n, &dev)?;
    let phase0 = Tensor::zeros(1, DType::F32, &dev)?;
    let vars = HashMap::from([("raw".to_string(), raw.clone())]);
    let params = AdamWParams {
        weight_decay: 0.0,
        ..Default::default()
    };
    let mut opt = AdamW::new(vars, params)?;
    let render = || -> candle_core::Result<Tensor> {
        let (amp, dist, bands) = split_controls(raw.as_tensor())?;
        let (h, _) = harmonic(&f0, &amp, &dist, &phase0)?;
        h + filtered_noise(&noise, &bands)?
    };
    let mut best = f64::MAX;
    for _ in 0..steps {
        let loss = multi_resolution_stft_loss(&render()?, &target)?;
        best = best.min(loss.to_scalar::<f32>()? as f64);
        let grads = loss.backward()?;
        opt.update(&grads, 0.05, 1.0)?;
    }
    Ok(best)
}

fn main() -> reprise::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (count, steps) = (
        args.first().copied().unwrap_or(4),
        args.get(1).copied().unwrap_or(400),
    );
    let sf = |p: &str| reprise::audio::soundfont::load(Some(std::path::Path::new(p)));
    let tim = make_notes(
        &sf("/usr/share/sounds/sf2/TimGM6mb.sf2")?,
        &HELD_OUT[..1],
        count,
        272,
        9,
    )?;
    let bundled = make_notes(
        &reprise::audio::soundfont::load(None)?,
        &HELD_OUT[..1],
        count,
        272,
        9,
    )?;
    let dir = std::path::Path::new("models/gla-synth");
    let net = load_network(dir)?;
    for (t, b) in tim.iter().zip(&bundled) {
        let d = |x: &[f32]| reprise::synth::eval::phrase_distance(x, &t.audio).unwrap();
        let shipped = timbre_names(dir)
            .iter()
            .map(|name| {
                let timbre = load_timbre(&timbre_path(dir, name), net.config()).unwrap();
                reprise::synth::eval::distance(&net, &timbre, std::slice::from_ref(t)).unwrap()
            })
            .fold(f64::MAX, f64::min);
        let free = fit(t, steps).map_err(reprise::Error::tensor)?;
        println!(
            "key {} vel {}: bundled SF2 {:.3}, nearest shipped timbre {:.3}, free controls {:.3}",
            t.frames[0].pitch,
            t.frames[0].velocity,
            d(&b.audio),
            shipped,
            free
        );
    }
    Ok(())
}
