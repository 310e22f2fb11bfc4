//! Classifier-free guidance (Ho & Salimans 2022; MusicGen uses it for its text and melody
//! conditions) for the encoder–decoder: each step runs the decoder twice, once given the melody or
//! theme (`c`) and once given a silent one (`u`), and samples from `c + g·(c − u)`. With `g > 0`
//! the conditioning counts for more than the model learned to let it; `g = 0` is plain sampling
//! and runs the decoder once.

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};
use crate::model::theme_transformer::{ThemeCache, ThemeMemory, ThemeTransformer};
use crate::tokens::remi;

/// `c + g·(c − u)`, element by element (masked, non-finite logits stay non-finite).
pub fn guided(cond: &[f32], uncond: &[f32], g: f32) -> Vec<f32> {
    cond.iter()
        .zip(uncond)
        .map(|(&c, &u)| c + g * (c - u))
        .collect()
}

/// Checks a guidance strength: finite and in 0–10.
pub fn validate(g: f32) -> Result<()> {
    if g.is_finite() && (0.0..=10.0).contains(&g) {
        Ok(())
    } else {
        Err(Error::Invalid(format!("guidance {g} must be in 0–10")))
    }
}

/// Encodes encoder-side REMI `ids` at `positions` (one batch row, no padding).
pub fn encode(model: &ThemeTransformer, ids: &[u32], positions: Vec<u32>) -> Result<ThemeMemory> {
    let t = |e| Error::tensor(e);
    let dev = Device::Cpu;
    let n = ids.len();
    let th = Tensor::from_vec(ids.to_vec(), (1, n), &dev).map_err(t)?;
    let mask = Tensor::ones((1, n), DType::F32, &dev).map_err(t)?;
    let pos = Tensor::from_vec(positions, (1, n), &dev).map_err(t)?;
    model.encode(&th, &mask, &pos, false).map_err(t)
}

/// The silent version of encoder-side `ids`: only their Bar tokens (at least one), so the same
/// bars with no notes, and no aligned notes either.
pub fn silent(ids: &[u32]) -> Vec<u32> {
    let bars: Vec<u32> = ids.iter().copied().filter(|&i| i == remi::BAR).collect();
    if bars.is_empty() {
        vec![remi::BAR]
    } else {
        bars
    }
}

/// The unconditioned side of guidance.
pub struct Unconditioned {
    /// Strength `g`.
    pub strength: f32,
    /// The encoded silent melody or theme (no notes, so no aligned notes either).
    pub memory: ThemeMemory,
    /// Decode this side with gate 0 everywhere (the theme model's "no theme"); else with the
    /// caller's gates.
    pub gate_off: bool,
}

/// Incremental decoding with optional guidance.
pub struct GuidedDecoder<'m> {
    model: &'m ThemeTransformer,
    memory: ThemeMemory,
    cache: ThemeCache,
    uncond: Option<(Unconditioned, ThemeCache)>,
}

impl<'m> GuidedDecoder<'m> {
    /// A decoder over `memory`; `uncond` (when its strength is above 0) turns guidance on.
    pub fn new(
        model: &'m ThemeTransformer,
        memory: ThemeMemory,
        uncond: Option<Unconditioned>,
    ) -> Self {
        GuidedDecoder {
            model,
            memory,
            cache: ThemeCache::default(),
            uncond: uncond
                .filter(|u| u.strength > 0.0)
                .map(|u| (u, ThemeCache::default())),
        }
    }

    /// Appends `ids` (with their counters and gates) and returns the guided logits of the last one.
    pub fn step(&mut self, ids: &[u32], counter: &[u32], gate: &[f32]) -> Result<Vec<f32>> {
        let t = |e| Error::tensor(e);
        let x = Tensor::from_vec(ids.to_vec(), (1, ids.len()), &Device::Cpu).map_err(t)?;
        let logits = self
            .model
            .decode_cached(&x, counter, gate, &self.memory, &mut self.cache)
            .map_err(t)?;
        let cond = super::last_logits(&logits)?;
        let Some((u, cache)) = &mut self.uncond else {
            return Ok(cond);
        };
        let off = vec![0f32; gate.len()];
        let gate = if u.gate_off { &off[..] } else { gate };
        let logits = self
            .model
            .decode_cached(&x, counter, gate, &u.memory, cache)
            .map_err(t)?;
        Ok(guided(&cond, &super::last_logits(&logits)?, u.strength))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guidance_extrapolates_away_from_the_unconditioned_logits() {
        let c = [1.0, -2.0, f32::NEG_INFINITY];
        let u = [0.5, -2.0, 0.0];
        assert_eq!(guided(&c, &u, 0.0)[..2], [1.0, -2.0]);
        let g = guided(&c, &u, 2.0);
        assert_eq!(g[..2], [2.0, -2.0]);
        assert!(g[2].is_infinite() && g[2] < 0.0);
        assert!(validate(0.0).is_ok() && validate(3.0).is_ok());
        assert!(validate(-1.0).is_err() && validate(f32::NAN).is_err());
        assert_eq!(
            silent(&[remi::BAR, 200, remi::BAR, 300]),
            [remi::BAR, remi::BAR]
        );
        assert_eq!(silent(&[200]), [remi::BAR]);
    }

    /// A tiny time-aligned theme model whose aligned-note embedding is random (not zero), so that
    /// the theme reaches the decoder.
    fn aligned_model(dev: &Device) -> ThemeTransformer {
        use crate::model::theme_transformer::{ThemeConfig, ThemeTask};
        use candle_nn::{VarBuilder, VarMap};
        let cfg = ThemeConfig {
            time_aligned: true,
            cross_time_bias: true,
            aligned_notes: true,
            ..crate::test_util::tiny_theme_config(ThemeTask::Theme, 32, 16)
        };
        let vm = VarMap::new();
        let m = ThemeTransformer::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, dev)).unwrap();
        for (name, var) in vm.data().lock().unwrap().iter() {
            if name == "aligned_notes" {
                var.set(&Tensor::randn(0f32, 1.0, var.dims(), dev).unwrap())
                    .unwrap();
            }
        }
        m
    }

    /// Position `i` of `[1, L, V]` logits.
    fn logits_at(x: &Tensor, i: usize) -> Vec<f32> {
        x.narrow(1, i, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    /// The largest difference between two rows of logits.
    fn row_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max)
    }

    /// Step by step, guided decoding gives `c + g·(c − u)` of two full forward passes: one with
    /// the theme and the caller's gates, one with the silent theme and gate 0.
    #[test]
    fn guided_steps_mix_two_full_forwards() {
        use crate::model::theme_transformer::theme_positions;
        use crate::tokens::remi;
        let dev = Device::Cpu;
        let m = aligned_model(&dev);
        let theme = [remi::BAR, remi::POSITION, 150, 250, 300];
        let memory = || encode(&m, &theme, vec![0, 1, 1, 1, 1]).unwrap();
        let silent = || encode(&m, &[remi::BAR], vec![0]).unwrap();
        let ids = [
            1,
            remi::THEME_START,
            remi::BAR,
            remi::POSITION + 2,
            150,
            250,
        ];
        let (counter, gate) = theme_positions(&ids, true);
        let l = ids.len();
        let full = |mem: &ThemeMemory, gate: Vec<f32>| {
            let t = |v: Vec<u32>| Tensor::from_vec(v, (1, l), &dev).unwrap();
            let g = Tensor::from_vec(gate, (1, l), &dev).unwrap();
            m.decode(&t(ids.to_vec()), &t(counter.clone()), &g, mem, None, false)
                .unwrap()
        };
        let c = full(&memory(), gate.clone());
        let u = full(&silent(), vec![0.0; l]);
        let strength = 1.5;
        let mut dec = GuidedDecoder::new(
            &m,
            memory(),
            Some(Unconditioned {
                strength,
                memory: silent(),
                gate_off: true,
            }),
        );
        // The prompt in one call, then one token at a time.
        let mut steps = vec![dec.step(&ids[..2], &counter[..2], &gate[..2]).unwrap()];
        for i in 2..l {
            steps.push(
                dec.step(&ids[i..=i], &counter[i..=i], &gate[i..=i])
                    .unwrap(),
            );
        }
        for (k, got) in steps.iter().enumerate() {
            let i = k + 1;
            let want = guided(&logits_at(&c, i), &logits_at(&u, i), strength);
            let err = row_diff(got, &want);
            assert!(err < 1e-4, "position {i}: {err}");
        }
        // Inside the region the theme matters, so guidance changed the logits.
        let plain = logits_at(&c, l - 1);
        assert!(row_diff(steps.last().unwrap(), &plain) > 1e-3);
    }
}
