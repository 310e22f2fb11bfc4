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

/// The `cpu_fwd` of a `CustomOp2`/`CustomOp3` over contiguous f32 inputs, one storage-layout pair
/// per input: `self.kernel([inputs], width)` computes the output from their data, the first input
/// setting the row width and the output's shape.
macro_rules! cpu_fwd_over_rows {
    ($($s:ident, $l:ident);+) => {
        fn cpu_fwd(
            &self,
            $($s: &CpuStorage, $l: &Layout),+
        ) -> candle_core::Result<(CpuStorage, Shape)> {
            let inputs = [$(rows($s, $l, self.name())?),+];
            let shape = [$($l),+][0].shape().clone();
            let out = self.kernel(inputs.map(|(data, _)| data), inputs[0].1);
            Ok((CpuStorage::F32(out), shape))
        }
    };
}

/// An output as long as `x`, filled chunk by chunk of `w` in parallel by `f(out, x)`.
fn map_chunks(x: &[f32], w: usize, f: impl Fn(&mut [f32], &[f32]) + Sync) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    y.par_chunks_mut(w)
        .zip(x.par_chunks(w))
        .for_each(|(yc, xc)| f(yc, xc));
    y
}

/// An output as long as `x`, filled chunk by chunk of `w` in parallel by `f(out, x, g)`, `g` being
/// chunked alongside `x`.
fn map_chunks2(
    x: &[f32],
    g: &[f32],
    w: usize,
    f: impl Fn(&mut [f32], &[f32], &[f32]) + Sync,
) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    y.par_chunks_mut(w)
        .zip(x.par_chunks(w).zip(g.par_chunks(w)))
        .for_each(|(yc, (xc, gc))| f(yc, xc, gc));
    y
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
        let y = map_chunks(x, w, |yr, xr| {
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
            &Grad::Softmax { scale: self.scale },
        )?))
    }
}

/// The backward kernels of the one-input ops, from the tensor the op keeps (its output `y` for the
/// softmax, its input `x` for GELU) and the upstream gradient `g`:
/// - softmax: `dx = scale · y ⊙ (g − Σ g⊙y)` row by row;
/// - GELU: `dx = g · (s + x·s(1−s)·2z')`.
enum Grad {
    Softmax { scale: f32 },
    Gelu,
}

impl CustomOp2 for Grad {
    fn name(&self) -> &'static str {
        match self {
            Grad::Softmax { .. } => "scaled-softmax-grad",
            Grad::Gelu => "gelu-grad",
        }
    }

    cpu_fwd_over_rows!(s1, l1; s2, l2);
}

impl Grad {
    /// `dx` from the kept tensor `t` and the upstream gradient `g`, in rows of `w`.
    fn kernel(&self, [t, g]: [&[f32]; 2], w: usize) -> Vec<f32> {
        match *self {
            Grad::Softmax { scale } => map_chunks2(t, g, w, |dr, yr, gr| {
                let dot: f32 = yr.iter().zip(gr).map(|(a, b)| a * b).sum();
                for ((d, &yv), &gv) in dr.iter_mut().zip(yr).zip(gr) {
                    *d = scale * yv * (gv - dot);
                }
            }),
            Grad::Gelu => map_chunks2(t, g, 4096, |dc, xc, gc| {
                for ((d, &v), &gv) in dc.iter_mut().zip(xc).zip(gc) {
                    let (s, dz2) = gelu_parts(v);
                    *d = gv * (s + v * s * (1.0 - s) * dz2);
                }
            }),
        }
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
    x.contiguous()?
        .apply_op3(weight, bias, LayerNorm::Forward { eps })
}

/// The layer norm's two kernels over `(x, weight, third)`:
/// - forward, the third input being the bias;
/// - gradient, the third input being the upstream gradient `g`:
///   `dx = inv/n · (n·ĝ − Σĝ − x̂·Σ(ĝ⊙x̂))` with `ĝ = g ⊙ weight` (no backward of its own).
enum LayerNorm {
    Forward { eps: f32 },
    Grad { eps: f32 },
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
        match self {
            LayerNorm::Forward { .. } => "layer-norm",
            LayerNorm::Grad { .. } => "layer-norm-grad",
        }
    }

    cpu_fwd_over_rows!(s1, l1; s2, l2; s3, l3);

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let LayerNorm::Forward { eps } = *self else {
            return Err(candle_core::Error::BackwardNotSupported { op: self.name() });
        };
        let g = g.contiguous()?;
        let dx = x.apply_op3_no_bwd(weight, &g, &LayerNorm::Grad { eps })?;
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

impl LayerNorm {
    /// The output from `x`, the weight and the third input, in rows of `w`.
    fn kernel(&self, [x, gamma, third]: [&[f32]; 3], w: usize) -> Vec<f32> {
        match *self {
            LayerNorm::Forward { eps } => map_chunks(x, w, |yr, xr| {
                let (mean, inv) = moments(xr, eps);
                for (i, (o, &v)) in yr.iter_mut().zip(xr).enumerate() {
                    *o = (v - mean) * inv * gamma[i] + third[i];
                }
            }),
            LayerNorm::Grad { eps } => {
                let n = w as f32;
                map_chunks2(x, third, w, |dr, xr, gr| {
                    let (mean, inv) = moments(xr, eps);
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
                })
            }
        }
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
        let y = map_chunks(x, 4096, |yc, xc| {
            for (o, &v) in yc.iter_mut().zip(xc) {
                *o = v * gelu_parts(v).0;
            }
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(&g.contiguous()?, &Grad::Gelu)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{backprop::GradStore, Device, Var};

    use crate::test_util::max_diff;

    /// The gradients of `Σ w ⊙ fused` and of `Σ w ⊙ reference`.
    fn grads(fused: Tensor, reference: Tensor, w: &Tensor) -> (GradStore, GradStore) {
        let grad = |t: Tensor| (t * w).unwrap().sum_all().unwrap().backward().unwrap();
        (grad(fused), grad(reference))
    }

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
        let (gf, gc) = grads(fused, composed, &w);
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
        let (gf, gc) = grads(fused, composed, &w);
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
        let (gf, gc) = grads(fused, reference, &w);
        let d = max_diff(gf.get(&x).unwrap(), gc.get(&x).unwrap());
        assert!(d < 1e-4, "{d}");
    }
}
