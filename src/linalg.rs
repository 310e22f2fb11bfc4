//! The one dense kernel of the streaming paths: a linear layer applied to a batch of rows, without
//! tensors. It calls the `gemm` crate (already built for candle), which picks the widest SIMD the
//! CPU has at run time; a plain loop would stay scalar, since Rust does not reorder float sums.

/// A linear layer `y = W x (+ b)` with `W` row-major `[outputs, inputs]`.
#[derive(Debug, Clone)]
pub struct Dense {
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
    inputs: usize,
    outputs: usize,
}

impl Dense {
    /// A layer from its row-major weight (`outputs · inputs` values) and optional bias.
    pub fn new(weight: Vec<f32>, bias: Option<Vec<f32>>, inputs: usize) -> Self {
        assert!(inputs > 0 && weight.len().is_multiple_of(inputs));
        let outputs = weight.len() / inputs;
        if let Some(b) = &bias {
            assert_eq!(b.len(), outputs, "bias length");
        }
        Dense {
            weight,
            bias,
            inputs,
            outputs,
        }
    }

    /// The weights of a candle linear layer, as f32.
    pub fn from_linear(l: &candle_nn::Linear) -> candle_core::Result<Dense> {
        let w = l.weight().to_dtype(candle_core::DType::F32)?;
        let b = l
            .bias()
            .map(|b| b.to_dtype(candle_core::DType::F32)?.to_vec1())
            .transpose()?;
        Ok(Dense::new(w.flatten_all()?.to_vec1()?, b, w.dim(1)?))
    }

    /// Stacks layers with the same inputs into one whose outputs are theirs, in order.
    pub fn stack(layers: &[Dense]) -> Dense {
        let inputs = layers[0].inputs;
        assert!(layers.iter().all(|l| l.inputs == inputs));
        let weight = layers.iter().flat_map(|l| l.weight.clone()).collect();
        let bias = layers.iter().any(|l| l.bias.is_some()).then(|| {
            layers
                .iter()
                .flat_map(|l| l.bias.clone().unwrap_or_else(|| vec![0.0; l.outputs]))
                .collect()
        });
        Dense::new(weight, bias, inputs)
    }

    /// Inputs per row.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Outputs per row.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// `y[r] = W x[r] + b` for every row `r` of `x` (`rows · inputs` values); `y` holds
    /// `rows · outputs` values and is overwritten.
    pub fn apply(&self, x: &[f32], y: &mut [f32]) {
        let rows = x.len() / self.inputs;
        assert_eq!(x.len(), rows * self.inputs, "input length");
        assert_eq!(y.len(), rows * self.outputs, "output length");
        if rows == 0 {
            return;
        }
        // SAFETY: the asserts above make every index gemm reads or writes lie inside `x`,
        // `self.weight` and `y`: dst is [rows, outputs] row-major, lhs [rows, inputs] row-major, and
        // rhs = Wᵀ [inputs, outputs], read from W's row-major [outputs, inputs] by swapped strides.
        unsafe {
            gemm::gemm(
                rows,
                self.outputs,
                self.inputs,
                y.as_mut_ptr(),
                1,
                self.outputs as isize,
                false,
                x.as_ptr(),
                1,
                self.inputs as isize,
                self.weight.as_ptr(),
                self.inputs as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        if let Some(b) = &self.bias {
            for row in y.chunks_exact_mut(self.outputs) {
                row.iter_mut().zip(b).for_each(|(v, b)| *v += b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(w: &[f32], b: Option<&[f32]>, x: &[f32], n: usize) -> Vec<f32> {
        let m = w.len() / n;
        x.chunks(n)
            .flat_map(|row| {
                (0..m).map(move |i| {
                    (0..n).map(|j| w[i * n + j] * row[j]).sum::<f32>() + b.map_or(0.0, |b| b[i])
                })
            })
            .collect()
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn batched_rows_equal_the_plain_loop() {
        for (rows, n, m) in [(1, 6, 64), (3, 64, 64), (16, 64, 130), (5, 128, 17)] {
            let (w, b, x) = (values(m * n, 1), values(m, 2), values(rows * n, 3));
            let layer = Dense::new(w.clone(), Some(b.clone()), n);
            let mut y = vec![f32::NAN; rows * m];
            layer.apply(&x, &mut y);
            for (a, e) in y.iter().zip(naive(&w, Some(&b), &x, n)) {
                assert!((a - e).abs() < 1e-4, "{rows}x{n}x{m}: {a} vs {e}");
            }
        }
    }

    #[test]
    fn stacked_layers_give_their_outputs_in_order() {
        let a = Dense::new(values(4 * 8, 1), None, 8);
        let b = Dense::new(values(3 * 8, 2), Some(values(3, 3)), 8);
        let x = values(2 * 8, 4);
        let (mut ya, mut yb, mut ys) = (vec![0.0; 8], vec![0.0; 6], vec![0.0; 14]);
        a.apply(&x, &mut ya);
        b.apply(&x, &mut yb);
        Dense::stack(&[a, b]).apply(&x, &mut ys);
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-5);
        for r in 0..2 {
            assert!(close(&ys[r * 7..r * 7 + 4], &ya[r * 4..r * 4 + 4]));
            assert!(close(&ys[r * 7 + 4..r * 7 + 7], &yb[r * 3..r * 3 + 3]));
        }
    }
}
