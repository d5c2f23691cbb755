//! The direction of dependencies, checked on the source (test only).
//!
//! sshdoctor is a functional core with two thin views: `main → cli → tui → core`. The core
//! (every top-level module but `cli` and `tui`) never names a view, the dashboard never names
//! the command line, and the core modules depend on each other without cycles, so each one can
//! be read, tested and changed from its own imports down. A `use` that points back fails here,
//! in `cargo test`, instead of surfacing months later as a tangle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the other top-level modules its non-test code names (`crate::x`,
/// `crate::{x, y}`).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    collect_rs(src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(src, f)).collect();
    let path_re = regex::Regex::new(r"crate::(\w+)").expect("regex");
    let group_re = regex::Regex::new(r"crate::\{([^}]*)\}").expect("regex");
    let word_re = regex::Regex::new(r"\w+").expect("regex");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Some(top) = top_module(src, f) else {
            continue;
        };
        let text = std::fs::read_to_string(f).expect("read a source file");
        // Unit tests may reach anywhere; only the shipped code is layered.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let mut named: Vec<String> = path_re
            .captures_iter(code)
            .map(|c| c[1].to_string())
            .collect();
        for g in group_re.captures_iter(code) {
            named.extend(word_re.find_iter(&g[1]).map(|m| m.as_str().to_string()));
        }
        let deps = graph.entry(top.clone()).or_default();
        deps.extend(
            named
                .into_iter()
                .filter(|m| modules.contains(m) && *m != top),
        );
    }
    graph
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/probe/setup.rs` → `probe`; `src/keys.rs` → `keys`; the crate roots → none.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

/// A cycle through `graph`, if there is one, as the modules along it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| s == m) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        stack.push(m.to_string());
        for d in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, graph, done, stack) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(m, graph, &mut done, &mut Vec::new()))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

#[test]
fn the_core_never_names_a_view_and_the_dashboard_never_names_the_command_line() {
    let g = graph();
    assert!(
        g.contains_key("probe") && g["cli"].contains("tui"),
        "graph read: {g:?}"
    );
    for (module, deps) in &g {
        let allowed: &[&str] = match module.as_str() {
            "cli" => &["tui"],
            _ => &[],
        };
        for view in ["cli", "tui"] {
            assert!(
                !deps.contains(view) || allowed.contains(&view),
                "src/{module} names crate::{view}: dependencies run main → cli → tui → core"
            );
        }
    }
}

#[test]
fn the_modules_depend_on_each_other_without_cycles() {
    let g = graph();
    assert_eq!(find_cycle(&g), None, "a dependency cycle between modules");
}

#[test]
fn a_cycle_is_found_where_there_is_one() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("server".into()).or_default().insert("fix".into());
    g.entry("fix".into()).or_default().insert("server".into());
    let cycle = find_cycle(&g).expect("the cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 3);
}
