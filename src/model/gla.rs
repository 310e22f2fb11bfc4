//! Gated linear attention (Yang et al. 2024, as used by Lina-Speech). Per head, with a state
//! `S ∈ R^{dk×dv}`:
//!
//! `S_t = Diag(α_t)·S_{t−1} + k_tᵀ v_t`, `o_t = (q_t/√dk)·S_t`, `log α_t = logsigmoid(W2·W1·x_t + b)/16`.
//!
//! The layer's output is `W_o[RMSNorm_head(o_t) ⊙ SiLU(W_g x_t)]`. Training uses the chunkwise-parallel
//! form (candle, differentiable, cumulative log-decays in f32); streaming uses the recurrent form in
//! plain Rust with O(1) state per voice ([`GlaState`]). The initial state `S_0` is a learned low-rank
//! `Σ_r k_rᵀ v_r` per head: it is where a timbre lives.

use crate::linalg::Dense;
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{linear, linear_no_bias, Linear, Module, VarBuilder};

/// Rank of the gate projection `W1`.
pub const GATE_RANK: usize = 16;
/// The gate's log-decay is divided by this (slow forgetting).
pub const GATE_NORMALISER: f64 = 16.0;
/// RMSNorm epsilon.
const RMS_EPS: f64 = 1e-6;

/// Shape of a GLA layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlaShape {
    /// Model width.
    pub d_model: usize,
    /// Heads.
    pub heads: usize,
    /// Rank of each head's initial state.
    pub state_rank: usize,
}

impl GlaShape {
    /// Per-head width (keys and values alike).
    pub fn head_dim(&self) -> usize {
        self.d_model / self.heads
    }
}

/// One GLA layer's weights.
pub struct Gla {
    shape: GlaShape,
    q: Linear,
    k: Linear,
    v: Linear,
    g: Linear,
    gate1: Linear,
    gate2: Linear,
    out: Linear,
    norm: Tensor,
}

/// `logsigmoid(x) = −softplus(−x)`, computed stably.
fn log_sigmoid(x: &Tensor) -> candle_core::Result<Tensor> {
    // −(max(−x, 0) + log(1 + exp(−|x|)))
    let neg = x.neg()?;
    let relu = neg.relu()?;
    let tail = (x.abs()?.neg()?.exp()? + 1.0)?.log()?;
    (relu + tail)?.neg()
}

impl Gla {
    /// Creates (or loads) the layer under `vb`.
    pub fn new(shape: GlaShape, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = shape.d_model;
        Ok(Gla {
            shape,
            q: linear_no_bias(d, d, vb.pp("q"))?,
            k: linear_no_bias(d, d, vb.pp("k"))?,
            v: linear_no_bias(d, d, vb.pp("v"))?,
            g: linear(d, d, vb.pp("g"))?,
            gate1: linear_no_bias(d, GATE_RANK, vb.pp("gate1"))?,
            gate2: linear(GATE_RANK, d, vb.pp("gate2"))?,
            out: linear_no_bias(d, d, vb.pp("out"))?,
            norm: vb.get_with_hints(shape.head_dim(), "norm", candle_nn::Init::Const(1.0))?,
        })
    }

    /// `[B, T, D]` → `[B, H, T, dh]`.
    fn heads(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        x.reshape((b, t, self.shape.heads, self.shape.head_dim()))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Queries, keys, values and log-decays, each `[B, H, T, dh]`.
    fn project(&self, x: &Tensor) -> candle_core::Result<[Tensor; 4]> {
        let q = self.heads(&self.q.forward(x)?)?;
        let k = self.heads(&self.k.forward(x)?)?;
        let v = self.heads(&self.v.forward(x)?)?;
        let gate = self.gate2.forward(&self.gate1.forward(x)?)?;
        let log_alpha = self.heads(&(log_sigmoid(&gate)? / GATE_NORMALISER)?)?;
        Ok([q, k, v, log_alpha])
    }

    /// Chunkwise-parallel forward over `x` `[B, T, D]` from initial states `s0` `[B, H, dh, dh]`;
    /// returns the output `[B, T, D]` and the final state. Differentiable (also in `s0`).
    pub fn forward_chunked(
        &self,
        x: &Tensor,
        s0: &Tensor,
        chunk: usize,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let [q, k, v, log_alpha] = self.project(x)?;
        let (o, s) = chunked_attention(&q, &k, &v, &log_alpha, s0, chunk)?;
        Ok((self.finish(x, &o)?, s))
    }

    /// Output gate and projection: `W_o[RMSNorm_head(o) ⊙ SiLU(W_g x)]`; `o` is `[B, H, T, dh]`.
    fn finish(&self, x: &Tensor, o: &Tensor) -> candle_core::Result<Tensor> {
        let (b, h, t, dh) = o.dims4()?;
        let rms = (o.sqr()?.mean_keepdim(D::Minus1)? + RMS_EPS)?.sqrt()?;
        let normed = o.broadcast_div(&rms)?.broadcast_mul(&self.norm)?;
        let merged = normed.transpose(1, 2)?.reshape((b, t, h * dh))?;
        let gate = candle_nn::ops::silu(&self.g.forward(x)?)?;
        self.out.forward(&(merged * gate)?)
    }

    /// The weights as plain arrays for the streaming form.
    pub fn weights(&self) -> candle_core::Result<GlaWeights> {
        let dense = Dense::from_linear;
        Ok(GlaWeights {
            shape: self.shape,
            input: Dense::stack(&[
                dense(&self.q)?,
                dense(&self.k)?,
                dense(&self.v)?,
                dense(&self.g)?,
                dense(&self.gate1)?,
            ]),
            gate2: dense(&self.gate2)?,
            out: dense(&self.out)?,
            norm: self.norm.to_dtype(DType::F32)?.to_vec1()?,
        })
    }
}

/// The chunkwise form of the recurrence for `q, k, v, log_alpha` `[B, H, T, dh]` and `s0`
/// `[B, H, dh, dh]`: within a chunk, `o_t = (q_t⊙e^{b_t})·S_prev + Σ_{s≤t} ((q_t⊙e^{b_t−b_s})·k_s) v_s`
/// (all over √dk) with `b` the cumulative log-decay from the chunk start; between chunks
/// `S ← Diag(e^{b_C})·S + Σ_s (k_s⊙e^{b_C−b_s})ᵀ v_s`.
pub fn chunked_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    log_alpha: &Tensor,
    s0: &Tensor,
    chunk: usize,
) -> candle_core::Result<(Tensor, Tensor)> {
    let (_, _, t, dh) = q.dims4()?;
    let scale = (dh as f64).powf(-0.5);
    let chunk = chunk.max(1);
    let mut state = s0.clone();
    let mut outs = Vec::with_capacity(t.div_ceil(chunk));
    let mut start = 0;
    while start < t {
        let n = chunk.min(t - start);
        let part = |x: &Tensor| x.narrow(2, start, n);
        let (qc, kc, vc) = (part(q)?, part(k)?, part(v)?);
        let b = part(log_alpha)?.cumsum(2)?; // [B, H, n, dh]
        let q_dec = (qc * b.exp()?)?; // q_t ⊙ e^{b_t}
        let k_inv = (kc.clone() * b.neg()?.exp()?)?; // k_s ⊙ e^{−b_s}
        let causal = causal_mask(n, q.device())?;
        let scores = q_dec.matmul(&k_inv.t()?)?.broadcast_mul(&causal)?; // [B, H, n, n]
        let intra = scores.matmul(&vc)?;
        let inter = q_dec.matmul(&state)?;
        outs.push(((intra + inter)? * scale)?);
        let b_last = b.narrow(2, n - 1, 1)?; // [B, H, 1, dh]
        let k_to_end = (kc * (b_last.broadcast_sub(&b)?).exp()?)?;
        let decay = b_last.exp()?.transpose(2, 3)?; // [B, H, dh, 1]
        state = (state.broadcast_mul(&decay)? + k_to_end.t()?.matmul(&vc)?)?;
        start += n;
    }
    Ok((Tensor::cat(&outs, 2)?, state))
}

/// 1 on and below the diagonal, 0 above, `[n, n]`.
fn causal_mask(n: usize, device: &Device) -> candle_core::Result<Tensor> {
    let data: Vec<f32> = (0..n * n).map(|i| f32::from(i % n <= i / n)).collect();
    Tensor::from_vec(data, (n, n), device)
}

/// A head-wise low-rank initial state: `S_0 = Σ_r k_rᵀ v_r`, from `k` `[H, R, dh]` and `v` `[H, R, dh]`.
pub fn low_rank_state(k: &Tensor, v: &Tensor) -> candle_core::Result<Tensor> {
    k.t()?.matmul(v)
}

/// A layer's weights as plain arrays, for the recurrent form.
#[derive(Debug, Clone)]
pub struct GlaWeights {
    /// Shape.
    pub shape: GlaShape,
    /// q, k, v, the output gate's pre-activation and the decay gate's low-rank input, stacked.
    input: Dense,
    gate2: Dense,
    out: Dense,
    norm: Vec<f32>,
}

/// The recurrent state of one layer for one voice: `[H, dh, dh]`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct GlaState {
    /// The state values.
    pub s: Vec<f32>,
}

impl GlaWeights {
    /// One step of the recurrent form for one voice: updates `state` with frame `x` `[D]` and
    /// writes the layer's output into `y` `[D]`.
    pub fn step(&self, x: &[f32], state: &mut GlaState, y: &mut [f32]) {
        self.step_batch(x, &mut [state], y);
    }

    /// One step for a batch of voices: `x` `[V, D]`, one state per voice, output `y` `[V, D]`.
    /// The projections of all voices are one matrix product each.
    pub fn step_batch(&self, x: &[f32], states: &mut [&mut GlaState], y: &mut [f32]) {
        let d = self.shape.d_model;
        let (h, dh) = (self.shape.heads, self.shape.head_dim());
        let voices = states.len();
        let width = self.input.outputs();
        let mut proj = vec![0f32; voices * width];
        self.input.apply(x, &mut proj);
        let low: Vec<f32> = proj
            .chunks_exact(width)
            .flat_map(|p| p[4 * d..].iter().copied())
            .collect();
        let mut gate = vec![0f32; voices * d];
        self.gate2.apply(&low, &mut gate);
        let scale = (dh as f32).powf(-0.5);
        let mut o = vec![0f32; voices * d];
        for (v, state) in states.iter_mut().enumerate() {
            let p = &proj[v * width..(v + 1) * width];
            let (q, k, val, g) = (&p[..d], &p[d..2 * d], &p[2 * d..3 * d], &p[3 * d..4 * d]);
            let ov = &mut o[v * d..(v + 1) * d];
            for head in 0..h {
                let hs = head * dh..(head + 1) * dh;
                let s = &mut state.s[head * dh * dh..(head + 1) * dh * dh];
                decay_and_write(
                    s,
                    &gate[v * d..][hs.clone()],
                    &k[hs.clone()],
                    &val[hs.clone()],
                );
                let oh = &mut ov[hs.clone()];
                read_state(s, &q[hs.clone()], oh);
                oh.iter_mut().for_each(|v| *v *= scale);
                let rms =
                    (oh.iter().map(|a| a * a).sum::<f32>() / dh as f32 + RMS_EPS as f32).sqrt();
                for (j, oj) in oh.iter_mut().enumerate() {
                    *oj = *oj / rms * self.norm[j];
                }
            }
            for (oi, gi) in ov.iter_mut().zip(g) {
                *oi *= gi / (1.0 + (-gi).exp());
            }
        }
        self.out.apply(&o, y);
    }
}

/// `S ← diag(α) S + k vᵀ` for one head, with `α = exp(logsigmoid(gate) / GATE_NORMALISER)`.
fn decay_and_write(s: &mut [f32], gate: &[f32], k: &[f32], v: &[f32]) {
    let dh = k.len();
    for (i, row) in s.chunks_exact_mut(dh).enumerate() {
        let z = gate[i];
        let log_sig = -((-z).max(0.0) + (-z.abs()).exp().ln_1p());
        let alpha = (log_sig / GATE_NORMALISER as f32).exp();
        let ki = k[i];
        for (sij, vj) in row.iter_mut().zip(v) {
            *sij = alpha * *sij + ki * vj;
        }
    }
}

/// `o = qᵀ S` for one head, as a sum of rows so that it vectorises.
fn read_state(s: &[f32], q: &[f32], o: &mut [f32]) {
    o.iter_mut().for_each(|v| *v = 0.0);
    for (row, qi) in s.chunks_exact(q.len()).zip(q) {
        for (oj, sij) in o.iter_mut().zip(row) {
            *oj += qi * sij;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;
    use candle_nn::VarMap;

    const SHAPE: GlaShape = GlaShape {
        d_model: 16,
        heads: 2,
        state_rank: 2,
    };

    fn layer() -> (VarMap, Gla) {
        let vm = VarMap::new();
        let g = Gla::new(
            SHAPE,
            VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
        )
        .unwrap();
        (vm, g)
    }

    use crate::test_util::max_diff;

    /// The recurrence, literally, with tensors: the slow reference.
    fn reference(q: &Tensor, k: &Tensor, v: &Tensor, la: &Tensor, s0: &Tensor) -> (Tensor, Tensor) {
        let t = q.dim(2).unwrap();
        let dh = q.dim(3).unwrap();
        let mut s = s0.clone();
        let mut outs = Vec::new();
        for i in 0..t {
            let row = |x: &Tensor| x.narrow(2, i, 1).unwrap(); // [B, H, 1, dh]
            let alpha = row(la).exp().unwrap().transpose(2, 3).unwrap(); // [B, H, dh, 1]
            s = (s.broadcast_mul(&alpha).unwrap() + row(k).t().unwrap().matmul(&row(v)).unwrap())
                .unwrap();
            outs.push((row(q).matmul(&s).unwrap() / (dh as f64).sqrt()).unwrap());
        }
        (Tensor::cat(&outs, 2).unwrap(), s)
    }

    #[test]
    fn chunked_form_equals_the_recurrence_across_chunk_boundaries() {
        let dev = Device::Cpu;
        let r =
            |shape: (usize, usize, usize, usize)| Tensor::randn(0f32, 1.0, shape, &dev).unwrap();
        let (q, k, v) = (r((2, 2, 37, 8)), r((2, 2, 37, 8)), r((2, 2, 37, 8)));
        let la = (log_sigmoid(&r((2, 2, 37, 8))).unwrap() / 4.0).unwrap(); // faster decay than real
        let s0 = r((2, 2, 8, 8));
        let (o_ref, s_ref) = reference(&q, &k, &v, &la, &s0);
        for chunk in [1, 5, 16, 64] {
            let (o, s) = chunked_attention(&q, &k, &v, &la, &s0, chunk).unwrap();
            assert!(
                max_diff(&o, &o_ref) < 1e-4,
                "chunk {chunk}: {}",
                max_diff(&o, &o_ref)
            );
            assert!(max_diff(&s, &s_ref) < 1e-4, "chunk {chunk}");
        }
    }

    #[test]
    fn layer_chunked_equals_streaming_steps_with_a_nonzero_initial_state() {
        let dev = Device::Cpu;
        let (_vm, gla) = layer();
        let x = Tensor::randn(0f32, 1.0, (1, 41, 16), &dev).unwrap();
        let s0 = Tensor::randn(0f32, 0.5, (1, 2, 8, 8), &dev).unwrap();
        let (y, s_end) = gla.forward_chunked(&x, &s0, 16).unwrap();
        let w = gla.weights().unwrap();
        let mut state = GlaState {
            s: s0.flatten_all().unwrap().to_vec1().unwrap(),
        };
        let xs: Vec<Vec<f32>> = x.squeeze(0).unwrap().to_vec2().unwrap();
        let ys: Vec<Vec<f32>> = y.squeeze(0).unwrap().to_vec2().unwrap();
        let mut out = vec![0f32; 16];
        for (xt, yt) in xs.iter().zip(&ys) {
            w.step(xt, &mut state, &mut out);
            for (a, b) in out.iter().zip(yt) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            }
        }
        let s_end: Vec<f32> = s_end.flatten_all().unwrap().to_vec1().unwrap();
        for (a, b) in state.s.iter().zip(&s_end) {
            assert!((a - b).abs() < 1e-4);
        }
    }

    #[test]
    fn gradients_reach_the_low_rank_initial_state() {
        let dev = Device::Cpu;
        let (_vm, gla) = layer();
        let kr = Var::randn(0f32, 0.5, (2, 2, 8), &dev).unwrap();
        let vr = Var::randn(0f32, 0.5, (2, 2, 8), &dev).unwrap();
        let s0 = low_rank_state(kr.as_tensor(), vr.as_tensor())
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let x = Tensor::randn(0f32, 1.0, (1, 20, 16), &dev).unwrap();
        let (y, _) = gla.forward_chunked(&x, &s0, 8).unwrap();
        let grads = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        for var in [&kr, &vr] {
            let g: f32 = grads
                .get(var)
                .unwrap()
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar()
                .unwrap();
            assert!(g > 1e-6, "no gradient to the initial state");
        }
    }
}
