//! The layering stays true: each file of `src/` may name (`crate::…`) only the modules its layer may
//! import. midi → tokens → model → generate/accompany/theme/synth → the CLI and TUI; `train/` is a
//! wing nothing else imports. No two files import each other (directly or round a loop), and no
//! function is longer than 80 lines.

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
        "jam",
        "ports",
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
        "jam",
        "ports",
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
        "jam",
        "ports",
    ];
    const RUNTIME: &[&str] = &["train", "tui", "bench"];
    // Live MIDI sits beside audio; call and response above it, below the use cases.
    const PORTS: &[&str] = &["train", "tui", "bench", "ops", "jam"];
    const JAM: &[&str] = &["train", "tui", "bench", "ops"];
    Some(match module {
        "midi" | "input" | "atomic_file" | "error" | "guard" | "plot" => ABOVE_MIDI,
        "tokens" => ABOVE_TOKENS,
        "model" | "metrics" | "linalg" => ABOVE_MODEL,
        "generate" | "accompany" | "theme" | "synth" | "audio" | "live" | "pop909" => RUNTIME,
        "ports" => PORTS,
        "jam" => JAM,
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

/// Every `.rs` file under `src`, in path order.
fn sorted_rust_files(src: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    files
}

/// Every `(file, imported module)` pair of `src/` that breaks a rule.
fn violations(src: &Path) -> Vec<String> {
    let files = sorted_rust_files(src);
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

/// The longest a function of `src/` may be, in lines from its `fn` line to its closing brace.
const MAX_FUNCTION_LINES: usize = 80;

/// The functions of `text` longer than `max` lines, as `(line, name, lines)`: a function runs from
/// its `fn` line (after any `pub`, `const`, `async`, `unsafe`) to the first line that is its
/// indentation and `}` (rustfmt's layout); declarations without a body and one-line functions are
/// short.
fn long_functions(text: &str, max: usize) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some((indent, name)) = fn_start(line) else {
            continue;
        };
        let close = format!("{indent}}}");
        let mut end = None;
        for (j, l) in lines.iter().enumerate().skip(i) {
            let code = l.split("//").next().unwrap_or("").trim_end();
            if *l == close || (j == i && code.ends_with('}') && code.contains('{')) {
                end = Some(j);
                break;
            }
            if code.ends_with(';') && !lines[i..j].iter().any(|s| s.contains('{')) {
                break; // a declaration (trait method, extern fn): no body
            }
        }
        if let Some(j) = end {
            if j - i + 1 > max {
                out.push((i + 1, name, j - i + 1));
            }
        }
    }
    out
}

/// The indentation and name of a function whose `fn` line this is.
fn fn_start(line: &str) -> Option<(&str, String)> {
    let rest = line.trim_start();
    let indent = &line[..line.len() - rest.len()];
    let mut rest = rest;
    if let Some(r) = rest.strip_prefix("pub") {
        rest = if let Some(r) = r.strip_prefix('(') {
            r.split_once(')')?.1
        } else {
            r
        };
        rest = rest.strip_prefix(' ')?;
    }
    for q in ["const ", "async ", "unsafe "] {
        rest = rest.strip_prefix(q).unwrap_or(rest);
    }
    let name: String = rest
        .strip_prefix("fn ")?
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some((indent, name))
}

/// Every function of `src/` (tests included) longer than `max` lines, as `file:line name (n lines)`.
fn too_long(src: &Path, max: usize) -> Vec<String> {
    let files = sorted_rust_files(src);
    let mut bad = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, name, n) in long_functions(&text, max) {
            bad.push(format!("{}:{line} {name} ({n} lines)", rel.display()));
        }
    }
    bad
}

#[test]
fn no_function_is_longer_than_80_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = too_long(&src, MAX_FUNCTION_LINES);
    assert!(
        bad.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines (split them into helpers):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_length_check_catches_a_long_function() {
    let body = |n: usize| "        x += 1;\n".repeat(n);
    let text = format!(
        "pub trait T {{\n    fn declared(&self)\n        -> u8;\n}}\n\
         impl S {{\n    pub(crate) fn at_most(&self) {{\n{}    }}\n\n    \
         pub const unsafe fn over(&self) {{\n{}    }}\n    fn one_line() -> u8 {{ 1 }}\n}}\n\
         #[cfg(test)]\nmod tests {{\n    #[test]\n    fn long_test() {{\n{}    }}\n}}\n",
        body(MAX_FUNCTION_LINES - 2),
        body(MAX_FUNCTION_LINES - 1),
        body(MAX_FUNCTION_LINES),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("midi")).unwrap();
    std::fs::write(dir.path().join("midi/write.rs"), text).unwrap();
    assert_eq!(
        too_long(dir.path(), MAX_FUNCTION_LINES),
        [
            format!(
                "midi/write.rs:{} over ({} lines)",
                MAX_FUNCTION_LINES + 7,
                MAX_FUNCTION_LINES + 1
            ),
            format!(
                "midi/write.rs:{} long_test ({} lines)",
                2 * MAX_FUNCTION_LINES + 13,
                MAX_FUNCTION_LINES + 2
            ),
        ]
    );
}

/// The module path of a file of `src/` (`generate/beat.rs` → `generate::beat`, `midi/mod.rs` →
/// `midi`, `lib.rs` and `main.rs` → the crate root).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && !(parts.is_empty() && (stem == "lib" || stem == "main")) {
        parts.push(stem.to_string());
    }
    parts
}

/// `text` without comments and without `#[cfg(test)]` modules (whose imports are the tests').
fn code_outside_tests(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            if let Some(next) = lines.peek() {
                let rest = next.trim_start();
                let indent = &next[..next.len() - rest.len()];
                let is_mod = rest.starts_with("mod ")
                    || rest.starts_with("pub mod ")
                    || (rest.starts_with("pub(") && rest.contains(") mod "));
                if is_mod && rest.trim_end().ends_with('{') {
                    let close = format!("{indent}}}");
                    for l in lines.by_ref() {
                        if l == close {
                            break;
                        }
                    }
                    continue;
                }
            }
        }
        out.push_str(line.split("//").next().unwrap_or(""));
        out.push('\n');
    }
    out
}

/// The paths a use tree names, from `text` (just after `crate::` or `super::`): `a::b`,
/// `a::{b, c::d}`, `{a, b::*}` …, each as its segments after `base`.
fn use_paths(text: &str, base: &[String]) -> Vec<Vec<String>> {
    fn tree(
        s: &mut std::iter::Peekable<std::str::Chars>,
        prefix: Vec<String>,
        out: &mut Vec<Vec<String>>,
    ) {
        while s.peek().is_some_and(|c| c.is_whitespace()) {
            s.next();
        }
        if s.peek() == Some(&'{') {
            s.next();
            loop {
                tree(s, prefix.clone(), out);
                while s.peek().is_some_and(|c| c.is_whitespace()) {
                    s.next();
                }
                match s.next() {
                    Some(',') => continue,
                    _ => break, // '}' or the end
                }
            }
            return;
        }
        let name: String =
            std::iter::from_fn(|| s.next_if(|c| c.is_alphanumeric() || *c == '_')).collect();
        let mut path = prefix;
        if name.is_empty() {
            if s.peek() == Some(&'*') {
                s.next();
            }
            out.push(path);
            return;
        }
        path.push(name);
        let mut ahead = s.clone();
        if ahead.next() == Some(':') && ahead.next() == Some(':') {
            s.next();
            s.next();
            tree(s, path, out);
        } else {
            out.push(path);
        }
    }
    let mut out = Vec::new();
    tree(&mut text.chars().peekable(), base.to_vec(), &mut out);
    out
}

/// For each file of `src/`, the other files it names through `crate::` or `super::` paths: each
/// path goes to the file of its longest module prefix (the crate root is never one: it only declares
/// and re-exports). `mod x;` lines name nothing; `#[cfg(test)]` modules are left out.
fn file_graph(src: &Path) -> Vec<(String, BTreeSet<usize>)> {
    let files = sorted_rust_files(src);
    let rels: Vec<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(src).unwrap().to_path_buf())
        .collect();
    let modules: Vec<Vec<String>> = rels.iter().map(|r| module_of(r)).collect();
    let file_of = |segs: &[String]| -> Option<usize> {
        (1..=segs.len())
            .rev()
            .find_map(|k| modules.iter().position(|m| m[..] == segs[..k]))
    };
    let mut graph = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let code = code_outside_tests(&std::fs::read_to_string(file).unwrap());
        let me = &modules[i];
        let mut edges = BTreeSet::new();
        for (at, _) in code
            .match_indices("crate::")
            .chain(code.match_indices("super::"))
        {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue; // part of a longer path: `super::super::`, `reprise::crate_x::`
            }
            let mut rest = &code[at..];
            let mut base: Vec<String> = Vec::new();
            if let Some(r) = rest.strip_prefix("crate::") {
                rest = r;
            } else {
                base = me.clone();
                while let Some(r) = rest.strip_prefix("super::") {
                    base.pop();
                    rest = r;
                }
            }
            for path in use_paths(rest, &base) {
                if let Some(j) = file_of(&path).filter(|&j| j != i) {
                    edges.insert(j);
                }
            }
        }
        graph.push((rels[i].display().to_string(), edges));
    }
    graph
}

/// The import cycles between files of `src/`: each strongly connected set of two or more files, as
/// `a.rs → b.rs; b.rs → a.rs` (each file with the files of the set it names).
fn cycles(src: &Path) -> Vec<String> {
    let graph = file_graph(src);
    let n = graph.len();
    // Tarjan's strongly connected components.
    struct Tarjan<'g> {
        graph: &'g [(String, BTreeSet<usize>)],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        stack: Vec<usize>,
        on_stack: Vec<bool>,
        next: usize,
        found: Vec<Vec<usize>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, v: usize) {
            self.index[v] = Some(self.next);
            self.low[v] = self.next;
            self.next += 1;
            self.stack.push(v);
            self.on_stack[v] = true;
            for &w in &self.graph[v].1 {
                match self.index[w] {
                    None => {
                        self.visit(w);
                        self.low[v] = self.low[v].min(self.low[w]);
                    }
                    Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                    Some(_) => {}
                }
            }
            if Some(self.low[v]) == self.index[v] {
                let mut set = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack[w] = false;
                    set.push(w);
                    if w == v {
                        break;
                    }
                }
                if set.len() > 1 {
                    set.sort();
                    self.found.push(set);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph: &graph,
        index: vec![None; n],
        low: vec![0; n],
        stack: Vec::new(),
        on_stack: vec![false; n],
        next: 0,
        found: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            t.visit(v);
        }
    }
    let mut out: Vec<String> = t
        .found
        .iter()
        .map(|set| {
            set.iter()
                .map(|&v| {
                    let names: Vec<&str> = graph[v]
                        .1
                        .iter()
                        .filter(|w| set.contains(w))
                        .map(|&w| graph[w].0.as_str())
                        .collect();
                    format!("{} → {}", graph[v].0, names.join(", "))
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .collect();
    out.sort();
    out
}

#[test]
fn no_import_cycle_between_files() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = cycles(&src);
    assert!(
        found.is_empty(),
        "files that import each other (move what they share into one of them or a new file):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_cycle_check_catches_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "lib.rs",
        "pub mod gen;\npub mod midi;\npub use midi::Score;\n",
    );
    write(
        "gen/mod.rs",
        "pub mod a;\npub mod b;\npub mod c;\nuse crate::Score;\n",
    );
    // a → b through a nested group, b → c through super::, c → a: one cycle of three.
    write(
        "gen/a.rs",
        "use crate::{midi::Score, gen::{b::{self, B}}};\n",
    );
    write("gen/b.rs", "fn f() { super::c::g() }\n");
    write("gen/c.rs", "pub fn g() { let _ = crate::gen::a::A; }\n");
    // Comments, test modules and longer paths name nothing.
    write(
        "midi/mod.rs",
        "// crate::gen::a\nuse my_crate::gen::a;\n#[cfg(test)]\nmod tests {\n    use crate::gen::a;\n}\n",
    );
    assert_eq!(
        cycles(dir.path()),
        ["gen/a.rs → gen/b.rs; gen/b.rs → gen/c.rs; gen/c.rs → gen/a.rs"]
    );
    // Without the edge c → a there is none.
    write("gen/c.rs", "pub fn g() {}\n");
    assert!(cycles(dir.path()).is_empty());
}
