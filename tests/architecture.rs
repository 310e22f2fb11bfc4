//! The layering stays true: each file of `src/` may name (`crate::…`) only the modules its layer may
//! import. midi → tokens → model → generate/accompany/theme/synth → the CLI and TUI; `train/` is a
//! wing nothing else imports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The modules a top-level module of `src/` must not import (`None`: no rule).
fn forbidden(module: &str) -> Option<&'static [&'static str]> {
    const ABOVE_MIDI: &[&str] = &[
        "tokens",
        "model",
        "generate",
        "accompany",
        "theme",
        "synth",
        "audio",
        "live",
        "tui",
        "train",
        "metrics",
        "pop909",
        "bench",
    ];
    const ABOVE_TOKENS: &[&str] = &[
        "model",
        "generate",
        "accompany",
        "theme",
        "synth",
        "audio",
        "live",
        "tui",
        "train",
        "bench",
    ];
    const ABOVE_MODEL: &[&str] = &[
        "generate",
        "accompany",
        "theme",
        "synth",
        "audio",
        "live",
        "tui",
        "train",
        "bench",
    ];
    const RUNTIME: &[&str] = &["train", "tui", "bench"];
    Some(match module {
        "midi" | "input" | "atomic_file" | "error" | "guard" => ABOVE_MIDI,
        "tokens" => ABOVE_TOKENS,
        "model" | "metrics" | "linalg" => ABOVE_MODEL,
        "generate" | "accompany" | "theme" | "synth" | "audio" | "live" | "pop909" => RUNTIME,
        "tui" => &["train", "bench"],
        _ => return None,
    })
}

/// The top-level modules a file names through `crate::NAME` or `crate::{NAME, …}`, comments left out.
fn imports(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                group[..end].split(',').collect()
            } else {
                vec![rest]
            };
            for n in names {
                let name: String = n
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `(file, imported module)` pair of `src/` that breaks a rule.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut bad = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = top.trim_end_matches(".rs");
        let Some(rules) = forbidden(module) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for used in imports(&text) {
            if used != module && rules.contains(&used.as_str()) {
                bad.push(format!("{} imports {used}", rel.display()));
            }
        }
    }
    bad
}

#[test]
fn every_layer_imports_only_downward_and_nothing_imports_train() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    assert!(bad.is_empty(), "forbidden imports:\n{}", bad.join("\n"));
}

#[test]
fn the_check_catches_a_forbidden_import() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("synth")).unwrap();
    std::fs::create_dir_all(dir.path().join("tokens")).unwrap();
    std::fs::write(
        dir.path().join("synth/clone.rs"),
        "use crate::train::optim::AdamW;\n// crate::tui in a comment is fine\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tokens/remi.rs"),
        "use crate::{error::Result, theme::retrieval};\nuse crate::midi::Score;\n",
    )
    .unwrap();
    assert_eq!(
        violations(dir.path()),
        [
            "synth/clone.rs imports train",
            "tokens/remi.rs imports theme"
        ]
    );
}
