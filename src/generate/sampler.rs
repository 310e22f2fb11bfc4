//! Sampling the next token: temperature, top-k, top-p (nucleus), an optional grammar mask, a seeded RNG.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// Sampling settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerConfig {
    /// Softmax temperature (> 0); below 1 is more conservative.
    pub temperature: f32,
    /// Keep only the k most likely tokens (`None` = all).
    pub top_k: Option<usize>,
    /// Keep the smallest set of tokens whose probability reaches p, in (0, 1].
    pub top_p: f32,
    /// Seed of the random generator.
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            temperature: 1.0,
            top_k: None,
            top_p: 1.0,
            seed: 0,
        }
    }
}

impl SamplerConfig {
    /// Checks the ranges: temperature finite and > 0, top-p in (0, 1], top-k ≥ 1.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(Error::Invalid(format!(
                "temperature {} must be > 0",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::Invalid(format!(
                "top-p {} must be in (0, 1]",
                self.top_p
            )));
        }
        if self.top_k == Some(0) {
            return Err(Error::Invalid("top-k must be at least 1".into()));
        }
        Ok(())
    }
}

/// Draws tokens from logits with a seeded ChaCha8 generator (reproducible across platforms).
pub struct Sampler {
    cfg: SamplerConfig,
    rng: ChaCha8Rng,
}

impl Sampler {
    /// A sampler; `cfg` must be valid.
    pub fn new(cfg: SamplerConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(Sampler {
            cfg,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
        })
    }

    /// The probabilities the sampler draws from (after mask, temperature, top-k and top-p).
    pub fn distribution(&self, logits: &[f32], allowed: Option<&[bool]>) -> Vec<f32> {
        let mut scaled: Vec<(usize, f32)> = logits
            .iter()
            .enumerate()
            .filter(|(i, l)| {
                allowed.is_none_or(|a| a.get(*i).copied().unwrap_or(false)) && l.is_finite()
            })
            .map(|(i, &l)| (i, l / self.cfg.temperature))
            .collect();
        let mut probs = vec![0f32; logits.len()];
        if scaled.is_empty() {
            // Nothing allowed or all logits broken: fall back to the first allowed token, else token 0.
            let first = allowed.and_then(|a| a.iter().position(|&x| x)).unwrap_or(0);
            if let Some(p) = probs.get_mut(first) {
                *p = 1.0;
            }
            return probs;
        }
        scaled.sort_by(|a, b| b.1.total_cmp(&a.1));
        if let Some(k) = self.cfg.top_k {
            scaled.truncate(k.max(1));
        }
        let max = scaled[0].1;
        let mut weights: Vec<f32> = scaled.iter().map(|&(_, l)| (l - max).exp()).collect();
        let total: f32 = weights.iter().sum();
        let mut cum = 0.0;
        let mut keep = weights.len();
        for (i, w) in weights.iter_mut().enumerate() {
            *w /= total;
            cum += *w;
            if cum >= self.cfg.top_p {
                keep = i + 1;
                break;
            }
        }
        let kept: f32 = weights[..keep].iter().sum();
        for (&(i, _), w) in scaled.iter().zip(&weights).take(keep) {
            probs[i] = w / kept;
        }
        probs
    }

    /// Draws one token id.
    pub fn sample(&mut self, logits: &[f32], allowed: Option<&[bool]>) -> u32 {
        let probs = self.distribution(logits, allowed);
        let r: f32 = self.rng.random();
        let mut cum = 0.0;
        let mut last = 0;
        for (i, &p) in probs.iter().enumerate() {
            if p > 0.0 {
                cum += p;
                last = i;
                if r < cum {
                    return i as u32;
                }
            }
        }
        last as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(temperature: f32, top_k: Option<usize>, top_p: f32) -> Sampler {
        Sampler::new(SamplerConfig {
            temperature,
            top_k,
            top_p,
            seed: 5,
        })
        .unwrap()
    }

    #[test]
    fn top_k_top_p_and_mask_restrict_the_support() {
        let logits = [2.0f32, 1.0, 0.0, -1.0, 3.0];
        let p = sampler(1.0, Some(2), 1.0).distribution(&logits, None);
        assert!(p[4] > p[0] && p[0] > 0.0 && p[1] == 0.0 && p[2] == 0.0);
        let p = sampler(1.0, None, 0.5).distribution(&logits, None);
        assert_eq!(p.iter().filter(|&&x| x > 0.0).count(), 1);
        let mask = [true, true, false, false, false];
        let p = sampler(1.0, None, 1.0).distribution(&logits, Some(&mask));
        assert!(p[4] == 0.0 && (p[0] + p[1] - 1.0).abs() < 1e-6);
        // Low temperature sharpens.
        let cold = sampler(0.1, None, 1.0).distribution(&logits, None);
        assert!(cold[4] > 0.99);
    }

    #[test]
    fn same_seed_same_draws_and_frequencies_follow_probabilities() {
        let logits = [0.0f32, (3.0f32).ln()];
        let (mut a, mut b) = (sampler(1.0, None, 1.0), sampler(1.0, None, 1.0));
        let da: Vec<u32> = (0..2000).map(|_| a.sample(&logits, None)).collect();
        let db: Vec<u32> = (0..2000).map(|_| b.sample(&logits, None)).collect();
        assert_eq!(da, db);
        let ones = da.iter().filter(|&&x| x == 1).count() as f64 / 2000.0;
        assert!((ones - 0.75).abs() < 0.04, "{ones}");
    }

    #[test]
    fn bad_settings_are_rejected() {
        for cfg in [
            SamplerConfig {
                temperature: 0.0,
                ..Default::default()
            },
            SamplerConfig {
                temperature: f32::NAN,
                ..Default::default()
            },
            SamplerConfig {
                top_p: 0.0,
                ..Default::default()
            },
            SamplerConfig {
                top_p: 1.5,
                ..Default::default()
            },
            SamplerConfig {
                top_k: Some(0),
                ..Default::default()
            },
        ] {
            assert!(Sampler::new(cfg).is_err(), "{cfg:?}");
        }
    }
}
