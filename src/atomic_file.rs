//! Writing output files all-or-nothing: `NAME.tmp` beside the target, fsync, rename.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The temporary path used while `target` is being written.
pub fn temp_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    target.with_file_name(name)
}

/// Writes `target` through `fill`: on any error the temporary file is removed and `target` is untouched.
pub fn write_atomic<F>(target: &Path, fill: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> Result<()>,
{
    if target.file_name().is_none() || target.is_dir() {
        return Err(Error::bad_file(target, "output path is a directory"));
    }
    let tmp = temp_path(target);
    let result = (|| {
        let file = File::create(&tmp).map_err(|e| Error::io(target, e))?;
        let mut w = BufWriter::new(file);
        fill(&mut w)?;
        w.flush().map_err(|e| Error::io(target, e))?;
        let file = w
            .into_inner()
            .map_err(|e| Error::io(target, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(target, e))?;
        std::fs::rename(&tmp, target).map_err(|e| Error::io(target, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Checks early, before any long work, that `target` can be written: creates and removes its temp file.
pub fn check_writable(target: &Path) -> Result<()> {
    if target.file_name().is_none() || target.is_dir() {
        return Err(Error::bad_file(target, "output path is a directory"));
    }
    let tmp = temp_path(target);
    File::create(&tmp).map_err(|e| Error::io(target, e))?;
    std::fs::remove_file(&tmp).map_err(|e| Error::io(target, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.mid");
        let err = write_atomic(&target, |w| {
            w.write_all(b"half").unwrap();
            Err(Error::Invalid("stop".into()))
        });
        assert!(err.is_err());
        assert!(!target.exists());
        assert!(!temp_path(&target).exists());
        write_atomic(&target, |w| {
            w.write_all(b"ok").map_err(|e| Error::io(&target, e))
        })
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"ok");
    }

    #[test]
    fn missing_directory_is_an_io_error_naming_the_target() {
        let err = write_atomic(Path::new("/nonexistent-dir/x.mid"), |_| Ok(())).unwrap_err();
        assert!(
            err.to_string().starts_with("/nonexistent-dir/x.mid:"),
            "{err}"
        );
    }
}
