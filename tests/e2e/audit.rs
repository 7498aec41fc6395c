//! `bakery audit`: which fleets run what, and which break the age policy.

use crate::support::{recipes_folder_with, Account, TestRecipe};

#[tokio::test(flavor = "multi_thread")]
async fn audit_flags_old_and_foreign_fleets_and_exits_4() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("fleet");
    let old = aws.bake_ok(
        recipe.path(),
        &["--version", "1.0.0", "--promote", "stable"],
    );
    // 1.0.0 was baked half a year ago (its record says so; its image could be a late
    // copy made today): its age is the release's.
    let mut record = aws.release_record("fleet", "1.0.0").await.unwrap();
    record["started_at"] = "2026-05-01T00:00:00Z".into();
    aws.write_claim("fleet", "1.0.0", &record).await;
    let current = aws.bake_ok(recipe.path(), &["--version", "1.1.0"]);
    let image_of = |r: &serde_json::Value| r["images"][0]["image_id"].as_str().unwrap().to_string();
    let foreign = old["base_image"].as_str().unwrap().to_string();
    for (image, count) in [
        (image_of(&current), 2),
        (image_of(&old), 1),
        (foreign.clone(), 1),
    ] {
        aws.ec2
            .run_instances()
            .image_id(image)
            .min_count(count)
            .max_count(count)
            .send()
            .await
            .unwrap();
    }
    aws.settle().await;

    let audit = aws
        .bakery()
        .args(["audit", "--max-age", "30d", "--output", "json"])
        .run();

    audit.expect_code(4);
    let report = audit.json();
    assert_eq!(report["violations"], 2);
    let fleet = |image: &str| {
        report["fleets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["image_id"] == image)
            .unwrap()
            .clone()
    };
    let current_fleet = fleet(&image_of(&current));
    assert_eq!(current_fleet["version"], "1.1.0");
    assert_eq!(current_fleet["instances"].as_array().unwrap().len(), 2);
    assert_eq!(current_fleet["channels"], serde_json::json!(["latest"]));
    assert_eq!(current_fleet["violations"], serde_json::json!([]));
    let old_fleet = fleet(&image_of(&old));
    assert_eq!(old_fleet["channels"], serde_json::json!(["stable"]));
    assert!(
        old_fleet["violations"][0]
            .as_str()
            .unwrap()
            .contains("the policy allows 30 days"),
        "{old_fleet}"
    );
    assert_eq!(fleet(&foreign)["violations"][0], "not baked by bakery");

    // Every region asked for, each fleet with its region.
    let elsewhere = aws.neighbour().await;
    elsewhere
        .ec2
        .run_instances()
        .image_id("ami-1e749f67")
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    elsewhere.settle().await;
    let regions = format!("{},{}", aws.region, elsewhere.region);
    let both = aws
        .bakery()
        .args(["audit", "--max-age", "30d", "--output", "json"])
        .args(["--regions", &regions])
        .run();
    both.expect_code(4);
    let both = both.json();
    assert_eq!(
        both["regions"],
        serde_json::json!([aws.region, elsewhere.region])
    );
    assert_eq!(both["violations"], 3);
    assert!(both["fleets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["region"] == elsewhere.region && f["image_id"] == "ami-1e749f67"));

    let table = aws.bakery().args(["audit"]).run();
    assert_eq!(
        table.code, 4,
        "the foreign fleet still breaks the default policy"
    );
    assert!(
        table.stdout.contains("fleet@1.1.0") && table.stdout.contains("(not bakery)"),
        "{}",
        table.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_on_a_disabled_or_deprecated_image_breaks_the_policy() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("retired");
    let image_of = |r: &serde_json::Value| r["images"][0]["image_id"].as_str().unwrap().to_string();
    let disabled = image_of(&aws.bake_ok(recipe.path(), &["--version", "1.0.0"]));
    let deprecated = image_of(&aws.bake_ok(recipe.path(), &["--version", "1.1.0"]));
    for image in [&disabled, &deprecated] {
        aws.ec2
            .run_instances()
            .image_id(image)
            .min_count(1)
            .max_count(1)
            .send()
            .await
            .unwrap();
    }
    aws.ec2
        .disable_image()
        .image_id(&disabled)
        .send()
        .await
        .unwrap();
    aws.deprecation_passed(&deprecated);
    aws.settle().await;

    let audit = aws.bakery().args(["audit", "--output", "json"]).run();

    audit.expect_code(4);
    let report = audit.json();
    let problems = |image: &str| {
        let fleet = report["fleets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["image_id"] == image)
            .unwrap_or_else(|| panic!("no fleet on {image}: {report}"));
        assert_eq!(fleet["region"], aws.region);
        fleet["violations"].clone()
    };
    assert_eq!(
        problems(&disabled),
        serde_json::json!(["its image is disabled: no new instance can launch from it"])
    );
    let deprecated_since = problems(&deprecated)[0].as_str().unwrap().to_string();
    assert!(
        deprecated_since.starts_with("its image is deprecated since "),
        "{deprecated_since}"
    );

    // `outdated` says the role's fleets need its newest release.
    let folder = recipes_folder_with(&recipe, "retired");
    let outdated = aws
        .bakery()
        .args(["outdated", "--output", "json"])
        .arg_path(folder.path())
        .run();
    outdated.expect_code(4);
    let reasons = outdated.json()["roles"][0]["reasons"].clone();
    let retired = reasons
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["reason"] == "fleets-on-retired-images")
        .unwrap_or_else(|| panic!("{reasons}"))
        .clone();
    let mut named: Vec<String> = retired["image_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect();
    named.sort();
    let mut expected = vec![disabled.clone(), deprecated.clone()];
    expected.sort();
    assert_eq!(named, expected);
}
