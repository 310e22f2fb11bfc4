//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `reprise` binary with `args`.
pub fn reprise(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args(args)
        .output()
        .expect("run reprise")
}

/// The path of a file in `samples/`.
pub fn sample(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Asserts a clean failure: exit code 2, one stderr line naming `names` and containing `problem`.
pub fn assert_bad_input(out: &Output, names: &str, problem: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected: {stderr}"
    );
    assert!(stderr.contains(names), "{stderr:?} should name {names}");
    assert!(
        stderr.contains(problem),
        "{stderr:?} should say {problem:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
