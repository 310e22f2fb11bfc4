//! The library's one error type.

use std::path::{Path, PathBuf};

/// Every failure the library reports. `Display` gives one line that names the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read, created or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A file given by the user is malformed, unsupported or out of the accepted limits.
    #[error("{}: {msg}", path.display())]
    BadFile {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it, in one line.
        msg: String,
    },
    /// An argument or in-memory value given by the caller is out of range or inconsistent.
    #[error("{0}")]
    Invalid(String),
    /// A bug or an unexpected state inside Reprise.
    #[error("internal error: {0}")]
    Internal(String),
    /// The user stopped a long operation (Esc, Ctrl-C); nothing was written.
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// An I/O error about `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A malformed or unsupported user file.
    pub fn bad_file(path: &Path, msg: impl Into<String>) -> Self {
        Error::BadFile {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }

    /// An internal error from the tensor library (its first line only: candle may append a backtrace).
    pub fn tensor(e: candle_core::Error) -> Self {
        Error::Internal(format!("tensor: {}", first_line(&e.to_string())))
    }

    /// True when the user can fix this by changing the input (exit code 2), false for internal failures.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, Error::Internal(_))
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where warnings about accepted but odd input go (set once by the program; none: dropped).
static WARNING_SINK: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();

/// Sends warnings to `sink` from now on (the CLI prints them on stderr; the TUI keeps none).
pub fn set_warning_sink(sink: fn(&str)) {
    let _ = WARNING_SINK.set(sink);
}

/// A warning about input that was accepted with a fix, e.g. padding after a MIDI file's last chunk.
pub fn warn(msg: &str) {
    if let Some(sink) = WARNING_SINK.get() {
        sink(&printable(msg));
    }
}

/// `msg` with every control character escaped (`\u{1b}`), so that bytes from a hostile file
/// cannot move the cursor or reach the terminal as escape sequences; newlines become spaces.
pub fn printable(msg: &str) -> String {
    msg.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => " ".to_string(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// The first line of a message, trimmed.
pub fn first_line(msg: &str) -> String {
    msg.lines().next().unwrap_or("").trim().to_string()
}
