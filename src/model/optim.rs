//! AdamW with decoupled weight decay and global-norm gradient clipping, written here because candle-nn's
//! `AdamW` keeps its moments private and a resumable checkpoint needs them.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

/// AdamW hyper-parameters.
#[derive(Debug, Clone, Copy)]
pub struct AdamWParams {
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Decoupled weight decay, applied to matrices only (not to biases, norms or relative embeddings).
    pub weight_decay: f64,
}

impl Default for AdamWParams {
    fn default() -> Self {
        AdamWParams {
            beta1: 0.9,
            beta2: 0.98,
            eps: 1e-9,
            weight_decay: 0.01,
        }
    }
}

/// The optimiser: named variables with their first and second moments and the step count.
pub struct AdamW {
    vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Updates applied so far.
    pub step: usize,
    params: AdamWParams,
}

impl AdamW {
    /// An optimiser over `vars` (sorted by name for a stable order) with zero moments.
    pub fn new(vars: HashMap<String, Var>, params: AdamWParams) -> candle_core::Result<Self> {
        let mut vars: Vec<(String, Var)> = vars.into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let m = vars
            .iter()
            .map(|(_, v)| v.zeros_like())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let v = vars
            .iter()
            .map(|(_, v)| v.zeros_like())
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(AdamW {
            vars,
            m,
            v,
            step: 0,
            params,
        })
    }

    /// The global L2 norm of the gradients.
    pub fn grad_norm(&self, grads: &GradStore) -> candle_core::Result<f64> {
        let mut sq = 0f64;
        for (_, var) in &self.vars {
            if let Some(g) = grads.get(var) {
                sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            }
        }
        Ok(sq.sqrt())
    }

    /// One update at learning rate `lr`, gradients scaled by `grad_scale` (for clipping).
    pub fn update(
        &mut self,
        grads: &GradStore,
        lr: f64,
        grad_scale: f64,
    ) -> candle_core::Result<()> {
        self.step += 1;
        let p = self.params;
        let t = self.step as i32;
        let (bc1, bc2) = (1.0 - p.beta1.powi(t), 1.0 - p.beta2.powi(t));
        for (i, (name, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var) else { continue };
            let g = (g * grad_scale)?;
            self.m[i] = ((&self.m[i] * p.beta1)? + (&g * (1.0 - p.beta1))?)?;
            self.v[i] = ((&self.v[i] * p.beta2)? + (g.sqr()? * (1.0 - p.beta2))?)?;
            let m_hat = (&self.m[i] / bc1)?;
            let v_hat = (&self.v[i] / bc2)?;
            let update = (m_hat / (v_hat.sqrt()? + p.eps)?)?;
            let decays = var.rank() >= 2 && !name.ends_with(".er");
            let decayed = if decays {
                (var.as_tensor() * (1.0 - lr * p.weight_decay))?
            } else {
                var.as_tensor().clone()
            };
            var.set(&(decayed - (update * lr)?)?)?;
        }
        Ok(())
    }

    /// Parameters and moments as named tensors (`param.N`, `adam.m.N`, `adam.v.N`) for a checkpoint.
    pub fn state_tensors(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, (name, var)) in self.vars.iter().enumerate() {
            out.insert(format!("param.{name}"), var.as_tensor().clone());
            out.insert(format!("adam.m.{name}"), self.m[i].clone());
            out.insert(format!("adam.v.{name}"), self.v[i].clone());
        }
        out
    }

    /// Restores parameters and moments saved by `state_tensors`; every tensor must be present and fit.
    pub fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        step: usize,
    ) -> Result<(), String> {
        for (i, (name, var)) in self.vars.iter().enumerate() {
            let get = |key: String| {
                let t = tensors
                    .get(&key)
                    .ok_or_else(|| format!("checkpoint lacks tensor {key}"))?;
                if t.dims() != var.dims() {
                    return Err(format!(
                        "tensor {key} has shape {:?}, expected {:?}",
                        t.dims(),
                        var.dims()
                    ));
                }
                Ok(t.clone())
            };
            var.set(&get(format!("param.{name}"))?)
                .map_err(|e| e.to_string())?;
            self.m[i] = get(format!("adam.m.{name}"))?;
            self.v[i] = get(format!("adam.v.{name}"))?;
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// AdamW on f(w) = Σ (w − 3)² converges, and one step matches the hand-computed update.
    #[test]
    fn matches_the_formula_and_converges() {
        let w = Var::from_tensor(&Tensor::new(&[[1f32, -1.0]], &Device::Cpu).unwrap()).unwrap();
        let mut vars = HashMap::new();
        vars.insert("w".to_string(), w.clone());
        let params = AdamWParams {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        };
        let mut opt = AdamW::new(vars, params).unwrap();
        let loss = |w: &Var| {
            (w.as_tensor() - 3.0)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
        };
        let grads = loss(&w).backward().unwrap();
        opt.update(&grads, 0.1, 1.0).unwrap();
        // First step of Adam moves each weight by lr · sign(g).
        let got = w.as_tensor().to_vec2::<f32>().unwrap();
        assert!(
            (got[0][0] - 1.1).abs() < 1e-5 && (got[0][1] + 0.9).abs() < 1e-5,
            "{got:?}"
        );
        for _ in 0..500 {
            let grads = loss(&w).backward().unwrap();
            opt.update(&grads, 0.05, 1.0).unwrap();
        }
        let got = w.as_tensor().to_vec2::<f32>().unwrap();
        assert!(
            (got[0][0] - 3.0).abs() < 0.05 && (got[0][1] - 3.0).abs() < 0.05,
            "{got:?}"
        );
        // Saving and restoring the state continues identically.
        let state = opt.state_tensors();
        let mut other = AdamW::new(
            HashMap::from([(
                "w".to_string(),
                Var::zeros((1, 2), candle_core::DType::F32, &Device::Cpu).unwrap(),
            )]),
            params,
        )
        .unwrap();
        other.load_state(&state, opt.step).unwrap();
        assert_eq!(other.step, opt.step);
        assert!(other
            .load_state(&HashMap::new(), 0)
            .unwrap_err()
            .contains("param.w"));
    }
}
