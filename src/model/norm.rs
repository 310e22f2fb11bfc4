//! Layer normalisation shared by the models.

use candle_core::Tensor;
use candle_nn::VarBuilder;

/// Layer normalisation with learned scale and shift (`weight`, `bias`). Training uses Reprise's fused
/// kernel with a backward pass (candle-nn's has none); inference uses candle-nn's.
#[derive(Debug, Clone)]
pub struct Norm {
    weight: Tensor,
    bias: Tensor,
}

const NORM_EPS: f64 = 1e-5;

impl Norm {
    /// A norm of width `d` (scale 1, shift 0 when fresh).
    pub fn new(d: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Norm {
            weight: vb.get_with_hints(d, "weight", candle_nn::Init::Const(1.0))?,
            bias: vb.get_with_hints(d, "bias", candle_nn::Init::Const(0.0))?,
        })
    }

    /// Normalises the last dimension; `train` selects the differentiable kernel.
    pub fn forward(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        if !train {
            return candle_nn::ops::layer_norm(
                &x.contiguous()?,
                &self.weight,
                &self.bias,
                NORM_EPS as f32,
            );
        }
        super::fused::layer_norm(x, &self.weight, &self.bias, NORM_EPS as f32)
    }
}
