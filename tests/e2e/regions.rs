//! One truth in every region: a channel names the same release everywhere, release
//! commands act on every region of the environment, and `latest` is the highest final
//! release — never moved back by a hotfix of an older line.

use std::path::Path;

use serde_json::Value;

use crate::support::{checkout, Account, TestRecipe};

fn bake(aws: &Account, top: &Path, recipe: &TestRecipe, args: &[&str]) -> Value {
    let outcome = aws
        .bakery()
        .current_dir(top)
        .args(["bake", "--output", "json"])
        .args(args)
        .arg_path(recipe.path())
        .run();
    outcome.expect_code(0);
    outcome.json()
}

/// The image a channel names in the account's region.
async fn channel(aws: &Account, role: &str, channel: &str) -> Option<String> {
    let name = format!("/bakery/{role}/channels/{channel}");
    let out = aws.ssm.get_parameter().name(name).send().await.ok()?;
    out.parameter()?.value().map(str::to_string)
}

/// The image of `role@version` in the account's region.
async fn image_of(aws: &Account, role: &str, version: &str) -> String {
    let name = format!("bakery/{role}/{version}/x86_64");
    aws.own_images()
        .await
        .into_iter()
        .find(|i| i.name() == Some(name.as_str()))
        .and_then(|i| i.image_id().map(str::to_string))
        .unwrap_or_else(|| panic!("no {name} in {}", aws.region))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_promote_never_leaves_a_region_of_the_environment_on_another_release() {
    let home = Account::fresh().await;
    let away = home.neighbour().await;
    let top = checkout(&home.region, &away.region);
    let recipe = TestRecipe::new("shop");
    bake(
        &home,
        top.path(),
        &recipe,
        &["--version", "1.0.0", "--env", "two", "--promote", "stable"],
    );
    assert_eq!(
        channel(&away, "shop", "stable").await,
        Some(image_of(&away, "shop", "1.0.0").await)
    );
    bake(
        &home,
        top.path(),
        &recipe,
        &["--version", "1.1.0", "--env", "home"],
    );

    let promote = |extra: &[&str]| {
        home.bakery()
            .current_dir(top.path())
            .args([
                "promote",
                "shop",
                "1.1.0",
                "--channel",
                "stable",
                "--env",
                "two",
            ])
            .args(extra)
            .run()
    };
    let refused = promote(&[]);
    refused.expect_code(2);
    refused.expect_stderr(&format!(
        "shop@1.1.0 is missing in {}, where channel stable exists",
        away.region
    ));
    assert_eq!(
        channel(&away, "shop", "stable").await,
        Some(image_of(&away, "shop", "1.0.0").await),
        "nothing moved"
    );

    promote(&["--distribute"]).expect_code(0);
    assert_eq!(
        channel(&home, "shop", "stable").await,
        Some(image_of(&home, "shop", "1.1.0").await)
    );
    assert_eq!(
        channel(&away, "shop", "stable").await,
        Some(image_of(&away, "shop", "1.1.0").await)
    );
    let listed = home
        .bakery()
        .current_dir(top.path())
        .args(["releases", "shop", "--env", "two"])
        .run();
    listed.expect_code(0);
    assert!(
        !listed.stderr.contains("names different releases"),
        "{}",
        listed.stderr
    );

    // Somebody moves the channel by hand in one region: `releases` says so.
    home.settle().await;
    away.point_channel_by_hand("shop", "stable", &image_of(&away, "shop", "1.0.0").await)
        .await;
    let split = home
        .bakery()
        .current_dir(top.path())
        .args(["releases", "shop", "--env", "two"])
        .run();
    split.expect_stderr("channel stable of shop names different releases across regions");
    split.expect_stderr(&format!("{} 1.0.0", away.region));
    // So does `audit`, for the roles fleets run.
    home.ec2
        .run_instances()
        .image_id(image_of(&home, "shop", "1.1.0").await)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    home.settle().await;
    let audit = home
        .bakery()
        .current_dir(top.path())
        .args(["audit", "--env", "two"])
        .run();
    audit.expect_stderr("channel stable of shop names different releases across regions");
}

#[tokio::test(flavor = "multi_thread")]
async fn distribute_carries_the_channels_of_the_release_into_the_regions_it_adds() {
    let home = Account::fresh().await;
    let away = home.neighbour().await;
    let top = checkout(&home.region, &away.region);
    let recipe = TestRecipe::new("edge");
    bake(
        &home,
        top.path(),
        &recipe,
        &["--version", "2.0.0", "--env", "home", "--promote", "canary"],
    );

    home.bakery()
        .current_dir(top.path())
        .args(["distribute", "edge", "2.0.0", "--env", "two"])
        .run()
        .expect_code(0);

    let copy = image_of(&away, "edge", "2.0.0").await;
    assert_eq!(channel(&away, "edge", "canary").await, Some(copy.clone()));
    assert_eq!(channel(&away, "edge", "latest").await, Some(copy));
}

#[tokio::test(flavor = "multi_thread")]
async fn release_commands_act_on_every_region_of_the_environment() {
    let home = Account::fresh().await;
    let away = home.neighbour().await;
    let top = checkout(&home.region, &away.region);
    let recipe = TestRecipe::new("fleet");
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        bake(
            &home,
            top.path(),
            &recipe,
            &["--version", version, "--env", "two", "--no-latest"],
        );
    }
    let command = |args: &[&str]| {
        home.bakery()
            .current_dir(top.path())
            .args(args)
            .args(["--env", "two"])
            .run()
    };

    let listed = command(&["releases", "fleet", "--output", "json"]);
    listed.expect_code(0);
    let regions: Vec<String> = listed.json()["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["region"].as_str().unwrap().to_string())
        .collect();
    assert!(
        regions.contains(&away.region),
        "releases shows every region: {regions:?}"
    );

    command(&["deprecate", "fleet", "1.0.0", "--at", "2030-01-01"]).expect_code(0);
    for aws in [&home, &away] {
        let image = aws.image(&image_of(aws, "fleet", "1.0.0").await).await;
        assert!(
            image.deprecation_time().is_some(),
            "deprecated in {}",
            aws.region
        );
    }

    // A fleet in the second region is pinned to 1.1.0 by a channel of its own.
    away.point_channel_by_hand("fleet", "pinned", &image_of(&away, "fleet", "1.1.0").await)
        .await;
    command(&["prune", "fleet", "--keep", "1", "--yes"]).expect_code(0);
    for aws in [&home, &away] {
        let names = aws.own_image_names().await;
        assert!(
            !names.contains(&"bakery/fleet/1.0.0/x86_64".to_string()),
            "{}: {names:?}",
            aws.region
        );
        assert!(
            names.contains(&"bakery/fleet/1.1.0/x86_64".to_string()),
            "kept everywhere, since a channel names it in one region: {}",
            aws.region
        );
        assert!(
            aws.release_record("fleet", "1.0.0").await.is_none(),
            "{}",
            aws.region
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn latest_is_the_highest_final_release_and_a_hotfix_never_moves_it_back() {
    let home = Account::fresh().await;
    let away = home.neighbour().await;
    let top = checkout(&home.region, &away.region);
    let recipe = TestRecipe::new("api");
    bake(
        &home,
        top.path(),
        &recipe,
        &["--version", "2.4.0", "--env", "two"],
    );

    let hotfix = bake(
        &home,
        top.path(),
        &recipe,
        &["--version", "1.0.4", "--env", "two"],
    );

    assert!(
        !hotfix["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "latest"),
        "{}",
        hotfix["channels"]
    );
    for aws in [&home, &away] {
        assert_eq!(
            channel(aws, "api", "latest").await,
            Some(image_of(aws, "api", "2.4.0").await),
            "latest stays on 2.4.0 in {}",
            aws.region
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_and_its_channels_are_one_thing_whatever_the_environment() {
    let home = Account::fresh().await;
    let away = home.neighbour().await;
    let top = checkout(&home.region, &away.region);
    let recipe = TestRecipe::new("one");
    let run = |args: &[&str]| home.bakery().current_dir(top.path()).args(args).run();
    // Production (`two`) has stable in both regions; staging (`home`) bakes 1.1.0.
    let first = bake(
        &home,
        top.path(),
        &recipe,
        &["--version", "1.0.0", "--env", "two", "--promote", "stable"],
    );
    let first_bake = first["bake_id"].as_str().unwrap();
    let staged = home
        .bakery()
        .current_dir(top.path())
        .bake(recipe.path(), "1.1.0")
        .args(["--env", "home"])
        .run();
    staged.expect_code(0);
    staged.expect_stderr(&format!(
        "channel latest stays on an older release in {}, which one@1.1.0 is not in",
        away.region
    ));
    let stable_on = |version: &'static str| {
        let (home, away) = (&home, &away);
        async move {
            for aws in [home, away] {
                assert_eq!(
                    channel(aws, "one", "stable").await,
                    Some(image_of(aws, "one", version).await),
                    "stable in {}",
                    aws.region
                );
            }
        }
    };

    // From staging, the promote sees production's region too, and will not split it.
    let refused = run(&[
        "promote",
        "one",
        "1.1.0",
        "--channel",
        "stable",
        "--env",
        "home",
    ]);
    refused.expect_code(2);
    refused.expect_stderr(&format!("one@1.1.0 is missing in {}", away.region));
    stable_on("1.0.0").await;

    // Once 1.1.0 is in both, a promote narrowed to one region is refused too.
    run(&["distribute", "one", "1.1.0", "--env", "two"]).expect_code(0);
    let narrowed = run(&[
        "promote",
        "one",
        "1.1.0",
        "--channel",
        "stable",
        "--regions",
        &home.region,
    ]);
    narrowed.expect_code(2);
    narrowed.expect_stderr(&format!("left out by --regions of, {}", away.region));
    stable_on("1.0.0").await;

    // Staging's promote moves it everywhere.
    run(&[
        "promote",
        "one",
        "1.1.0",
        "--channel",
        "stable",
        "--env",
        "home",
    ])
    .expect_code(0);
    stable_on("1.1.0").await;

    // Staging's prune retires 1.0.0 in both regions, image, snapshot and record.
    run(&["prune", "one", "--keep", "1", "--env", "home", "--yes"]).expect_code(0);
    for aws in [&home, &away] {
        let names = aws.own_image_names().await;
        assert_eq!(names, ["bakery/one/1.1.0/x86_64"], "{}", aws.region);
        assert!(
            aws.release_record("one", "1.0.0").await.is_none(),
            "{}",
            aws.region
        );
        assert!(
            aws.snapshots_of_bake(first_bake).await.is_empty(),
            "{}: 1.0.0's snapshots went with it",
            aws.region
        );
    }

    // And deprecates 1.1.0 in both.
    run(&[
        "deprecate",
        "one",
        "1.1.0",
        "--at",
        "2030-01-01",
        "--env",
        "home",
    ])
    .expect_code(0);
    for aws in [&home, &away] {
        let image = aws.image(&image_of(aws, "one", "1.1.0").await).await;
        assert_eq!(
            image.deprecation_time(),
            Some("2030-01-01T00:00:00.000Z"),
            "{}",
            aws.region
        );
    }
}
