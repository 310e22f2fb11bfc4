//! Diagnoses the accompaniment model on one POP909 song's second validation window: teacher-forced
//! NLL with its own melody, another window's, none, and the melody a fourth higher (how much the model
//! uses the melody's rhythm and its pitches), through the full and the cached decoder; and whether
//! sampling through the cache writes what sampling with full forwards writes.
//! `cargo run --release --example accomp_check -- MODEL_DIR SONG_DIR`.
use candle_core::{DType, Device, Tensor};
use reprise::generate::sampler::{Sampler, SamplerConfig};
use reprise::model::theme_transformer::{ThemeMemory, ThemeTransformer};
use reprise::tokens::{remi, BOS};

fn ids(v: &[u32]) -> Tensor {
    Tensor::from_vec(v.to_vec(), (1, v.len()), &Device::Cpu).unwrap()
}

fn encode(model: &ThemeTransformer, melody: &[u32]) -> anyhow::Result<ThemeMemory> {
    let th = ids(melody);
    let mask = th.ones_like()?.to_dtype(DType::F32)?;
    Ok(model.encode(&th, &mask, &ids(&remi::time_positions(melody)), false)?)
}

/// Samples 4 bars after BOS (seed 1, no mask), with full forwards or through the cache.
fn sample(model: &ThemeTransformer, mem: &ThemeMemory, cached: bool) -> anyhow::Result<Vec<u32>> {
    let mut sampler = Sampler::new(SamplerConfig {
        seed: 1,
        ..SamplerConfig::default()
    })?;
    let mut out = vec![BOS];
    let mut cache = Default::default();
    let mut logits = model.decode_cached(&ids(&out), &[0], &[1.0], mem, &mut cache)?;
    let mut time = remi::TimeCounter::default();
    time.next(BOS);
    while out.len() < 500 {
        if !cached {
            let l = out.len();
            let gate = Tensor::ones((1, l), DType::F32, &Device::Cpu)?;
            let counter = ids(&remi::time_positions(&out));
            logits = model
                .decode(&ids(&out), &counter, &gate, mem, None, false)?
                .narrow(1, l - 1, 1)?;
        }
        let id = sampler.sample(&logits.squeeze(0)?.get(0)?.to_vec1::<f32>()?, None);
        if id == remi::BAR && out.iter().filter(|&&i| i == remi::BAR).count() == 4 {
            break;
        }
        out.push(id);
        if cached {
            let c = time.next(id);
            logits = model.decode_cached(&ids(&[id]), &[c], &[1.0], mem, &mut cache)?;
        }
    }
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let model = ThemeTransformer::load(std::path::Path::new(&args[1]), &Device::Cpu)?;
    let root = std::path::Path::new(&args[2]);
    let name = root.file_name().unwrap().to_string_lossy().to_string();
    let path = root.join(format!("{name}.mid"));
    let score = reprise::midi::read_file(&path)?;
    let downbeats = reprise::pop909::downbeats(&path).expect("beat_midi.txt");
    let bars = reprise::midi::bars_from_downbeats(&score, &downbeats, score.end_tick());
    let chords = if model.config().chords {
        reprise::accompany::chords::annotated_chords(root, &score, &bars)?
    } else {
        Vec::new()
    };
    let windows =
        reprise::train::accomp::song_windows(&score, &bars, &chords, model.config(), None);
    let w = &windows[1];
    let n = w.ids.len() - 1;
    let nll = |melody: &[u32]| -> anyhow::Result<(f64, f64)> {
        let mem = encode(&model, melody)?;
        let gate = Tensor::ones((1, n), DType::F32, &Device::Cpu)?;
        let input = ids(&w.ids[..n]);
        let full = model.decode(&input, &ids(&w.counter[..n]), &gate, &mem, None, false)?;
        let mut cache = Default::default();
        let cached =
            model.decode_cached(&input, &w.counter[..n], &vec![1.0; n], &mem, &mut cache)?;
        let mean = |logits: &Tensor| -> anyhow::Result<f64> {
            let lp = candle_nn::ops::log_softmax(&logits.squeeze(0)?, 1)?.to_vec2::<f32>()?;
            Ok((0..n)
                .map(|i| -lp[i][w.ids[i + 1] as usize] as f64)
                .sum::<f64>()
                / n as f64)
        };
        Ok((mean(&full)?, mean(&cached)?))
    };
    let up = reprise::accompany::bars::transpose_encoder(&w.theme, 5).expect("in range");
    println!(
        "window 1 of {name}: {n} piano tokens, {} melody tokens",
        w.theme.len()
    );
    for (label, melody) in [
        ("its own melody", w.theme.clone()),
        ("window 2's melody", windows[2].theme.clone()),
        ("no melody", vec![remi::BAR]),
        ("the melody a fourth up", up),
    ] {
        let (full, cached) = nll(&melody)?;
        println!("NLL with {label}: {full:.4} (cached prefill {cached:.4})");
    }
    let mem = encode(&model, &w.theme)?;
    let same = sample(&model, &mem, false)? == sample(&model, &mem, true)?;
    println!("sampling through the cache writes what full forwards write: {same}");
    Ok(())
}
