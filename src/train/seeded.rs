//! Reproducible initialisation: candle cannot seed its CPU random generator
//! (`Device::set_seed` fails on the CPU), so new variables are drawn here from a ChaCha8 generator
//! seeded by the run's seed and the variable's name, with candle's own `Init` distributions.
//! Two runs with one seed start from the same weights, whatever order the model creates them in.

use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::init::{Init, NormalOrUniform};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A `VarMap` whose new variables come from a seeded generator.
struct Seeded {
    varmap: VarMap,
    seed: u64,
}

/// A `VarBuilder` over `varmap` that initialises new variables reproducibly from `seed`.
pub fn var_builder(
    varmap: &VarMap,
    seed: u64,
    dtype: DType,
    device: &Device,
) -> VarBuilder<'static> {
    let backend: Box<dyn SimpleBackend> = Box::new(Seeded {
        varmap: varmap.clone(),
        seed,
    });
    VarBuilder::from_backend(backend, dtype, device.clone())
}

/// FNV-1a of the name, mixed with the seed: each variable's own stream.
fn stream(seed: u64, name: &str) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ crate::midi::folder::fnv1a(name.as_bytes()))
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Values of `init` for `shape`, drawn from `rng` (`None` for a constant).
fn draw(init: Init, shape: &Shape, rng: &mut ChaCha8Rng) -> Option<Vec<f32>> {
    let n = shape.elem_count();
    let (normal_std, bound) = match init {
        Init::Const(_) => return None,
        Init::Randn { mean, stdev } => {
            return Some(
                (0..n)
                    .map(|_| (mean + stdev * normal(rng)) as f32)
                    .collect(),
            )
        }
        Init::Uniform { lo, up } => {
            return Some((0..n).map(|_| rng.random_range(lo..=up) as f32).collect())
        }
        Init::Kaiming {
            dist,
            fan,
            non_linearity,
        } => {
            let std = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
            match dist {
                NormalOrUniform::Normal => (std, 0.0),
                NormalOrUniform::Uniform => (0.0, 3f64.sqrt() * std),
            }
        }
    };
    Some(if bound > 0.0 {
        (0..n)
            .map(|_| rng.random_range(-bound..=bound) as f32)
            .collect()
    } else {
        (0..n).map(|_| (normal_std * normal(rng)) as f32).collect()
    })
}

impl SimpleBackend for Seeded {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let known = self.varmap.data().lock().unwrap().contains_key(name);
        if known {
            return self.varmap.get(s, name, h, dtype, dev);
        }
        let Some(values) = draw(h, &s, &mut stream(self.seed, name)) else {
            return self.varmap.get(s, name, h, dtype, dev);
        };
        let t = Tensor::from_vec(values, s, dev)?.to_dtype(dtype)?;
        let var = Var::from_tensor(&t)?;
        let out = var.as_tensor().clone();
        self.varmap
            .data()
            .lock()
            .unwrap()
            .insert(name.to_string(), var);
        Ok(out)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> Result<Tensor> {
        self.varmap.get_unchecked(name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.varmap.data().lock().unwrap().contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MusicTransformer, VocabKind};

    fn build(seed: u64) -> Vec<(String, Vec<f32>)> {
        let cfg = crate::test_util::tiny_lm_config(VocabKind::Remi, 40);
        let vm = VarMap::new();
        MusicTransformer::new(&cfg, var_builder(&vm, seed, DType::F32, &Device::Cpu)).unwrap();
        let mut vars: Vec<(String, Vec<f32>)> = vm
            .data()
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.flatten_all().unwrap().to_vec1().unwrap()))
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    #[test]
    fn one_seed_one_start_and_the_distributions_are_candles() {
        let (a, b, c) = (build(7), build(7), build(8));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let embed = &a.iter().find(|v| v.0 == "embed.weight").unwrap().1;
        let mean = embed.iter().sum::<f32>() / embed.len() as f32;
        let var = embed.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / embed.len() as f32;
        // candle_nn::embedding initialises N(0, 1).
        assert!(mean.abs() < 0.15 && (var - 1.0).abs() < 0.2, "{mean} {var}");
    }

    #[test]
    fn kaiming_uniform_stays_in_its_bound() {
        let init = candle_nn::init::DEFAULT_KAIMING_UNIFORM;
        let shape = Shape::from((8, 50));
        let v = draw(init, &shape, &mut stream(1, "w")).unwrap();
        // fan-in 50, ReLU gain sqrt(2): bound sqrt(3) sqrt(2) / sqrt(50).
        let bound = (6.0f32 / 50.0).sqrt();
        assert!(v.iter().all(|x| x.abs() <= bound * 1.0001));
        assert!(v.iter().any(|x| x.abs() > bound * 0.9));
    }
}
