//! Relative global attention (Huang et al. 2019) with the memory-saving "skew", and its cached form.
//!
//! Per head, learned embeddings `Er ∈ R^{M×Dh}` hold relative distances: row `M−1−d` is distance `d`
//! (row M−1 is distance 0). Distances ≥ M use a zero embedding (the tensor2tensor rule), so a window longer
//! than M still works and the skewed and cached forms agree with the naive reference everywhere.

use candle_core::{DType, Device, Tensor};
use candle_nn::{linear, Linear, Module, VarBuilder};

/// Additive mask value for blocked positions (finite, so fully masked rows give no NaN).
pub const MASKED: f32 = -1e9;

/// `Er` arranged for `len` keys: row `c` holds distance `len−1−c` (zero rows for distances ≥ M).
/// `er` is `[H, M, Dh]`; the result is `[H, len, Dh]`.
pub fn relative_embeddings(er: &Tensor, len: usize) -> candle_core::Result<Tensor> {
    let (h, m, dh) = er.dims3()?;
    if len <= m {
        er.narrow(1, m - len, len)
    } else {
        let zeros = Tensor::zeros((h, len - m, dh), er.dtype(), er.device())?;
        Tensor::cat(&[&zeros, er], 1)
    }
}

/// The skew: from `Q·Erᵀ` (`[B, H, L, L]`, column c ↔ distance L−1−c) to `Srel` with
/// `Srel[i][j] = q_i · E(i−j)` for `j ≤ i` (entries above the diagonal are junk, to be masked).
/// Pad one zero column on the left, reshape to (L+1, L), drop the first row.
pub fn skew(qe: &Tensor) -> candle_core::Result<Tensor> {
    let (b, h, l, l2) = qe.dims4()?;
    debug_assert_eq!(l, l2);
    qe.pad_with_zeros(3, 1, 0)?
        .reshape((b, h, l + 1, l))?
        .narrow(2, 1, l)
}

/// Causal additive mask `[L, L]`: 0 on and below the diagonal, `MASKED` above.
pub fn causal_mask(len: usize, device: &Device) -> candle_core::Result<Tensor> {
    let data: Vec<f32> = (0..len)
        .flat_map(|i| (0..len).map(move |j| if j > i { MASKED } else { 0.0 }))
        .collect();
    Tensor::from_vec(data, (len, len), device)
}

/// `softmax(scale · x)` over the last dimension: candle's fused kernel for inference, Reprise's fused
/// kernel with a backward pass when gradients are needed (candle's has none).
pub fn softmax(x: &Tensor, scale: f64, train: bool) -> candle_core::Result<Tensor> {
    if train {
        super::fused::scaled_softmax(x, scale as f32)
    } else {
        candle_nn::ops::softmax_last_dim(&(x * scale)?)
    }
}

/// Relative attention over full sequences. `q, k, v`: `[B, H, L, Dh]`; `er`: `[H, M, Dh]`;
/// `key_mask`: optional `[B, L]` with 1 for real tokens and 0 for padding. Returns `[B, H, L, Dh]`.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    er: &Tensor,
    key_mask: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    attention_with(q, k, v, er, key_mask, false)
}

/// `attention`, differentiable when `train` is set.
pub fn attention_with(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    er: &Tensor,
    key_mask: Option<&Tensor>,
    train: bool,
) -> candle_core::Result<Tensor> {
    let (b, _, l, dh) = q.dims4()?;
    let er_l = relative_embeddings(er, l)?; // [H, L, Dh]
    let qe = q.broadcast_matmul(&er_l.t()?.unsqueeze(0)?)?; // [B, H, L, L]
    let srel = skew(&qe)?;
    let scores = (q.matmul(&k.t()?)? + srel)?;
    let mut mask = causal_mask(l, q.device())?.reshape((1, 1, l, l))?;
    if let Some(km) = key_mask {
        let pad = ((1.0 - km.to_dtype(DType::F32)?)? * MASKED as f64)?.reshape((b, 1, 1, l))?;
        mask = mask.broadcast_add(&pad)?;
    }
    let scores = scores.broadcast_add(&mask)?;
    softmax(&scores, (dh as f64).powf(-0.5), train)?.matmul(v)
}

/// One new query per sequence against cached keys: `q`: `[B, H, 1, Dh]`, `k, v`: `[B, H, T, Dh]` (the new
/// position last). The relative term is `q · E(T−1−j)` for each visible key j: no skew, O(T·Dh).
pub fn attention_step(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    er: &Tensor,
) -> candle_core::Result<Tensor> {
    let (_, _, _, dh) = q.dims4()?;
    let t = k.dim(2)?;
    let er_t = relative_embeddings(er, t)?; // row c ↔ distance T−1−c = distance to key c
    let rel = q.broadcast_matmul(&er_t.t()?.unsqueeze(0)?)?; // [B, H, 1, T]
    let scores = ((q.matmul(&k.t()?)? + rel)? / (dh as f64).sqrt())?;
    candle_nn::ops::softmax_last_dim(&scores)?.matmul(v)
}

/// Cached keys and values of one attention layer, `[B, H, T, Dh]` each.
#[derive(Debug, Clone, Default)]
pub struct LayerCache {
    kv: Option<(Tensor, Tensor)>,
}

impl LayerCache {
    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.kv.as_ref().map_or(0, |(k, _)| k.dim(2).unwrap_or(0))
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Multi-head relative self-attention with its projections and relative embeddings.
#[derive(Debug, Clone)]
pub struct RelativeSelfAttention {
    qkv: Linear,
    out: Linear,
    er: Tensor,
    n_heads: usize,
    max_len: usize,
}

impl RelativeSelfAttention {
    /// Creates (or loads) the layer: `qkv` `[3D, D]`, `out` `[D, D]`, `er` `[H, M, Dh]`.
    pub fn new(
        d_model: usize,
        n_heads: usize,
        max_len: usize,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let dh = d_model / n_heads;
        let init = candle_nn::Init::Randn {
            mean: 0.0,
            stdev: (dh as f64).powf(-0.5),
        };
        Ok(RelativeSelfAttention {
            qkv: linear(d_model, 3 * d_model, vb.pp("qkv"))?,
            out: linear(d_model, d_model, vb.pp("out"))?,
            er: vb.get_with_hints((n_heads, max_len, dh), "er", init)?,
            n_heads,
            max_len,
        })
    }

    fn split_heads(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let (b, l, d) = x.dims3()?;
        let dh = d / self.n_heads;
        let qkv = self
            .qkv
            .forward(x)?
            .reshape((b, l, 3, self.n_heads, dh))?
            .permute((2, 0, 3, 1, 4))?; // [3, B, H, L, Dh]
        let q = qkv.get(0)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        Ok((q, k, v))
    }

    fn merge_heads(&self, o: &Tensor) -> candle_core::Result<Tensor> {
        let (b, h, l, dh) = o.dims4()?;
        let o = o.transpose(1, 2)?.reshape((b, l, h * dh))?;
        self.out.forward(&o)
    }

    /// Full causal forward over `x` `[B, L, D]`; `key_mask` `[B, L]` marks real tokens with 1.
    pub fn forward(
        &self,
        x: &Tensor,
        key_mask: Option<&Tensor>,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let (q, k, v) = self.split_heads(x)?;
        let o = attention_with(&q, &k, &v, &self.er, key_mask, train)?;
        self.merge_heads(&o)
    }

    /// Forward with a cache: `x` holds the new positions `[B, n, D]`. With an empty cache any n is one
    /// full causal pass; otherwise positions are fed one at a time. The cache keeps at most `max_len`
    /// positions: the oldest are dropped (a sliding window).
    pub fn forward_cached(
        &self,
        x: &Tensor,
        cache: &mut LayerCache,
    ) -> candle_core::Result<Tensor> {
        let n = x.dim(1)?;
        if cache.is_empty() && n <= self.max_len {
            let (q, k, v) = self.split_heads(x)?;
            let o = attention(&q, &k, &v, &self.er, None)?;
            cache.kv = Some((k, v));
            return self.merge_heads(&o);
        }
        let mut outs = Vec::with_capacity(n);
        for i in 0..n {
            let (q, k, v) = self.split_heads(&x.narrow(1, i, 1)?)?;
            let (k, v) = match cache.kv.take() {
                None => (k, v),
                Some((ck, cv)) => {
                    let t = ck.dim(2)?;
                    let keep = t.min(self.max_len - 1);
                    let (ck, cv) = (ck.narrow(2, t - keep, keep)?, cv.narrow(2, t - keep, keep)?);
                    (Tensor::cat(&[&ck, &k], 2)?, Tensor::cat(&[&cv, &v], 2)?)
                }
            };
            outs.push(self.merge_heads(&attention_step(&q, &k, &v, &self.er)?)?);
            cache.kv = Some((k, v));
        }
        Tensor::cat(&outs, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaw et al.: materialise the L×L×Dh relative tensor and compute everything with loops.
    fn naive(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        er: &Tensor,
        key_mask: Option<&[Vec<f32>]>,
    ) -> Vec<f32> {
        let (b, h, l, dh) = q.dims4().unwrap();
        let m = er.dim(1).unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let (q, k, v, er) = (flat(q), flat(k), flat(v), flat(er));
        let at = |x: &[f32], bi: usize, hi: usize, i: usize, d: usize| {
            x[((bi * h + hi) * l + i) * dh + d]
        };
        let mut out = vec![0f32; b * h * l * dh];
        for bi in 0..b {
            for hi in 0..h {
                // rel[i][j][d] = E(i − j), zero for distances ≥ M.
                let mut rel = vec![0f32; l * l * dh];
                for i in 0..l {
                    for j in 0..=i {
                        let dist = i - j;
                        if dist < m {
                            for d in 0..dh {
                                rel[(i * l + j) * dh + d] = er[(hi * m + (m - 1 - dist)) * dh + d];
                            }
                        }
                    }
                }
                for i in 0..l {
                    let mut scores = vec![f32::NEG_INFINITY; l];
                    for (j, s) in scores.iter_mut().enumerate().take(i + 1) {
                        let mut acc = 0.0;
                        for d in 0..dh {
                            acc += at(&q, bi, hi, i, d)
                                * (at(&k, bi, hi, j, d) + rel[(i * l + j) * dh + d]);
                        }
                        *s = acc / (dh as f32).sqrt();
                        if let Some(km) = key_mask {
                            if km[bi][j] == 0.0 {
                                *s += MASKED;
                            }
                        }
                    }
                    let mx = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                    let e: Vec<f32> = scores.iter().map(|s| (s - mx).exp()).collect();
                    let z: f32 = e.iter().sum();
                    for d in 0..dh {
                        let o: f32 = (0..l).map(|j| e[j] / z * at(&v, bi, hi, j, d)).sum();
                        out[((bi * h + hi) * l + i) * dh + d] = o;
                    }
                }
            }
        }
        out
    }

    fn randn(shape: &[usize], seed: u64) -> Tensor {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
        Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn skewed_equals_naive_below_at_and_above_m() {
        let (b, h, dh, m) = (2, 3, 8, 16);
        for (seed, l) in [(1u64, 5usize), (2, 16), (3, 23)] {
            let q = randn(&[b, h, l, dh], seed);
            let k = randn(&[b, h, l, dh], seed + 10);
            let v = randn(&[b, h, l, dh], seed + 20);
            let er = randn(&[h, m, dh], seed + 30);
            let fast = attention(&q, &k, &v, &er, None)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let slow = naive(&q, &k, &v, &er, None);
            assert!(
                max_diff(&fast, &slow) < 1e-5,
                "L={l}: {}",
                max_diff(&fast, &slow)
            );
        }
    }

    #[test]
    fn skewed_equals_naive_with_padding_masks() {
        let (b, h, dh, m, l) = (3, 2, 4, 8, 7);
        let q = randn(&[b, h, l, dh], 41);
        let k = randn(&[b, h, l, dh], 42);
        let v = randn(&[b, h, l, dh], 43);
        let er = randn(&[h, m, dh], 44);
        // Left padding of 0, 2 and 3 positions.
        let km: Vec<Vec<f32>> = [0usize, 2, 3]
            .iter()
            .map(|&p| (0..l).map(|j| if j < p { 0.0 } else { 1.0 }).collect())
            .collect();
        let mask = Tensor::from_vec(km.concat(), (b, l), &Device::Cpu).unwrap();
        let fast = attention(&q, &k, &v, &er, Some(&mask))
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let slow = naive(&q, &k, &v, &er, Some(&km));
        // Rows of padding queries see only padding and carry no meaning: compare the real queries.
        for (bi, pad) in [0usize, 2, 3].into_iter().enumerate() {
            for hi in 0..h {
                let row = |x: &[f32]| {
                    x[((bi * h + hi) * l + pad) * dh..((bi * h + hi) * l + l) * dh].to_vec()
                };
                let d = max_diff(&row(&fast), &row(&slow));
                assert!(d < 1e-5, "batch {bi} head {hi}: {d}");
            }
        }
    }

    #[test]
    fn step_equals_last_row_of_full() {
        let (b, h, dh, m, l) = (2, 2, 8, 6, 9);
        let q = randn(&[b, h, l, dh], 51);
        let k = randn(&[b, h, l, dh], 52);
        let v = randn(&[b, h, l, dh], 53);
        let er = randn(&[h, m, dh], 54);
        let full = attention(&q, &k, &v, &er, None).unwrap();
        for t in 0..l {
            let step = attention_step(
                &q.narrow(2, t, 1).unwrap(),
                &k.narrow(2, 0, t + 1).unwrap(),
                &v.narrow(2, 0, t + 1).unwrap(),
                &er,
            )
            .unwrap();
            let a = full
                .narrow(2, t, 1)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let s = step.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert!(max_diff(&a, &s) < 1e-5, "t={t}");
        }
    }
}
