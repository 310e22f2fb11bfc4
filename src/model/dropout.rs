//! Reproducible dropout: candle's own (`candle_nn::ops::dropout`) draws its mask from a generator
//! that cannot be seeded on the CPU, so two training runs with one seed drift apart from the first
//! step. Here the mask comes from a per-thread ChaCha8 generator that the training loop reseeds
//! before every step from the run's seed and the step number, so a run — and a resumed run — is
//! repeatable to the bit.

use std::cell::RefCell;

use candle_core::{Result, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

thread_local! {
    static RNG: RefCell<ChaCha8Rng> = RefCell::new(ChaCha8Rng::seed_from_u64(0));
}

/// Reseeds this thread's dropout generator for step `step` of a run seeded with `seed`.
pub fn reseed(seed: u64, step: usize) {
    let mixed = seed ^ (step as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    RNG.with(|r| *r.borrow_mut() = ChaCha8Rng::seed_from_u64(mixed));
}

/// Zeroes each element of `x` with probability `p` and scales the rest by `1 / (1 − p)`, as
/// `candle_nn::ops::dropout` does, with the mask from this thread's generator.
pub fn dropout(x: &Tensor, p: f32) -> Result<Tensor> {
    if !(0.0..1.0).contains(&p) {
        candle_core::bail!("dropout probability {p} must be in [0, 1)");
    }
    if p == 0.0 {
        return Ok(x.clone());
    }
    let keep = 1.0 / (1.0 - p);
    let mask: Vec<f32> = RNG.with(|r| {
        let mut r = r.borrow_mut();
        (0..x.elem_count())
            .map(|_| if r.random::<f32>() >= p { keep } else { 0.0 })
            .collect()
    });
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
    x * mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn one_seed_one_mask_and_the_expectation_is_kept() {
        let x = Tensor::ones((200, 100), candle_core::DType::F32, &Device::Cpu).unwrap();
        let draw = |seed, step| {
            reseed(seed, step);
            dropout(&x, 0.25)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let (a, b, c) = (draw(1, 5), draw(1, 5), draw(1, 6));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        assert!((mean - 1.0).abs() < 0.03, "{mean}");
        let zeros = a.iter().filter(|v| **v == 0.0).count() as f32 / a.len() as f32;
        assert!((zeros - 0.25).abs() < 0.02, "{zeros}");
        assert!(a.iter().all(|v| *v == 0.0 || (*v - 4.0 / 3.0).abs() < 1e-6));
    }
}
