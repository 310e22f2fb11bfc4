//! Shared by the fuzz targets (included with `#[path = "../common.rs"] mod common;`).
//!
//! libfuzzer-sys's panic hook aborts on every panic, before any `catch_unwind` runs, so a panic that
//! `reprise::guard::contain` turns into the file's error (as the product does: a SoundFont or
//! recording whose third-party parser gives up) would be counted as a crash. [`install_panic_hook`]
//! wraps that hook: a panic raised while a [`contained`] call runs is left to unwind (the parser's
//! `contain` makes it an `Err`); a panic anywhere else, on any thread, still aborts with its message.
//! If a panic inside [`contained`] is *not* caught by `contain`, [`contained`] aborts with it.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

thread_local! {
    /// Set while a [`contained`] call runs on this thread.
    static EXPECT_CONTAINED: Cell<bool> = const { Cell::new(false) };
    /// The last panic message seen while [`EXPECT_CONTAINED`] was set.
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Installs the hook described above; call it from `fuzz_target!`'s `init:` (after libfuzzer-sys has
/// set its own hook, which this one calls for crashes).
pub fn install_panic_hook() {
    let crash = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if EXPECT_CONTAINED.with(Cell::get) {
            LAST_PANIC.with(|m| *m.borrow_mut() = info.to_string());
            return;
        }
        crash(info);
    }));
}

/// Runs `f`, a reprise call whose parser runs inside `reprise::guard::contain`: a panic there must
/// come back as an `Err`; one that escapes `f` is a crash (abort, with the panic's message).
pub fn contained<T>(f: impl FnOnce() -> T) -> T {
    EXPECT_CONTAINED.with(|c| c.set(true));
    let out = catch_unwind(AssertUnwindSafe(f));
    EXPECT_CONTAINED.with(|c| c.set(false));
    match out {
        Ok(v) => v,
        Err(_) => {
            let msg = LAST_PANIC.with(|m| m.take());
            eprintln!("panic escaped reprise::guard::contain: {msg}");
            std::process::abort();
        }
    }
}

/// A scratch folder for the whole run (files are rewritten for every input).
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("reprise-fuzz-")
            .tempdir()
            .expect("a temporary folder")
    })
    .path()
}

/// Writes `bytes` to `name` in the scratch folder and returns its path.
pub fn write_scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    std::fs::write(&path, bytes).expect("write a scratch file");
    path
}
