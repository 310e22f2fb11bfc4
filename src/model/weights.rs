//! Loading weights so that a corrupt or mismatched file is refused, never half-used: every tensor
//! the network asks for must be in the file with its shape, every tensor in the file must be asked
//! for, and every value must be finite. The error names the file and the tensor.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;

use crate::error::{first_line, Error, Result};

/// A tensor table that records which names the network asked for.
struct Recording {
    tensors: HashMap<String, Tensor>,
    used: Arc<Mutex<BTreeSet<String>>>,
}

impl Recording {
    fn mark(&self, name: &str) {
        if let Ok(mut used) = self.used.lock() {
            used.insert(name.to_string());
        }
    }
}

impl SimpleBackend for Recording {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.mark(name);
        SimpleBackend::get(&self.tensors, s, name, h, dtype, dev)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.mark(name);
        self.tensors.get_unchecked(name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

/// Builds a network with `build` from `tensors` (read from `path`): a tensor missing or of the
/// wrong shape, or one in the file that the network does not use, is an error naming both.
pub fn build_checked<M>(
    tensors: HashMap<String, Tensor>,
    path: &Path,
    device: &Device,
    build: impl FnOnce(VarBuilder) -> candle_core::Result<M>,
) -> Result<M> {
    let names: BTreeSet<String> = tensors.keys().cloned().collect();
    let used = Arc::new(Mutex::new(BTreeSet::new()));
    let backend = Recording {
        tensors,
        used: used.clone(),
    };
    let vb = VarBuilder::from_backend(Box::new(backend), DType::F32, device.clone());
    let model = build(vb).map_err(|e| Error::bad_file(path, describe(&e)))?;
    let used = used
        .lock()
        .map_err(|_| Error::Internal("weights lock".into()))?;
    if let Some(extra) = names.difference(&used).next() {
        return Err(Error::bad_file(
            path,
            format!(
                "tensor {extra} is not part of this model (the config and the weights do not match)"
            ),
        ));
    }
    Ok(model)
}

/// One line for a loading error: candle's messages for a missing tensor or a shape mismatch.
fn describe(e: &candle_core::Error) -> String {
    let msg = first_line(&e.to_string());
    if msg.contains("cannot find tensor") {
        format!("{msg} (the config and the weights do not match)")
    } else {
        msg
    }
}

/// Checks that every value of `t` (named `name`, from `path`) is finite.
pub fn check_finite(t: &Tensor, name: &str, path: &Path) -> Result<()> {
    let values = t
        .flatten_all()
        .and_then(|t| t.to_dtype(DType::F32))
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(Error::tensor)?;
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::bad_file(
            path,
            format!(
                "tensor {name} holds a non-finite value ({}) at {i}",
                values[i]
            ),
        )),
    }
}

/// Writes `tensors` (all-or-nothing); refuses to write a non-finite value, so a run that diverged
/// never replaces its last good checkpoint or model.
pub fn save_tensors(
    path: &Path,
    tensors: &HashMap<String, Tensor>,
    meta: Option<HashMap<String, String>>,
) -> Result<()> {
    for (name, t) in tensors {
        check_finite(t, name, path)?;
    }
    let bytes = safetensors::serialize(tensors.iter().map(|(k, v)| (k.clone(), v.clone())), meta)
        .map_err(|e| Error::Internal(format!("safetensors: {e}")))?;
    crate::atomic_file::write_atomic(path, |w| {
        w.write_all(&bytes).map_err(|e| Error::io(path, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::Module;

    fn table(names: &[(&str, usize)]) -> HashMap<String, Tensor> {
        names
            .iter()
            .map(|&(n, k)| {
                (
                    n.to_string(),
                    Tensor::zeros((k, 2), DType::F32, &Device::Cpu).unwrap(),
                )
            })
            .collect()
    }

    fn build(vb: VarBuilder) -> candle_core::Result<candle_nn::Linear> {
        let w = vb.get((3, 2), "w")?;
        Ok(candle_nn::Linear::new(w, None))
    }

    #[test]
    fn missing_extra_and_misshapen_tensors_are_named() {
        let p = Path::new("m.safetensors");
        let dev = Device::Cpu;
        let ok = build_checked(table(&[("w", 3)]), p, &dev, build).unwrap();
        let x = Tensor::zeros((1, 2), DType::F32, &dev).unwrap();
        assert_eq!(ok.forward(&x).unwrap().dims(), [1, 3]);
        let err = |t| build_checked(t, p, &dev, build).err().unwrap().to_string();
        assert!(err(table(&[])).contains("w"), "{}", err(table(&[])));
        assert!(err(table(&[("w", 4)])).contains("shape"));
        let extra = err(table(&[("w", 3), ("blocks.9.x", 1)]));
        assert!(
            extra.contains("tensor blocks.9.x is not part of this model"),
            "{extra}"
        );
    }

    #[test]
    fn non_finite_values_are_found() {
        let p = Path::new("m.safetensors");
        let t = Tensor::new(&[1f32, f32::NAN], &Device::Cpu).unwrap();
        let err = check_finite(&t, "embed.weight", p).unwrap_err().to_string();
        assert!(err.contains("embed.weight") && err.contains("NaN"), "{err}");
        check_finite(&Tensor::new(&[1f32, 2.0], &Device::Cpu).unwrap(), "x", p).unwrap();
    }
}
