//! Every import points down the layers: the order is written once, bottom
//! first, in the fenced `layers` block of docs/ARCHITECTURE.md, and no
//! module of `src/` may reach a module on its own line or above it, through
//! `use crate::`, an inline `crate::x::` path, `super::` paths that climb
//! out of its own module, a `pub use` re-export or `#[path]`. Test code
//! (`tests.rs`, `tests/`) may also use `testsupport`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Each module's layer, from the `layers` block (0 at the bottom).
fn layers() -> BTreeMap<String, usize> {
    let doc = fs::read_to_string(Path::new(ROOT).join("docs/ARCHITECTURE.md")).unwrap();
    let block = doc
        .split("```layers\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/ARCHITECTURE.md has a ```layers block");
    let mut out = BTreeMap::new();
    for (i, line) in block.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        for m in line.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            assert!(
                out.insert(m.to_string(), i).is_none(),
                "{m} is named twice in the layers block"
            );
        }
    }
    out
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file under src (`decode/h2/conn.rs` -> decode, h2, conn).
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    if last != "mod.rs" {
        parts.push(last.trim_end_matches(".rs").to_string());
    }
    parts
}

/// The code of a file without comments and string contents, so that only
/// paths the compiler follows are looked at.
fn code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // A char literal like '"' (lifetimes have no closing quote).
            i += 3;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// The top modules a file's code reaches, with the text that reaches each.
fn reached(code: &str, path: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    // crate::x, and crate::{x, y::z}.
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && code.as_bytes()[at - 1] == b'$' {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for item in inner.split(',') {
                let m = ident(item.trim());
                if !m.is_empty() {
                    out.push((m, format!("crate::{{{}}}", inner.trim())));
                }
            }
        } else {
            let m = ident(rest);
            out.push((m.clone(), format!("crate::{m}")));
        }
    }
    // super:: chains that climb to the crate root and on into a module.
    for (at, _) in code.match_indices("super::") {
        if at >= 7 && &code[at - 7..at] == "super::" {
            continue;
        }
        let mut rest = &code[at..];
        let mut n = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            rest = r;
            n += 1;
        }
        // In a module at depth d, d supers reach the crate root.
        if n >= path.len() {
            let m = ident(rest);
            out.push((m.clone(), format!("{}{m}", "super::".repeat(n))));
        }
    }
    // #[path = "..."] may not leave the module's own folder.
    for (at, _) in code.match_indices("#[path") {
        out.push(("#[path]".into(), code[at..].lines().next().unwrap().into()));
    }
    out
}

#[test]
fn every_import_points_down_the_layers() {
    let layers = layers();
    let src = Path::new(ROOT).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let path = module_path(rel);
        let top = path[0].as_str();
        if top == "lib" || top == "main" || top == "bpf" {
            continue;
        }
        let Some(&mine) = layers.get(top) else {
            wrong.push(format!(
                "{}: module `{top}` is not in the layers block",
                rel.display()
            ));
            continue;
        };
        let is_test = rel.iter().any(|c| c == "tests" || c == "tests.rs");
        let text = fs::read_to_string(file).unwrap();
        for (m, how) in reached(&code(&text), &path) {
            if m == top || (is_test && m == "testsupport") {
                continue;
            }
            match layers.get(&m) {
                Some(&theirs) if theirs < mine => {}
                Some(_) => wrong.push(format!(
                    "{}: `{top}` reaches `{m}`, on its own layer or above ({how})",
                    rel.display()
                )),
                None => wrong.push(format!("{}: {how} (not a lower layer)", rel.display())),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that point up or across the layers of docs/ARCHITECTURE.md:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_every_way_up() {
    let path = vec!["decode".to_string(), "h2".to_string(), "conn".to_string()];
    let found = |src: &str| -> Vec<String> {
        reached(&code(src), &path)
            .into_iter()
            .map(|(m, _)| m)
            .collect()
    };
    assert_eq!(found("use crate::recovery::Seeder;"), ["recovery"]);
    assert_eq!(
        found("use crate::{flow::Dir, pipeline};"),
        ["flow", "pipeline"]
    );
    assert_eq!(found("let x = crate::cmd::run();"), ["cmd"]);
    assert_eq!(found("pub use crate::input::read;"), ["input"]);
    assert_eq!(found("use super::super::super::capture::X;"), ["capture"]);
    assert!(
        found("use super::super::Event;").is_empty(),
        "within decode"
    );
    assert_eq!(found("#[path = \"../x.rs\"]\nmod x;"), ["#[path]"]);
    assert!(found("// crate::cmd in a comment\nlet s = \"crate::cmd\";").is_empty());
}
