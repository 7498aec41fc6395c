//! Lost answers: AWS carries a call out and its answer never arrives (a timeout, a
//! dropped connection). Every create of the chain survives it — one release, one of
//! everything, nothing leaked — and `bakery cleanup` afterwards takes nothing, above
//! all not the release.

use serde_json::{json, Value};

use crate::support::{Account, TestRecipe};

/// The call takes effect; its answer is a 503, which the caller retries.
fn lost(action: &str) -> Value {
    json!({ "action": action, "times": 1, "after": true, "status": 503, "code": "ServiceUnavailable",
            "message": "Service Unavailable" })
}

#[tokio::test(flavor = "multi_thread")]
async fn every_create_of_the_chain_survives_a_lost_answer() {
    let home = Account::fresh().await;
    let away = home.neighbour().await;
    let recipe = TestRecipe::new("steady").step("work", "#!/bin/sh\necho work\n");
    let top = tempfile::tempdir().unwrap();
    std::fs::write(
        top.path().join("bakery.toml"),
        format!(
            "[environments.two]\nregions = [\"{}\", \"{}\"]\n",
            home.region, away.region
        ),
    )
    .unwrap();
    // The first PutParameter of the bake is its claim; then the group, the builder,
    // the first command, the image; in the other region, the copy and the record.
    // And what a first call made stays invisible to a Describe for two seconds, as
    // EC2 is eventually consistent: the retry's "duplicate" must still find it.
    home.emulate(json!({ "eventual_consistency_seconds": 2, "faults": [
        lost("PutParameter"), lost("CreateSecurityGroup"), lost("RunInstances"),
        lost("SendCommand"), lost("CreateImage")
    ]}));
    away.emulate(json!({ "eventual_consistency_seconds": 2,
                         "faults": [lost("CopyImage"), lost("PutParameter")] }));

    let bake = home
        .bakery()
        .current_dir(top.path())
        .bake_json(recipe.path(), "1.0.0")
        .args(["--env", "two"])
        .run();

    bake.expect_code(0);
    let result = bake.json();
    assert_eq!(
        result["version"], "1.0.0",
        "its own claim, not the next version"
    );
    assert_eq!(home.instances().await.len(), 1, "one builder");
    assert_eq!(home.own_images().await.len(), 1, "one image");
    assert_eq!(away.own_images().await.len(), 1, "one copy");
    assert!(
        home.extra_security_groups().await.is_empty(),
        "its group is gone"
    );
    let builder = result["builder_instance_id"].as_str().unwrap();
    assert_eq!(
        home.commands_sent_to(builder).await.len(),
        3,
        "each step ran once: work, firstboot, generalize"
    );
    let record = home.release_record("steady", "1.0.0").await.unwrap();
    assert_eq!(record["state"], "released");
    assert_eq!(record["bake_id"], result["bake_id"]);
    assert_eq!(
        away.release_record("steady", "1.0.0").await.unwrap()["state"],
        "released"
    );

    let cleanup = home
        .bakery()
        .current_dir(top.path())
        .args(["cleanup", "--yes", "--env", "two"])
        .run();
    cleanup.expect_code(0);
    cleanup.expect_stdout("nothing left behind");
    assert_eq!(home.own_images().await.len(), 1, "the release stays");
    assert_eq!(away.own_images().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_never_takes_a_released_image_whatever_its_claims_say() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("kept").step("work", "#!/bin/sh\necho work\n");
    let baked = aws.bake_ok(recipe.path(), &["--version", "1.0.0"]);
    let image = baked["images"][0]["image_id"].as_str().unwrap().to_string();
    // A claim left `baking` by a dead bake of the same release, on this host: the
    // trap a lost claim answer used to set.
    let stale = json!({
        "bake_id": baked["bake_id"], "release": "kept@1.0.0", "state": "baking",
        "started_at": "2026-11-01T00:00:00Z", "host": "elsewhere", "pid": 1,
        "deadline": "2026-11-01T01:00:00Z"
    });
    aws.write_claim("kept", "1.0.1", &stale).await;

    let cleanup = aws.bakery().args(["cleanup", "--yes"]).run();

    cleanup.expect_code(0);
    assert!(
        aws.own_images()
            .await
            .iter()
            .any(|i| i.image_id() == Some(&image)),
        "the released image stays:\n{}",
        cleanup.stdout
    );
    assert!(
        aws.release_record("kept", "1.0.1").await.is_none(),
        "the dead claim goes"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn many_bumped_bakes_at_once_each_take_the_next_free_version() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("crowd");
    let mut versions: Vec<String> = aws
        .bumped_bakes_at_once(recipe.path(), 8)
        .into_iter()
        .map(|outcome| {
            outcome.expect_code(0);
            outcome.json()["version"].as_str().unwrap().to_string()
        })
        .collect();
    versions.sort_by_key(|v| v.rsplit('.').next().unwrap().parse::<u32>().unwrap());
    assert_eq!(
        versions,
        ["0.0.1", "0.0.2", "0.0.3", "0.0.4", "0.0.5", "0.0.6", "0.0.7", "0.0.8"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_whose_answers_are_all_lost_is_removed_and_a_retry_takes_the_version() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("unheard");
    // Every PutParameter is carried out and its answer lost: the claim is made, and
    // the bake never hears of it.
    aws.emulate(
        json!({ "faults": [{ "action": "PutParameter", "times": null, "after": true,
        "status": 503, "code": "ServiceUnavailable", "message": "Service Unavailable" }] }),
    );

    let failed = aws.bakery().bake_json(recipe.path(), "1.0.0").run();

    aws.emulate(json!({ "clear_faults": true }));
    failed.expect_code(1);
    assert_eq!(failed.json()["leaked"], json!([]), "{}", failed.stderr);
    assert!(
        aws.release_record("unheard", "1.0.0").await.is_none(),
        "the claim it made is gone"
    );
    assert!(aws.live_instances().await.is_empty());

    let retry = aws.bake_ok(recipe.path(), &["--version", "1.0.0"]);
    assert_eq!(retry["version"], "1.0.0", "the version is free again");
}
