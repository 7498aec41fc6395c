//! Release versions and claims: `--bump`, `--pre`, and the SSM parameter that makes a
//! release belong to exactly one bake.

use serde_json::{json, Value};

use crate::support::{Account, TestRecipe};

async fn claim(aws: &Account, role: &str, version: &str) -> Option<Value> {
    let name = format!("/bakery/{role}/releases/{version}");
    let out = aws.ssm.get_parameter().name(name).send().await.ok()?;
    Some(serde_json::from_str(out.parameter()?.value()?).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn bumps_follow_the_newest_release_and_pre_releases_count_up() {
    let aws = Account::in_region("eu-south-1").await;
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
    let aws = Account::in_region("eu-south-2").await;
    let recipe = TestRecipe::new("svc");

    let both = aws
        .bakery()
        .args(["bake", "--version", "1.0.0", "--bump", "patch"])
        .arg_path(recipe.path())
        .run();
    assert_eq!(both.code, 2);
    assert!(both.stderr.contains("--bump"), "{}", both.stderr);

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
    assert!(
        bad_pre.stderr.contains("invalid --pre `r.c`"),
        "{}",
        bad_pre.stderr
    );
    assert!(aws.instances().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_claim_becomes_the_release_record_and_a_failed_bake_gives_it_back() {
    let aws = Account::in_region("me-central-1").await;
    aws.emulate(
        json!({ "command_outcomes": [{"match": "exit 4", "status": "Failed", "exit_code": 4}] }),
    );
    let good = TestRecipe::new("db");

    let baked = aws.bakery().bake_json(good.path(), "1.0.0").run();

    assert_eq!(baked.code, 0, "{}", baked.stderr);
    let result = baked.json();
    let record = claim(&aws, "db", "1.0.0")
        .await
        .expect("the claim stays as the release's record");
    assert_eq!(record["state"], "released");
    assert_eq!(record["bake_id"], result["bake_id"]);
    assert_eq!(
        record["images"]["me-central-1"],
        result["images"][0]["image_id"]
    );

    let broken = TestRecipe::new("db").step("boom", "#!/bin/sh\nexit 4\n");
    let failed = aws.bakery().bake_json(broken.path(), "1.1.0").run();
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_eq!(
        claim(&aws, "db", "1.1.0").await,
        None,
        "a failed bake removes its claim"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_claimed_by_another_bake_is_refused_naming_that_bake() {
    let aws = Account::in_region("il-central-1").await;
    let holder = json!({"bake_id": "20261122t010000-abcdef", "state": "baking", "started_at": "2026-11-22T01:00:00Z"});
    aws.ssm
        .put_parameter()
        .name("/bakery/cache/releases/3.0.0")
        .value(holder.to_string())
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    let recipe = TestRecipe::new("cache");

    let bake = aws.bakery().bake_json(recipe.path(), "3.0.0").run();

    assert_eq!(bake.code, 2, "{}", bake.stderr);
    let error = bake.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("cache@3.0.0 is claimed in il-central-1 by bake 20261122t010000-abcdef (baking, since 2026-11-22T01:00:00Z)"),
        "{error}"
    );
    assert!(aws.instances().await.is_empty(), "nothing launched");
    assert_eq!(
        claim(&aws, "cache", "3.0.0").await.unwrap(),
        holder,
        "the other bake's claim is untouched"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_bumps_end_with_two_versions_never_one_version_twice() {
    let aws = Account::in_region("me-south-1").await;
    aws.emulate(json!({ "instance_pending_seconds": 1 }));
    let recipe = TestRecipe::new("race");
    let first = aws.bakery().bake_json(recipe.path(), "1.0.0").run();
    assert_eq!(first.code, 0, "{}", first.stderr);

    let bumps: Vec<_> = (0..2)
        .map(|_| {
            aws.bakery()
                .args(["bake", "--bump", "patch", "--output", "json"])
                .arg_path(recipe.path())
                .spawn()
        })
        .collect();
    let outcomes: Vec<_> = bumps.into_iter().map(|b| b.finish()).collect();

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
async fn channels_follow_promotions_and_roll_back_and_releases_show_it_all() {
    let aws = Account::in_region("ap-northeast-2").await;
    let recipe = TestRecipe::new("shop");
    let bake = |args: &[&str]| aws.bake_ok(recipe.path(), args);
    let first = bake(&["--version", "1.0.0"]);
    let second = bake(&["--version", "1.1.0", "--promote", "stable"]);
    let candidate = bake(&["--version", "1.2.0-rc.1"]);
    assert_eq!(second["channels"], json!(["latest", "stable"]));
    assert_eq!(
        candidate["channels"],
        json!([]),
        "pre-releases leave latest alone"
    );
    let image_of = |result: &Value| {
        result["images"][0]["image_id"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let listed = aws
        .bakery()
        .args(["releases", "shop", "--output", "json"])
        .run();
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let listed = listed.json();
    let versions: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["1.2.0-rc.1", "1.1.0", "1.0.0"]);
    assert_eq!(listed[1]["channels"], json!(["latest", "stable"]));
    assert_eq!(listed[1]["image_id"], image_of(&second).as_str());
    assert_eq!(listed[1]["state"], "available");

    // Roll stable back to 1.0.0: a promote of the older version; SSM keeps the history.
    let rollback = aws
        .bakery()
        .args(["promote", "shop", "1.0.0", "--channel", "stable"])
        .run();
    assert_eq!(rollback.code, 0, "{}", rollback.stderr);
    assert!(
        rollback
            .stdout
            .contains(&format!("(was {})", image_of(&second))),
        "{}",
        rollback.stdout
    );
    let stable = aws
        .ssm
        .get_parameter()
        .name("/bakery/shop/channels/stable")
        .send()
        .await
        .unwrap();
    let stable = stable.parameter().unwrap();
    assert_eq!(stable.value(), Some(image_of(&first).as_str()));
    assert_eq!(stable.data_type(), Some("aws:ec2:image"));
    let history = aws
        .ssm
        .get_parameter_history()
        .name("/bakery/shop/channels/stable")
        .send()
        .await
        .unwrap();
    assert_eq!(history.parameters().len(), 2);

    let deprecated = aws
        .bakery()
        .args(["deprecate", "shop", "1.0.0", "--at", "2020-01-01"])
        .run();
    assert_eq!(deprecated.code, 0, "{}", deprecated.stderr);
    let table = aws.bakery().args(["releases", "shop"]).run();
    assert!(table.stdout.starts_with("VERSION"), "{}", table.stdout);
    let line = table
        .stdout
        .lines()
        .find(|l| l.starts_with("1.0.0 "))
        .unwrap()
        .to_string();
    assert!(
        line.contains("deprecated") && line.contains("stable"),
        "{line}"
    );

    let missing = aws
        .bakery()
        .args(["promote", "shop", "9.9.9", "--channel", "stable"])
        .run();
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("shop@9.9.9 has no available image in ap-northeast-2"),
        "{}",
        missing.stderr
    );
    let bad_channel = aws
        .bakery()
        .args(["promote", "shop", "1.0.0", "--channel", "Prod Env"])
        .run();
    assert_eq!(bad_channel.code, 2);
    assert!(
        bad_channel.stderr.contains("invalid channel `Prod Env`"),
        "{}",
        bad_channel.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_shows_its_plan_then_keeps_channel_targets_and_images_in_use() {
    let aws = Account::in_region("ap-northeast-3").await;
    let recipe = TestRecipe::new("old");
    let mut images = Vec::new();
    for version in ["0.9.0", "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"] {
        let outcome = aws
            .bakery()
            .bake_json(recipe.path(), version)
            .args(["--no-latest"])
            .run();
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        images.push(outcome.json()["images"][0].clone());
    }
    let image = |i: usize| images[i]["image_id"].as_str().unwrap().to_string();
    // 1.1.0 is on a channel, 1.2.0 runs a fleet, 1.0.0 is in a launch template.
    assert_eq!(
        aws.bakery()
            .args(["promote", "old", "1.1.0", "--channel", "stable"])
            .run()
            .code,
        0
    );
    let fleet = aws
        .ec2
        .run_instances()
        .image_id(image(3))
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let fleet_instance = fleet.instances()[0].instance_id().unwrap().to_string();
    let template = aws
        .ec2
        .create_launch_template()
        .launch_template_name("old-fleet")
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id(image(1))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let template_id = template
        .launch_template()
        .unwrap()
        .launch_template_id()
        .unwrap()
        .to_string();

    let dry_run = aws.bakery().args(["prune", "old", "--keep", "2"]).run();
    assert_eq!(dry_run.code, 0, "{}", dry_run.stderr);
    assert!(
        dry_run
            .stdout
            .contains("run again with --yes to delete 1 release(s)"),
        "{}",
        dry_run.stdout
    );
    assert_eq!(aws.own_images().await.len(), 6, "a plan changes nothing");

    let pruned = aws
        .bakery()
        .args(["prune", "old", "--keep", "2", "--yes", "--output", "json"])
        .run();
    assert_eq!(pruned.code, 0, "{}", pruned.stderr);
    let plan = pruned.json();
    let verdicts: Vec<(&str, &str, &str)> = plan["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["version"].as_str().unwrap(),
                r["action"].as_str().unwrap(),
                r["reason"].as_str().unwrap(),
            )
        })
        .collect();
    let used_by_fleet = format!("used by {fleet_instance}");
    let used_by_template = format!("used by {template_id}");
    assert_eq!(
        verdicts,
        [
            ("1.4.0", "keep", "one of the newest 2"),
            ("1.3.0", "keep", "one of the newest 2"),
            ("1.2.0", "keep", used_by_fleet.as_str()),
            ("1.1.0", "keep", "channel stable points to it"),
            ("1.0.0", "keep", used_by_template.as_str()),
            ("0.9.0", "delete", "older than the newest kept releases"),
        ]
    );

    let left: Vec<String> = aws
        .own_images()
        .await
        .iter()
        .map(|i| i.image_id().unwrap().to_string())
        .collect();
    assert_eq!(left.len(), 5);
    assert!(!left.contains(&image(0)), "0.9.0 is gone");
    let snapshot = images[0]["snapshot_ids"][0].as_str().unwrap();
    let snapshots = aws
        .ec2
        .describe_snapshots()
        .owner_ids("self")
        .send()
        .await
        .unwrap();
    assert!(
        snapshots
            .snapshots()
            .iter()
            .all(|s| s.snapshot_id() != Some(snapshot)),
        "and its snapshot"
    );
    assert_eq!(claim(&aws, "old", "0.9.0").await, None, "and its claim");
    assert!(claim(&aws, "old", "1.0.0").await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn release_commands_refuse_bad_input_with_exit_2() {
    let aws = Account::in_region("ca-west-1").await;
    let cases: [(&[&str], &str); 5] = [
        (
            &["releases", "Not A Role"],
            "invalid role name `Not A Role`",
        ),
        (
            &["promote", "base", "1.0", "--channel", "stable"],
            "invalid --version `1.0`",
        ),
        (
            &["deprecate", "base", "1.0.0", "--at", "next tuesday"],
            "invalid date `next tuesday`",
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
