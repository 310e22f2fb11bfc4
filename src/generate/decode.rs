//! Autoregressive decoding with the KV cache (and without, for comparison), batched over samples.

use candle_core::{Tensor, D};

use super::sampler::Sampler;
use crate::error::{Error, Result};
use crate::model::{Cache, MusicTransformer};

/// Steers a batched generation: which tokens each sample may draw next, and when it has enough.
pub trait Steer {
    /// The tokens sample `i` may draw next (`None` = any).
    fn allowed(&mut self, i: usize) -> Option<Vec<bool>>;
    /// Sample `i` drew `id`; returns false once that sample is complete.
    fn accept(&mut self, i: usize, id: u32) -> bool;
    /// Adjusts sample `i`'s next-token logits before sampling (e.g. key guidance); none by default.
    fn adjust(&mut self, _i: usize, _logits: &mut [f32]) {}
}

/// The simplest steering: one fixed mask for every step (or none), every token reported to
/// `on_token(sample, id)`, which returns false to end that sample; otherwise the step count decides.
pub struct FixedMask<'a> {
    /// Allowed tokens (`None` = any).
    pub mask: Option<Vec<bool>>,
    /// Sees every drawn token; false ends the sample.
    pub on_token: Option<&'a mut dyn FnMut(usize, u32) -> bool>,
}

impl Steer for FixedMask<'_> {
    fn allowed(&mut self, _: usize) -> Option<Vec<bool>> {
        self.mask.clone()
    }

    fn accept(&mut self, i: usize, id: u32) -> bool {
        self.on_token.as_mut().is_none_or(|f| f(i, id))
    }
}

/// Steering with no mask that ignores the tokens.
pub fn unsteered() -> FixedMask<'static> {
    FixedMask {
        mask: None,
        on_token: None,
    }
}

/// Last-position logits `[B, V]` as rows of f32.
fn last_rows(logits: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
    let n = logits.dim(1)?;
    logits
        .narrow(1, n - 1, 1)?
        .squeeze(1)?
        .to_dtype(candle_core::DType::F32)?
        .to_vec2::<f32>()
}

/// Generates up to `steps` tokens after `prompt` for `samples` sequences at once with the KV cache; past
/// the model's context the cache slides. `steer` masks each draw and sees every new token as it is
/// drawn; a sample it declares complete stops growing, and decoding stops when all are.
/// Returns the new tokens of each sample.
pub fn generate(
    model: &MusicTransformer,
    prompt: &[u32],
    samples: usize,
    steps: usize,
    sampler: &mut Sampler,
    steer: &mut dyn Steer,
) -> Result<Vec<Vec<u32>>> {
    if prompt.is_empty() {
        return Err(Error::Invalid(
            "generation needs at least one prompt token".into(),
        ));
    }
    let device = model.device();
    let max_len = model.config().max_len;
    let prompt = &prompt[prompt.len().saturating_sub(max_len)..];
    let mut seqs: Vec<Vec<u32>> = vec![prompt.to_vec(); samples.max(1)];
    let input: Vec<u32> = seqs.iter().flatten().copied().collect();
    let input =
        Tensor::from_vec(input, (seqs.len(), prompt.len()), device).map_err(Error::tensor)?;
    let mut cache = Cache::default();
    let mut logits = model
        .forward_cached(&input, &mut cache)
        .map_err(Error::tensor)?;
    let mut live = vec![true; seqs.len()];
    for _ in 0..steps {
        if !live.iter().any(|&l| l) {
            break;
        }
        let mut rows = last_rows(&logits).map_err(Error::tensor)?;
        let mut next = Vec::with_capacity(seqs.len());
        for (i, (row, seq)) in rows.iter_mut().zip(&mut seqs).enumerate() {
            if !live[i] {
                // A finished sample still needs an input to keep the batch square.
                next.push(*seq.last().unwrap_or(&0));
                continue;
            }
            let allowed = steer.allowed(i);
            steer.adjust(i, row);
            let id = sampler.sample(row, allowed.as_deref());
            seq.push(id);
            live[i] = steer.accept(i, id);
            next.push(id);
        }
        let input = Tensor::from_vec(next, (seqs.len(), 1), device).map_err(Error::tensor)?;
        logits = model
            .forward_cached(&input, &mut cache)
            .map_err(Error::tensor)?;
    }
    Ok(seqs
        .into_iter()
        .map(|s| s[prompt.len()..].to_vec())
        .collect())
}

/// The same as `generate` for one sample without a cache: every step runs the full forward over the last
/// `max_len` tokens. The reference for the cached path and for its speed.
pub fn generate_uncached(
    model: &MusicTransformer,
    prompt: &[u32],
    steps: usize,
    sampler: &mut Sampler,
    steer: &mut dyn Steer,
) -> Result<Vec<u32>> {
    let max_len = model.config().max_len;
    let mut seq = prompt.to_vec();
    for _ in 0..steps {
        let window = &seq[seq.len().saturating_sub(max_len)..];
        let input = Tensor::from_vec(window.to_vec(), (1, window.len()), model.device())
            .map_err(Error::tensor)?;
        let logits = model.forward(&input, None, false).map_err(Error::tensor)?;
        let mut row = last_rows(&logits).map_err(Error::tensor)?.remove(0);
        let allowed = steer.allowed(0);
        steer.adjust(0, &mut row);
        let id = sampler.sample(&row, allowed.as_deref());
        seq.push(id);
        if !steer.accept(0, id) {
            break;
        }
    }
    Ok(seq[prompt.len()..].to_vec())
}

/// Log-probabilities of the next token after `ids` (one sequence), for tests and tools.
pub fn next_log_probs(model: &MusicTransformer, ids: &[u32]) -> Result<Vec<f32>> {
    let input =
        Tensor::from_vec(ids.to_vec(), (1, ids.len()), model.device()).map_err(Error::tensor)?;
    let logits = model.forward(&input, None, false).map_err(Error::tensor)?;
    let lp = candle_nn::ops::log_softmax(&logits, D::Minus1).map_err(Error::tensor)?;
    Ok(last_rows(&lp).map_err(Error::tensor)?.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::sampler::SamplerConfig;
    use crate::model::{TransformerConfig, VocabKind};
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};

    /// A random grid-vocabulary model: width, layers, heads, feed-forward width, context.
    fn grid_model(
        d_model: usize,
        n_layers: usize,
        n_heads: usize,
        d_ff: usize,
        max_len: usize,
    ) -> (VarMap, MusicTransformer) {
        let cfg = TransformerConfig {
            vocab: VocabKind::Grid,
            vocab_size: 132,
            d_model,
            n_layers,
            n_heads,
            d_ff,
            max_len,
            dropout: 0.0,
            beat_embedding: false,
        };
        let vm = VarMap::new();
        let m = MusicTransformer::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu))
            .unwrap();
        (vm, m)
    }

    fn tiny() -> (VarMap, MusicTransformer) {
        grid_model(32, 2, 4, 64, 24)
    }

    #[test]
    fn cached_and_uncached_draw_the_same_tokens_within_the_context() {
        let (_vm, m) = tiny();
        let cfg = SamplerConfig {
            temperature: 1.0,
            top_k: None,
            top_p: 1.0,
            seed: 9,
        };
        let prompt = [1, 60, 64];
        let (mut sa, mut sb) = (Sampler::new(cfg).unwrap(), Sampler::new(cfg).unwrap());
        let a = generate(&m, &prompt, 1, 20, &mut sa, &mut unsteered()).unwrap();
        let b = generate_uncached(&m, &prompt, 20, &mut sb, &mut unsteered()).unwrap();
        assert_eq!(a[0], b);
    }

    #[test]
    fn ten_thousand_tokens_do_not_crash() {
        let (_vm, m) = grid_model(16, 1, 2, 16, 12);
        let mut sampler = Sampler::new(SamplerConfig::default()).unwrap();
        let out = generate(&m, &[1], 1, 10_000, &mut sampler, &mut unsteered()).unwrap();
        assert_eq!(out[0].len(), 10_000);
    }

    #[test]
    fn long_generation_slides_and_respects_the_grammar() {
        let (_vm, m) = tiny();
        // Three samples of 300 tokens, each drawn only from rest (3) or C (64).
        let rest_or_c = |on_token: &mut dyn FnMut(usize, u32) -> bool| {
            let cfg = SamplerConfig {
                seed: 3,
                ..Default::default()
            };
            let mask = Some((0..132).map(|i| i == 3 || i == 64).collect());
            let mut steer = FixedMask {
                mask,
                on_token: Some(on_token),
            };
            generate(
                &m,
                &[1],
                3,
                300,
                &mut Sampler::new(cfg).unwrap(),
                &mut steer,
            )
            .unwrap()
        };
        let mut seen = 0;
        let out = rest_or_c(&mut |_, _| {
            seen += 1;
            true
        });
        assert_eq!(seen, 900);
        assert!(out
            .iter()
            .all(|s| s.len() == 300 && s.iter().all(|&t| t == 3 || t == 64)));
        // Same seed, same result.
        let again = rest_or_c(&mut |_, _| true);
        assert_eq!(out, again);
    }

    /// Stops a sample after `n` tokens.
    struct StopAfter(Vec<usize>);

    impl Steer for StopAfter {
        fn allowed(&mut self, _: usize) -> Option<Vec<bool>> {
            None
        }
        fn accept(&mut self, i: usize, _: u32) -> bool {
            self.0[i] -= 1;
            self.0[i] > 0
        }
    }

    #[test]
    fn samples_stop_when_their_steering_says_so() {
        let (_vm, m) = tiny();
        let mut sampler = Sampler::new(SamplerConfig::default()).unwrap();
        let out = generate(
            &m,
            &[1],
            3,
            50,
            &mut sampler,
            &mut StopAfter(vec![5, 40, 9]),
        )
        .unwrap();
        let lens: Vec<usize> = out.iter().map(Vec::len).collect();
        assert_eq!(lens, [5, 40, 9]);
        let mut sampler = Sampler::new(SamplerConfig::default()).unwrap();
        let one = generate_uncached(&m, &[1], 50, &mut sampler, &mut StopAfter(vec![7])).unwrap();
        assert_eq!(one.len(), 7);
    }
}
