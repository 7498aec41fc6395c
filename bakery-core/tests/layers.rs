//! The house in layers (DESIGN.md, "Code layout"): every import in bakery-core points
//! down. This test reads the sources and fails on any `crate::` or `super::` path that
//! reaches a module the layer rule does not allow, and on a top-level module that has
//! no place in the rule.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const L0: &[&str] = &["model", "error", "events"];

/// Each top-level module and the modules it may use (besides itself).
fn rule() -> BTreeMap<&'static str, Vec<&'static str>> {
    let with = |extra: &[&'static str]| L0.iter().chain(extra).copied().collect::<Vec<_>>();
    BTreeMap::from([
        // L0: the vocabulary.
        ("model", with(&[])),
        ("error", with(&[])),
        ("events", with(&[])),
        // L1: AWS, the one wait, files and flags, text for instances.
        ("aws", with(&[])),
        ("wait", with(&[])),
        ("config", with(&[])),
        ("script", with(&["config"])),
        // L2: the pure plan; effectful primitives.
        ("plan", with(&["config", "script"])),
        ("ops", with(&["aws", "wait"])),
        // L3: what AWS holds about releases; never the plan.
        ("release", with(&["aws", "wait", "config", "script", "ops"])),
        // L4: one bake; across bakes. Never each other.
        (
            "bake",
            with(&["aws", "wait", "config", "script", "plan", "ops", "release"]),
        ),
        (
            "fleet",
            with(&["aws", "wait", "config", "script", "plan", "ops", "release"]),
        ),
        // L5: the front door, over everything.
        (
            "client",
            with(&[
                "aws", "wait", "config", "script", "plan", "ops", "release", "bake", "fleet",
            ]),
        ),
    ])
}

/// The module path of a source file: `src/bake/steps/builder.rs` -> bake::steps::builder.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("below src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    match last.as_str() {
        "mod.rs" | "lib.rs" => {}
        name => parts.push(name.trim_end_matches(".rs").to_string()),
    }
    parts
}

/// The source without comments, so that prose naming a module is not an import.
fn code_of(source: &str) -> String {
    source
        .lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a file's code names, through `crate::` and `super::` paths.
fn modules_named(code: &str, path: &[String]) -> Vec<String> {
    let mut named = Vec::new();
    let ident = |text: &str| -> String {
        text.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::X, b}`: the first segment of each item.
            named.extend(group_items(group).iter().map(|item| ident(item)));
        } else {
            named.push(ident(rest));
        }
    }
    for (at, _) in code.match_indices("super::") {
        // Only the first `super::` of a chain.
        if code[..at].ends_with("super::") {
            continue;
        }
        let mut rest = &code[at..];
        let mut up = 0;
        while let Some(after) = rest.strip_prefix("super::") {
            up += 1;
            rest = after;
        }
        // `super` of a file's module is its parent; `tests.rs` and `mod.rs` alike.
        if up >= path.len() {
            named.push(ident(rest));
        }
    }
    named.retain(|n| !n.is_empty() && n.chars().next().is_some_and(char::is_lowercase));
    named
}

/// The items of `crate::{...}`, as written.
fn group_items(group: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in group.chars() {
        match c {
            '{' => {
                depth += 1;
                current.push(c);
            }
            '}' if depth == 0 => break,
            '}' => {
                depth -= 1;
                current.push(c);
            }
            ',' if depth == 0 => items.push(std::mem::take(&mut current).trim().to_string()),
            c => current.push(c),
        }
    }
    items.push(current.trim().to_string());
    items.retain(|i| !i.is_empty());
    items
}

/// Every import of `file` that the rule forbids, as `module -> named`.
fn violations_in(path: &[String], code: &str) -> Vec<String> {
    let rule = rule();
    let Some(top) = path.first() else {
        return Vec::new(); // lib.rs declares the modules
    };
    let Some(allowed) = rule.get(top.as_str()) else {
        return vec![format!("{top} has no place in the layer rule")];
    };
    modules_named(code, path)
        .into_iter()
        .filter(|named| named != top && rule.contains_key(named.as_str()))
        .filter(|named| !allowed.contains(&named.as_str()))
        .map(|named| format!("{top} -> {named}"))
        .collect()
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_import_in_bakery_core_points_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    assert!(files.len() > 40, "the sources were found: {files:?}");
    let mut problems = Vec::new();
    for file in &files {
        let path = module_path(&src, file);
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        for violation in violations_in(&path, &code) {
            problems.push(format!(
                "{}: {violation}",
                file.strip_prefix(&src).unwrap().display()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "imports that point up a layer (DESIGN.md, \"Code layout\"):\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn every_top_level_module_has_its_place_in_the_rule() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| {
            l.strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("pub(crate) mod "))
        })
        .map(|l| l.trim_end_matches(';'))
        .collect();
    let rule = rule();
    assert_eq!(
        declared,
        rule.keys().copied().collect::<Vec<_>>(),
        "lib.rs declares exactly the modules of the rule"
    );
}

#[test]
fn the_check_catches_an_import_that_points_up() {
    let path = |p: &str| p.split("::").map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        violations_in(&path("aws::ec2"), "use crate::config::settings::Sharing;"),
        ["aws -> config"]
    );
    assert_eq!(
        violations_in(
            &path("plan::calls"),
            "use crate::{model::Step, release::claim, config::BaseImage};"
        ),
        ["plan -> release"]
    );
    assert_eq!(
        violations_in(&path("bake::steps::builder"), "use crate::fleet::janitor;"),
        ["bake -> fleet"]
    );
    assert_eq!(
        violations_in(&path("ops::removal"), "use super::super::bake::ledger;"),
        ["ops -> bake"]
    );
    assert!(violations_in(
        &path("bake::steps::image"),
        "use super::super::context::Bake;"
    )
    .is_empty());
    let prose = code_of("let x = 1; // crate::bake is mentioned here only");
    assert!(violations_in(&path("release::claim"), &prose).is_empty());
    assert_eq!(
        violations_in(&path("newthing"), ""),
        ["newthing has no place in the layer rule"]
    );
}
