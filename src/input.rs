//! Reading the files a user names: only regular files (a device or FIFO could block forever or never
//! end), read through a size limit, so a hostile path costs at most the limit in memory.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Largest MIDI, chord, config or text file read (64 MiB).
pub const MAX_TEXT_BYTES: u64 = 64 << 20;
/// Largest SoundFont, model weights or recording read (1 GiB).
pub const MAX_DATA_BYTES: u64 = 1 << 30;

/// Opens `path` for reading if it is a regular file (symbolic links followed) of at most `limit`
/// bytes; `what` names the kind of file in errors ("MIDI file").
pub fn open(path: &Path, limit: u64, what: &str) -> Result<File> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::bad_file(
            path,
            format!("is a directory, not a {what}"),
        ));
    }
    if !meta.is_file() {
        return Err(Error::bad_file(
            path,
            format!("is not a regular file (a device, FIFO or socket); give a {what}"),
        ));
    }
    if meta.len() > limit {
        return Err(too_big(path, meta.len(), limit, what));
    }
    File::open(path).map_err(|e| Error::io(path, e))
}

fn too_big(path: &Path, len: u64, limit: u64, what: &str) -> Error {
    Error::bad_file(
        path,
        format!("is {len} bytes or more; the limit for a {what} is {limit} bytes"),
    )
}

/// Reads a regular file of at most `limit` bytes (even if it grows while being read).
pub fn read(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let file = open(path, limit, what)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(too_big(path, bytes.len() as u64, limit, what));
    }
    Ok(bytes)
}

/// Reads a UTF-8 text file of at most [`MAX_TEXT_BYTES`].
pub fn read_text(path: &Path, what: &str) -> Result<String> {
    let bytes = read(path, MAX_TEXT_BYTES, what)?;
    String::from_utf8(bytes).map_err(|_| Error::bad_file(path, format!("is not a UTF-8 {what}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_and_directories_are_refused_at_once() {
        for (p, expect) in [
            ("/dev/zero", "not a regular file"),
            ("/dev/null", "not a regular file"),
            ("/", "is a directory"),
        ] {
            let err = read(Path::new(p), 10, "MIDI file").unwrap_err().to_string();
            assert!(err.contains(expect), "{p}: {err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let err = read(&fifo, 10, "MIDI file").unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
        }
    }

    #[test]
    fn the_limit_is_enforced_and_text_must_be_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, [b'a'; 11]).unwrap();
        assert!(read(&p, 10, "x").unwrap_err().to_string().contains("limit"));
        assert_eq!(read(&p, 11, "x").unwrap().len(), 11);
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(read_text(&p, "chord file").is_err());
    }
}
