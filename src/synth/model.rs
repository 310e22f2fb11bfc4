//! The per-voice neural synthesizer: frame features of one note (pitch, velocity, onset, time since
//! onset, time since release) → GLA layers → harmonic-plus-noise controls. The timbre lives only in
//! the GLA layers' initial states (one low-rank state per layer and instrument): the network has no
//! instrument input, so a new timbre is learned by tuning the initial state alone.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{linear, linear_no_bias, Linear, Module, VarBuilder};
use serde::{Deserialize, Serialize};

use super::ddsp::{self, HARMONICS, HOP, NOISE_BANDS, SAMPLE_RATE};
use crate::error::{Error, Result};
use crate::linalg::Dense;
use crate::model::gla::{low_rank_state, Gla, GlaShape, GlaState, GlaWeights};

/// Features per frame.
pub const FEATURES: usize = 6;
/// Frames per second.
pub const FRAME_RATE: f64 = SAMPLE_RATE as f64 / HOP as f64;

/// Hyper-parameters (`config.json` with `"architecture": "gla-synth"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthConfig {
    /// Always "gla-synth".
    pub architecture: String,
    /// Width.
    pub d_model: usize,
    /// GLA heads.
    pub heads: usize,
    /// GLA layers.
    pub layers: usize,
    /// Rank of each initial state.
    pub state_rank: usize,
    /// SwiGLU hidden width.
    pub d_ff: usize,
    /// Training chunk of the GLA.
    pub chunk: usize,
}

impl SynthConfig {
    /// The architecture tag.
    pub const ARCHITECTURE: &'static str = "gla-synth";

    fn shape(&self) -> GlaShape {
        GlaShape {
            d_model: self.d_model,
            heads: self.heads,
            state_rank: self.state_rank,
        }
    }

    /// Checks that the numbers fit together.
    pub fn validate(&self) -> Result<()> {
        let ok = self.architecture == Self::ARCHITECTURE
            && self.heads > 0
            && self.d_model.is_multiple_of(self.heads)
            && self.layers > 0
            && self.state_rank > 0
            && self.chunk > 0;
        if ok {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "synth config is inconsistent: {self:?}"
            )))
        }
    }
}

/// What the synthesizer knows about a note at one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoteFrame {
    /// MIDI key.
    pub pitch: u8,
    /// MIDI velocity.
    pub velocity: u8,
    /// Seconds since the onset.
    pub since_onset: f64,
    /// Seconds since the release (`None` while held).
    pub since_release: Option<f64>,
}

impl NoteFrame {
    /// The network's input features.
    pub fn features(&self) -> [f32; FEATURES] {
        [
            (self.pitch as f32 - 64.0) / 32.0,
            self.velocity as f32 / 127.0,
            f32::from(self.since_onset < 1.0 / FRAME_RATE),
            ((1.0 + self.since_onset * 10.0).ln() / 4.0) as f32,
            self.since_release
                .map_or(0.0, |r| ((1.0 + r * 10.0).ln() / 4.0) as f32),
            f32::from(self.since_release.is_some()),
        ]
    }

    /// Equal-tempered fundamental in Hz.
    pub fn f0(&self) -> f32 {
        440.0 * 2f32.powf((self.pitch as f32 - 69.0) / 12.0)
    }
}

/// The frames of a note held `held` seconds then released for `tail` seconds.
pub fn note_frames(pitch: u8, velocity: u8, held: f64, tail: f64) -> Vec<NoteFrame> {
    let n = ((held + tail) * FRAME_RATE).ceil() as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / FRAME_RATE;
            NoteFrame {
                pitch,
                velocity,
                since_onset: t,
                since_release: (t >= held).then_some(t - held),
            }
        })
        .collect()
}

struct Block {
    norm1: Tensor,
    gla: Gla,
    norm2: Tensor,
    up: Linear,
    gate: Linear,
    down: Linear,
}

fn rms_norm(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let rms = (x.sqr()?.mean_keepdim(D::Minus1)? + 1e-6)?.sqrt()?;
    x.broadcast_div(&rms)?.broadcast_mul(w)
}

/// A linear layer that starts at zero (weights and bias), so that an untrained synth puts out exactly
/// the priors: harmonics at amplitude ≈ 0.024 shaped 1/k², quiet noise. (Random starting outputs
/// gave spiky harmonic spectra that only raised the loss, and training silenced the harmonics.)
fn zero_linear(inputs: usize, outputs: usize, vb: VarBuilder) -> candle_core::Result<Linear> {
    let zero = candle_nn::Init::Const(0.0);
    let w = vb.get_with_hints((outputs, inputs), "weight", zero)?;
    let b = vb.get_with_hints(outputs, "bias", zero)?;
    Ok(Linear::new(w, Some(b)))
}

/// The network (weights shared by all timbres).
pub struct NeuralSynth {
    cfg: SynthConfig,
    input: Linear,
    blocks: Vec<Block>,
    head: Linear,
}

/// Output scale of the harmonic amplitude and the noise magnitudes.
const AMP_SCALE: f64 = 0.5;
/// Offsets of the head's raw outputs so that an untrained network starts near the data's levels:
/// harmonics at amplitude 0.5·softplus(−3) ≈ 0.024 (SoundFont notes have an RMS near 0.012) and
/// noise bands at 0.5·sigmoid(−6) ≈ 0.0012, under the harmonics.
const AMP_OFFSET: f64 = 3.0;
const NOISE_OFFSET: f64 = 6.0;

/// Prior added to the harmonic logits: harmonic k (1-based) starts at weight 1/k². With a flat start
/// (the untrained network's softmax) any harmonic amplitude only raised the loss, so training shut
/// the harmonics off before their distribution could learn, and they never came back.
fn harmonic_prior(k: usize) -> f32 {
    -2.0 * ((k + 1) as f32).ln()
}

impl NeuralSynth {
    /// Builds the network under `vb`.
    pub fn new(cfg: &SynthConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = cfg.d_model;
        let blocks = (0..cfg.layers)
            .map(|i| {
                let vb = vb.pp(format!("blocks.{i}"));
                Ok(Block {
                    norm1: vb.get_with_hints(d, "norm1", candle_nn::Init::Const(1.0))?,
                    gla: Gla::new(cfg.shape(), vb.pp("gla"))?,
                    norm2: vb.get_with_hints(d, "norm2", candle_nn::Init::Const(1.0))?,
                    up: linear_no_bias(d, cfg.d_ff, vb.pp("up"))?,
                    gate: linear_no_bias(d, cfg.d_ff, vb.pp("gate"))?,
                    down: linear_no_bias(cfg.d_ff, d, vb.pp("down"))?,
                })
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(NeuralSynth {
            cfg: cfg.clone(),
            input: linear(FEATURES, d, vb.pp("input"))?,
            blocks,
            head: zero_linear(d, 1 + HARMONICS + NOISE_BANDS, vb.pp("head"))?,
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &SynthConfig {
        &self.cfg
    }

    /// Controls for features `[B, F, FEATURES]` from initial states (one `[B, H, dh, dh]` per
    /// layer): amplitude `[B, F]`, harmonic distribution `[B, F, K]`, noise magnitudes `[B, F, bands]`.
    pub fn controls(
        &self,
        features: &Tensor,
        states: &[Tensor],
    ) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let mut x = candle_nn::ops::silu(&self.input.forward(features)?)?;
        for (b, s0) in self.blocks.iter().zip(states) {
            let (a, _) = b
                .gla
                .forward_chunked(&rms_norm(&x, &b.norm1)?, s0, self.cfg.chunk)?;
            x = (x + a)?;
            let h = rms_norm(&x, &b.norm2)?;
            let f = b
                .down
                .forward(&(candle_nn::ops::silu(&b.gate.forward(&h)?)? * b.up.forward(&h)?)?)?;
            x = (x + f)?;
        }
        let out = self.head.forward(&x)?;
        split_controls(&out)
    }

    /// Audio `[B, F·HOP]` of notes: features `[B, F, FEATURES]`, fundamentals `[B, F]`, white noise
    /// `[B, F·HOP]`, timbre states per layer.
    pub fn render(
        &self,
        features: &Tensor,
        f0: &Tensor,
        noise: &Tensor,
        states: &[Tensor],
    ) -> candle_core::Result<Tensor> {
        let (amp, dist, bands) = self.controls(features, states)?;
        let b = f0.dim(0)?;
        let phase0 = Tensor::zeros(b, DType::F32, f0.device())?;
        let (h, _) = ddsp::harmonic(f0, &amp, &dist, &phase0)?;
        h + ddsp::filtered_noise(noise, &bands)?
    }

    /// Plain-Rust weights for streaming.
    pub fn streaming(&self) -> candle_core::Result<StreamingSynth> {
        let dense = Dense::from_linear;
        let vec =
            |t: &Tensor| -> candle_core::Result<Vec<f32>> { t.to_dtype(DType::F32)?.to_vec1() };
        let blocks = self
            .blocks
            .iter()
            .map(|b| {
                Ok(StreamBlock {
                    norm1: vec(&b.norm1)?,
                    gla: b.gla.weights()?,
                    norm2: vec(&b.norm2)?,
                    up_gate: Dense::stack(&[dense(&b.up)?, dense(&b.gate)?]),
                    down: dense(&b.down)?,
                })
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(StreamingSynth {
            d: self.cfg.d_model,
            d_ff: self.cfg.d_ff,
            input: dense(&self.input)?,
            blocks,
            head: dense(&self.head)?,
        })
    }
}

/// Raw head outputs `[B, F, 1 + K + bands]` → (amplitude, distribution, noise): the synth's own
/// mapping, also for fitting free controls without the network (`examples/ddsp_oracle`).
pub fn split_controls(out: &Tensor) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
    let amp =
        (softplus(&(out.narrow(D::Minus1, 0, 1)?.squeeze(D::Minus1)? - AMP_OFFSET)?)? * AMP_SCALE)?;
    let prior: Vec<f32> = (0..HARMONICS).map(harmonic_prior).collect();
    let prior = Tensor::from_vec(prior, HARMONICS, out.device())?;
    let logits = out.narrow(D::Minus1, 1, HARMONICS)?.broadcast_add(&prior)?;
    // Not candle's `softmax_last_dim`: it has no backward pass, so the harmonic logits (and the
    // head rows feeding them) never learned; every timbre kept the 1/k² prior.
    let dist = crate::model::fused::scaled_softmax(&logits, 1.0)?;
    let noise = (candle_nn::ops::sigmoid(
        &(out.narrow(D::Minus1, 1 + HARMONICS, NOISE_BANDS)? - NOISE_OFFSET)?,
    )? * AMP_SCALE)?;
    Ok((amp, dist, noise))
}

fn softplus(x: &Tensor) -> candle_core::Result<Tensor> {
    // max(x, 0) + log(1 + exp(−|x|))
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

/// A timbre: per layer the low-rank initial state factors `k` and `v`, each `[H, R, dh]`.
#[derive(Debug, Clone)]
pub struct Timbre {
    /// Per layer (k, v).
    pub layers: Vec<(Tensor, Tensor)>,
}

impl Timbre {
    /// The initial states `[B, H, dh, dh]` per layer for a batch of `b`.
    pub fn states(&self, b: usize) -> candle_core::Result<Vec<Tensor>> {
        self.layers
            .iter()
            .map(|(k, v)| {
                let s = low_rank_state(k, v)?.unsqueeze(0)?;
                let dims = s.dims().to_vec();
                s.broadcast_as((b, dims[1], dims[2], dims[3]))?.contiguous()
            })
            .collect()
    }

    /// Writes the timbre as a safetensors file (all-or-nothing).
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let tensors: std::collections::HashMap<String, Tensor> =
            self.tensors().into_iter().collect();
        crate::model::weights::save_tensors(path, &tensors, None)
    }

    /// The tensors as named for a safetensors file.
    pub fn tensors(&self) -> BTreeMap<String, Tensor> {
        let mut m = BTreeMap::new();
        for (i, (k, v)) in self.layers.iter().enumerate() {
            m.insert(format!("layers.{i}.k"), k.clone());
            m.insert(format!("layers.{i}.v"), v.clone());
        }
        m
    }
}

struct StreamBlock {
    norm1: Vec<f32>,
    gla: GlaWeights,
    norm2: Vec<f32>,
    /// The SwiGLU's up and gate projections, stacked.
    up_gate: Dense,
    down: Dense,
}

/// The network in plain Rust, one frame at a time, for streaming.
pub struct StreamingSynth {
    d: usize,
    d_ff: usize,
    input: Dense,
    blocks: Vec<StreamBlock>,
    head: Dense,
}

fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// RMS-normalises every row of `x` (`[V, D]`) with gain `w`.
fn rms_rows(x: &[f32], w: &[f32]) -> Vec<f32> {
    x.chunks_exact(w.len())
        .flat_map(|row| {
            let r = (row.iter().map(|a| a * a).sum::<f32>() / row.len() as f32 + 1e-6).sqrt();
            row.iter().zip(w).map(move |(a, g)| a / r * g)
        })
        .collect()
}

impl StreamingSynth {
    /// One frame of one voice: updates the voice's layer states and returns its controls.
    pub fn step(&self, frame: &NoteFrame, states: &mut [GlaState]) -> ddsp::FrameControls {
        self.step_batch(std::slice::from_ref(frame), &mut [states])
            .pop()
            .expect("one voice in, one out")
    }

    /// One frame of many voices at once (`frames[v]` with `states[v]`, one state per layer): every
    /// projection is one matrix product over the voices.
    pub fn step_batch(
        &self,
        frames: &[NoteFrame],
        states: &mut [&mut [GlaState]],
    ) -> Vec<ddsp::FrameControls> {
        let voices = frames.len();
        let features: Vec<f32> = frames.iter().flat_map(|f| f.features()).collect();
        let mut x = vec![0f32; voices * self.d];
        self.input.apply(&features, &mut x);
        x.iter_mut().for_each(|v| *v = silu(*v));
        let mut a = vec![0f32; voices * self.d];
        let mut up_gate = vec![0f32; voices * 2 * self.d_ff];
        let mut hidden = vec![0f32; voices * self.d_ff];
        let mut f = vec![0f32; voices * self.d];
        for (l, b) in self.blocks.iter().enumerate() {
            let mut layer: Vec<&mut GlaState> = states.iter_mut().map(|s| &mut s[l]).collect();
            b.gla
                .step_batch(&rms_rows(&x, &b.norm1), &mut layer, &mut a);
            x.iter_mut().zip(&a).for_each(|(v, d)| *v += d);
            b.up_gate.apply(&rms_rows(&x, &b.norm2), &mut up_gate);
            for (hv, ug) in hidden
                .chunks_exact_mut(self.d_ff)
                .zip(up_gate.chunks_exact(2 * self.d_ff))
            {
                let (up, gate) = ug.split_at(self.d_ff);
                for ((h, u), g) in hv.iter_mut().zip(up).zip(gate) {
                    *h = silu(*g) * u;
                }
            }
            b.down.apply(&hidden, &mut f);
            x.iter_mut().zip(&f).for_each(|(v, d)| *v += d);
        }
        let width = self.head.outputs();
        let mut out = vec![0f32; voices * width];
        self.head.apply(&x, &mut out);
        out.chunks_exact(width)
            .zip(frames)
            .map(|(o, frame)| controls(o, frame.f0()))
            .collect()
    }
}

/// One voice's head outputs → its frame controls (the plain-Rust twin of [`split_controls`]).
fn controls(out: &[f32], f0: f32) -> ddsp::FrameControls {
    let sp = |v: f32| v.max(0.0) + (-v.abs()).exp().ln_1p();
    let logits: Vec<f32> = out[1..1 + HARMONICS]
        .iter()
        .enumerate()
        .map(|(k, l)| l + harmonic_prior(k))
        .collect();
    let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f32> = logits.iter().map(|l| (l - m).exp()).collect();
    let z: f32 = e.iter().sum();
    ddsp::FrameControls {
        f0,
        amplitude: sp(out[0] - AMP_OFFSET as f32) * AMP_SCALE as f32,
        distribution: e.iter().map(|v| v / z).collect(),
        noise: out[1 + HARMONICS..]
            .iter()
            .map(|v| AMP_SCALE as f32 / (1.0 + (-(v - NOISE_OFFSET as f32)).exp()))
            .collect(),
    }
}

/// The initial states of a timbre as streaming states (one per layer).
pub fn streaming_states(timbre: &Timbre) -> candle_core::Result<Vec<GlaState>> {
    timbre
        .states(1)?
        .iter()
        .map(|s| {
            Ok(GlaState {
                s: s.flatten_all()?.to_vec1()?,
            })
        })
        .collect()
}

/// A fresh random timbre for `cfg` on `device` (for a new instrument before training).
pub fn random_timbre(cfg: &SynthConfig, device: &Device) -> candle_core::Result<Timbre> {
    let dh = cfg.d_model / cfg.heads;
    let layers = (0..cfg.layers)
        .map(|_| {
            Ok((
                Tensor::randn(0f32, 0.3, (cfg.heads, cfg.state_rank, dh), device)?,
                Tensor::randn(0f32, 0.3, (cfg.heads, cfg.state_rank, dh), device)?,
            ))
        })
        .collect::<candle_core::Result<_>>()?;
    Ok(Timbre { layers })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::max_diff;
    use candle_nn::VarMap;

    fn cfg() -> SynthConfig {
        crate::test_util::tiny_synth_config()
    }

    #[test]
    fn every_control_gets_a_gradient() {
        // A loss on the harmonic distribution must reach the head's harmonic outputs: the softmax
        // once had no backward pass and the harmonics never trained.
        let raw = candle_core::Var::from_tensor(
            &Tensor::randn(0f32, 1.0, (1, 3, 1 + HARMONICS + NOISE_BANDS), &Device::Cpu).unwrap(),
        )
        .unwrap();
        let (amp, dist, noise) = split_controls(raw.as_tensor()).unwrap();
        let weights = Tensor::arange(0f32, HARMONICS as f32, &Device::Cpu).unwrap();
        let loss = (dist.broadcast_mul(&weights).unwrap().sum_all().unwrap()
            + amp.sum_all().unwrap()
            + noise.sum_all().unwrap())
        .unwrap();
        let grad = loss
            .backward()
            .unwrap()
            .get(raw.as_tensor())
            .unwrap()
            .clone();
        let harmonic = grad.narrow(2, 1, HARMONICS).unwrap().abs().unwrap();
        let largest = harmonic.flatten_all().unwrap().max(0).unwrap();
        assert!(largest.to_scalar::<f32>().unwrap() > 1e-6);
        let noise_grad = grad
            .narrow(2, 1 + HARMONICS, NOISE_BANDS)
            .unwrap()
            .abs()
            .unwrap();
        assert!(
            noise_grad
                .flatten_all()
                .unwrap()
                .min(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 0.0
        );
    }

    #[test]
    fn streaming_controls_equal_the_batched_network() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let synth =
            NeuralSynth::new(&cfg(), VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        let timbre = random_timbre(&cfg(), &dev).unwrap();
        let frames = note_frames(60, 100, 0.2, 0.1);
        let feats: Vec<f32> = frames.iter().flat_map(|f| f.features()).collect();
        let x = Tensor::from_vec(feats, (1, frames.len(), FEATURES), &dev).unwrap();
        let (amp, dist, noise) = synth.controls(&x, &timbre.states(1).unwrap()).unwrap();
        let amp: Vec<f32> = amp.squeeze(0).unwrap().to_vec1().unwrap();
        let dist: Vec<Vec<f32>> = dist.squeeze(0).unwrap().to_vec2().unwrap();
        let noise: Vec<Vec<f32>> = noise.squeeze(0).unwrap().to_vec2().unwrap();
        let stream = synth.streaming().unwrap();
        let mut states = streaming_states(&timbre).unwrap();
        for (i, f) in frames.iter().enumerate() {
            let c = stream.step(f, &mut states);
            assert!((c.amplitude - amp[i]).abs() < 1e-4, "frame {i}");
            for (a, b) in c.distribution.iter().zip(&dist[i]) {
                assert!((a - b).abs() < 1e-4);
            }
            for (a, b) in c.noise.iter().zip(&noise[i]) {
                assert!((a - b).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn a_batch_of_voices_steps_like_each_voice_alone() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let synth =
            NeuralSynth::new(&cfg(), VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        let stream = synth.streaming().unwrap();
        let timbre = random_timbre(&cfg(), &dev).unwrap();
        let notes = [(40, 30, 0.05), (60, 100, 0.1), (84, 127, 0.2)];
        let frames: Vec<Vec<NoteFrame>> = notes
            .iter()
            .map(|&(p, v, held)| note_frames(p, v, held, 0.1))
            .collect();
        let mut alone: Vec<Vec<GlaState>> = vec![streaming_states(&timbre).unwrap(); 3];
        let mut batched = alone.clone();
        for t in 0..frames[0].len().min(frames[2].len()) {
            let now: Vec<NoteFrame> = frames.iter().map(|f| f[t]).collect();
            let mut refs: Vec<&mut [GlaState]> =
                batched.iter_mut().map(|s| s.as_mut_slice()).collect();
            let together = stream.step_batch(&now, &mut refs);
            for (v, c) in together.iter().enumerate() {
                let single = stream.step(&now[v], &mut alone[v]);
                assert!(
                    (c.amplitude - single.amplitude).abs() < 1e-4,
                    "frame {t} voice {v}"
                );
                assert!(max_abs(&c.distribution, &single.distribution) < 1e-4);
                assert!(max_abs(&c.noise, &single.noise) < 1e-4);
            }
        }
        let scale = alone[1][0].s.iter().fold(1f32, |m, v| m.max(v.abs()));
        assert!(max_abs(&batched[1][0].s, &alone[1][0].s) < 1e-4 * scale);
    }

    fn max_abs(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
    }

    #[test]
    fn timbre_changes_the_sound_and_only_through_the_state() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let synth =
            NeuralSynth::new(&cfg(), VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        // The head starts at zero (every timbre sounds alike before training): give it weights.
        let head = vm.data().lock().unwrap()["head.weight"].clone();
        head.set(&Tensor::randn(0f32, 0.3, head.dims(), &dev).unwrap())
            .unwrap();
        let frames = note_frames(67, 90, 0.1, 0.05);
        let feats: Vec<f32> = frames.iter().flat_map(|f| f.features()).collect();
        let x = Tensor::from_vec(feats, (1, frames.len(), FEATURES), &dev).unwrap();
        let f0 = Tensor::full(frames[0].f0(), (1, frames.len()), &dev).unwrap();
        let noise = Tensor::zeros((1, frames.len() * HOP), DType::F32, &dev).unwrap();
        let a = random_timbre(&cfg(), &dev).unwrap();
        let b = random_timbre(&cfg(), &dev).unwrap();
        let ra = synth
            .render(&x, &f0, &noise, &a.states(1).unwrap())
            .unwrap();
        let rb = synth
            .render(&x, &f0, &noise, &b.states(1).unwrap())
            .unwrap();
        let ra2 = synth
            .render(&x, &f0, &noise, &a.states(1).unwrap())
            .unwrap();
        assert!(max_diff(&ra, &rb) > 1e-4);
        assert_eq!(max_diff(&ra, &ra2), 0.0);
    }
}
