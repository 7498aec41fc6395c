//! Distribution: a release copied to other regions with its tags, and a partial
//! failure completed later by `bakery distribute`.

use serde_json::{json, Value};

use crate::support::{tags, Account, TestRecipe};

#[tokio::test(flavor = "multi_thread")]
async fn a_release_is_copied_with_its_tags_and_a_failed_region_is_completed_later() {
    let home = Account::fresh().await;
    let far = home.neighbour().await;
    let near = home.neighbour().await;
    home.emulate(json!({ "image_pending_seconds": 1 }));
    let recipe = TestRecipe::new("edge");
    let copies = format!("{},{}", far.region, near.region);

    let baked = home.bake_ok(
        recipe.path(),
        &[
            "--version",
            "1.0.0",
            "--copy-to",
            &copies,
            "--kms-key",
            &format!("{}=alias/ebs-us", near.region),
            "--kms-key",
            &format!("{}=alias/ebs-ap", far.region),
        ],
    );

    assert_eq!(baked["images"].as_array().unwrap().len(), 3);
    let source = home
        .image(baked["images"][0]["image_id"].as_str().unwrap())
        .await;
    for account in [&far, &near] {
        let outcome = account.region.as_str();
        let region = baked["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["region"] == outcome)
            .unwrap();
        assert_eq!(region["status"], "copied");
        let copy = account.image(region["image_id"].as_str().unwrap()).await;
        assert_eq!(copy.name(), source.name());
        assert_eq!(
            tags(copy.tags()),
            tags(source.tags()),
            "tags copied explicitly in {outcome}"
        );
        assert!(copy.deprecation_time().is_some());
        let snapshot = copy.block_device_mappings()[0]
            .ebs()
            .unwrap()
            .snapshot_id()
            .unwrap();
        assert_eq!(account.snapshot_tags(snapshot).await, tags(source.tags()));
        let encryption = account
            .ec2
            .describe_snapshots()
            .snapshot_ids(snapshot)
            .send()
            .await
            .unwrap();
        let encryption = &encryption.snapshots()[0];
        assert_eq!(encryption.encrypted(), Some(true), "encrypted in {outcome}");
        let wanted = if outcome == near.region {
            "alias/ebs-us"
        } else {
            "alias/ebs-ap"
        };
        assert_eq!(
            encryption.kms_key_id(),
            Some(wanted),
            "the region's own key"
        );
    }
    let record = home.release_record("edge", "1.0.0").await.unwrap();
    assert_eq!(record["images"].as_object().unwrap().len(), 3);
    // The release record and its channels exist in every region of the release.
    let copy_in_near = baked["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == near.region)
        .unwrap()["image_id"]
        .clone();
    assert_eq!(
        near.release_record("edge", "1.0.0").await.unwrap()["images"][&near.region],
        copy_in_near
    );
    let latest = near
        .ssm
        .get_parameter()
        .name("/bakery/edge/channels/latest")
        .send()
        .await
        .unwrap();
    assert_eq!(latest.parameter().unwrap().value(), copy_in_near.as_str());

    // One region refuses the copy: the others keep theirs, the bake says what is missing.
    far.emulate(json!({ "faults": [{"action": "CopyImage", "times": 1, "status": 403,
                                    "code": "UnauthorizedOperation", "message": "not allowed here"}] }));
    let partial = home
        .bakery()
        .bake_json(recipe.path(), "1.1.0")
        .args(["--copy-to", &copies])
        .run();
    partial.expect_code(5);
    let result = partial.json();
    assert_eq!(result["failed_step"], "distribute");
    assert_eq!(
        result["unfinished"],
        json!(["distribute", "promote"]),
        "released, but neither every copy nor latest"
    );
    assert_eq!(
        result["to_complete"],
        json!([
            format!("bakery distribute edge 1.1.0 --regions {copies}"),
            format!(
                "bakery promote edge 1.1.0 --channel latest --regions {},{copies}",
                home.region
            )
        ])
    );
    assert!(
        result["error"]
            .as_str()
            .unwrap()
            .contains("bakery distribute edge 1.1.0"),
        "{}",
        result["error"]
    );
    let status = |r: &Value, region: &str| {
        r.as_array()
            .unwrap()
            .iter()
            .find(|o| o["region"] == region)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status(&result["regions"], &far.region), "failed");
    assert_eq!(status(&result["regions"], &near.region), "copied");
    assert_eq!(result["images"].as_array().unwrap().len(), 2);

    // `stable` names 1.1.0 at home only: the copies take it wherever they are.
    home.bakery()
        .args(["promote", "edge", "1.1.0", "--channel", "stable"])
        .args(["--regions", &home.region])
        .run()
        .expect_code(0);
    let completed = home
        .bakery()
        .args([
            "distribute",
            "edge",
            "1.1.0",
            "--copy-to",
            &copies,
            "--output",
            "json",
        ])
        .run();
    completed.expect_code(0);
    let outcomes = completed.json()["regions"].clone();
    assert_eq!(status(&outcomes, &far.region), "copied");
    assert_eq!(
        status(&outcomes, &near.region),
        "present",
        "a region that has the release is left alone"
    );
    for outcome in outcomes.as_array().unwrap() {
        assert_eq!(outcome["channels"], json!(["stable"]), "{outcome}");
    }
    let stable_versions = || async {
        near.ssm
            .get_parameter()
            .name("/bakery/edge/channels/stable")
            .send()
            .await
            .unwrap()
            .parameter()
            .unwrap()
            .version()
    };
    let stable_before = stable_versions().await;
    let record = home.release_record("edge", "1.1.0").await.unwrap();
    assert_eq!(record["images"].as_object().unwrap().len(), 3);
    assert_eq!(
        far.release_record("edge", "1.1.0").await.unwrap(),
        record,
        "and in the region just completed"
    );
    // The environment's regions are the default: everything is there already.
    let config = tempfile::tempdir().unwrap();
    std::fs::write(
        config.path().join("bakery.toml"),
        format!(
            "[environments.edge]\nregions = [\"{}\", \"{}\", \"{}\"]\n",
            home.region, far.region, near.region
        ),
    )
    .unwrap();
    let again = home
        .bakery()
        .current_dir(config.path())
        .args([
            "distribute",
            "edge",
            "1.1.0",
            "--env",
            "edge",
            "--output",
            "json",
        ])
        .run();
    again.expect_code(0);
    let again = again.json()["regions"].clone();
    assert_eq!(status(&again, &far.region), "present");
    assert_eq!(status(&again, &near.region), "present");
    assert!(
        again
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o.get("channels").is_none()),
        "no channel moved: {again}"
    );
    assert_eq!(
        stable_versions().await,
        stable_before,
        "a channel that names the copy already gets no new version"
    );

    // A copy whose bakery died after CopyImage answered has no tags: a re-run adds them.
    let copy_id = again
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["region"] == near.region)
        .unwrap()["image_id"]
        .as_str()
        .unwrap()
        .to_string();
    near.ec2
        .delete_tags()
        .resources(&copy_id)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("bakery:version")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let repaired = home
        .bakery()
        .args(["distribute", "edge", "1.1.0", "--regions", &near.region])
        .run();
    repaired.expect_code(0);
    assert_eq!(
        tags(near.image(&copy_id).await.tags())["bakery:version"],
        "1.1.0"
    );

    let names: Vec<String> = near
        .own_images()
        .await
        .iter()
        .map(|i| i.name().unwrap().to_string())
        .collect();
    assert_eq!(
        names
            .iter()
            .filter(|n| n.as_str() == "bakery/edge/1.1.0/x86_64")
            .count(),
        1,
        "no second copy"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signal_during_distribute_removes_the_copies_not_yet_available() {
    let home = Account::fresh().await;
    let far = home.neighbour().await;
    let recipe = TestRecipe::new("halfway");
    home.bake_ok(recipe.path(), &["--version", "1.0.0"]);
    far.emulate(json!({ "image_pending_seconds": 600 }));

    let distribute = home
        .bakery()
        .args(["distribute", "halfway", "1.0.0", "--regions", &far.region])
        .spawn();
    far.until_images(1).await;
    distribute.signal("TERM");
    let distribute = distribute.finish();

    distribute.expect_code(130);
    distribute.expect_stderr("SIGTERM received");
    far.settle().await;
    assert!(far.own_images().await.is_empty(), "{}", distribute.stderr);
    let record = home.release_record("halfway", "1.0.0").await.unwrap();
    assert!(
        record["images"].get(&far.region).is_none(),
        "the record names no copy that is gone: {record}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_with_a_disabled_architecture_is_not_distributed_as_fewer() {
    let home = Account::fresh().await;
    let far = home.neighbour().await;
    let recipe = TestRecipe::new("both").with_both_architectures();
    let baked = home.bake_ok(recipe.path(), &["--version", "1.0.0"]);
    let x86 = baked["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["arch"] == "x86_64")
        .unwrap()["image_id"]
        .as_str()
        .unwrap()
        .to_string();
    home.ec2
        .disable_image()
        .image_id(&x86)
        .send()
        .await
        .unwrap();

    let distribute = home
        .bakery()
        .args(["distribute", "both", "1.0.0", "--regions", &far.region])
        .run();

    distribute.expect_code(2);
    distribute.expect_stderr(&format!("x86_64 image {x86}"));
    distribute.expect_stderr("is disabled");
    assert!(
        far.own_images().await.is_empty(),
        "no copy of the arm64 one alone"
    );
}
