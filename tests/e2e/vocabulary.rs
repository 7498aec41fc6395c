//! One JSON vocabulary: every command's `--output json` names an architecture `arch`,
//! a region `region`, an image `image_id` — never `architecture`, `ami` or an AMI id
//! under another name — and their values are what the names promise.

use serde_json::Value;

use crate::support::{recipes_folder_with, Account, TestRecipe};

/// Where `value` breaks the shared names, as `path: why`.
fn breaches(path: &str, value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let here = format!("{path}.{key}");
                if let Some(why) = breach(key, inner) {
                    found.push(format!("{here}: {why} ({inner})"));
                }
                breaches(&here, inner, found);
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                breaches(&format!("{path}[{i}]"), inner, found);
            }
        }
        _ => {}
    }
}

fn breach(key: &str, value: &Value) -> Option<&'static str> {
    let text = value.as_str();
    let is_region = |t: &str| {
        let parts: Vec<&str> = t.split('-').collect();
        parts.len() >= 3 && parts.last().unwrap().parse::<u8>().is_ok()
    };
    match key {
        "architecture" | "ami" | "ami_id" | "imageId" | "image" | "amis" => {
            Some("named otherwise everywhere else (arch, image_id, images)")
        }
        "arch" if !value.is_null() && !matches!(text, Some("x86_64" | "arm64")) => {
            Some("an arch is x86_64 or arm64")
        }
        "region" if !text.is_some_and(is_region) => Some("a region is a region's name"),
        "image_id" if !value.is_null() && !text.is_some_and(|t| t.starts_with("ami-")) => {
            Some("an image_id is an AMI id")
        }
        _ if key.ends_with("_id")
            && key != "image_id"
            && key != "base_image_id"
            && text.is_some_and(|t| t.starts_with("ami-")) =>
        {
            Some("an AMI id is an image_id (or base_image_id)")
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_names_arch_region_and_image_id_alike() {
    let home = Account::fresh().await;
    let away = home.neighbour().await;
    let regions = format!("{},{}", home.region, away.region);
    let recipe = TestRecipe::new("words")
        .test("ok", "#!/bin/sh\ntrue\n")
        .with_both_architectures();
    // A recipes folder holding it, as `outdated` reads one.
    let folder = recipes_folder_with(&recipe, "words");
    let path = folder.path().join("words");
    let (path, recipes) = (path.to_str().unwrap(), folder.path().to_str().unwrap());
    let bakery = |args: &[&str]| {
        let outcome = home
            .bakery()
            .args(args)
            .args(["--output", "json", "--progress", "json"])
            .run();
        assert!(
            [0, 4].contains(&outcome.code),
            "{args:?} exited {}:\n{}",
            outcome.code,
            outcome.stderr
        );
        outcome
    };
    let commands: Vec<Vec<&str>> = vec![
        vec![
            "plan",
            path,
            "--version",
            "1.0.0",
            "--copy-to",
            &away.region,
        ],
        vec![
            "bake",
            path,
            "--version",
            "1.0.0",
            "--copy-to",
            &away.region,
        ],
        vec!["bake", path, "--version", "1.1.0"],
        vec!["releases", "words", "--regions", &regions],
        vec!["promote", "words", "1.0.0", "--channel", "stable"],
        vec!["distribute", "words", "1.1.0", "--regions", &away.region],
        vec!["deprecate", "words", "1.0.0"],
        vec!["test", path, "1.1.0"],
        vec!["prune", "words", "--keep", "1", "--regions", &regions],
        vec!["cleanup", "--regions", &regions],
        vec!["audit", "--regions", &regions],
        vec!["outdated", recipes, "--regions", &regions],
        vec!["validate", path],
        vec!["config", "show", path],
    ];
    let mut found = Vec::new();
    for args in &commands {
        let outcome = bakery(args);
        let name = args[..2].join(" ");
        breaches(&name, &outcome.json(), &mut found);
        for (i, event) in outcome.events().iter().enumerate() {
            breaches(&format!("{name} event {i}"), event, &mut found);
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
