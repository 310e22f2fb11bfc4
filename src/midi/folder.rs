//! Folders of MIDI files: every `.mid`, `.midi` and `.kar` under a folder (symlinked folders
//! followed once), and the train/valid split by a hash of each file's path relative to the folder,
//! which stays stable when files are added.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The share of files that go to the valid split unless told otherwise.
pub const DEFAULT_VALID_SHARE: f64 = 0.1;

/// The most files one scan takes (a bound on memory and time; say so rather than hang).
pub const MAX_FILES: usize = 200_000;

/// A MIDI file found under the folder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Found {
    /// Its path relative to the folder, with `/` separators (what the split hashes).
    pub relative: String,
    /// Its path.
    pub path: PathBuf,
}

/// Every MIDI file under `root`, sorted by relative path; a symlinked folder is followed once.
pub fn find_midi(root: &Path) -> Result<Vec<Found>> {
    if !root.is_dir() {
        return Err(Error::bad_file(root, "is not a folder"));
    }
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    walk(root, root, &mut seen, &mut found)?;
    found.sort();
    Ok(found)
}

fn walk(
    root: &Path,
    dir: &Path,
    seen: &mut HashSet<PathBuf>,
    found: &mut Vec<Found>,
) -> Result<()> {
    let real = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
    if !seen.insert(real) {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, seen, found)?;
        } else if is_midi_name(&path) && path.is_file() {
            if found.len() >= MAX_FILES {
                return Err(Error::bad_file(
                    root,
                    format!("holds more than {MAX_FILES} MIDI files: train on a sub-folder"),
                ));
            }
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            found.push(Found { relative, path });
        }
    }
    Ok(())
}

fn is_midi_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "mid" | "midi" | "kar"))
}

/// True when `relative` belongs to the valid split: FNV-1a of the path, as a share of 2⁶⁴, below
/// `valid_share`. Adding files never moves another file between splits.
pub fn is_valid(relative: &str, valid_share: f64) -> bool {
    (fnv1a(relative.as_bytes()) as f64 / u64::MAX as f64) < valid_share
}

/// The 64-bit FNV-1a hash of `bytes`: stable across platforms and versions, for splits and for
/// recognising a changed file (not for security).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_is_stable_and_near_the_share() {
        let names: Vec<String> = (0..2000)
            .map(|i| format!("album {}/track {i}.mid", i % 7))
            .collect();
        let valid = names.iter().filter(|n| is_valid(n, 0.1)).count();
        assert!((150..250).contains(&valid), "{valid} of 2000");
        // A file's split depends on its own path only.
        assert_eq!(is_valid("a/b.mid", 0.1), is_valid("a/b.mid", 0.1));
        assert!(names.iter().all(|n| !is_valid(n, 0.0)));
    }

    #[test]
    fn midi_names_in_any_case_are_found_and_others_not() {
        for (name, yes) in [
            ("a.mid", true),
            ("b.MIDI", true),
            ("c.kar", true),
            ("d.txt", false),
            ("mid", false),
        ] {
            assert_eq!(is_midi_name(Path::new(name)), yes, "{name}");
        }
    }
}
