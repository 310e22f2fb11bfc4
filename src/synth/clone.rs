//! Timbre cloning: a short recording with its notes (MIDI) becomes a new timbre by tuning only the
//! GLA initial states, the network frozen. The recording is decoded, resampled to the synth's rate and
//! aligned to the notes (a global offset found by matching the audio's energy rises to the note
//! onsets); then Adam tunes the state factors on crops that start at note onsets, with the
//! multi-resolution STFT loss plus a loudness loss, checking a fixed set of crops and stopping when
//! they stop improving. The start is the trained timbre that already fits best.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use super::data::FitNote;
use super::ddsp::{loudness_loss, multi_resolution_stft_loss, HOP, SAMPLE_RATE};
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

/// Weight of the loudness loss against the multi-resolution STFT loss in cloning.
pub const LOUDNESS_WEIGHT: f64 = 0.5;

/// The STFT distance and the loudness loss of `timbre` on one crop (notes rendered from their
/// onsets, shifted into place, summed).
fn crop_terms(
    synth: &NeuralSynth,
    timbre: &Timbre,
    (x, f0, offsets, target): &Crop,
) -> candle_core::Result<(Tensor, Tensor)> {
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
    Ok((
        multi_resolution_stft_loss(&mix, target)?,
        loudness_loss(&mix, target)?,
    ))
}

/// The cloning loss on one crop: STFT distance plus [`LOUDNESS_WEIGHT`] × loudness loss.
fn crop_loss(synth: &NeuralSynth, timbre: &Timbre, crop: &Crop) -> candle_core::Result<Tensor> {
    let (stft, loud) = crop_terms(synth, timbre, crop)?;
    stft + (loud * LOUDNESS_WEIGHT)?
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

/// Mean STFT distance of `timbre` on the recording's fixed check crops (up to [`CHECK_CROPS`] crops
/// spread over it, the same ones the cloning checks): comparable across timbres, and cheap enough to
/// score every shipped timbre before cloning.
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
    let crops = check_crops(audio, notes, &starts)?;
    let mut total = 0.0;
    for c in &crops {
        total += crop_terms(synth, timbre, c)
            .and_then(|(stft, _)| stft.to_scalar::<f32>())
            .map_err(Error::tensor)? as f64;
    }
    Ok(total / crops.len().max(1) as f64)
}

/// How a timbre is tuned: Adam at `lr` for at most `max_steps` steps, checked every `check_every`
/// steps on a fixed set of crops, stopped after `patience` checks without a new best.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CloneSettings {
    /// The most Adam steps.
    pub max_steps: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Steps between checks of the loss on the fixed crops.
    pub check_every: usize,
    /// Checks in a row without a new best before stopping; 0: never stop early.
    pub patience: usize,
}

impl Default for CloneSettings {
    fn default() -> Self {
        CloneSettings {
            max_steps: 200,
            lr: 0.1,
            check_every: 10,
            patience: 3,
        }
    }
}

/// The most crops one check scores (evenly spread over the recording).
pub const CHECK_CROPS: usize = 6;

/// What a cloning went through: the training loss of every step and the checks (step, loss on
/// the fixed crops; step 0 is the starting timbre), and the step whose timbre was kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CloneCurve {
    /// (step, loss) of every Adam step, on its random crop.
    pub steps: Vec<(usize, f64)>,
    /// (steps taken, loss on the fixed crops).
    pub checks: Vec<(usize, f64)>,
    /// Steps taken by the kept timbre (the best check).
    pub best_step: usize,
    /// Whether it stopped for lack of improvement before `max_steps`.
    pub stopped_early: bool,
}

/// The timbre's state factors as trainable variables, and the timbre reading them.
fn timbre_vars(init: &Timbre) -> candle_core::Result<(HashMap<String, Var>, Timbre)> {
    let mut vars = HashMap::new();
    let mut layers = Vec::new();
    for (i, (k, v)) in init.layers.iter().enumerate() {
        let kv = Var::from_tensor(&k.to_dtype(DType::F32)?)?;
        let vv = Var::from_tensor(&v.to_dtype(DType::F32)?)?;
        layers.push((kv.as_tensor().clone(), vv.as_tensor().clone()));
        vars.insert(format!("layers.{i}.k"), kv);
        vars.insert(format!("layers.{i}.v"), vv);
    }
    Ok((vars, Timbre { layers }))
}

/// A copy of `timbre` that later steps do not change.
fn snapshot(timbre: &Timbre) -> candle_core::Result<Timbre> {
    let layers = timbre
        .layers
        .iter()
        .map(|(k, v)| Ok((k.copy()?, v.copy()?)))
        .collect::<candle_core::Result<_>>()?;
    Ok(Timbre { layers })
}

/// Up to [`CHECK_CROPS`] crops spread evenly over `starts`.
fn check_crops(audio: &[f32], notes: &[FitNote], starts: &[usize]) -> Result<Vec<Crop>> {
    let n = starts.len().min(CHECK_CROPS);
    (0..n)
        .filter_map(|i| {
            let s = starts[i * starts.len() / n];
            crop(audio, notes, s).map_err(Error::tensor).transpose()
        })
        .collect()
}

/// Mean cloning loss of `timbre` on `crops`.
fn check_loss(synth: &NeuralSynth, timbre: &Timbre, crops: &[Crop]) -> Result<f64> {
    let mut total = 0.0;
    for c in crops {
        total += crop_loss(synth, timbre, c)
            .and_then(|l| l.to_scalar::<f32>())
            .map_err(Error::tensor)? as f64;
    }
    Ok(total / crops.len().max(1) as f64)
}

/// Tunes a copy of `init` on the recording (network frozen) by Adam on random crops, checking the
/// loss on fixed crops every `check_every` steps and keeping the best timbre checked; stops when
/// `patience` checks bring no new best. `on_step(step, loss)` reports progress.
pub fn clone_timbre(
    synth: &NeuralSynth,
    init: &Timbre,
    audio: &[f32],
    notes: &[FitNote],
    settings: &CloneSettings,
    on_step: &mut dyn FnMut(usize, f64),
) -> Result<(Timbre, CloneCurve)> {
    tune(synth, init, HashMap::new(), audio, notes, settings, on_step)
}

/// [`clone_timbre`] that also tunes `extra` variables, e.g. the network's own weights when `synth`
/// was built on them: not a timbre any more (the network changes), but how close this synth can
/// get to a recording at all (`examples/clone_ceiling`). The returned timbre is the best check's;
/// the extra variables keep their last values.
pub fn tune(
    synth: &NeuralSynth,
    init: &Timbre,
    extra: HashMap<String, Var>,
    audio: &[f32],
    notes: &[FitNote],
    settings: &CloneSettings,
    on_step: &mut dyn FnMut(usize, f64),
) -> Result<(Timbre, CloneCurve)> {
    let starts = crop_starts(audio, notes);
    if starts.is_empty() {
        return Err(Error::Invalid(
            "the recording is too short for its notes".into(),
        ));
    }
    let checks = check_crops(audio, notes, &starts)?;
    let (mut vars, timbre) = timbre_vars(init).map_err(Error::tensor)?;
    vars.extend(extra);
    let params = AdamWParams {
        weight_decay: 0.0,
        ..Default::default()
    };
    let mut opt = AdamW::new(vars, params).map_err(Error::tensor)?;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut curve = CloneCurve::default();
    let mut best = (
        check_loss(synth, &timbre, &checks)?,
        snapshot(&timbre).map_err(Error::tensor)?,
    );
    curve.checks.push((0, best.0));
    let mut since_best = 0;
    for step in 0..settings.max_steps {
        let s = starts[rng.random_range(0..starts.len())];
        let Some(c) = crop(audio, notes, s).map_err(Error::tensor)? else {
            continue;
        };
        let mut run = || -> candle_core::Result<f64> {
            let loss = crop_loss(synth, &timbre, &c)?;
            let grads = loss.backward()?;
            let norm = opt.grad_norm(&grads)?;
            let scale = if norm > 1.0 { 1.0 / norm } else { 1.0 };
            opt.update(&grads, settings.lr, scale)?;
            Ok(loss.to_scalar::<f32>()? as f64)
        };
        let loss = run().map_err(Error::tensor)?;
        curve.steps.push((step + 1, loss));
        on_step(step, loss);
        if (step + 1) % settings.check_every.max(1) != 0 {
            continue;
        }
        let checked = check_loss(synth, &timbre, &checks)?;
        curve.checks.push((step + 1, checked));
        if checked < best.0 {
            best = (checked, snapshot(&timbre).map_err(Error::tensor)?);
            curve.best_step = step + 1;
            since_best = 0;
        } else {
            since_best += 1;
            if settings.patience > 0 && since_best >= settings.patience {
                curve.stopped_early = step + 1 < settings.max_steps;
                break;
            }
        }
    }
    Ok((best.1, curve))
}

/// Writes the curve as a PNG: every step's loss (grey) and the checks (blue).
pub fn plot_curve(curve: &CloneCurve, path: &std::path::Path) -> Result<()> {
    let steps: Vec<(f64, f64)> = curve.steps.iter().map(|&(s, l)| (s as f64, l)).collect();
    let checks: Vec<(f64, f64)> = curve.checks.iter().map(|&(s, l)| (s as f64, l)).collect();
    crate::plot::line_chart(
        path,
        &[
            crate::plot::Series {
                points: &steps,
                rgb: [170, 170, 170],
            },
            crate::plot::Series {
                points: &checks,
                rgb: [30, 90, 200],
            },
        ],
    )
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
