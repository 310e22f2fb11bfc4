//! Panics: parsers from other crates may still panic on hostile data; [`contain`] turns such a
//! panic into the one-line error of the file, and [`install_hook`] makes a panic anywhere else end
//! the whole process with one line (never a hung thread).

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use crate::error::{Error, Result};

thread_local! {
    /// Depth of [`contain`] calls on this thread: their panics are reported as errors instead.
    static CONTAINED: Cell<usize> = const { Cell::new(0) };
    /// Depth of [`unwind`] calls on this thread: their panics unwind (drops run) before the error.
    static UNWOUND: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f`; a panic inside it unwinds — every drop on the way runs, so live outputs release
/// their sounding notes and devices close — and becomes an internal error about `what` (the line
/// the panic hook would print is printed first). For threads that hold outputs.
pub fn unwind<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    UNWOUND.with(|c| c.set(c.get() + 1));
    let out = catch_unwind(AssertUnwindSafe(f));
    UNWOUND.with(|c| c.set(c.get() - 1));
    out.unwrap_or_else(|_| Err(Error::Internal(format!("{what} stopped after a panic"))))
}

/// Runs `parse` and turns a panic inside it into an error naming `origin` ("`what` is corrupt").
pub fn contain<T>(origin: &Path, what: &str, parse: impl FnOnce() -> Result<T>) -> Result<T> {
    CONTAINED.with(|c| c.set(c.get() + 1));
    let out = catch_unwind(AssertUnwindSafe(parse));
    CONTAINED.with(|c| c.set(c.get() - 1));
    out.unwrap_or_else(|_| {
        Err(Error::bad_file(
            origin,
            format!("corrupt {what} (its parser gave up)"),
        ))
    })
}

/// Installs the process's panic hook: outside [`contain`], a panic on any thread prints one line
/// (`reprise: internal error: …`) and exits with status 101, so no thread is left waiting for a
/// dead one.
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        if CONTAINED.with(Cell::get) > 0 {
            return;
        }
        let msg = crate::error::first_line(&info.to_string().replace('\n', " "));
        eprintln!("reprise: internal error: {}", crate::error::printable(&msg));
        if UNWOUND.with(Cell::get) == 0 {
            std::process::exit(101);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contained_panic_is_an_error_naming_the_file() {
        let err = contain(Path::new("x.sf2"), "SoundFont", || -> Result<()> {
            panic!("index out of bounds")
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.sf2: corrupt SoundFont (its parser gave up)"
        );
        assert_eq!(contain(Path::new("y"), "z", || Ok(3)).unwrap(), 3);
    }

    #[test]
    fn an_unwound_panic_runs_the_drops_then_is_an_error() {
        struct Flag<'a>(&'a Cell<bool>);
        impl Drop for Flag<'_> {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let dropped = Cell::new(false);
        let err = unwind("the session", || -> Result<()> {
            let _f = Flag(&dropped);
            panic!("boom")
        })
        .unwrap_err();
        assert!(dropped.get());
        assert_eq!(
            err.to_string(),
            "internal error: the session stopped after a panic"
        );
        assert_eq!(unwind("x", || Ok(4)).unwrap(), 4);
    }
}
