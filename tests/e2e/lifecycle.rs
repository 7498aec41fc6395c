//! A release's life after its bake: channels that follow promotions and roll back,
//! `bakery releases`, and `prune` that never retires what is in use.

use serde_json::{json, Value};

use crate::support::{Account, TestRecipe};

#[tokio::test(flavor = "multi_thread")]
async fn channels_follow_promotions_and_roll_back_and_releases_show_it_all() {
    let aws = Account::fresh().await;
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
    listed.expect_code(0);
    let listed = listed.json();
    let versions: Vec<&str> = listed["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["1.2.0-rc.1", "1.1.0", "1.0.0"]);
    let listed = &listed["releases"];
    assert_eq!(listed[1]["channels"], json!(["latest", "stable"]));
    assert_eq!(listed[1]["image_id"], image_of(&second).as_str());
    assert_eq!(listed[1]["state"], "available");

    // Roll stable back to 1.0.0: a promote of the older version; SSM keeps the history.
    let rollback = aws
        .bakery()
        .args(["promote", "shop", "1.0.0", "--channel", "stable"])
        .run();
    rollback.expect_code(0);
    rollback.expect_stdout(&format!("(was {})", image_of(&second)));
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

    let past = aws
        .bakery()
        .args(["deprecate", "shop", "1.0.0", "--at", "2020-01-01"])
        .run();
    assert_eq!(past.code, 2, "AWS deprecates from a later time only");
    past.expect_stderr("`2020-01-01` is in the past");
    let deprecated = aws
        .bakery()
        .args(["deprecate", "shop", "1.0.0", "--at", "2030-01-01"])
        .run();
    deprecated.expect_code(0);
    assert_eq!(
        aws.image(&image_of(&first)).await.deprecation_time(),
        Some("2030-01-01T00:00:00.000Z")
    );
    aws.deprecation_passed(&image_of(&first));
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
    missing.expect_stderr(&format!(
        "shop@9.9.9 has no available image in {}",
        aws.region
    ));
    let bad_channel = aws
        .bakery()
        .args(["promote", "shop", "1.0.0", "--channel", "Prod Env"])
        .run();
    assert_eq!(bad_channel.code, 2);
    bad_channel.expect_stderr("invalid channel `Prod Env`");
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_shows_its_plan_then_keeps_channel_targets_and_images_in_use() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("old");
    let mut images = Vec::new();
    for version in ["0.9.0", "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"] {
        let outcome = aws
            .bakery()
            .bake_json(recipe.path(), version)
            .args(["--no-latest"])
            .run();
        outcome.expect_code(0);
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

    aws.settle().await;
    let dry_run = aws.bakery().args(["prune", "old", "--keep", "2"]).run();
    dry_run.expect_code(0);
    dry_run.expect_stdout("run again with --yes to delete 1 release(s)");
    assert_eq!(aws.own_images().await.len(), 6, "a plan changes nothing");

    let pruned = aws
        .bakery()
        .args(["prune", "old", "--keep", "2", "--yes", "--output", "json"])
        .run();
    pruned.expect_code(0);
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
    assert_eq!(
        aws.release_record("old", "0.9.0").await,
        None,
        "and its claim"
    );
    assert!(aws.release_record("old", "1.0.0").await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_misspelt_channel_is_refused_with_the_one_meant_and_a_new_one_is_made() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("spelled");
    aws.bake_ok(
        recipe.path(),
        &["--version", "1.0.0", "--promote", "stable"],
    );
    let promote = |channel: &str, more: &[&str]| {
        aws.bakery()
            .args(["promote", "spelled", "1.0.0", "--channel", channel])
            .args(more)
            .run()
    };

    let misspelt = promote("stabel", &[]);

    misspelt.expect_code(2);
    misspelt.expect_stderr("spelled has no channel `stabel`, but has `stable`");
    misspelt.expect_stderr("did you mean --channel stable?");
    assert_eq!(aws.channel("spelled", "stabel").await, None, "nothing made");
    promote("canary", &[]).expect_code(0);
    assert!(aws.channel("spelled", "canary").await.is_some());
    promote("stabel", &["--new-channel"]).expect_code(0);
    assert!(aws.channel("spelled", "stabel").await.is_some());
}
