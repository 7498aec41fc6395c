//! `--manifest`, as a Jenkins job reads it: checked before anything is made, one build
//! per role released, nothing for a dry run, and never a failed bake once the release
//! exists.

use serde_json::{json, Value};

use crate::support::{recipe_folder, Account, TestRecipe, AL2023};

fn read(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn is_uuid(text: &Value) -> bool {
    let text = text.as_str().unwrap_or_default();
    let groups: Vec<usize> = text.split('-').map(str::len).collect();
    groups == [8, 4, 4, 4, 12] && text.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_that_cannot_be_written_refuses_the_bake_and_a_dry_run_writes_none() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("app");
    let jenkins = tempfile::tempdir().unwrap();

    let missing_folder = jenkins.path().join("out/manifest.json");
    let refused = aws
        .bakery()
        .bake(recipe.path(), "1.0.0")
        .args(["--manifest"])
        .arg_path(&missing_folder)
        .run();
    refused.expect_code(2);
    refused.expect_stderr("--manifest ");
    refused.expect_stderr("out does not exist");
    refused.expect_stderr("mkdir -p");
    assert!(aws.instances().await.is_empty(), "nothing launched");
    assert_eq!(
        aws.release_record("app", "1.0.0").await,
        None,
        "nothing claimed"
    );

    let not_a_manifest = jenkins.path().join("notes.txt");
    std::fs::write(&not_a_manifest, "release notes\n").unwrap();
    let refused = aws
        .bakery()
        .bake(recipe.path(), "1.0.0")
        .args(["--manifest"])
        .arg_path(&not_a_manifest)
        .run();
    refused.expect_code(2);
    refused.expect_stderr("the file exists but is not a manifest");

    let manifest = jenkins.path().join("manifest.json");
    let dry = aws
        .bakery()
        .bake(recipe.path(), "1.0.0")
        .args(["--dry-run", "--manifest"])
        .arg_path(&manifest)
        .run();
    dry.expect_code(0);
    assert!(!manifest.exists(), "a dry run writes no build");
}

#[tokio::test(flavor = "multi_thread")]
async fn bake_all_writes_one_build_per_role_of_one_run_with_custom_data() {
    let aws = Account::fresh().await;
    let away = aws.neighbour().await;
    let recipes = recipe_folder(&[
        ("base", AL2023),
        ("zookeeper", "role = \"base\", version = \"^1\""),
    ]);
    let manifest = tempfile::NamedTempFile::new().unwrap();
    // A build from an earlier job stays.
    std::fs::write(
        manifest.path(),
        json!({ "builds": [{ "name": "earlier", "packer_run_uuid": "x" }], "last_run_uuid": "x" })
            .to_string(),
    )
    .unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();

    let all = aws
        .bakery()
        .bake_all_json(recipes.path(), "1.0.0")
        .args(["--copy-to", &away.region, "--manifest"])
        .arg_path(manifest.path())
        .args([
            "--manifest-data",
            "ticket=OPS-42",
            "--manifest-data",
            "job=base-world",
        ])
        .run();

    all.expect_code(0);
    let written = read(manifest.path());
    let builds = written["builds"].as_array().unwrap();
    let names: Vec<&str> = builds.iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["earlier", "base", "zookeeper"]);
    let (base, zookeeper) = (&builds[1], &builds[2]);
    assert!(
        is_uuid(&base["packer_run_uuid"]),
        "{}",
        base["packer_run_uuid"]
    );
    assert_eq!(
        base["packer_run_uuid"], zookeeper["packer_run_uuid"],
        "one run"
    );
    assert_eq!(written["last_run_uuid"], base["packer_run_uuid"]);
    let record = aws.release_record("base", "1.0.0").await.unwrap();
    let image_in = |region: &str| record["images"][region].as_str().unwrap().to_string();
    assert_eq!(
        base["artifact_id"],
        format!(
            "{}:{},{}:{}",
            aws.region,
            image_in(&aws.region),
            away.region,
            image_in(&away.region)
        ),
        "the build region first, then each copy"
    );
    assert_eq!(zookeeper["custom_data"]["ticket"], "OPS-42");
    assert_eq!(zookeeper["custom_data"]["job"], "base-world");
    assert_eq!(zookeeper["custom_data"]["version"], "1.0.0");
    let finished = zookeeper["build_time"].as_u64().unwrap();
    let started = humantime::parse_rfc3339(zookeeper["bakery"]["started_at"].as_str().unwrap())
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        before <= started && started <= finished,
        "build_time is when the bake finished"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_that_fails_after_the_release_is_a_warning_not_a_failed_bake() {
    let aws = Account::fresh().await;
    aws.emulate(json!({ "instance_pending_seconds": 2 }));
    let recipe = TestRecipe::new("app");
    let jenkins = tempfile::tempdir().unwrap();
    let manifest = jenkins.path().join("manifest.json");

    let mut bake = aws
        .bakery()
        .bake(recipe.path(), "2.0.0")
        .args(["--progress", "plain", "--manifest"])
        .arg_path(&manifest)
        .spawn();
    bake.wait_for_line("[wait-ready] started");
    // Something else takes the manifest's name while the bake runs.
    std::fs::create_dir(&manifest).unwrap();
    let outcome = bake.finish();

    outcome.expect_code(0);
    outcome.expect_stderr("warning: the releases were made but the manifest was not written");
    outcome.expect_stdout("app@2.0.0 baked");
    assert!(aws.release_record("app", "2.0.0").await.is_some());
}
