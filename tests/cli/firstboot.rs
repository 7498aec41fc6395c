//! `bakery firstboot render` shows what a bake installs; the Windows agent's own tests
//! run with Pester where `pwsh` exists.

use std::process::Command;

use serde_json::Value;

use crate::support::{repo_root, Bakery, TestRecipe};

#[test]
fn firstboot_render_prints_what_a_bake_installs_and_an_opt_out_installs_nothing() {
    let recipe = TestRecipe::new("worker").with_toml(
        "[firstboot]\nrunlist = \"s3://runlists/{role}.json\"\nrunner = \"chef-client -z -j {runlist}\"\n",
    );
    let rendered = Bakery::new("mx-central-1")
        .args([
            "firstboot",
            "render",
            "--version",
            "2.0.0",
            "--output",
            "json",
        ])
        .arg_path(recipe.path())
        .run();
    rendered.expect_code(0);
    let files = rendered.json()["files"].as_array().unwrap().clone();
    let config = files
        .iter()
        .find(|f| f["path"] == "/etc/bakery/firstboot.json")
        .unwrap();
    assert_eq!(config["access"], "0600");
    let config: Value = serde_json::from_str(config["content"].as_str().unwrap()).unwrap();
    assert_eq!(config["role"], "worker");
    assert_eq!(config["version"], "2.0.0");

    let text = std::fs::read_to_string(recipe.path().join("recipe.toml")).unwrap();
    std::fs::write(
        recipe.path().join("recipe.toml"),
        text.replacen("[builder]", "firstboot = false\n[builder]", 1)
            .replace("[firstboot]\nrunlist = \"s3://runlists/{role}.json\"\nrunner = \"chef-client -z -j {runlist}\"\n", ""),
    )
    .unwrap();
    let rendered = Bakery::new("mx-central-1")
        .args(["firstboot", "render", "--output", "json"])
        .arg_path(recipe.path())
        .run();
    rendered.expect_code(0);
    assert_eq!(rendered.json()["firstboot"], false);
}

#[test]
fn the_windows_agent_is_tested_with_pester_where_pwsh_exists() {
    let Ok(version) = Command::new("pwsh").arg("-Version").output() else {
        println!(
            "skipped: pwsh is not installed here; firstboot/windows/bakery-firstboot.Tests.ps1 \
             runs with `pwsh -c Invoke-Pester firstboot/windows` where it is"
        );
        return;
    };
    assert!(version.status.success());
    let out = Command::new("pwsh")
        .args([
            "-NoProfile",
            "-Command",
            "$r = Invoke-Pester -Path firstboot/windows -PassThru; exit $r.FailedCount",
        ])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// The agent alerts the topic a bake would give it: the recipe's, else the
/// environment's (or `--sns-topic`), as in `bakery bake`.
#[test]
fn firstboot_render_takes_the_environments_topic_as_a_bake_does() {
    let recipe = TestRecipe::new("worker").with_toml(
        "[firstboot]\nrunlist = \"s3://runlists/{role}.json\"\nrunner = \"run {runlist}\"\n",
    );
    let config = tempfile::tempdir().unwrap();
    std::fs::write(
        config.path().join("bakery.toml"),
        "[environments.ops]\nregions = [\"eu-west-1\"]\n\
         sns_topic = \"arn:aws:sns:eu-west-1:123456789012:ops\"\n",
    )
    .unwrap();
    let topic_of = |args: &[&str]| -> Value {
        let rendered = Bakery::new("eu-west-1")
            .current_dir(config.path())
            .args(["firstboot", "render", "--output", "json"])
            .args(args)
            .arg_path(recipe.path())
            .run();
        rendered.expect_code(0);
        let files = rendered.json()["files"].as_array().unwrap().clone();
        let file = files
            .iter()
            .find(|f| f["path"] == "/etc/bakery/firstboot.json")
            .unwrap();
        let config: Value = serde_json::from_str(file["content"].as_str().unwrap()).unwrap();
        config["sns_topic"].clone()
    };
    assert_eq!(
        topic_of(&["--env", "ops"]),
        "arn:aws:sns:eu-west-1:123456789012:ops"
    );
    assert_eq!(
        topic_of(&["--sns-topic", "arn:aws:sns:eu-west-1:123456789012:mine"]),
        "arn:aws:sns:eu-west-1:123456789012:mine"
    );
    assert_eq!(topic_of(&[]), Value::Null);
}
