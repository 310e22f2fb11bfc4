//! What every command shares: progress bars, seeds, numbered output paths, range-checked numbers
//! and one-line messages for bad arguments.

use std::fmt::Display;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar on a TTY (0–1000), hidden otherwise or when quiet.
pub fn progress_bar(quiet: bool, what: &str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(1000);
    let style = ProgressStyle::with_template("{msg} [{bar:40}] {percent:>3}% {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// A progress bar over `len` steps (hidden when quiet or not on a terminal).
pub fn step_bar(quiet: bool, msg: &str, len: u64) -> ProgressBar {
    let bar = progress_bar(quiet, msg);
    bar.set_length(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}<{eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// A seed from the clock, for runs without --seed.
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// `out.mid` for one sample; `out-1.mid` … `out-N.mid` for several.
pub fn output_paths(output: &Path, samples: usize) -> Vec<PathBuf> {
    if samples <= 1 {
        return vec![output.to_path_buf()];
    }
    let stem = output
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let ext = output
        .extension()
        .map_or("mid".into(), |e| e.to_string_lossy().into_owned());
    (1..=samples)
        .map(|i| output.with_file_name(format!("{stem}-{i}.{ext}")))
        .collect()
}

/// An invalid-argument error naming `flag`: `--flag VALUE message`.
pub fn bad_flag(flag: &str, value: impl Display, message: &str) -> anyhow::Error {
    reprise::Error::Invalid(format!("{flag} {value} {message}")).into()
}

/// A number parser for clap that also checks `lo ≤ x ≤ hi` (NaN never passes): "X must be LO–HI".
pub fn within<T>(lo: T, hi: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync + 'static,
{
    move |s: &str| {
        let x: T = s
            .trim()
            .parse()
            .map_err(|_| format!("{s} is not a number"))?;
        if lo <= x && x <= hi {
            Ok(x)
        } else {
            Err(format!("{x} must be {lo}–{hi}"))
        }
    }
}

/// A number above zero, at most `hi` (temperatures, rates).
pub fn above_zero(hi: f64) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync {
    move |s: &str| {
        let x: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("{s} is not a number"))?;
        if x > 0.0 && x <= hi {
            Ok(x)
        } else {
            Err(format!("{x} must be > 0 and at most {hi}"))
        }
    }
}

/// A nucleus size: "P must be in (0, 1]".
pub fn nucleus(s: &str) -> Result<f32, String> {
    let x: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s} is not a number"))?;
    if x > 0.0 && x <= 1.0 {
        Ok(x)
    } else {
        Err(format!("{x} must be in (0, 1]"))
    }
}

/// A sampling temperature: "T must be > 0".
pub fn temperature(s: &str) -> Result<f32, String> {
    let x: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s} is not a number"))?;
    if x > 0.0 && x.is_finite() {
        Ok(x)
    } else {
        Err(format!("{x} must be > 0"))
    }
}

/// A clap error as one line: `--flag VALUE reason` for a value that failed its check, else clap's
/// message without the usage block.
pub fn one_line(err: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() == ErrorKind::ValueValidation {
        let arg = match err.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(a)) => a.split([' ', '=']).next().unwrap_or(a).to_string(),
            _ => String::new(),
        };
        if let Some(source) = std::error::Error::source(err) {
            return format!("{arg} {source}");
        }
    }
    err.render()
        .to_string()
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_string()
}
