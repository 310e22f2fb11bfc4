//! A differentiable harmonic-plus-noise synthesizer (after DDSP, Engel et al. 2020), twice: in candle
//! for training ([`harmonic`], [`filtered_noise`]) and in plain Rust for streaming ([`Voice`]).
//!
//! Per frame (hop [`HOP`] samples at [`SAMPLE_RATE`]): an overall amplitude, a distribution over
//! [`HARMONICS`] harmonics of f0 (harmonics at or above Nyquist get nothing), and [`NOISE_BANDS`]
//! magnitudes of a noise filter spread linearly from 0 Hz to Nyquist. Controls are interpolated
//! linearly between frame centres; the phase is the running sum of the per-sample frequency.

use candle_core::{DType, Device, Tensor, D};

/// Sample rate of the neural synthesizer.
pub const SAMPLE_RATE: u32 = 22_050;
/// Samples per frame (172 frames per second).
pub const HOP: usize = 128;
/// Harmonics per frame.
pub const HARMONICS: usize = 64;
/// Noise-filter bands per frame.
pub const NOISE_BANDS: usize = 65;

/// Linear interpolation of per-frame controls `[B, F, C]` to per-sample `[B, F·HOP, C]`; frame f's
/// value sits at sample f·HOP and the last frame is held.
pub fn upsample(x: &Tensor) -> candle_core::Result<Tensor> {
    let (b, f, c) = x.dims3()?;
    let next = Tensor::cat(&[x.narrow(1, 1, f - 1)?, x.narrow(1, f - 1, 1)?], 1)?;
    let w: Vec<f32> = (0..HOP).map(|i| i as f32 / HOP as f32).collect();
    let w = Tensor::from_vec(w, (1, 1, HOP, 1), x.device())?;
    let a = x.unsqueeze(2)?; // [B, F, 1, C]
    let d = (next - x)?.unsqueeze(2)?;
    a.broadcast_add(&d.broadcast_mul(&w)?)?
        .reshape((b, f * HOP, c))
}

/// The harmonic part: `f0` `[B, F]` in Hz, `amplitude` `[B, F]`, `distribution` `[B, F, K]` (sums to
/// 1 over K) → audio `[B, F·HOP]`, starting at phase `phase0` (radians) `[B]`; also returns the phase
/// after the last sample.
pub fn harmonic(
    f0: &Tensor,
    amplitude: &Tensor,
    distribution: &Tensor,
    phase0: &Tensor,
) -> candle_core::Result<(Tensor, Tensor)> {
    let (b, f, k) = distribution.dims3()?;
    let dev = f0.device();
    let orders = Tensor::arange(1f32, (k + 1) as f32, dev)?.reshape((1, 1, k))?;
    let freqs = f0.unsqueeze(2)?.broadcast_mul(&orders)?; // [B, F, K]
    let audible = freqs.lt(SAMPLE_RATE as f64 / 2.0)?.to_dtype(DType::F32)?;
    let amps = distribution
        .broadcast_mul(&amplitude.unsqueeze(2)?)?
        .mul(&audible)?;
    // The phase is a constant of training (f0 is given): accumulated in f64 and wrapped to
    // [0, 2π), so that k·phase stays precise in f32. (candle's cumsum is a matmul with an N×N
    // triangle: no use at 30 000 samples.)
    let f0_s: Vec<Vec<f32>> = upsample(&f0.unsqueeze(2)?)?.squeeze(2)?.to_vec2()?;
    let start: Vec<f32> = phase0.to_vec1()?;
    let n = f * HOP;
    let tau = 2.0 * std::f64::consts::PI;
    let mut phases = Vec::with_capacity(b * n);
    let mut last = Vec::with_capacity(b);
    for (row, &p0) in f0_s.iter().zip(&start) {
        let mut p = p0 as f64;
        for &hz in row {
            p = (p + tau * hz as f64 / SAMPLE_RATE as f64) % tau;
            phases.push(p as f32);
        }
        last.push(p as f32);
    }
    let phase = Tensor::from_vec(phases, (b, n, 1), dev)?;
    let amps_s = upsample(&amps)?; // [B, N, K]
    let all_phases = phase.broadcast_mul(&orders)?; // [B, N, K]
    let audio = (all_phases.sin()? * amps_s)?.sum(D::Minus1)?;
    Ok((audio, Tensor::from_vec(last, b, dev)?))
}

/// `[n_fft, n_bins]` real and imaginary DFT bases, optionally windowed (Hann).
/// Built once per size and thread on the CPU (their f64 sines and cosines took 40 % of a cloning
/// step when rebuilt for every spectrogram); other devices build them each time.
fn dft_bases(n_fft: usize, window: bool, device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
    type Bases = std::collections::HashMap<(usize, bool), (Tensor, Tensor)>;
    thread_local!(static CACHE: std::cell::RefCell<Bases> = Default::default());
    if !device.is_cpu() {
        return build_dft_bases(n_fft, window, device);
    }
    if let Some(b) = CACHE.with(|c| c.borrow().get(&(n_fft, window)).cloned()) {
        return Ok(b);
    }
    let b = build_dft_bases(n_fft, window, device)?;
    CACHE.with(|c| c.borrow_mut().insert((n_fft, window), b.clone()));
    Ok(b)
}

fn build_dft_bases(
    n_fft: usize,
    window: bool,
    device: &Device,
) -> candle_core::Result<(Tensor, Tensor)> {
    let bins = n_fft / 2 + 1;
    let (mut re, mut im) = (
        Vec::with_capacity(n_fft * bins),
        Vec::with_capacity(n_fft * bins),
    );
    for t in 0..n_fft {
        let w = if window {
            0.5 - 0.5 * (2.0 * std::f64::consts::PI * t as f64 / n_fft as f64).cos()
        } else {
            1.0
        };
        for k in 0..bins {
            let a = -2.0 * std::f64::consts::PI * (t * k) as f64 / n_fft as f64;
            re.push((w * a.cos()) as f32);
            im.push((w * a.sin()) as f32);
        }
    }
    Ok((
        Tensor::from_vec(re, (n_fft, bins), device)?,
        Tensor::from_vec(im, (n_fft, bins), device)?,
    ))
}

/// Filtered noise: `noise` `[B, F·HOP]` white noise (given, so both implementations can share it)
/// shaped per frame by `magnitudes` `[B, F, NOISE_BANDS]`. Each frame's noise is multiplied in the
/// frequency domain (a 2·HOP-point DFT of the frame, zero-padded) by the bands interpolated over the
/// bins, brought back, and overlap-added.
pub fn filtered_noise(noise: &Tensor, magnitudes: &Tensor) -> candle_core::Result<Tensor> {
    let (b, f, bands) = magnitudes.dims3()?;
    let dev = noise.device();
    let n_fft = 2 * HOP;
    let bins = n_fft / 2 + 1; // 129
    let (re, im) = dft_bases(n_fft, false, dev)?;
    let frames = noise.reshape((b, f, HOP))?;
    let padded = Tensor::cat(&[frames, Tensor::zeros((b, f, HOP), DType::F32, dev)?], 2)?;
    let (xr, xi) = (padded.broadcast_matmul(&re)?, padded.broadcast_matmul(&im)?); // [B, F, bins]
    let h = magnitudes.broadcast_matmul(&band_to_bins(bands, bins, dev)?)?; // [B, F, bins]
    let (yr, yi) = ((xr * &h)?, (xi * &h)?);
    // Inverse real DFT: x[t] = (1/N) Σ_k c_k (Re Y_k cos − Im Y_k sin)(2πkt/N) with c = 1, 2, …, 2, 1.
    let (ir, ii) = inverse_bases(n_fft, dev)?;
    let y = (yr.broadcast_matmul(&ir)? + yi.broadcast_matmul(&ii)?)?; // [B, F, n_fft]
                                                                      // Overlap-add: the second half of frame f adds to the first half of frame f + 1.
    let first = y.narrow(2, 0, HOP)?;
    let second = y.narrow(2, HOP, HOP)?;
    let shifted = Tensor::cat(
        &[
            Tensor::zeros((b, 1, HOP), DType::F32, dev)?,
            second.narrow(1, 0, f - 1)?,
        ],
        1,
    )?;
    (first + shifted)?.reshape((b, f * HOP))
}

/// `[bands, bins]` linear interpolation from band centres (spread 0…Nyquist) to DFT bins.
fn band_to_bins(bands: usize, bins: usize, dev: &Device) -> candle_core::Result<Tensor> {
    let mut m = vec![0f32; bands * bins];
    for k in 0..bins {
        let pos = k as f64 * (bands - 1) as f64 / (bins - 1) as f64;
        let lo = pos.floor() as usize;
        let frac = (pos - lo as f64) as f32;
        m[lo * bins + k] += 1.0 - frac;
        if lo + 1 < bands {
            m[(lo + 1) * bins + k] += frac;
        }
    }
    Tensor::from_vec(m, (bands, bins), dev)
}

fn inverse_bases(n_fft: usize, dev: &Device) -> candle_core::Result<(Tensor, Tensor)> {
    let bins = n_fft / 2 + 1;
    let (mut ir, mut ii) = (
        Vec::with_capacity(bins * n_fft),
        Vec::with_capacity(bins * n_fft),
    );
    for k in 0..bins {
        let c = if k == 0 || k == bins - 1 { 1.0 } else { 2.0 } / n_fft as f64;
        for t in 0..n_fft {
            let a = 2.0 * std::f64::consts::PI * (k * t) as f64 / n_fft as f64;
            ir.push((c * a.cos()) as f32);
            ii.push((-c * a.sin()) as f32);
        }
    }
    Ok((
        Tensor::from_vec(ir, (bins, n_fft), dev)?,
        Tensor::from_vec(ii, (bins, n_fft), dev)?,
    ))
}

/// Magnitude spectrogram `[B, frames, bins]` of `audio` `[B, N]` with a Hann window of `n_fft` and hop
/// `n_fft/4`, over the frames that fit entirely. Frames come grouped by their offset modulo `n_fft`
/// (four reshapes instead of one slice per frame), not in time order: losses do not care.
pub fn stft_magnitude(audio: &Tensor, n_fft: usize) -> candle_core::Result<Tensor> {
    let (b, n) = audio.dims2()?;
    let hop = n_fft / 4;
    if n < n_fft {
        return Tensor::zeros((b, 0, n_fft / 2 + 1), DType::F32, audio.device());
    }
    let groups = (0..4)
        .filter_map(|j| {
            let m = (n - j * hop) / n_fft;
            (m > 0).then(|| {
                audio
                    .narrow(1, j * hop, m * n_fft)
                    .and_then(|x| x.reshape((b, m, n_fft)))
            })
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    let x = Tensor::cat(&groups, 1)?; // [B, frames, n_fft]
    let (re, im) = dft_bases(n_fft, true, audio.device())?;
    let (xr, xi) = (x.broadcast_matmul(&re)?, x.broadcast_matmul(&im)?);
    ((xr.sqr()? + xi.sqr()?)? + 1e-10)?.sqrt()
}

/// Floor added to magnitudes before the log in the STFT loss. With 1e-5 the log term was ruled by the
/// noise floor between and above the partials (a correct harmonic series moved a SoundFont note's
/// loss by 5 %), and training let the harmonic branch die; at 1e-2 (about −30 dB under a 0.01
/// partial at the smallest FFT) the same series moves it by 23 %.
pub const LOG_FLOOR: f64 = 1e-2;

/// Multi-resolution STFT loss: over FFT sizes 2048, 1024, 512, 256, 128, the mean |ΔS| plus the mean
/// |Δ log(S + LOG_FLOOR)| of the magnitude spectrograms.
pub fn multi_resolution_stft_loss(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let mut total: Option<Tensor> = None;
    for n_fft in [2048, 1024, 512, 256, 128] {
        let (sa, sb) = (stft_magnitude(a, n_fft)?, stft_magnitude(b, n_fft)?);
        if sa.dim(1)? == 0 {
            continue;
        }
        let lin = (&sa - &sb)?.abs()?.mean_all()?;
        let log = ((sa + LOG_FLOOR)?.log()? - (sb + LOG_FLOOR)?.log()?)?
            .abs()?
            .mean_all()?;
        let term = (lin + log)?;
        total = Some(match total {
            Some(t) => (t + term)?,
            None => term,
        });
    }
    total.map_or_else(|| Tensor::new(0f32, a.device()), Ok)
}

/// Samples per loudness frame (23 ms at 22 050 Hz).
pub const LOUDNESS_FRAME: usize = 512;

/// Loudness loss: the mean |Δ ln(RMS + 1e-3)| over frames of [`LOUDNESS_FRAME`] samples (a
/// trailing part frame is left out) of audio `[B, n]`: how far the level follows the target's.
pub fn loudness_loss(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let (batch, n) = a.dims2()?;
    let frames = n / LOUDNESS_FRAME;
    if frames == 0 {
        return Tensor::new(0f32, a.device());
    }
    let level = |x: &Tensor| -> candle_core::Result<Tensor> {
        x.narrow(1, 0, frames * LOUDNESS_FRAME)?
            .reshape((batch, frames, LOUDNESS_FRAME))?
            .sqr()?
            .mean(2)?
            .affine(1.0, 1e-8)? // no infinite gradient at silence
            .sqrt()?
            .affine(1.0, 1e-3)?
            .log()
    };
    (level(a)? - level(b)?)?.abs()?.mean_all()
}

/// The streaming synthesizer of one voice: the same maths as the candle version, one frame at a
/// time, with its phase and the noise overlap carried between frames.
#[derive(Debug, Clone)]
pub struct Voice {
    phase: f64,
    prev: Option<FrameControls>,
    overlap: Vec<f32>,
    rng: u64,
}

/// One frame's controls.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameControls {
    /// Fundamental, Hz.
    pub f0: f32,
    /// Overall harmonic amplitude.
    pub amplitude: f32,
    /// Harmonic distribution (`HARMONICS` values summing to 1).
    pub distribution: Vec<f32>,
    /// Noise-band magnitudes (`NOISE_BANDS`).
    pub noise: Vec<f32>,
}

impl Voice {
    /// A silent voice with its own noise seed.
    pub fn new(seed: u64) -> Self {
        Voice {
            phase: 0.0,
            prev: None,
            overlap: vec![0.0; HOP],
            rng: seed | 1,
        }
    }

    /// White noise in [−1, 1) (xorshift), as the candle version is given.
    pub fn white(&mut self, out: &mut [f32]) {
        for x in out {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            *x = (self.rng >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
        }
    }

    /// Renders the samples of the frame *before* `next` (controls interpolate from the previous
    /// frame to `next`), with `noise` the white noise of those samples; returns `HOP` samples.
    /// The first call only primes the voice and returns silence.
    pub fn frame(&mut self, next: FrameControls, noise: &[f32]) -> Vec<f32> {
        let Some(cur) = self.prev.replace(next.clone()) else {
            return vec![0.0; HOP];
        };
        let mut out = vec![0f32; HOP];
        let nyquist = SAMPLE_RATE as f32 / 2.0;
        let audible = |c: &FrameControls, k: usize| f32::from((k as f32 + 1.0) * c.f0 < nyquist);
        // Per-harmonic amplitudes at the frame's two ends; harmonics silent at both are skipped.
        let a0: Vec<f32> = (0..HARMONICS)
            .map(|k| cur.amplitude * cur.distribution[k] * audible(&cur, k))
            .collect();
        let a1: Vec<f32> = (0..HARMONICS)
            .map(|k| next.amplitude * next.distribution[k] * audible(&next, k))
            .collect();
        let top = (0..HARMONICS)
            .rev()
            .find(|&k| a0[k].abs() + a1[k].abs() > 1e-7)
            .map_or(0, |k| k + 1);
        let tau = 2.0 * std::f64::consts::PI;
        let step = |i: usize| {
            let f0 = cur.f0 + (next.f0 - cur.f0) * (i as f32 / HOP as f32);
            tau * f0 as f64 / SAMPLE_RATE as f64
        };
        let first = self.phase + step(0);
        let bank = OscillatorBank::new(top, first, step(1), step(1) - step(0), &a0, &a1);
        bank.render(&mut out);
        self.phase = (0..HOP).fold(self.phase, |p, i| p + step(i));
        self.phase %= 2.0 * std::f64::consts::PI;
        let filtered = filter_noise_frame(noise, &cur.noise);
        for ((o, f), carried) in out.iter_mut().zip(&filtered).zip(&self.overlap) {
            *o += f + carried;
        }
        self.overlap.copy_from_slice(&filtered[HOP..]);
        out
    }
}

/// Harmonics rendered in blocks of this many, so that the inner loop vectorises.
const LANES: usize = 8;
const BLOCKS: usize = HARMONICS.div_ceil(LANES);
type Lanes = [f32; LANES];

/// The harmonics of one frame as complex oscillators: harmonic k at sample i is `Im z_k`, and
/// `z_k ← z_k·r_k`, `r_k ← r_k·u_k` per sample, where `r_k = e^{ikδ}` turns by the per-sample phase
/// step δ and `u_k = e^{ikΔ}` follows δ's linear change Δ (f0 interpolated across the frame). Only
/// multiplies per sample; the start values come from f64 powers.
struct OscillatorBank {
    blocks: usize,
    z: [(Lanes, Lanes); BLOCKS],
    r: [(Lanes, Lanes); BLOCKS],
    u: [(Lanes, Lanes); BLOCKS],
    a0: [Lanes; BLOCKS],
    da: [Lanes; BLOCKS],
}

/// `e^{ikθ}` for k = 1…HARMONICS, by repeated multiplication in f64, as (re, im) lanes.
fn powers(theta: f64) -> [(Lanes, Lanes); BLOCKS] {
    let (s1, c1) = theta.sin_cos();
    let (mut re, mut im) = (c1, s1);
    let mut out = [([0f32; LANES], [0f32; LANES]); BLOCKS];
    for k in 0..HARMONICS {
        out[k / LANES].0[k % LANES] = re as f32;
        out[k / LANES].1[k % LANES] = im as f32;
        (re, im) = (re * c1 - im * s1, re * s1 + im * c1);
    }
    out
}

impl OscillatorBank {
    /// The first `top` harmonics at phase `phase` for the first sample, stepping by `delta` to the
    /// next sample, the step growing by `ddelta` per sample; amplitudes from `a0` to `a1`.
    fn new(top: usize, phase: f64, delta: f64, ddelta: f64, a0: &[f32], a1: &[f32]) -> Self {
        let mut amps = [[0f32; LANES]; BLOCKS];
        let mut slopes = [[0f32; LANES]; BLOCKS];
        for k in 0..top {
            amps[k / LANES][k % LANES] = a0[k];
            slopes[k / LANES][k % LANES] = a1[k] - a0[k];
        }
        OscillatorBank {
            blocks: top.div_ceil(LANES),
            z: powers(phase),
            r: powers(delta),
            u: powers(ddelta),
            a0: amps,
            da: slopes,
        }
    }

    /// Writes one frame of the harmonic sum into `out` (`HOP` samples).
    fn render(mut self, out: &mut [f32]) {
        for (i, o) in out.iter_mut().enumerate() {
            let w = i as f32 / HOP as f32;
            let mut acc = [0f32; LANES];
            for b in 0..self.blocks {
                let (zr, zi) = &mut self.z[b];
                let (rr, ri) = &mut self.r[b];
                let (ur, ui) = &self.u[b];
                let (a0, da) = (&self.a0[b], &self.da[b]);
                for l in 0..LANES {
                    acc[l] += (a0[l] + da[l] * w) * zi[l];
                    (zr[l], zi[l]) = (zr[l] * rr[l] - zi[l] * ri[l], zr[l] * ri[l] + zi[l] * rr[l]);
                    (rr[l], ri[l]) = (rr[l] * ur[l] - ri[l] * ui[l], rr[l] * ui[l] + ri[l] * ur[l]);
                }
            }
            *o = acc.iter().sum();
        }
    }
}

/// For each DFT bin of a `2·HOP` frame up to Nyquist: the noise band below it and the weight of the
/// band above (bands spread linearly from 0 Hz to Nyquist, as in [`band_to_bins`]).
static BIN_BANDS: std::sync::LazyLock<Vec<(usize, f32)>> = std::sync::LazyLock::new(|| {
    let bins = HOP + 1;
    (0..bins)
        .map(|k| {
            let pos = k as f64 * (NOISE_BANDS - 1) as f64 / (bins - 1) as f64;
            let lo = pos.floor() as usize;
            (lo, (pos - lo as f64) as f32)
        })
        .collect()
});

/// One frame of noise (`HOP` samples), zero-padded to `2·HOP`, filtered by band magnitudes in the
/// frequency domain (a zero-phase filter): `2·HOP` samples whose second half overlaps the next frame.
fn filter_noise_frame(noise: &[f32], bands: &[f32]) -> Vec<f32> {
    use rustfft::num_complex::Complex32;
    thread_local! {
        static PLANS: (std::sync::Arc<dyn rustfft::Fft<f32>>, std::sync::Arc<dyn rustfft::Fft<f32>>) = {
            let mut planner = rustfft::FftPlanner::new();
            (planner.plan_fft_forward(2 * HOP), planner.plan_fft_inverse(2 * HOP))
        };
    }
    let n = 2 * HOP;
    let mut buf: Vec<Complex32> = (0..n)
        .map(|t| Complex32::new(if t < HOP { noise[t] } else { 0.0 }, 0.0))
        .collect();
    let gains: Vec<f32> = BIN_BANDS
        .iter()
        .map(|&(lo, frac)| {
            bands[lo] * (1.0 - frac) + bands.get(lo + 1).copied().unwrap_or(0.0) * frac
        })
        .collect();
    PLANS.with(|(fwd, inv)| {
        fwd.process(&mut buf);
        for (k, c) in buf.iter_mut().enumerate() {
            // Bin k and its mirror n − k share the gain of bin min(k, n − k).
            *c *= gains[k.min(n - k)];
        }
        inv.process(&mut buf);
    });
    buf.iter().map(|c| c.re / n as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loudness_loss_matches_frame_levels() {
        let n = 3 * LOUDNESS_FRAME + 100;
        let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        let b: Vec<f32> = a
            .iter()
            .enumerate()
            .map(|(i, x)| if i < LOUDNESS_FRAME { 0.0 } else { 2.0 * x })
            .collect();
        let t = |v: &[f32]| Tensor::from_vec(v.to_vec(), (1, n), &Device::Cpu).unwrap();
        let got = loudness_loss(&t(&a), &t(&b))
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64;
        let rms = |x: &[f32]| {
            ((x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len() as f64) + 1e-8).sqrt()
        };
        let want: f64 = (0..3)
            .map(|f| {
                let r = f * LOUDNESS_FRAME..(f + 1) * LOUDNESS_FRAME;
                ((rms(&a[r.clone()]) + 1e-3).ln() - (rms(&b[r]) + 1e-3).ln()).abs()
            })
            .sum::<f64>()
            / 3.0;
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
        assert!(
            loudness_loss(&t(&a), &t(&a))
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                < 1e-6
        );
    }

    fn controls(f0: f32, amp: f32, harmonic: usize, noise: f32) -> FrameControls {
        let mut distribution = vec![0f32; HARMONICS];
        distribution[harmonic] = 1.0;
        FrameControls {
            f0,
            amplitude: amp,
            distribution,
            noise: vec![noise; NOISE_BANDS],
        }
    }

    /// Frames of constant controls as candle tensors.
    fn tensors(c: &FrameControls, frames: usize) -> (Tensor, Tensor, Tensor, Tensor) {
        let dev = Device::Cpu;
        let f0 = Tensor::full(c.f0, (1, frames), &dev).unwrap();
        let amp = Tensor::full(c.amplitude, (1, frames), &dev).unwrap();
        let dist =
            Tensor::from_vec(c.distribution.repeat(frames), (1, frames, HARMONICS), &dev).unwrap();
        let noise =
            Tensor::from_vec(c.noise.repeat(frames), (1, frames, NOISE_BANDS), &dev).unwrap();
        (f0, amp, dist, noise)
    }

    /// The harmonic audio of `f0`, `amp` and `dist`, starting at phase 0.
    fn harmonic_from_zero(f0: &Tensor, amp: &Tensor, dist: &Tensor) -> Tensor {
        let phase0 = Tensor::zeros(1, DType::F32, f0.device()).unwrap();
        harmonic(f0, amp, dist, &phase0).unwrap().0
    }

    #[test]
    fn a_pure_harmonic_frame_peaks_at_its_frequency() {
        // 3rd harmonic of 440 Hz: a peak at 1320 Hz and nothing much elsewhere.
        let c = controls(440.0, 0.5, 2, 0.0);
        let (f0, amp, dist, _) = tensors(&c, 64);
        let audio = harmonic_from_zero(&f0, &amp, &dist);
        let spec = stft_magnitude(&audio, 2048).unwrap();
        let frame: Vec<f32> = spec.get(0).unwrap().get(2).unwrap().to_vec1().unwrap();
        let peak = frame
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        let hz = peak as f64 * SAMPLE_RATE as f64 / 2048.0;
        assert!((hz - 1320.0).abs() < SAMPLE_RATE as f64 / 2048.0, "{hz}");
        // Harmonics at or above Nyquist are silent.
        let high = controls(8000.0, 0.5, 1, 0.0); // 16 kHz > 11.025 kHz
        let (f0, amp, dist, _) = tensors(&high, 16);
        let audio = harmonic_from_zero(&f0, &amp, &dist);
        let peak: f32 = audio.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
        assert_eq!(peak, 0.0);
    }

    #[test]
    fn candle_and_streaming_synthesizers_agree() {
        let mut c = controls(220.0, 0.3, 0, 0.05);
        c.distribution = (0..HARMONICS).map(|k| 1.0 / (k + 1) as f32).collect();
        let total: f32 = c.distribution.iter().sum();
        c.distribution.iter_mut().for_each(|x| *x /= total);
        let frames = 12;
        // Varying f0 and amplitude over frames.
        let per_frame: Vec<FrameControls> = (0..frames)
            .map(|f| FrameControls {
                f0: 220.0 + 10.0 * f as f32,
                amplitude: 0.3 + 0.02 * f as f32,
                ..c.clone()
            })
            .collect();
        let dev = Device::Cpu;
        // One control of every frame, side by side, as a tensor of `shape`.
        let stack = |shape: &[usize], control: fn(&FrameControls) -> Vec<f32>| {
            let values: Vec<f32> = per_frame.iter().flat_map(control).collect();
            Tensor::from_vec(values, shape, &dev).unwrap()
        };
        let f0 = stack(&[1, frames], |c| vec![c.f0]);
        let amp = stack(&[1, frames], |c| vec![c.amplitude]);
        let dist = stack(&[1, frames, HARMONICS], |c| c.distribution.clone());
        let bands = stack(&[1, frames, NOISE_BANDS], |c| c.noise.clone());
        let mut voice = Voice::new(7);
        let mut white = vec![0f32; frames * HOP];
        voice.white(&mut white);
        let noise_t = Tensor::from_vec(white.clone(), (1, frames * HOP), &dev).unwrap();
        let h = harmonic_from_zero(&f0, &amp, &dist);
        let n = filtered_noise(&noise_t, &bands).unwrap();
        let candle: Vec<f32> = (h + n).unwrap().squeeze(0).unwrap().to_vec1().unwrap();
        // The streaming voice renders frame f when it receives frame f + 1's controls.
        let mut streamed = Vec::new();
        let mut v = Voice::new(7);
        for f in 0..frames {
            let out = v.frame(
                per_frame[f].clone(),
                &white[f.saturating_sub(1) * HOP..f.saturating_sub(1) * HOP + HOP],
            );
            if f > 0 {
                streamed.extend(out);
            }
        }
        // Compare the frames both have rendered with the same interpolation (all but the last).
        for (i, (a, b)) in streamed.iter().zip(&candle).enumerate() {
            assert!((a - b).abs() < 2e-3, "sample {i}: {a} vs {b}");
        }
    }

    #[test]
    fn stft_loss_is_zero_for_equal_signals_and_grows_with_difference() {
        let dev = Device::Cpu;
        let a = Tensor::randn(0f32, 0.1, (1, 8192), &dev).unwrap();
        let zero: f32 = multi_resolution_stft_loss(&a, &a)
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(zero.abs() < 1e-6);
        let b = (&a * 0.5).unwrap();
        let c = (&a * 0.1).unwrap();
        let lb: f32 = multi_resolution_stft_loss(&a, &b)
            .unwrap()
            .to_scalar()
            .unwrap();
        let lc: f32 = multi_resolution_stft_loss(&a, &c)
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(lb > 0.1 && lc > lb, "{lb} {lc}");
    }
}
