//! What a step knows about its bake: `BAKERY_ROLE`, `BAKERY_VERSION`, `BAKERY_ARCH`,
//! `BAKERY_REGION`, `BAKERY_BAKE_ID`, and the recipe's variables, from the recipe's
//! defaults, the environment and `--var`; the release records their values.

use std::process::Command;

use crate::support::{recipe_folder, Account, TestRecipe, AL2023};

/// A post-deploy job's recipe: which app version to install is the job's to say.
fn app_recipe() -> TestRecipe {
    TestRecipe::new("app")
        .step(
            "install",
            "#!/bin/sh\necho \"installing app $APP_VERSION at $LOG_LEVEL into \
             $BAKERY_ROLE@$BAKERY_VERSION $BAKERY_ARCH $BAKERY_REGION $BAKERY_BAKE_ID\"\n",
        )
        .with_toml(
            "[vars]\nLOG_LEVEL = \"info\"\n\
             [vars.APP_VERSION]\ndescription = \"the app release to install\"\n\
             required = true\npattern = '\\d+\\.\\d+\\.\\d+'\n",
        )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_gets_the_release_it_bakes_and_the_values_the_job_gives() {
    let aws = Account::fresh().await;
    let away = aws.neighbour().await;
    let top = tempfile::tempdir().unwrap();
    std::fs::write(
        top.path().join("bakery.toml"),
        format!(
            "[environments.ci]\nregions = [\"{}\", \"{}\"]\n\
             vars = {{ LOG_LEVEL = \"warn\", OTHER_TEAMS_VAR = \"theirs\" }}\n",
            aws.region, away.region
        ),
    )
    .unwrap();
    let recipe = app_recipe();
    let bake = |args: &[&str]| {
        aws.bakery()
            .current_dir(top.path())
            .args(["bake", "--env", "ci", "--bump", "minor", "--output", "json"])
            .args(args)
            .arg_path(recipe.path())
            .run()
    };

    let missing = bake(&[]);
    missing.expect_code(2);
    missing.expect_stderr("variable APP_VERSION (the app release to install) is required");
    missing.expect_stderr("give --var APP_VERSION=VALUE");
    let refused = bake(&["--var", "APP_VERSION=latest", "--var", "APP_VERSON=2.4.1"]);
    refused.expect_code(2);
    refused.expect_stderr("`latest` does not match the pattern");
    refused.expect_stderr("--var APP_VERSON: ");
    assert!(aws.instances().await.is_empty(), "refused before anything");

    let baked = bake(&["--var", "APP_VERSION=2.4.1"]);
    baked.expect_code(0);
    let report = baked.json();
    let version = report["version"].as_str().unwrap();
    let bake_id = report["bake_id"].as_str().unwrap();
    assert_eq!(
        report["vars"],
        serde_json::json!({ "APP_VERSION": "2.4.1", "LOG_LEVEL": "warn" }),
        "the flag's value, the environment's over the default, nothing of other roles"
    );
    for account in [&aws, &away] {
        let record = account.release_record("app", version).await.unwrap();
        assert_eq!(
            record["vars"], report["vars"],
            "the release keeps them in {}",
            account.region
        );
    }

    // The command SSM delivered, run by a shell as the builder would.
    let builder = report["builder_instance_id"].as_str().unwrap();
    let commands = aws.commands_sent_to(builder).await;
    let install = &commands
        .iter()
        .find(|(_, text)| text.contains("installing app"))
        .unwrap()
        .1;
    let ran = Command::new("sh").arg("-c").arg(install).output().unwrap();
    assert!(ran.status.success(), "{ran:?}");
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        format!(
            "installing app 2.4.1 at warn into app@{version} x86_64 {} {bake_id}\n",
            aws.region
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bake_all_gives_a_var_to_the_roles_that_declare_it() {
    let aws = Account::fresh().await;
    let recipes = recipe_folder(&[("base", AL2023), ("app", AL2023)]);
    std::fs::write(
        recipes.path().join("app/recipe.toml"),
        std::fs::read_to_string(recipes.path().join("app/recipe.toml")).unwrap()
            + "[vars.APP_VERSION]\nrequired = true\n",
    )
    .unwrap();
    let bake_all = |var: &str| {
        aws.bakery()
            .bake_all_json(recipes.path(), "1.0.0")
            .args(["--var", var])
            .run()
    };

    let nobody = bake_all("APP_VERSOIN=3.0.0");
    nobody.expect_code(2);
    nobody.expect_stderr("--var APP_VERSOIN: no role of the run declares it");

    let baked = bake_all("APP_VERSION=3.0.0");
    baked.expect_code(0);
    let bakes = baked.json()["bakes"].clone();
    let vars_of = |role: &str| {
        bakes
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["role"] == role)
            .unwrap()["vars"]
            .clone()
    };
    assert_eq!(
        vars_of("app"),
        serde_json::json!({ "APP_VERSION": "3.0.0" })
    );
    assert_eq!(vars_of("base"), serde_json::json!({}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_without_its_required_value_is_its_own_problem_not_every_role_s() {
    let aws = Account::fresh().await;
    let folder = recipe_folder(&[
        ("plain", "image = \"ami-1e749f67\""),
        ("needy", "image = \"ami-1e749f67\""),
    ]);
    let needy = folder.path().join("needy/recipe.toml");
    let text = std::fs::read_to_string(&needy).unwrap();
    std::fs::write(&needy, format!("{text}[vars.RELEASE]\nrequired = true\n")).unwrap();

    let baked = aws.bakery().bake_all_json(folder.path(), "1.0.0").run();

    baked.expect_code(0);
    let bakes = baked.json()["bakes"].clone();
    let of = |role: &str| {
        bakes
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["role"] == role)
            .unwrap()
            .clone()
    };
    assert_eq!(of("plain")["status"], "succeeded");
    assert_eq!(of("needy")["status"], "skipped");
    assert_eq!(of("needy")["needs"], serde_json::json!(["RELEASE"]));
    let names = aws.own_image_names().await;
    assert_eq!(names, ["bakery/plain/1.0.0/x86_64"], "only plain was baked");

    let outdated = |extra: &[&str]| {
        aws.bakery()
            .args(["outdated", "--output", "json"])
            .arg_path(folder.path())
            .args(extra)
            .run()
    };
    // The first reason `outdated` gives for needy.
    let needy_reason = |result: serde_json::Value| {
        let roles = result["roles"].as_array().unwrap().clone();
        let needy = roles.into_iter().find(|r| r["role"] == "needy").unwrap();
        needy["reasons"][0]["reason"].clone()
    };
    let unknown = outdated(&[]);
    unknown.expect_code(0);
    assert_eq!(needy_reason(unknown.json()), "needs-values");
    let given = outdated(&["--var", "RELEASE=7"]);
    given.expect_code(4);
    assert_eq!(needy_reason(given.json()), "never-released");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_nightly_rebuild_keeps_what_the_post_deploy_job_gave_until_the_environment_moves() {
    let aws = Account::fresh().await;
    let recipes = recipe_folder(&[("zookeeper", AL2023)]);
    let recipe_file = recipes.path().join("zookeeper/recipe.toml");
    let text = std::fs::read_to_string(&recipe_file).unwrap();
    std::fs::write(
        &recipe_file,
        text + "[vars.ZOOKEEPER_VERSION]\nrequired = true\n",
    )
    .unwrap();
    let environment = |version: &str| {
        std::fs::write(
            recipes.path().join("bakery.toml"),
            format!(
                "[environments.nightly]\nregions = [\"{}\"]\n\
                 vars = {{ ZOOKEEPER_VERSION = \"{version}\" }}\n",
                aws.region
            ),
        )
        .unwrap();
    };
    let bakery = || {
        aws.bakery().current_dir(recipes.path()).args([
            "--env",
            "nightly",
            "--output",
            "json",
            "--progress",
            "json",
        ])
    };
    let nightly = || {
        bakery()
            .args(["bake", "--all", ".", "--if-changed", "--bump", "patch"])
            .run()
    };
    let zookeeper = |outcome: &crate::bakery::Outcome| {
        outcome.json()["bakes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["role"] == "zookeeper")
            .unwrap()
            .clone()
    };
    environment("3.9.3");

    // The post-deploy job gives the version it deployed.
    let deployed = bakery()
        .args(["bake", "zookeeper", "--version", "1.0.0"])
        .args(["--var", "ZOOKEEPER_VERSION=3.9.4"])
        .run();
    deployed.expect_code(0);
    let started = &deployed.events()[0];
    assert_eq!(started["event"], "bake_started");
    assert_eq!(started["environment"], "nightly", "the first line names it");
    let record = aws.release_record("zookeeper", "1.0.0").await.unwrap();
    assert_eq!(record["vars"]["ZOOKEEPER_VERSION"], "3.9.4");
    assert_eq!(record["overrides"]["ZOOKEEPER_VERSION"], "3.9.3");
    let latest = aws.channel("zookeeper", "latest").await;

    // The nightly job, and a single rebuild, find it unchanged: nothing is baked.
    let unchanged = nightly();
    unchanged.expect_code(0);
    assert_eq!(
        zookeeper(&unchanged)["status"],
        "unchanged",
        "{}",
        unchanged.stderr
    );
    let single = bakery()
        .args(["bake", "zookeeper", "--if-changed", "--bump", "patch"])
        .run();
    single.expect_code(0);
    assert_eq!(single.json()["status"], "unchanged", "{}", single.stderr);
    assert!(aws.release_record("zookeeper", "1.0.1").await.is_none());
    assert_eq!(
        aws.channel("zookeeper", "latest").await,
        latest,
        "latest stays"
    );

    // Told as a person reads it.
    let text = aws
        .bakery()
        .current_dir(recipes.path())
        .args([
            "--env",
            "nightly",
            "bake",
            "zookeeper",
            "--if-changed",
            "--bump",
            "patch",
        ])
        .run();
    text.expect_code(0);
    text.expect_stderr(&format!("in {} (environment nightly) from", aws.region));

    // The environment moves on: its value is taken, and said.
    environment("3.9.5");
    let rebuilt = nightly();
    rebuilt.expect_code(0);
    assert_eq!(zookeeper(&rebuilt)["status"], "succeeded");
    rebuilt.expect_stderr("ZOOKEEPER_VERSION 3.9.4 → 3.9.5");
    let record = aws.release_record("zookeeper", "1.0.1").await.unwrap();
    assert_eq!(record["vars"]["ZOOKEEPER_VERSION"], "3.9.5");
    assert!(
        record.get("overrides").is_none(),
        "nothing given with --var"
    );
}
