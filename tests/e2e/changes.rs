//! Rebuild only what changed: a release's inputs fingerprint, `bake --if-changed` (and
//! its cascade in `bake --all`), and `bakery outdated`.

use serde_json::Value;

use crate::recipe::recipe_folder;
use crate::support::{tags, Account, TestRecipe};

/// Two of the emulator's stock x86_64 Linux images: a base parameter moves between them.
const AMI: &str = "ami-1e749f67";
const OTHER_AMI: &str = "ami-760aaa0f";

async fn point(aws: &Account, parameter: &str, image: &str) {
    aws.ssm
        .put_parameter()
        .name(parameter)
        .value(image)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

fn if_changed(aws: &Account, recipe: &TestRecipe) -> Value {
    aws.bake_ok(recipe.path(), &["--bump", "patch", "--if-changed"])
}

/// `bakery bake --bump patch --if-changed EXTRA… RECIPE`.
fn bake_if_changed(aws: &Account, recipe: &TestRecipe, extra: &[&str]) -> crate::bakery::Bakery {
    aws.bakery()
        .args(["bake", "--bump", "patch", "--if-changed"])
        .args(extra)
        .arg_path(recipe.path())
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_changed_script_env_or_base_makes_a_new_release() {
    let aws = Account::fresh_in_gov().await;
    point(&aws, "/changes/solo/base", AMI).await;
    let recipe = TestRecipe::new("solo")
        .with_base("ssm_parameter = \"/changes/solo/base\"")
        .step("work", "#!/bin/sh\necho work\n");

    let first = if_changed(&aws, &recipe);
    assert_eq!(first["status"], "succeeded", "no release yet: baked");
    let fingerprint = first["inputs"].as_str().unwrap().to_string();
    let image = aws
        .image(first["images"][0]["image_id"].as_str().unwrap())
        .await;
    assert_eq!(tags(image.tags())["bakery:inputs"], fingerprint);
    let record = aws.release_record("solo", "0.0.1").await.unwrap();
    assert_eq!(record["inputs"]["fingerprint"], fingerprint.as_str());
    assert_eq!(record["inputs"]["base_image"], AMI);

    // Nothing changed: nothing baked, and the manifest points at the release.
    let manifest = tempfile::tempdir().unwrap();
    let path = manifest.path().join("manifest.json");
    let same = bake_if_changed(
        &aws,
        &recipe,
        &["--output", "json", "--manifest", path.to_str().unwrap()],
    )
    .run();
    same.expect_code(0);
    let same = same.json();
    assert_eq!(same["status"], "unchanged");
    assert_eq!(same["version"], "0.0.1");
    assert_eq!(same["images"], first["images"].clone());
    assert!(
        aws.release_record("solo", "0.0.2").await.is_none(),
        "no claim made"
    );
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let artifact = format!(
        "{}:{}",
        aws.region,
        first["images"][0]["image_id"].as_str().unwrap()
    );
    assert_eq!(written["builds"][0]["artifact_id"], artifact.as_str());
    assert_eq!(written["builds"][0]["custom_data"]["status"], "unchanged");

    // Unchanged, but asked for in another region too: copied there, not re-baked.
    let away = aws.neighbour().await;
    let copied = bake_if_changed(
        &aws,
        &recipe,
        &["--output", "json", "--copy-to", &away.region],
    )
    .run();
    copied.expect_code(0);
    let copied = copied.json();
    assert_eq!(
        (copied["status"].as_str(), copied["version"].as_str()),
        (Some("unchanged"), Some("0.0.1"))
    );
    let regions: Vec<&str> = copied["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["region"].as_str().unwrap())
        .collect();
    assert_eq!(
        regions,
        [aws.region.as_str(), away.region.as_str()],
        "the build region first: a manifest's first artifact is where the job runs"
    );
    let record = aws.release_record("solo", "0.0.1").await.unwrap();
    assert!(record["images"][&away.region].is_string(), "{record}");

    // A changed step script.
    let recipe = recipe.step("more", "#!/bin/sh\necho more\n");
    let changed = if_changed(&aws, &recipe);
    assert_eq!(
        (changed["status"].as_str(), changed["version"].as_str()),
        (Some("succeeded"), Some("0.0.2"))
    );
    assert_eq!(if_changed(&aws, &recipe)["status"], "unchanged");

    // A changed env value, from the environment's variables.
    let recipe = recipe.with_toml("[vars]\nLOG_LEVEL = \"info\"\n");
    assert_eq!(if_changed(&aws, &recipe)["version"], "0.0.3");
    let warn = bake_if_changed(
        &aws,
        &recipe,
        &["--output", "json", "--var", "LOG_LEVEL=warn"],
    )
    .run();
    warn.expect_code(0);
    assert_eq!(
        warn.json()["version"],
        "0.0.4",
        "another value of a variable"
    );

    // AWS moved the base parameter.
    point(&aws, "/changes/solo/base", OTHER_AMI).await;
    let moved = bake_if_changed(&aws, &recipe, &["--var", "LOG_LEVEL=warn"]).run();
    moved.expect_code(0);
    moved.expect_stderr(&format!("the base image ({AMI} then, {OTHER_AMI} now)"));
    moved.expect_stdout("solo@0.0.5 baked");
}

#[tokio::test(flavor = "multi_thread")]
async fn bake_all_if_changed_rebakes_what_changed_and_the_roles_layered_on_it() {
    let aws = Account::fresh_in_gov().await;
    point(&aws, "/changes/world/base", AMI).await;
    let folder = recipe_folder(&[
        ("wbase", "ssm_parameter = \"/changes/world/base\""),
        ("wlayer", "role = \"wbase\", version = \"^1\""),
        ("wother", "ssm_parameter = \"/changes/world/base\""),
    ]);
    let bake_all = |version: &[&str]| {
        let outcome = aws
            .bakery()
            .args(["bake", "--all", "--output", "json", "--if-changed"])
            .args(version)
            .arg_path(folder.path())
            .run();
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        let result = outcome.json();
        result["bakes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["role"].as_str().unwrap().to_string(),
                    b["status"].as_str().unwrap().to_string(),
                )
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let statuses = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(r, s)| (r.to_string(), s.to_string()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(
        bake_all(&["--version", "1.0.0"]),
        statuses(&[
            ("wbase", "succeeded"),
            ("wlayer", "succeeded"),
            ("wother", "succeeded")
        ])
    );
    assert_eq!(
        bake_all(&["--bump", "patch"]),
        statuses(&[
            ("wbase", "unchanged"),
            ("wlayer", "unchanged"),
            ("wother", "unchanged")
        ])
    );

    // The base's recipe changes: it and the role layered on it are baked, not the other.
    let script = folder.path().join("wbase/steps/build.sh");
    std::fs::write(&script, "#!/bin/sh\necho building wbase, again\n").unwrap();
    assert_eq!(
        bake_all(&["--bump", "patch"]),
        statuses(&[
            ("wbase", "succeeded"),
            ("wlayer", "succeeded"),
            ("wother", "unchanged")
        ])
    );
    let layered = aws.release_record("wlayer", "1.0.1").await.unwrap();
    let new_base = aws.release_record("wbase", "1.0.1").await.unwrap();
    assert_eq!(
        layered["inputs"]["base_image"], new_base["images"][&aws.region],
        "layered on the base just baked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newly_promoted_base_channel_changes_the_roles_on_it() {
    let aws = Account::fresh_in_gov().await;
    let base = TestRecipe::new("pbase")
        .with_base(&format!("image = \"{AMI}\""))
        .step("a", "#!/bin/sh\necho a\n");
    let layered = TestRecipe::new("player")
        .with_base("role = \"pbase\", channel = \"stable\"")
        .step("b", "#!/bin/sh\necho b\n");
    aws.bake_ok(base.path(), &["--version", "1.0.0", "--promote", "stable"]);
    assert_eq!(if_changed(&aws, &layered)["status"], "succeeded");
    assert_eq!(if_changed(&aws, &layered)["status"], "unchanged");

    let base = base.step("c", "#!/bin/sh\necho c\n");
    aws.bake_ok(base.path(), &["--version", "1.1.0"]);
    assert_eq!(
        if_changed(&aws, &layered)["status"],
        "unchanged",
        "stable did not move"
    );
    aws.bakery()
        .args(["promote", "pbase", "1.1.0", "--channel", "stable"])
        .run()
        .expect_code(0);
    let rebaked = if_changed(&aws, &layered);
    assert_eq!(rebaked["status"], "succeeded");
    assert_eq!(rebaked["base_release"], "pbase@1.1.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn outdated_names_each_reason_and_exits_4_until_all_is_current() {
    let aws = Account::fresh_in_gov().await;
    point(&aws, "/changes/stale/base", AMI).await;
    let folder = recipe_folder(&[
        ("fresh", "ssm_parameter = \"/changes/stale/base\""),
        ("moved", "ssm_parameter = \"/changes/stale/base-moved\""),
        ("edited", "ssm_parameter = \"/changes/stale/base\""),
    ]);
    point(&aws, "/changes/stale/base-moved", AMI).await;
    let outdated = |args: &[&str]| {
        let outcome = aws
            .bakery()
            .args(["outdated", "--output", "json"])
            .args(args)
            .arg_path(folder.path())
            .run();
        let reasons: Vec<(String, Vec<String>)> = outcome.json()["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let why = r["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|w| w["reason"].as_str().unwrap().to_string())
                    .collect();
                (r["role"].as_str().unwrap().to_string(), why)
            })
            .collect();
        (outcome.code, reasons)
    };
    let (code, reasons) = outdated(&[]);
    assert_eq!(code, 4);
    assert!(
        reasons.iter().all(|(_, why)| why == &["never-released"]),
        "{reasons:?}"
    );

    aws.bakery()
        .args(["bake", "--all", "--version", "1.0.0"])
        .arg_path(folder.path())
        .run()
        .expect_code(0);
    let (code, reasons) = outdated(&[]);
    assert_eq!(
        (code, reasons.iter().all(|(_, why)| why.is_empty())),
        (0, true),
        "{reasons:?}"
    );

    point(&aws, "/changes/stale/base-moved", OTHER_AMI).await;
    std::fs::write(
        folder.path().join("edited/steps/build.sh"),
        "#!/bin/sh\necho edited\n",
    )
    .unwrap();
    let elsewhere = aws.neighbour().await;
    let regions = format!("{},{}", aws.region, elsewhere.region);
    let (code, reasons) = outdated(&["--regions", &regions]);
    assert_eq!(code, 4);
    let of = |role: &str| reasons.iter().find(|(r, _)| r == role).unwrap().1.clone();
    assert_eq!(of("fresh"), ["missing-in"]);
    assert_eq!(of("moved"), ["base-moved", "missing-in"]);
    assert_eq!(of("edited"), ["changed", "missing-in"]);

    std::thread::sleep(std::time::Duration::from_secs(2));
    let (_, reasons) = outdated(&["--max-age", "1s"]);
    assert!(
        reasons
            .iter()
            .all(|(_, why)| why.contains(&"too-old".to_string())),
        "{reasons:?}"
    );

    let text = aws
        .bakery()
        .args(["outdated"])
        .arg_path(folder.path())
        .run();
    text.expect_code(4);
    text.expect_stdout(&format!("its base moved: {AMI} then, {OTHER_AMI} now"));
    text.expect_stdout("changed since: recipe, settings");
    text.expect_stdout("2 of 3 roles out of date");
}
