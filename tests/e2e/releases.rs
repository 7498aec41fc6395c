//! Release versions and claims: `--bump`, `--pre`, and the SSM parameter that makes a
//! release belong to exactly one bake.

use serde_json::json;

use crate::support::{Account, TestRecipe};

#[tokio::test(flavor = "multi_thread")]
async fn bumps_follow_the_newest_release_and_pre_releases_count_up() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("svc");
    let bake = |args: &[&str]| {
        aws.bake_ok(recipe.path(), args)["version"]
            .as_str()
            .unwrap()
            .to_string()
    };

    assert_eq!(bake(&["--version", "1.4.2"]), "1.4.2");
    assert_eq!(bake(&["--bump", "minor", "--pre", "rc"]), "1.5.0-rc.1");
    assert_eq!(bake(&["--bump", "minor", "--pre", "rc"]), "1.5.0-rc.2");
    assert_eq!(bake(&["--bump", "minor"]), "1.5.0");
    assert_eq!(bake(&["--bump", "patch"]), "1.5.1");
    assert_eq!(bake(&["--bump", "major"]), "2.0.0");

    let names: Vec<String> = aws
        .own_images()
        .await
        .iter()
        .map(|i| i.name().unwrap().to_string())
        .collect();
    assert!(
        names.contains(&"bakery/svc/1.5.0-rc.2/x86_64".to_string()),
        "{names:?}"
    );
    assert_eq!(names.len(), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_version_flags_are_refused_with_exit_2() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("svc");

    let both = aws
        .bakery()
        .args(["bake", "--version", "1.0.0", "--bump", "patch"])
        .arg_path(recipe.path())
        .run();
    assert_eq!(both.code, 2);
    both.expect_stderr("--bump");

    let lone_pre = aws
        .bakery()
        .args(["bake", "--pre", "rc", "--version", "1.0.0"])
        .arg_path(recipe.path())
        .run();
    assert_eq!(lone_pre.code, 2);

    let bad_pre = aws
        .bakery()
        .args(["bake", "--bump", "minor", "--pre", "r.c"])
        .arg_path(recipe.path())
        .run();
    assert_eq!(bad_pre.code, 2);
    bad_pre.expect_stderr("invalid --pre `r.c`");
    assert!(aws.instances().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_claim_becomes_the_release_record_and_a_failed_bake_gives_it_back() {
    let aws = Account::fresh().await;
    aws.emulate(
        json!({ "command_outcomes": [{"match": "exit 4", "status": "Failed", "exit_code": 4}] }),
    );
    let good = TestRecipe::new("db");

    let baked = aws.bakery().bake_json(good.path(), "1.0.0").run();

    baked.expect_code(0);
    let result = baked.json();
    let record = aws
        .release_record("db", "1.0.0")
        .await
        .expect("the claim stays as the release's record");
    assert_eq!(record["state"], "released");
    assert_eq!(record["bake_id"], result["bake_id"]);
    assert_eq!(
        record["images"][&aws.region],
        result["images"][0]["image_id"]
    );

    let broken = TestRecipe::new("db").step("boom", "#!/bin/sh\nexit 4\n");
    let failed = aws.bakery().bake_json(broken.path(), "1.1.0").run();
    failed.expect_code(1);
    assert_eq!(
        aws.release_record("db", "1.1.0").await,
        None,
        "a failed bake removes its claim"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_claimed_by_another_bake_is_refused_naming_that_bake() {
    let aws = Account::fresh().await;
    let holder = json!({"bake_id": "20261122t010000-abcdef", "state": "baking", "started_at": "2026-11-22T01:00:00Z"});
    aws.write_claim("cache", "3.0.0", &holder).await;
    let recipe = TestRecipe::new("cache");

    let bake = aws.bakery().bake_json(recipe.path(), "3.0.0").run();

    bake.expect_code(2);
    let error = bake.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains(&format!(
            "cache@3.0.0 is claimed in {} by bake 20261122t010000-abcdef (baking, since 2026-11-22T01:00:00Z)",
            aws.region
        )),
        "{error}"
    );
    assert!(aws.instances().await.is_empty(), "nothing launched");
    assert_eq!(
        aws.release_record("cache", "3.0.0").await.unwrap(),
        holder,
        "the other bake's claim is untouched"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_bumps_end_with_two_versions_never_one_version_twice() {
    let aws = Account::fresh().await;
    aws.emulate(json!({ "instance_pending_seconds": 1 }));
    let recipe = TestRecipe::new("race");
    let first = aws.bakery().bake_json(recipe.path(), "1.0.0").run();
    first.expect_code(0);

    let outcomes = aws.bumped_bakes_at_once(recipe.path(), 2);

    let mut versions: Vec<String> = Vec::new();
    for outcome in &outcomes {
        match outcome.code {
            0 => versions.push(outcome.json()["version"].as_str().unwrap().to_string()),
            2 => assert!(
                outcome.json()["error"]
                    .as_str()
                    .unwrap()
                    .contains("claimed"),
                "{}",
                outcome.stdout
            ),
            code => panic!("exit {code}: {}", outcome.stderr),
        }
    }
    versions.sort();
    versions.dedup();
    assert_eq!(
        versions.len(),
        outcomes.iter().filter(|o| o.code == 0).count(),
        "no version baked twice"
    );
    let mut image_versions: Vec<String> = aws
        .own_images()
        .await
        .iter()
        .map(|i| i.name().unwrap().to_string())
        .collect();
    let count = image_versions.len();
    image_versions.dedup();
    assert_eq!(image_versions.len(), count);
    assert!(versions.contains(&"1.0.1".to_string()), "{versions:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn release_commands_refuse_bad_input_with_exit_2() {
    let aws = Account::fresh().await;
    let cases: [(&[&str], &str); 5] = [
        (
            &["releases", "Not A Role"],
            "invalid role name `Not A Role`",
        ),
        (
            &["promote", "base", "1.0", "--channel", "stable"],
            "invalid version `1.0`",
        ),
        (
            &["deprecate", "base", "1.0.0", "--at", "next tuesday"],
            "--at: invalid date `next tuesday`",
        ),
        (
            &["prune", "base", "--keep", "3", "--older-than", "old"],
            "--older-than: invalid duration `old`",
        ),
        (&["prune", "base", "--keep", "many"], "--keep"),
    ];
    for (args, message) in cases {
        let outcome = aws.bakery().args(args).run();
        assert_eq!(outcome.code, 2, "{args:?}: {}", outcome.stderr);
        assert!(
            outcome.stderr.contains(message),
            "{args:?}: {}",
            outcome.stderr
        );
    }
    assert!(aws.own_images().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_release_is_listed_and_its_version_stays_taken() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("dim");
    let baked = aws.bake_ok(recipe.path(), &["--version", "1.0.0"]);
    let image = baked["images"][0]["image_id"].as_str().unwrap();
    aws.ec2
        .disable_image()
        .image_id(image)
        .send()
        .await
        .unwrap();

    let listed = aws
        .bakery()
        .args(["releases", "dim", "--output", "json"])
        .run();
    listed.expect_code(0);
    let releases = listed.json()["releases"].clone();
    assert_eq!(releases[0]["image_id"], image);
    assert_eq!(releases[0]["state"], "disabled");
    // One vocabulary: `arch`, as every command says it.
    assert_eq!(releases[0]["arch"], "x86_64");
    assert!(releases[0].get("architecture").is_none());

    let next = aws.bake_ok(recipe.path(), &["--bump", "patch"]);
    assert_eq!(next["version"], "1.0.1", "1.0.0 exists, disabled");
    let refused = aws.bakery().bake(recipe.path(), "1.0.0").run();
    refused.expect_code(2);
}
