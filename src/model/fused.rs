//! Fused CPU kernels with a backward pass, for training: a scaled softmax over the last dimension, a
//! layer norm and GELU. candle's own fused softmax and layer norm have no backward, the composed
//! versions make one pass over memory per elementary op (about ten for a softmax with its backward),
//! and candle's GELU spends most of a training step in libm's `tanhf`; these make one or two passes.
//! Tests compare both against the composed ops on random inputs, values and gradients.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor, D};
use rayon::prelude::*;

/// The rows of a contiguous f32 tensor, or an error naming the op.
fn rows<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> candle_core::Result<(&'a [f32], usize)> {
    let data = s.as_slice::<f32>()?;
    let (start, end) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg(format!("{op}: input must be contiguous")))?;
    let width = *l.dims().last().unwrap_or(&1);
    Ok((&data[start..end], width.max(1)))
}

/// `softmax(scale · x)` over the last dimension, differentiable.
pub fn scaled_softmax(x: &Tensor, scale: f32) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(ScaledSoftmax { scale })
}

struct ScaledSoftmax {
    scale: f32,
}

impl CustomOp1 for ScaledSoftmax {
    fn name(&self) -> &'static str {
        "scaled-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, w) = rows(s, l, self.name())?;
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(w)
            .zip(x.par_chunks(w))
            .for_each(|(yr, xr)| {
                let max = xr.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let mut sum = 0f32;
                for (o, &v) in yr.iter_mut().zip(xr) {
                    // Below −87 exp underflows f32; libm's slow path for that costs more than
                    // the whole row, and masked scores always land there.
                    let a = (v - max) * self.scale;
                    *o = if a < -87.0 { 0.0 } else { a.exp() };
                    sum += *o;
                }
                let inv = 1.0 / sum;
                yr.iter_mut().for_each(|o| *o *= inv);
            });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let g = g.contiguous()?;
        Ok(Some(y.apply_op2_no_bwd(
            &g,
            &SoftmaxGrad { scale: self.scale },
        )?))
    }
}

/// `dx = scale · y ⊙ (g − Σ g⊙y)` row by row.
struct SoftmaxGrad {
    scale: f32,
}

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "scaled-softmax-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (y, w) = rows(s1, l1, self.name())?;
        let (g, _) = rows(s2, l2, self.name())?;
        let mut dx = vec![0f32; y.len()];
        dx.par_chunks_mut(w)
            .zip(y.par_chunks(w).zip(g.par_chunks(w)))
            .for_each(|(dr, (yr, gr))| {
                let dot: f32 = yr.iter().zip(gr).map(|(a, b)| a * b).sum();
                for ((d, &yv), &gv) in dr.iter_mut().zip(yr).zip(gr) {
                    *d = self.scale * yv * (gv - dot);
                }
            });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

/// Layer norm over the last dimension, `(x − mean) / sqrt(var + eps) · weight + bias`, differentiable
/// in all three arguments.
pub fn layer_norm(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f32,
) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op3(weight, bias, LayerNorm { eps })
}

struct LayerNorm {
    eps: f32,
}

/// Mean and 1/std of one row.
fn moments(xr: &[f32], eps: f32) -> (f32, f32) {
    let n = xr.len() as f32;
    let mean = xr.iter().sum::<f32>() / n;
    let var = xr.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, w) = rows(s1, l1, self.name())?;
        let (gamma, _) = rows(s2, l2, self.name())?;
        let (beta, _) = rows(s3, l3, self.name())?;
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(w)
            .zip(x.par_chunks(w))
            .for_each(|(yr, xr)| {
                let (mean, inv) = moments(xr, self.eps);
                for (i, (o, &v)) in yr.iter_mut().zip(xr).enumerate() {
                    *o = (v - mean) * inv * gamma[i] + beta[i];
                }
            });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = g.contiguous()?;
        let dx = x.apply_op3_no_bwd(weight, &g, &LayerNormGrad { eps: self.eps })?;
        // dweight = Σ g ⊙ x̂ over all rows, dbias = Σ g.
        let width = x.dim(D::Minus1)?;
        let g2 = g.reshape(((), width))?;
        let xhat = x
            .apply_op3_no_bwd(
                &Tensor::ones(width, x.dtype(), x.device())?,
                &Tensor::zeros(width, x.dtype(), x.device())?,
                self,
            )?
            .reshape(((), width))?;
        let dw = (g2.clone() * xhat)?.sum(0)?;
        let db = g2.sum(0)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// `dx = inv/n · (n·ĝ − Σĝ − x̂·Σ(ĝ⊙x̂))` with `ĝ = g ⊙ weight`.
struct LayerNormGrad {
    eps: f32,
}

impl CustomOp3 for LayerNormGrad {
    fn name(&self) -> &'static str {
        "layer-norm-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, w) = rows(s1, l1, self.name())?;
        let (gamma, _) = rows(s2, l2, self.name())?;
        let (g, _) = rows(s3, l3, self.name())?;
        let mut dx = vec![0f32; x.len()];
        let n = w as f32;
        dx.par_chunks_mut(w)
            .zip(x.par_chunks(w).zip(g.par_chunks(w)))
            .for_each(|(dr, (xr, gr))| {
                let (mean, inv) = moments(xr, self.eps);
                let (mut sum_g, mut sum_gx) = (0f32, 0f32);
                for i in 0..w {
                    let gh = gr[i] * gamma[i];
                    sum_g += gh;
                    sum_gx += gh * (xr[i] - mean) * inv;
                }
                for i in 0..w {
                    let xh = (xr[i] - mean) * inv;
                    dr[i] = inv / n * (n * gr[i] * gamma[i] - sum_g - xh * sum_gx);
                }
            });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

/// GELU, tanh approximation, written as `x · σ(2z)` with `z = √(2/π)(x + 0.044715x³)` (the same
/// function as `0.5x(1 + tanh z)`, candle's `gelu`), differentiable. Falls back to candle's kernel for
/// tensors that are not f32.
pub fn gelu(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.dtype() != candle_core::DType::F32 {
        return x.gelu();
    }
    x.contiguous()?.apply_op1(Gelu)
}

const GELU_K: f32 = 0.797_884_6; // √(2/π)
const GELU_C: f32 = 0.044_715;

/// `σ(2z)` and `2·dz/dx` at `x`.
fn gelu_parts(x: f32) -> (f32, f32) {
    let z = GELU_K * (x + GELU_C * x * x * x);
    let s = 1.0 / (1.0 + (-2.0 * z).exp());
    (s, 2.0 * GELU_K * (1.0 + 3.0 * GELU_C * x * x))
}

struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, _) = rows(s, l, self.name())?;
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(4096)
            .zip(x.par_chunks(4096))
            .for_each(|(yc, xc)| {
                for (o, &v) in yc.iter_mut().zip(xc) {
                    *o = v * gelu_parts(v).0;
                }
            });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(&g.contiguous()?, &GeluGrad)?))
    }
}

/// `dx = g · (s + x·s(1−s)·2z')`.
struct GeluGrad;

impl CustomOp2 for GeluGrad {
    fn name(&self) -> &'static str {
        "gelu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, _) = rows(s1, l1, self.name())?;
        let (g, _) = rows(s2, l2, self.name())?;
        let mut dx = vec![0f32; x.len()];
        dx.par_chunks_mut(4096)
            .zip(x.par_chunks(4096).zip(g.par_chunks(4096)))
            .for_each(|(dc, (xc, gc))| {
                for ((d, &v), &gv) in dc.iter_mut().zip(xc).zip(gc) {
                    let (s, dz2) = gelu_parts(v);
                    *d = gv * (s + v * s * (1.0 - s) * dz2);
                }
            });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    use crate::test_util::max_diff;

    #[test]
    fn softmax_matches_composed_ops_and_their_gradient() {
        let dev = Device::Cpu;
        let x = Var::randn(0f32, 3.0, (2, 3, 5, 17), &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (2, 3, 5, 17), &dev).unwrap();
        let scale = 0.37;
        let fused = scaled_softmax(x.as_tensor(), scale).unwrap();
        let composed =
            candle_nn::ops::softmax(&(x.as_tensor() * scale as f64).unwrap(), D::Minus1).unwrap();
        assert!(max_diff(&fused, &composed) < 1e-6);
        let gf = (fused * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gc = (composed * &w)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let (gf, gc) = (gf.get(&x).unwrap(), gc.get(&x).unwrap());
        assert!(max_diff(gf, gc) < 1e-5, "{}", max_diff(gf, gc));
        assert!(
            gf.abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 1e-3
        );
    }

    #[test]
    fn layer_norm_matches_composed_ops_and_their_gradients() {
        let dev = Device::Cpu;
        let x = Var::randn(0.5f32, 2.0, (3, 4, 24), &dev).unwrap();
        let gamma = Var::randn(1f32, 0.3, 24, &dev).unwrap();
        let beta = Var::randn(0f32, 0.3, 24, &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (3, 4, 24), &dev).unwrap();
        let eps = 1e-5;
        let fused = layer_norm(x.as_tensor(), gamma.as_tensor(), beta.as_tensor(), eps).unwrap();
        let mean = x.mean_keepdim(D::Minus1).unwrap();
        let c = x.broadcast_sub(&mean).unwrap();
        let var = c.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
        let composed = c
            .broadcast_div(&(var + eps as f64).unwrap().sqrt().unwrap())
            .unwrap()
            .broadcast_mul(gamma.as_tensor())
            .unwrap()
            .broadcast_add(beta.as_tensor())
            .unwrap();
        assert!(max_diff(&fused, &composed) < 1e-5);
        let gf = (fused * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gc = (composed * &w)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&x, &gamma, &beta] {
            let d = max_diff(gf.get(v).unwrap(), gc.get(v).unwrap());
            assert!(d < 1e-4, "{d}");
        }
    }

    #[test]
    fn gelu_matches_candle_and_its_gradient() {
        let dev = Device::Cpu;
        let x = Var::randn(0f32, 3.0, (7, 1000), &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (7, 1000), &dev).unwrap();
        let fused = gelu(x.as_tensor()).unwrap();
        let reference = x.as_tensor().gelu().unwrap();
        assert!(max_diff(&fused, &reference) < 1e-5);
        let gf = (fused * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gc = (reference * &w)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let d = max_diff(gf.get(&x).unwrap(), gc.get(&x).unwrap());
        assert!(d < 1e-4, "{d}");
    }
}
