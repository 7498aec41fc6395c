//! bakery.toml environments: settings with their sources, the build region and copies
//! they choose, and a mistake refused at its line — all before any AWS call.

use serde_json::json;

use crate::support::{Bakery, TestRecipe};

const BAKERY_TOML: &str = r#"
default_environment = "staging"

[environments.staging]
regions = ["ap-southeast-6", "ap-east-2"]
instance_profile = "bakery-builder"
subnet = "subnet-0a57a61e0000000aa"
tags = { cost-center = "platform", environment = "staging" }

[environments.production]
extends = "staging"
subnet = "subnet-0b9d0c0de000000bb"
kms_keys = { ap-east-2 = "alias/production-ebs" }
tags = { environment = "production" }
vars = { LOG_LEVEL = "warn" }
"#;

/// A team's checkout: bakery.toml at the top, commands run from a folder below it.
fn checkout() -> (tempfile::TempDir, std::path::PathBuf) {
    let top = tempfile::tempdir().unwrap();
    std::fs::write(top.path().join("bakery.toml"), BAKERY_TOML).unwrap();
    let below = top.path().join("recipes");
    std::fs::create_dir(&below).unwrap();
    (top, below)
}

#[test]
fn config_show_prints_each_merged_value_with_where_it_came_from() {
    let (_top, cwd) = checkout();
    let recipe = TestRecipe::new("zookeeper").with_toml(
        "[tags]\nteam = \"data\"\n\
         [vars]\nLOG_LEVEL = \"info\"\nHEAP = \"2g\"\nZK_VERSION = \"3.8.4\"\n",
    );
    let shown = Bakery::new("ap-southeast-6")
        .current_dir(&cwd)
        .args([
            "config",
            "show",
            "--env",
            "production",
            "--instance-type",
            "m7i.large",
            "--var",
            "ZK_VERSION=3.9.2",
        ])
        .arg_path(recipe.path())
        .run();
    shown.expect_code(0);
    let line = |key: &str| {
        shown
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} in:\n{}", shown.stdout))
            .to_string()
    };
    assert!(line("builder.volume_type").ends_with("# built-in default"));
    assert!(line("builder.subnet").contains("\"subnet-0b9d0c0de000000bb\""));
    assert!(line("builder.subnet").contains("# environment production ("));
    assert!(
        line("builder.instance_profile").contains("# recipe ("),
        "the recipe wins over staging"
    );
    assert!(line("builder.instance_type").ends_with("# flag --instance-type"));
    assert!(line("tags.cost-center").contains("# environment staging ("));
    assert!(line("tags.team").contains("# recipe ("));
    assert!(line("kms_keys.ap-east-2").contains("alias/production-ebs"));
    assert!(line("vars.HEAP").contains("\"2g\"") && line("vars.HEAP").contains("# recipe ("));
    assert!(
        line("vars.LOG_LEVEL").contains("\"warn\"")
            && line("vars.LOG_LEVEL").contains("# environment production ("),
        "the environment's value wins over the recipe's default"
    );
    assert!(line("vars.ZK_VERSION").ends_with("# flag --var"));
}

#[test]
fn an_environment_picks_the_build_region_and_the_copies() {
    let (_top, cwd) = checkout();
    let recipe = TestRecipe::new("zookeeper");
    let plan = Bakery::new("eu-west-1")
        .current_dir(&cwd)
        .env("BAKERY_ENV", "production")
        .args(["plan", "--version", "1.0.0", "--output", "json"])
        .arg_path(recipe.path())
        .run();
    plan.expect_code(0);
    let plan = plan.json();
    assert_eq!(
        plan["region"], "ap-southeast-6",
        "the environment's first region"
    );
    assert_eq!(
        plan["copy_to"],
        json!([{ "region": "ap-east-2", "kms_key": "alias/production-ebs" }])
    );
    assert_eq!(
        plan["builds"][0]["builder"]["subnet"],
        "subnet-0b9d0c0de000000bb"
    );
    assert_eq!(plan["recipe_tags"]["environment"], "production");
}

#[test]
fn a_mistake_in_bakery_toml_is_refused_at_its_line_before_any_call() {
    let (top, cwd) = checkout();
    std::fs::write(
        top.path().join("bakery.toml"),
        BAKERY_TOML.replace("extends = \"staging\"", "extends = \"stageing\""),
    )
    .unwrap();
    let recipe = TestRecipe::new("zookeeper");
    let refused = Bakery::new("ap-southeast-6")
        .current_dir(&cwd)
        .args(["plan", "--env", "production", "--version", "1.0.0"])
        .arg_path(recipe.path())
        .run();
    assert_eq!(refused.code, 2);
    refused.expect_stderr("bakery.toml:11:11");
    refused.expect_stderr("no environment `stageing` to extend");

    let validated = Bakery::new("ap-southeast-6")
        .current_dir(&cwd)
        .args(["validate", "--env", "production"])
        .arg_path(recipe.path())
        .run();
    assert_eq!(validated.code, 2, "validate checks bakery.toml too");
    assert!(validated
        .stderr
        .contains("no environment `stageing` to extend"));

    let unknown = Bakery::new("ap-southeast-6")
        .args(["plan", "--env", "nowhere", "--version", "1.0.0"])
        .arg_path(recipe.path())
        .args(["--config", top.path().join("bakery.toml").to_str().unwrap()])
        .run();
    assert_eq!(unknown.code, 2);
}

#[test]
fn a_near_miss_of_an_environment_or_a_recipe_folder_names_what_exists() {
    let (_top, cwd) = checkout();
    let recipe = TestRecipe::new("zookeeper");

    let env = Bakery::new("eu-west-1")
        .current_dir(&cwd)
        .args(["plan", "--version", "1.0.0", "--env", "prodution"])
        .arg_path(recipe.path())
        .run();
    env.expect_code(2);
    env.expect_stderr("has no [environments.prodution] (it has: production, staging)");
    env.expect_stderr("did you mean --env production?");
    // As Jenkins runs it: the refusal is the one JSON object on stdout too.
    let jenkins = Bakery::new("eu-west-1")
        .current_dir(&cwd)
        .args(["audit", "--env", "prodution", "--output", "json"])
        .run();
    jenkins.expect_code(2);
    let refusal = jenkins.json();
    assert_eq!(refusal["status"], "failed");
    assert_eq!(refusal["error_kind"], "invalid-input");
    assert_eq!(refusal["hint"], "did you mean --env production?");

    let name = recipe.path().file_name().unwrap().to_str().unwrap();
    let misspelt = recipe.path().with_file_name(&name[..name.len() - 1]);
    let folder = Bakery::new("eu-west-1")
        .args(["validate"])
        .arg_path(&misspelt)
        .run();
    folder.expect_code(2);
    folder.expect_stderr(&format!("did you mean {}?", recipe.path().display()));
}

#[test]
fn deadlines_are_checked_at_their_line_against_their_limits() {
    let recipe = TestRecipe::new("slowpoke").with_toml("[deadlines]\nimage = \"2d\"\n");
    let refused = Bakery::new("eu-west-1")
        .args(["validate"])
        .arg_path(recipe.path())
        .run();
    refused.expect_code(2);
    refused.expect_stderr("key `deadlines.image`");
    refused.expect_stderr("bakery waits at most a day for an image");

    let (_top, cwd) = checkout();
    let fine = TestRecipe::new("slowpoke").with_toml("[deadlines]\nimage = \"3h\"\n");
    let shown = Bakery::new("eu-west-1")
        .current_dir(&cwd)
        .args(["config", "show"])
        .arg_path(fine.path())
        .run();
    shown.expect_code(0);
    shown.expect_stdout("deadlines.image");
    shown.expect_stdout("3h");
}
