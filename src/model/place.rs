//! Where models live: the folders searched for a model by name, in order, and the per-user folder
//! that `reprise train --name` installs into.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The per-user model folder: `$XDG_DATA_HOME/reprise/models`, else
/// `~/.local/share/reprise/models` (`None` without a home).
pub fn user_models_dir() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("reprise").join("models"))
}

/// The folders models are searched in, in order: `$REPRISE_MODELS`, `./models`, the `models/`
/// beside the executable's checkout (`target/release/reprise` → `models/`), this source tree's
/// `models/`, and the per-user folder ([`user_models_dir`]).
pub fn model_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(root) = std::env::var_os("REPRISE_MODELS") {
        roots.push(PathBuf::from(root));
    }
    roots.push(PathBuf::from("models"));
    if let Ok(exe) = std::env::current_exe() {
        if let Some(root) = exe.parent().and_then(Path::parent).and_then(Path::parent) {
            roots.push(root.join("models"));
        }
    }
    roots.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
    roots.extend(user_models_dir());
    roots
}

/// Finds a model directory: an existing path holding `config.json`, else `NAME` in the first of
/// [`model_roots`] that has it.
pub fn resolve_model_dir(name: &str) -> Result<PathBuf> {
    let direct = PathBuf::from(name);
    if direct.join("config.json").is_file() {
        return Ok(direct);
    }
    model_roots()
        .into_iter()
        .map(|root| root.join(name))
        .find(|c| c.join("config.json").is_file())
        .ok_or_else(|| {
            Error::bad_file(
                Path::new(name),
                "no such model (looked for a directory with config.json, and in models/)",
            )
        })
}
