//! The crate's dependencies point one way. The graph of its top-level
//! modules (an edge `a -> b` for each `crate::b` named in a file under
//! `src/a`) has no cycle, and the data path keeps its order: frames know
//! nothing of MangoHud, the decision (`verdict`) knows nothing of who
//! shows it (`report`) or acts on it (`launch`, `tune`), and the report
//! only reads what the tuner recorded. To see the graph:
//! `SCX_GAMER_TEST_SHOW=1 cargo test --test module_graph -- --nocapture`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Top-level module of a file under src/ (`tune` for src/tune/runner.rs,
/// `run` for src/run.rs); None for the crate roots and the binaries.
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "main" | "lib" | "bin" | "bpf_skel" | "bpf_intf" | "bpf" | "testing")).then(|| name.to_string())
}

/// Every `crate::name` in `text`.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let name: String = after.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit()).collect();
        // `$crate::` in macros and `super::crate` do not occur; a word
        // ending in "crate" (e.g. `scx_crate::`) is not ours.
        let before = rest[..at].chars().next_back();
        if !name.is_empty() && !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            out.insert(name);
        }
        rest = after;
    }
    out
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut g = Graph::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let Some(from) = module_of(path.strip_prefix(&src).unwrap()) else { continue };
            let text = std::fs::read_to_string(&path).unwrap();
            let deps = g.entry(from.clone()).or_default();
            deps.extend(crate_refs(&text).into_iter().filter(|to| *to != from));
        }
    }
    // Only edges to modules (not to macros exported at the root, such as
    // `crate::for_each_knob!`, nor to the crate-root files left out above).
    let modules: BTreeSet<String> = g.keys().cloned().collect();
    g.values_mut().for_each(|deps| deps.retain(|d| modules.contains(d)));
    g
}

/// A cycle through `start`, if there is one (depth-first search).
fn cycle_from(g: &Graph, start: &str) -> Option<Vec<String>> {
    fn walk(g: &Graph, at: &str, start: &str, path: &mut Vec<String>, seen: &mut BTreeSet<String>) -> bool {
        for next in g.get(at).into_iter().flatten() {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(g, next, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(g, start, start, &mut path, &mut BTreeSet::new()).then(|| {
        path.push(start.to_string());
        path
    })
}

#[test]
fn the_reference_scan_sees_what_it_should() {
    let refs = crate_refs("use crate::frames::X; let a = crate::sched::f(); scx_crate::nope; $crate::no");
    assert_eq!(refs.into_iter().collect::<Vec<_>>(), ["frames", "sched"]);
}

#[test]
fn the_modules_form_no_cycle_and_the_data_path_points_one_way() {
    let g = graph();
    if std::env::var_os("SCX_GAMER_TEST_SHOW").is_some() {
        for (from, to) in &g {
            eprintln!("{from} -> {}", to.iter().cloned().collect::<Vec<_>>().join(", "));
        }
    }
    // The scan found the modules it must (it is not vacuous).
    for m in ["frames", "mangohud", "game", "sched", "store", "verdict", "tune", "report", "launch", "daemon"] {
        assert!(g.contains_key(m), "no module {m} under src/: {g:?}");
    }
    assert!(g["tune"].contains("verdict"), "{g:?}");
    for m in g.keys() {
        if let Some(cycle) = cycle_from(&g, m) {
            panic!("the modules depend on each other in a circle: {}", cycle.join(" -> "));
        }
    }
    let forbidden = [
        ("frames", "mangohud", "which frames count is decided in frames/, not by the log reader"),
        ("verdict", "report", "the decision is shown by report/, not made there"),
        ("verdict", "tune", "the decision reads the store, not the tuner's state"),
        ("verdict", "launch", "the decision does not know who acts on it"),
        ("report", "tune", "the report reads the store, not the tuner's internals"),
        ("launch", "report", "launch acts on the verdict, not on a report"),
        ("launch", "tune", "launch applies a winner; tuning is tune/'s"),
        ("store", "tune", "the store is written by the tuner, not the other way round"),
    ];
    for (from, to, why) in forbidden {
        assert!(!g.get(from).is_some_and(|d| d.contains(to)), "{from} uses {to}: {why}");
    }
}
