//! Layered roles (`base = { role = "base", channel = "stable" }`) and rebuilding the
//! world with `bakery bake --all`.

use serde_json::{json, Value};

use crate::support::{tags, Account, TestRecipe};

/// A folder of recipe folders, each `(role, base)` with one trivial step.
fn world(recipes: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (role, base) in recipes {
        let folder = dir.path().join(role);
        std::fs::create_dir_all(folder.join("steps")).unwrap();
        std::fs::write(
            folder.join("steps/build.sh"),
            format!("#!/bin/sh\necho building {role}\n"),
        )
        .unwrap();
        std::fs::write(
            folder.join("recipe.toml"),
            format!(
                "name = \"{role}\"\nplatform = \"linux\"\narch = \"x86_64\"\nbase = {{ {base} }}\n\
                 [builder]\ninstance_profile = \"bakery-builder\"\n\
                 [[steps]]\nname = \"build\"\nscript = \"steps/build.sh\"\n"
            ),
        )
        .unwrap();
    }
    dir
}

const AL2023: &str =
    "ssm_parameter = \"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64\"";

#[tokio::test(flavor = "multi_thread")]
async fn a_layered_role_bakes_on_the_channel_or_the_newest_matching_release_of_its_base() {
    let aws = Account::in_region("ap-south-2").await;
    let base = TestRecipe::new("base");
    let stable = aws
        .bakery()
        .bake_json(base.path(), "2.3.1")
        .args(["--promote", "stable"])
        .run();
    assert_eq!(stable.code, 0, "{}", stable.stderr);
    let newest = aws.bakery().bake_json(base.path(), "2.4.0").run();
    assert_eq!(newest.code, 0, "{}", newest.stderr);
    let image_of = |v: &Value| v["images"][0]["image_id"].as_str().unwrap().to_string();

    let on_stable = TestRecipe::new("zookeeper").with_base("role = \"base\", channel = \"stable\"");
    let zk = aws.bakery().bake_json(on_stable.path(), "1.0.0").run();
    assert_eq!(zk.code, 0, "{}", zk.stderr);
    let zk = zk.json();
    assert_eq!(zk["base_image"], image_of(&stable.json()).as_str());
    assert_eq!(zk["base_release"], "base@2.3.1");
    let zk_tags = tags(aws.image(&image_of(&zk)).await.tags());
    assert_eq!(zk_tags["bakery:base-release"], "base@2.3.1");

    let on_range = TestRecipe::new("kafka").with_base("role = \"base\", version = \"^2\"");
    let kafka = aws.bakery().bake_json(on_range.path(), "1.0.0").run();
    assert_eq!(kafka.code, 0, "{}", kafka.stderr);
    assert_eq!(kafka.json()["base_release"], "base@2.4.0");

    let on_missing = TestRecipe::new("solr").with_base("role = \"base\", channel = \"canary\"");
    let refused = aws.bakery().bake_json(on_missing.path(), "1.0.0").run();
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.json()["error"]
        .as_str()
        .unwrap()
        .contains("channel canary of base does not exist in ap-south-2"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bake_all_rebuilds_the_world_bases_first_and_independent_roles_together() {
    let aws = Account::in_region("ap-southeast-3").await;
    aws.emulate(json!({ "instance_pending_seconds": 1, "image_pending_seconds": 1 }));
    let recipes = world(&[
        ("base", AL2023),
        ("java", "role = \"base\", channel = \"stable\""),
        ("zookeeper", "role = \"java\", version = \"^1\""),
        ("logs", AL2023),
        ("metrics", AL2023),
    ]);
    // An older base on the channel: --all must use the base it bakes, not this one.
    let old = TestRecipe::new("base");
    assert_eq!(
        aws.bakery()
            .bake_json(old.path(), "0.9.0")
            .args(["--promote", "stable"])
            .run()
            .code,
        0
    );

    let all = aws
        .bakery()
        .args([
            "bake",
            "--all",
            "--version",
            "1.0.0",
            "--jobs",
            "2",
            "--output",
            "json",
        ])
        .arg_path(recipes.path())
        .run();

    assert_eq!(all.code, 0, "{}", all.stderr);
    let result = all.json();
    let bakes = result["bakes"].as_array().unwrap();
    let roles: Vec<&str> = bakes.iter().map(|b| b["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["base", "logs", "metrics", "java", "zookeeper"]);
    assert!(bakes.iter().all(|b| b["status"] == "succeeded"));
    assert_eq!(
        bakes[3]["base_release"], "base@1.0.0",
        "java is layered on the base just baked"
    );
    assert_eq!(bakes[4]["base_release"], "java@1.0.0");

    // Events carry the role: java starts only after base finished; logs ran beside base.
    let events = all.events();
    let position = |role: &str, event: &str, step: &str| {
        events
            .iter()
            .position(|e| e["role"] == role && e["event"] == event && e["step"] == step)
            .unwrap()
    };
    assert!(
        position("java", "step_started", "check-release")
            > position("base", "step_finished", "record-release")
    );
    assert!(
        position("logs", "step_started", "check-release")
            < position("base", "step_finished", "record-release")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bake_all_refuses_a_missing_base_role_or_a_cycle_before_anything_starts() {
    let aws = Account::in_region("ap-southeast-4").await;
    let missing = world(&[
        ("app", "role = \"platform\", channel = \"stable\""),
        ("web", AL2023),
    ]);
    let refused = aws
        .bakery()
        .args(["bake", "--all", "--version", "1.0.0"])
        .arg_path(missing.path())
        .run();
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("role app is layered on role platform, which has no recipe"),
        "{}",
        refused.stderr
    );

    let cycle = world(&[
        ("a", "role = \"b\", channel = \"stable\""),
        ("b", "role = \"a\", channel = \"stable\""),
    ]);
    let refused = aws
        .bakery()
        .args(["bake", "--all", "--version", "1.0.0"])
        .arg_path(cycle.path())
        .run();
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("form a cycle"),
        "{}",
        refused.stderr
    );
    assert!(aws.instances().await.is_empty());
}
