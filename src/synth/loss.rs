//! The neural synth's loss on notes with their SoundFont renderings: batches of notes (features, f0,
//! target audio, each note's timbre state), fixed noise, and the mean multi-resolution STFT loss.
//! Used by training, by timbre cloning and by the synth evaluation.

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};
use crate::synth::data::NoteExample;
use crate::synth::ddsp::{multi_resolution_stft_loss, Voice, HOP};
use crate::synth::model::{NeuralSynth, Timbre, FEATURES};

/// Inputs of a batch of notes: features `[B, F, 6]`, f0 `[B, F]`, target audio `[B, F·HOP]`, and
/// per layer the stacked initial states of each note's timbre.
pub fn note_batch(
    notes: &[&NoteExample],
    timbres: &[Timbre],
    device: &Device,
) -> candle_core::Result<(Tensor, Tensor, Tensor, Vec<Tensor>)> {
    let b = notes.len();
    let f = notes.iter().map(|n| n.frames.len()).min().unwrap_or(0);
    let feats: Vec<f32> = notes
        .iter()
        .flat_map(|n| n.frames[..f].iter().flat_map(|x| x.features()))
        .collect();
    let f0: Vec<f32> = notes
        .iter()
        .flat_map(|n| n.frames[..f].iter().map(|x| x.f0()))
        .collect();
    let audio: Vec<f32> = notes
        .iter()
        .flat_map(|n| n.audio[..f * HOP].iter().copied())
        .collect();
    let layers = timbres.first().map_or(0, |t| t.layers.len());
    let mut states = Vec::with_capacity(layers);
    for l in 0..layers {
        let per_note = notes
            .iter()
            .map(|n| {
                let (k, v) = &timbres[n.instrument].layers[l];
                crate::model::gla::low_rank_state(k, v)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        states.push(Tensor::stack(&per_note, 0)?);
    }
    Ok((
        Tensor::from_vec(feats, (b, f, FEATURES), device)?,
        Tensor::from_vec(f0, (b, f), device)?,
        Tensor::from_vec(audio, (b, f * HOP), device)?,
        states,
    ))
}

/// White noise for `b` notes of `samples`, from fixed seeds (repeatable validation).
pub fn fixed_noise(b: usize, samples: usize, device: &Device) -> candle_core::Result<Tensor> {
    let mut data = vec![0f32; b * samples];
    for (i, row) in data.chunks_mut(samples).enumerate() {
        Voice::new(1000 + i as u64).white(row);
    }
    Tensor::from_vec(data, (b, samples), device)
}

/// Mean multi-resolution STFT loss of `synth` with `timbres` over `notes`, in batches of `batch`.
pub fn synth_loss(
    synth: &NeuralSynth,
    timbres: &[Timbre],
    notes: &[NoteExample],
    batch: usize,
) -> Result<f64> {
    let dev = Device::Cpu;
    let (mut total, mut n) = (0f64, 0usize);
    for group in notes.chunks(batch.max(1)) {
        let refs: Vec<&NoteExample> = group.iter().collect();
        let run = || -> candle_core::Result<f32> {
            let (x, f0, target, states) = note_batch(&refs, timbres, &dev)?;
            let noise = fixed_noise(refs.len(), target.dim(1)?, &dev)?;
            let audio = synth.render(&x, &f0, &noise, &states)?;
            multi_resolution_stft_loss(&audio, &target)?.to_scalar::<f32>()
        };
        total += run().map_err(Error::tensor)? as f64 * group.len() as f64;
        n += group.len();
    }
    Ok(total / n.max(1) as f64)
}
