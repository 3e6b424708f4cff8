//! The module graph points one way. Built from the `use crate::…` and `use super::…`
//! imports and the `crate::…` / `super::…` paths written in code, it must have no cycle
//! between top-level modules, nor between files. Not counted: a parent's `pub use` of
//! its own children (a facade), and paths in comments.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

/// A module of the crate: its path (`files::service`; `files` for `files/mod.rs`) and
/// its source.
struct Module {
    path: Vec<String>,
    source: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every library module under `src/` (binaries and `lib.rs` excepted).
fn modules() -> Vec<Module> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .filter_map(|file| {
            let rel = file.strip_prefix(&src).expect("under src");
            let mut path: Vec<String> = rel
                .with_extension("")
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            if path == ["lib"] || path[0] == "bin" {
                return None;
            }
            if path.last().is_some_and(|l| l == "mod") {
                path.pop();
            }
            let source = std::fs::read_to_string(&file).expect("read module");
            Some(Module { path, source })
        })
        .collect()
}

/// `a::{b, c::{d, e as f}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        return vec![path.to_owned()];
    };
    let prefix = tree[..open].trim().trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| match prefix.is_empty() {
            true => p,
            false => format!("{prefix}::{p}"),
        })
        .collect()
}

/// The crate-absolute segments of `path` (starting `crate` or `super`) as seen from `m`.
fn absolute(m: &Module, path: &str) -> Vec<String> {
    let segments: Vec<&str> = path.split("::").map(str::trim).collect();
    match segments.first() {
        Some(&"crate") => segments[1..].iter().map(|s| s.to_string()).collect(),
        Some(&"super") => {
            let mut base = m.path.clone();
            let mut rest = &segments[..];
            while rest.first() == Some(&"super") {
                base.pop();
                rest = &rest[1..];
            }
            base.extend(rest.iter().map(|s| s.to_string()));
            base
        }
        _ => Vec::new(),
    }
}

/// Which module each module's source refers to, by module path (`files::service`).
fn file_graph(modules: &[Module]) -> BTreeMap<String, BTreeSet<String>> {
    let uses = Regex::new(r"\buse\s+((?:crate|super)\b[^;]*);").expect("regex");
    let inline = Regex::new(r"\b((?:crate|super)(?:::\w+)+)").expect("regex");
    let names: BTreeSet<String> = modules.iter().map(|m| m.path.join("::")).collect();
    let mut graph = BTreeMap::new();
    for m in modules {
        let code: String = m
            .source
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut paths: Vec<String> = uses
            .captures_iter(&code)
            .flat_map(|c| expand(&c[1]))
            .collect();
        let rest = uses.replace_all(&code, "");
        paths.extend(inline.captures_iter(&rest).map(|c| c[1].to_owned()));
        let me = m.path.join("::");
        let targets = paths
            .iter()
            .filter_map(|p| {
                let abs = absolute(m, p);
                (1..=abs.len())
                    .rev()
                    .map(|n| abs[..n].join("::"))
                    .find(|candidate| names.contains(candidate))
            })
            .filter(|t| *t != me)
            .collect();
        graph.insert(me, targets);
    }
    graph
}

/// The same graph between top-level modules.
fn top_graph(files: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let top = |m: &str| m.split("::").next().unwrap_or(m).to_owned();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in files {
        let entry = graph.entry(top(from)).or_default();
        entry.extend(targets.iter().map(|t| top(t)).filter(|t| *t != top(from)));
    }
    graph
}

/// A cycle of `graph`, as the path that closes it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_module_graph_has_no_cycle() {
    let files = file_graph(&modules());
    assert!(files.len() > 50, "too few modules found: {}", files.len());
    assert!(
        files["files::service"].contains("files::repo"),
        "the graph misses imports"
    );
    if let Some(cycle) = find_cycle(&top_graph(&files)) {
        panic!("top-level modules import in a cycle: {}", cycle.join(" → "));
    }
    if let Some(cycle) = find_cycle(&files) {
        panic!("files import in a cycle: {}", cycle.join(" → "));
    }
}

#[test]
fn a_planted_upward_import_is_found() {
    let mut modules = modules();
    let page = modules
        .iter_mut()
        .find(|m| m.path == ["page"])
        .expect("src/page.rs");
    // The page helper is used by route modules; making it import the route table
    // closes a loop through them.
    page.source.push_str("\nuse crate::routes::routes;\n");
    let files = file_graph(&modules);
    let cycle = find_cycle(&top_graph(&files)).expect("a top-level cycle");
    assert!(cycle.contains(&"page".to_owned()), "{cycle:?}");
    assert!(find_cycle(&files).is_some());

    // `super::` paths count as well as `crate::` ones.
    let mut modules = self::modules();
    let service = modules
        .iter_mut()
        .find(|m| m.path == ["files", "repo"])
        .expect("src/files/repo.rs");
    service
        .source
        .push_str("\nfn f() { super::service::FileService::forget; }\n");
    let files = file_graph(&modules);
    let cycle = find_cycle(&files).expect("a file cycle");
    assert!(cycle.contains(&"files::repo".to_owned()), "{cycle:?}");
    assert_eq!(
        expand("crate::{a, b::{c, d as e}}"),
        ["crate::a", "crate::b::c", "crate::b::d"]
    );
}
