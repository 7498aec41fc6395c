//! AWS having a bad day: a share of EC2 and SSM calls throttled or answered 503 while
//! several bakes run in one `bake --all` still gives each release exactly one image and
//! leaves nothing; a fault that stays fails the bake within its deadline, cleaned up.

use serde_json::json;

use crate::recipe::{recipe_folder, AL2023};
use crate::support::{checkout, nothing_but_releases_left, Account, TestRecipe};

#[tokio::test(flavor = "multi_thread")]
async fn a_third_of_ec2_and_ssm_calls_failing_still_gives_one_image_per_release() {
    let aws = Account::fresh().await;
    // Drawn per call from a seeded generator: about 30 % of EC2 calls throttled and
    // 30 % of SSM calls answered 503, for as long as the test runs.
    aws.emulate(json!({ "faults": [
        { "action": "*", "service": "ec2", "probability": 0.3, "times": null,
          "status": 400, "code": "RequestLimitExceeded", "message": "Request limit exceeded." },
        { "action": "*", "service": "ssm", "probability": 0.3, "times": null,
          "status": 503, "code": "ServiceUnavailable", "message": "Service Unavailable" },
    ] }));
    let roles = ["north", "south", "east", "west"];
    let folder = recipe_folder(&roles.map(|role| (role, AL2023)));

    let outcome = aws.bakery().bake_all_json(folder.path(), "1.0.0").run();

    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    aws.emulate(json!({ "clear_faults": true }));
    let names = aws.own_image_names().await;
    for role in roles {
        let record = aws.release_record(role, "1.0.0").await;
        assert_eq!(record.unwrap()["state"], "released", "{role}");
        let images = names
            .iter()
            .filter(|n| n.starts_with(&format!("bakery/{role}/")));
        assert_eq!(images.count(), 1, "{role}: {names:?}");
        nothing_but_releases_left(role, &aws, &[&aws]).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_that_stays_fails_the_bake_and_cleans_up() {
    let aws = Account::fresh().await;
    // Every CreateImage refused, for good: the bake fails there, after the builder
    // exists, and must remove it.
    aws.emulate(json!({ "faults": [
        { "action": "CreateImage", "times": null, "status": 503,
          "code": "Unavailable", "message": "The service is unavailable." },
    ] }));
    // moto has no public parameters in some regions: a base image of its own.
    let recipe = TestRecipe::new("stuck")
        .with_base("image = \"ami-1e749f67\"")
        .step("work", "#!/bin/sh\necho working\n");

    let bake = aws.bakery().bake_json(recipe.path(), "1.0.0").run();

    bake.expect_code(1);
    let result = bake.json();
    assert_eq!(result["failed_step"], "create-image");
    // The service's last answer, or the call's own deadline when the retries outlast it.
    let error = result["error"].as_str().unwrap();
    assert!(
        error.contains("Unavailable") || error.contains("after 55s"),
        "{result}"
    );
    let step = result["steps"].as_array().unwrap().last().unwrap().clone();
    assert!(step["seconds"].as_f64().unwrap() <= 56.0, "{step}");
    nothing_but_releases_left("stuck", &aws, &[&aws]).await;
    assert!(aws.release_record("stuck", "1.0.0").await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn eventual_consistency_in_two_regions_and_two_architectures_still_gives_each_release() {
    let home = Account::fresh().await;
    let away = home.neighbour().await;
    // For 3 s after each create, a Describe naming the new instance, image or group
    // answers that it does not exist, and listings leave it out (as EC2 may).
    for aws in [&home, &away] {
        aws.emulate(json!({
            "eventual_consistency_seconds": 3,
            "instance_pending_seconds": 1, "image_pending_seconds": 2
        }));
    }
    let top = checkout(&home.region, &away.region);
    let folder = recipe_folder(&[("core", AL2023), ("edge", AL2023)]);
    let core = folder.path().join("core/recipe.toml");
    let text = std::fs::read_to_string(&core).unwrap();
    std::fs::write(&core, crate::recipe::both_architectures(&text)).unwrap();

    let outcome = home
        .bakery()
        .current_dir(top.path())
        .bake_all_json(folder.path(), "1.0.0")
        .args(["--env", "two"])
        .run();

    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    for aws in [&home, &away] {
        let names = aws.own_image_names().await;
        let expected = [
            "bakery/core/1.0.0/arm64",
            "bakery/core/1.0.0/x86_64",
            "bakery/edge/1.0.0/x86_64",
        ];
        let mut names = names.clone();
        names.sort();
        assert_eq!(
            names, expected,
            "{}: one image per release and architecture",
            aws.region
        );
    }
    for role in ["core", "edge"] {
        let record = home.release_record(role, "1.0.0").await.unwrap();
        assert_eq!(record["state"], "released", "{role}");
        nothing_but_releases_left(role, &home, &[&home, &away]).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn twelve_bakes_at_once_under_ec2_s_request_meter_each_make_their_release() {
    let aws = Account::fresh().await;
    // EC2's token buckets as an account has them: RunInstances 5 then 2 a second,
    // Describe* 100 then 20, other mutating calls 50 then 5; past them, throttled.
    aws.emulate(json!({
        "request_meter": true,
        "instance_pending_seconds": 1, "image_pending_seconds": 2
    }));
    let roles: Vec<String> = (1..=12).map(|n| format!("r{n:02}")).collect();
    let recipes: Vec<(&str, &str)> = roles
        .iter()
        .map(|role| (role.as_str(), "image = \"ami-1e749f67\""))
        .collect();
    let folder = recipe_folder(&recipes);

    let outcome = aws
        .bakery()
        .bake_all_json(folder.path(), "1.0.0")
        .args(["--jobs", "12"])
        .run();

    aws.emulate(json!({ "request_meter": false }));
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    let names = aws.own_image_names().await;
    for role in &roles {
        let images = names
            .iter()
            .filter(|n| n.starts_with(&format!("bakery/{role}/")));
        assert_eq!(images.count(), 1, "{role}: {names:?}");
        nothing_but_releases_left(role, &aws, &[&aws]).await;
    }
}
