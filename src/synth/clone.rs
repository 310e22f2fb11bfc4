//! Timbre cloning: a short recording with its notes (MIDI) becomes a new timbre by tuning only the
//! GLA initial states, the network frozen. The recording is decoded, resampled to the synth's rate and
//! aligned to the notes (a global offset found by matching the audio's energy rises to the note
//! onsets); then Adam tunes the state factors on crops that start at note onsets, with the
//! multi-resolution STFT loss. The start is the trained timbre that already fits best.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use super::data::FitNote;
use super::ddsp::{multi_resolution_stft_loss, HOP, SAMPLE_RATE};
use super::model::{note_frames, NeuralSynth, Timbre, FEATURES, FRAME_RATE};
use crate::audio::decode::Recording;
use crate::error::{Error, Result};
use crate::midi::Score;
use crate::model::optim::{AdamW, AdamWParams};

/// Sample rates a recording may have (what resamples to the synth's rate in reasonable time).
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 4_000..=384_000;

/// Frames per training crop (about 1.5 s).
pub const CROP_FRAMES: usize = 256;

/// Checks that the recording can be cloned from: its sample rate, at least 1 s, not silent.
pub fn check(rec: &Recording) -> Result<()> {
    if !SAMPLE_RATES.contains(&rec.sample_rate) {
        return Err(Error::Invalid(format!(
            "the recording's sample rate {} Hz is outside {}–{} Hz",
            rec.sample_rate,
            SAMPLE_RATES.start(),
            SAMPLE_RATES.end()
        )));
    }
    if rec.seconds() < 1.0 {
        return Err(Error::Invalid(format!(
            "the recording is {:.2} s long: at least 1 s is needed",
            rec.seconds()
        )));
    }
    let peak = rec.samples.iter().fold(0f32, |m, v| m.max(v.abs()));
    if peak < 1e-4 {
        return Err(Error::Invalid("the recording is silent".into()));
    }
    Ok(())
}

/// Checks the recording and notes, resamples, and aligns: returns the audio at the synth's rate,
/// the aligned notes and the offset applied (seconds added to the MIDI times).
pub fn prepare(rec: &Recording, notes: &Score) -> Result<(Vec<f32>, Vec<FitNote>, f64)> {
    check(rec)?;
    let audio = super::resample::resample(&rec.samples, rec.sample_rate, SAMPLE_RATE)?;
    let seconds = audio.len() as f64 / SAMPLE_RATE as f64;
    let pitched: Vec<_> = notes.notes.iter().filter(|n| !n.is_drum()).collect();
    if pitched.is_empty() {
        return Err(Error::Invalid("the notes file has no pitched notes".into()));
    }
    let last = pitched.iter().map(|n| n.start).fold(0.0, f64::max);
    if last > seconds + 0.5 || pitched.iter().map(|n| n.end).fold(0.0, f64::max) < seconds * 0.25 {
        return Err(Error::Invalid(format!(
            "the notes ({last:.1} s to the last onset) do not match the recording ({seconds:.1} s)"
        )));
    }
    let offset = align(&audio, &pitched.iter().map(|n| n.start).collect::<Vec<_>>());
    let fit = pitched
        .iter()
        .map(|n| FitNote {
            pitch: n.pitch,
            velocity: n.velocity,
            start: n.start + offset,
            held: n.duration(),
        })
        .filter(|n| n.start >= 0.0 && n.start < seconds)
        .collect();
    Ok((audio, fit, offset))
}

/// The offset (−0.5…0.5 s, frame steps) that best lines note onsets up with rises of the audio's
/// frame energy.
fn align(audio: &[f32], onsets: &[f64]) -> f64 {
    let frames = audio.len() / HOP;
    let energy: Vec<f64> = (0..frames)
        .map(|f| {
            let x = &audio[f * HOP..(f + 1) * HOP];
            (x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / HOP as f64 + 1e-10).ln()
        })
        .collect();
    let rise: Vec<f64> = (0..frames)
        .map(|f| {
            if f == 0 {
                0.0
            } else {
                (energy[f] - energy[f - 1]).max(0.0)
            }
        })
        .collect();
    let span = (0.5 * FRAME_RATE) as i64;
    let score = |shift: i64| -> f64 {
        onsets
            .iter()
            .map(|&t| {
                let f = (t * FRAME_RATE).round() as i64 + shift;
                (f - 1..=f + 1)
                    .filter(|&g| g >= 0 && (g as usize) < frames)
                    .map(|g| rise[g as usize])
                    .fold(0.0, f64::max)
            })
            .sum()
    };
    let best = (-span..=span)
        .max_by(|&a, &b| score(a).total_cmp(&score(b)).then((b.abs()).cmp(&a.abs())))
        .unwrap_or(0);
    // Notes that come with a recording are usually already aligned, and slow attacks peak late:
    // move only for a clear gain.
    if score(best) > 1.2 * score(0) {
        best as f64 / FRAME_RATE
    } else {
        0.0
    }
}

/// One crop: features `[B, F, 6]`, f0 `[B, F]`, each note's frame offset, the target `[1, F·HOP]`.
type Crop = (Tensor, Tensor, Vec<usize>, Tensor);

/// The crop of the recording starting at `start` frames and the notes sounding from their onsets in
/// it, as tensors: features `[B, F, 6]`, f0 `[B, F]`, each note's frame offset, and the target.
fn crop(audio: &[f32], notes: &[FitNote], start: usize) -> candle_core::Result<Option<Crop>> {
    let dev = Device::Cpu;
    let in_crop: Vec<&FitNote> = notes
        .iter()
        .filter(|n| {
            let f = (n.start * FRAME_RATE).round() as usize;
            f >= start && f < start + CROP_FRAMES
        })
        .collect();
    if in_crop.is_empty() || (start + CROP_FRAMES) * HOP > audio.len() {
        return Ok(None);
    }
    let mut feats = Vec::new();
    let mut f0 = Vec::new();
    let mut offsets = Vec::new();
    for n in &in_crop {
        let off = (n.start * FRAME_RATE).round() as usize - start;
        let total = CROP_FRAMES as f64 / FRAME_RATE;
        let mut frames = note_frames(n.pitch, n.velocity, n.held.min(total), total);
        frames.truncate(CROP_FRAMES);
        feats.extend(frames.iter().flat_map(|f| f.features()));
        f0.extend(frames.iter().map(|f| f.f0()));
        offsets.push(off);
    }
    let b = in_crop.len();
    let target = &audio[start * HOP..(start + CROP_FRAMES) * HOP];
    Ok(Some((
        Tensor::from_vec(feats, (b, CROP_FRAMES, FEATURES), &dev)?,
        Tensor::from_vec(f0, (b, CROP_FRAMES), &dev)?,
        offsets,
        Tensor::from_vec(target.to_vec(), (1, CROP_FRAMES * HOP), &dev)?,
    )))
}

/// The loss of `timbre` on one crop (notes rendered from their onsets, shifted into place, summed).
fn crop_loss(
    synth: &NeuralSynth,
    timbre: &Timbre,
    (x, f0, offsets, target): &Crop,
) -> candle_core::Result<Tensor> {
    let dev = Device::Cpu;
    let b = offsets.len();
    let n = CROP_FRAMES * HOP;
    // The same noise every time: the loss compares timbres, not noise draws.
    let noise = crate::synth::loss::fixed_noise(b, n, &dev)?;
    let voices = synth.render(x, f0, &noise, &timbre.states(b)?)?; // [B, n]
    let mut mix = Tensor::zeros((1, n), DType::F32, &dev)?;
    for (i, &off) in offsets.iter().enumerate() {
        let shift = off * HOP;
        let v = voices.narrow(0, i, 1)?.narrow(1, 0, n - shift)?;
        let placed = if shift > 0 {
            Tensor::cat(&[Tensor::zeros((1, shift), DType::F32, &dev)?, v], 1)?
        } else {
            v
        };
        mix = (mix + placed)?;
    }
    multi_resolution_stft_loss(&mix, target)
}

/// Crop starts (frames) at note onsets where a full crop fits.
fn crop_starts(audio: &[f32], notes: &[FitNote]) -> Vec<usize> {
    let frames = audio.len() / HOP;
    let mut starts: Vec<usize> = notes
        .iter()
        .map(|n| (n.start * FRAME_RATE).round() as usize)
        .filter(|&f| f + CROP_FRAMES <= frames)
        .collect();
    starts.dedup();
    starts
}

/// Mean loss of `timbre` over every crop (a fixed set: comparable across timbres).
pub fn fit_loss(
    synth: &NeuralSynth,
    timbre: &Timbre,
    audio: &[f32],
    notes: &[FitNote],
) -> Result<f64> {
    let starts = crop_starts(audio, notes);
    if starts.is_empty() {
        return Err(Error::Invalid(format!(
            "the recording has no note with {:.1} s of audio after it",
            CROP_FRAMES as f64 / FRAME_RATE
        )));
    }
    let mut total = 0.0;
    for (i, &s) in starts.iter().enumerate() {
        let Some(c) = crop(audio, notes, s).map_err(Error::tensor)? else {
            continue;
        };
        let _ = i;
        total += crop_loss(synth, timbre, &c)
            .and_then(|l| l.to_scalar::<f32>())
            .map_err(Error::tensor)? as f64;
    }
    Ok(total / starts.len() as f64)
}

/// Tunes a copy of `init` on the recording for `steps` Adam steps at `lr` (network frozen);
/// `on_step(step, loss)` reports progress.
pub fn clone_timbre(
    synth: &NeuralSynth,
    init: &Timbre,
    audio: &[f32],
    notes: &[FitNote],
    steps: usize,
    lr: f64,
    on_step: &mut dyn FnMut(usize, f64),
) -> Result<Timbre> {
    let starts = crop_starts(audio, notes);
    if starts.is_empty() {
        return Err(Error::Invalid(
            "the recording is too short for its notes".into(),
        ));
    }
    let mut vars = HashMap::new();
    let mut layers = Vec::new();
    for (i, (k, v)) in init.layers.iter().enumerate() {
        let (kv, vv) = (
            Var::from_tensor(&k.to_dtype(DType::F32).map_err(Error::tensor)?)
                .map_err(Error::tensor)?,
            Var::from_tensor(&v.to_dtype(DType::F32).map_err(Error::tensor)?)
                .map_err(Error::tensor)?,
        );
        layers.push((kv.as_tensor().clone(), vv.as_tensor().clone()));
        vars.insert(format!("layers.{i}.k"), kv);
        vars.insert(format!("layers.{i}.v"), vv);
    }
    let timbre = Timbre { layers };
    let params = AdamWParams {
        weight_decay: 0.0,
        ..Default::default()
    };
    let mut opt = AdamW::new(vars, params).map_err(Error::tensor)?;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for step in 0..steps {
        let s = starts[rng.random_range(0..starts.len())];
        let Some(c) = crop(audio, notes, s).map_err(Error::tensor)? else {
            continue;
        };
        let mut run = || -> candle_core::Result<f64> {
            let loss = crop_loss(synth, &timbre, &c)?;
            let grads = loss.backward()?;
            let norm = opt.grad_norm(&grads)?;
            let scale = if norm > 1.0 { 1.0 / norm } else { 1.0 };
            opt.update(&grads, lr, scale)?;
            Ok(loss.to_scalar::<f32>()? as f64)
        };
        on_step(step, run().map_err(Error::tensor)?);
    }
    Ok(timbre)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::midi::TrackRole;

    fn notes(times: &[f64]) -> Score {
        let mut s = Score::new(480, 500_000).unwrap();
        let t = s.add_track("", TrackRole::Other);
        for &a in times {
            s.push_note_seconds(t, 0, 0, 60, 90, a, a + 0.3);
        }
        s
    }

    /// Bursts of a tone at `onsets` in `seconds` of audio at 22 050 Hz.
    fn bursts(onsets: &[f64], seconds: f64) -> Recording {
        let n = (seconds * SAMPLE_RATE as f64) as usize;
        let mut x = vec![0f32; n];
        for &o in onsets {
            let a = (o * SAMPLE_RATE as f64) as usize;
            let end = (a + 6000).min(n);
            for (i, v) in x[a..end].iter_mut().enumerate() {
                *v += 0.5 * ((a + i) as f32 * 0.1).sin();
            }
        }
        Recording {
            samples: x,
            sample_rate: SAMPLE_RATE,
        }
    }

    #[test]
    fn notes_are_aligned_to_the_audio() {
        let onsets = [0.5, 1.2, 2.0, 2.6, 3.5];
        let rec = bursts(&onsets, 5.0);
        let late: Vec<f64> = onsets.iter().map(|t| t + 0.2).collect();
        let (_, fit, offset) = prepare(&rec, &notes(&late)).unwrap();
        assert!((offset + 0.2).abs() < 0.02, "{offset}");
        assert!((fit[0].start - 0.5).abs() < 0.02);
        let (_, _, none) = prepare(&rec, &notes(&onsets)).unwrap();
        assert_eq!(none, 0.0);
    }

    #[test]
    fn bad_recordings_are_refused() {
        let short = bursts(&[0.1], 0.5);
        assert!(prepare(&short, &notes(&[0.1]))
            .unwrap_err()
            .to_string()
            .contains("at least 1 s"));
        let silent = Recording {
            samples: vec![0.0; 44_100],
            sample_rate: 22_050,
        };
        assert!(prepare(&silent, &notes(&[0.1]))
            .unwrap_err()
            .to_string()
            .contains("silent"));
        let rec = bursts(&[0.5], 3.0);
        let far = notes(&[0.5, 30.0]);
        assert!(prepare(&rec, &far)
            .unwrap_err()
            .to_string()
            .contains("do not match"));
        let empty = Score::new(480, 500_000).unwrap();
        assert!(prepare(&rec, &empty)
            .unwrap_err()
            .to_string()
            .contains("no pitched notes"));
    }
}
