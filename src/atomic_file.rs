//! Writing output files all-or-nothing: a uniquely named temporary file beside the target, fsync,
//! rename over the target.
//!
//! What a Unix user can expect of every file Reprise writes:
//! - **Symlinks are followed**: `-o link.wav` replaces the file the link points to; the link stays.
//! - **Only regular files are replaced**: an existing target that is a device (`/dev/null`,
//!   `/dev/full`), a FIFO, a socket or a directory is refused with one line, before any work.
//! - **Unique temporary names** (`.NAME.XXXXXX.tmp`, the `tempfile` crate): a user's own `NAME.tmp`
//!   is never touched, and a write that fails or is interrupted removes its temporary file.
//! - **An output is never one of the inputs** ([`refuse_inputs`]): same file, compared by device and
//!   inode, so links and `./` spellings are caught too.
//! - **Several outputs are all-or-nothing together** ([`write_all_atomic`]).
//! - An existing file's permissions are kept; a new file gets `0666` less the umask.

use std::fs::{File, Permissions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tempfile::TempPath;

use crate::error::{Error, Result};

/// Symlinks followed at most (as Linux's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// The path a write to `target` replaces: `target` with symlinks followed. Refuses a target that
/// exists and is not a regular file, a symlink loop, and a path without a file name.
pub fn resolve(target: &Path) -> Result<PathBuf> {
    let mut path = target.to_path_buf();
    for _ in 0..MAX_LINKS {
        if path.file_name().is_none() {
            return Err(Error::bad_file(target, "output path is a directory"));
        }
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(path),
            Err(e) => return Err(Error::io(target, e)),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            let link = std::fs::read_link(&path).map_err(|e| Error::io(target, e))?;
            path = path.parent().unwrap_or(Path::new("")).join(link);
        } else if kind.is_file() {
            return Ok(path);
        } else {
            let what = if kind.is_dir() {
                "output path is a directory"
            } else {
                "output path is a device, FIFO or socket, not a regular file: refusing to replace it"
            };
            return Err(Error::bad_file(target, what));
        }
    }
    Err(Error::bad_file(target, "too many levels of symbolic links"))
}

/// Refuses `output` if it is the same file as one of `inputs` (which would be lost).
pub fn refuse_inputs(output: &Path, inputs: &[&Path]) -> Result<()> {
    let Ok(out) = std::fs::metadata(output) else {
        return Ok(());
    };
    for input in inputs {
        if let Ok(inp) = std::fs::metadata(input) {
            if (inp.dev(), inp.ino()) == (out.dev(), out.ino()) {
                return Err(Error::bad_file(
                    output,
                    format!(
                        "is also the input {}: refusing to overwrite it",
                        input.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A fresh temporary file in `resolved`'s directory, with the permissions the final file should get.
fn temp_for(resolved: &Path, target: &Path) -> Result<(File, TempPath)> {
    let dir = match resolved.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(resolved.file_name().unwrap_or_default());
    prefix.push(".");
    let mode = std::fs::metadata(resolved).map_or(0o666, |m| m.permissions().mode() & 0o7777);
    let tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .permissions(Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(|e| Error::io(target, e))?;
    Ok(tmp.into_parts())
}

/// Fills and syncs one temporary file for `target`.
fn fill_temp<F>(target: &Path, resolved: &Path, fill: F) -> Result<TempPath>
where
    F: FnOnce(&mut BufWriter<File>) -> Result<()>,
{
    let (file, path) = temp_for(resolved, target)?;
    let mut w = BufWriter::new(file);
    fill(&mut w)?;
    w.flush().map_err(|e| Error::io(target, e))?;
    let file = w
        .into_inner()
        .map_err(|e| Error::io(target, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(target, e))?;
    Ok(path)
}

/// Writes `target` through `fill`: on any error the temporary file is removed and `target` is untouched.
pub fn write_atomic<F>(target: &Path, fill: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> Result<()>,
{
    let resolved = resolve(target)?;
    let tmp = fill_temp(target, &resolved, fill)?;
    tmp.persist(&resolved)
        .map_err(|e| Error::io(target, e.error))
}

/// Writes every one of `targets` (`fill(i, writer)` fills the i-th) or none: all are written to
/// temporary files first and renamed into place only once every one is complete.
pub fn write_all_atomic<F>(targets: &[PathBuf], mut fill: F) -> Result<()>
where
    F: FnMut(usize, &mut BufWriter<File>) -> Result<()>,
{
    let resolved: Vec<PathBuf> = targets.iter().map(|t| resolve(t)).collect::<Result<_>>()?;
    let mut temps = Vec::with_capacity(targets.len());
    for (i, (t, r)) in targets.iter().zip(&resolved).enumerate() {
        temps.push(fill_temp(t, r, |w| fill(i, w))?);
    }
    for ((tmp, t), r) in temps.into_iter().zip(targets).zip(&resolved) {
        tmp.persist(r).map_err(|e| Error::io(t, e.error))?;
    }
    Ok(())
}

/// Checks early, before any long work, that `target` can be written: it resolves to a regular file
/// or a new one, and a temporary file can be created beside it (and is removed at once).
pub fn check_writable(target: &Path) -> Result<()> {
    let resolved = resolve(target)?;
    let (_, tmp) = temp_for(&resolved, target)?;
    tmp.close().map_err(|e| Error::io(target, e))
}

/// [`check_writable`] for `output`, and [`refuse_inputs`].
pub fn check_output(output: &Path, inputs: &[&Path]) -> Result<()> {
    check_writable(output)?;
    refuse_inputs(output, inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn failure_leaves_nothing_behind_and_a_users_tmp_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.mid");
        std::fs::write(dir.path().join("out.mid.tmp"), b"mine").unwrap();
        let err = write_atomic(&target, |w| {
            w.write_all(b"half").unwrap();
            Err(Error::Invalid("stop".into()))
        });
        assert!(err.is_err());
        assert!(!target.exists());
        assert_eq!(leftovers(dir.path()), ["out.mid.tmp"]);
        write_atomic(&target, |w| {
            w.write_all(b"ok").map_err(|e| Error::io(&target, e))
        })
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"ok");
        check_writable(&target).unwrap();
        assert_eq!(leftovers(dir.path()), ["out.mid.tmp"]);
        assert_eq!(
            std::fs::read(dir.path().join("out.mid.tmp")).unwrap(),
            b"mine"
        );
    }

    #[test]
    fn missing_directory_is_an_io_error_naming_the_target() {
        let err = write_atomic(Path::new("/nonexistent-dir/x.mid"), |_| Ok(())).unwrap_err();
        assert!(
            err.to_string().starts_with("/nonexistent-dir/x.mid:"),
            "{err}"
        );
    }

    #[test]
    fn a_symlink_is_written_through_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.wav");
        std::fs::write(&real, b"old").unwrap();
        std::fs::set_permissions(&real, Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.wav");
        std::os::unix::fs::symlink("real.wav", &link).unwrap();
        write_atomic(&link, |w| {
            w.write_all(b"new").map_err(|e| Error::io(&link, e))
        })
        .unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        // A dangling link creates its target.
        let dangling = dir.path().join("dangling.wav");
        std::os::unix::fs::symlink("made.wav", &dangling).unwrap();
        write_atomic(&dangling, |_| Ok(())).unwrap();
        assert!(dir.path().join("made.wav").is_file());
        // A loop is refused.
        let a = dir.path().join("a");
        std::os::unix::fs::symlink("a", &a).unwrap();
        let err = write_atomic(&a, |_| Ok(())).unwrap_err().to_string();
        assert!(err.contains("symbolic links"), "{err}");
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        let mut special = vec![PathBuf::from("/dev/null"), PathBuf::from("/dev/full")];
        if made.is_ok_and(|s| s.success()) {
            special.push(fifo);
        }
        for path in &special {
            let before = std::fs::symlink_metadata(path).unwrap();
            let err = check_writable(path).unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
            assert!(write_atomic(path, |_| Ok(())).is_err());
            let after = std::fs::symlink_metadata(path).unwrap();
            assert_eq!(before.ino(), after.ino());
            assert!(!after.file_type().is_file());
        }
        let err = check_writable(dir.path()).unwrap_err().to_string();
        assert!(err.contains("directory"), "{err}");
    }

    #[test]
    fn an_output_that_is_an_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let song = dir.path().join("song.mid");
        std::fs::write(&song, b"MThd").unwrap();
        let link = dir.path().join("alias.mid");
        std::os::unix::fs::symlink(&song, &link).unwrap();
        let dotted = dir.path().join(".").join("song.mid");
        for out in [&song, &link, &dotted] {
            let err = check_output(out, &[&song]).unwrap_err().to_string();
            assert!(err.contains("is also the input"), "{err}");
        }
        check_output(&dir.path().join("new.wav"), &[&song]).unwrap();
        assert_eq!(std::fs::read(&song).unwrap(), b"MThd");
    }

    #[test]
    fn several_outputs_are_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let targets: Vec<PathBuf> = (1..=4)
            .map(|i| dir.path().join(format!("s-{i}.mid")))
            .collect();
        let err = write_all_atomic(&targets, |i, w| {
            if i == 3 {
                return Err(Error::Invalid("disk full".into()));
            }
            w.write_all(b"x").map_err(|e| Error::io(&targets[i], e))
        });
        assert!(err.is_err());
        assert!(targets.iter().all(|t| !t.exists()));
        assert!(leftovers(dir.path()).is_empty());
        write_all_atomic(&targets, |_, w| {
            w.write_all(b"y").map_err(|e| Error::io(Path::new("x"), e))
        })
        .unwrap();
        assert!(targets.iter().all(|t| std::fs::read(t).unwrap() == b"y"));
    }
}
