//! One release, two architectures: `arch = ["x86_64", "arm64"]` bakes both at once
//! under one claim, records both, moves a channel key per architecture, and keeps all
//! of them or none.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::recipe::both_architectures;
use crate::support::{recipe_folder, tags, Account, TestRecipe, AL2023};

/// `(region, arch)` -> image id, from a bake's result.
fn images_of(result: &Value) -> Vec<(String, String, String)> {
    result["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let text = |key: &str| i[key].as_str().unwrap().to_string();
            (text("region"), text("arch"), text("image_id"))
        })
        .collect()
}

/// Each image booted once, on the gate's default type for its architecture.
fn each_booted_once(images: &[(String, String, String)]) -> BTreeMap<String, Vec<String>> {
    images
        .iter()
        .map(|(_, arch, image)| {
            let instance_type = if arch == "arm64" {
                "t4g.small"
            } else {
                "t3.small"
            };
            (image.clone(), vec![instance_type.to_string()])
        })
        .collect()
}

/// Whether the JSON events on `stderr` have `event` at `step` of the `arch` build.
fn said(stderr: &str, event: &str, step: &str, arch: &str) -> bool {
    stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .any(|e| e["event"] == event && e["step"] == step && e["arch"] == arch)
}

fn image_in<'a>(images: &'a [(String, String, String)], region: &str, arch: &str) -> &'a str {
    images
        .iter()
        .find(|(r, a, _)| r == region && a == arch)
        .map(|(_, _, id)| id.as_str())
        .unwrap_or_else(|| panic!("no {arch} image in {region}: {images:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn both_architectures_are_one_release_in_every_region_each_launchable_through_its_channel() {
    let home = Account::fresh().await;
    let away = home.neighbour().await;
    let base = TestRecipe::new("base")
        .step("hello", "#!/bin/sh\necho \"hello from $BAKERY_ARCH\"\n")
        .with_both_architectures();
    let folder = tempfile::tempdir().unwrap();
    let manifest = folder.path().join("manifest.json");

    let bake = home
        .bakery()
        .bake_json(base.path(), "1.0.0")
        .args([
            "--copy-to",
            &away.region,
            "--promote",
            "stable",
            "--manifest",
        ])
        .arg_path(&manifest)
        .run();

    bake.expect_code(0);
    // Both builders ran, each event saying whose it is.
    for arch in ["x86_64", "arm64"] {
        for step in ["launch", "recipe/hello", "wait-image", "terminate"] {
            assert!(
                said(&bake.stderr, "step_finished", step, arch),
                "{arch} {step}:\n{}",
                bake.stderr
            );
        }
    }
    let result = bake.json();
    let images = images_of(&result);
    assert_eq!(images.len(), 4, "{images:?}");
    for aws in [&home, &away] {
        let region = aws.region.as_str();
        for arch in ["x86_64", "arm64"] {
            let image = aws.image(image_in(&images, region, arch)).await;
            assert_eq!(image.architecture().unwrap().as_str(), arch);
            assert_eq!(image.name().unwrap(), format!("bakery/base/1.0.0/{arch}"));
            assert_eq!(tags(image.tags())["bakery:version"], "1.0.0");
            // What a launch template's `resolve:ssm:` gets for each architecture.
            let key = format!("stable/{arch}");
            assert_eq!(
                aws.channel("base", &key).await.as_deref(),
                Some(image.image_id().unwrap()),
                "{region} {key}"
            );
        }
        assert_eq!(
            aws.channel("base", "stable").await.as_deref(),
            Some(image_in(&images, region, "x86_64")),
            "the plain name stays on x86_64"
        );
        assert_eq!(
            aws.channel("base", "latest/arm64").await.as_deref(),
            Some(image_in(&images, region, "arm64"))
        );
        // Launched as a launch template would: through the channel's key.
        for (arch, instance_type) in [("x86_64", "t3.micro"), ("arm64", "t4g.micro")] {
            let launched = aws
                .ec2
                .run_instances()
                .image_id(format!("resolve:ssm:/bakery/base/channels/stable/{arch}"))
                .instance_type(instance_type.into())
                .min_count(1)
                .max_count(1)
                .send()
                .await
                .unwrap();
            let instance = &launched.instances()[0];
            assert_eq!(instance.image_id(), Some(image_in(&images, region, arch)));
            aws.terminate(instance.instance_id().unwrap()).await;
        }
        let mismatched = aws
            .ec2
            .run_instances()
            .image_id("resolve:ssm:/bakery/base/channels/stable/arm64")
            .instance_type("t3.micro".into())
            .min_count(1)
            .max_count(1)
            .send()
            .await;
        assert!(
            mismatched.is_err(),
            "an x86_64 type cannot run the arm64 image"
        );
    }
    // The release's table, as a person sees it on terminals of three widths: no line
    // wider than the terminal, every image and region on it.
    let regions = format!("{},{}", home.region, away.region);
    for columns in ["80", "100", "200"] {
        let listed = home
            .bakery()
            .args(["releases", "base", "--regions", &regions])
            .env("COLUMNS", columns)
            .run();
        listed.expect_code(0);
        let width: usize = columns.parse().unwrap();
        for line in listed.stdout.lines() {
            assert!(
                line.chars().count() <= width,
                "{columns}: {line:?}\n{}",
                listed.stdout
            );
        }
        for (region, _, image) in &images {
            assert!(listed.stdout.contains(image.as_str()), "{}", listed.stdout);
            assert!(listed.stdout.contains(region.as_str()));
        }
    }
    // One claim, one record naming every image.
    let record = home.release_record("base", "1.0.0").await.unwrap();
    assert_eq!(record["state"], "released");
    for (region, arch, image) in &images {
        assert_eq!(record["architectures"][arch][region], image.as_str());
    }
    assert_eq!(
        record["images"][&away.region],
        image_in(&images, &away.region, "x86_64")
    );
    // Each architecture's builder, of its own instance type, from its own base.
    let types: BTreeSet<(String, String)> = home
        .instances()
        .await
        .iter()
        .filter(|i| tags(i.tags()).get("bakery:builder").map(String::as_str) == Some("true"))
        .map(|i| {
            let arch = i.architecture().unwrap().as_str().to_string();
            (arch, i.instance_type().unwrap().as_str().to_string())
        })
        .collect();
    assert_eq!(
        types,
        BTreeSet::from([
            ("arm64".to_string(), "t4g.small".to_string()),
            ("x86_64".to_string(), "t3.small".to_string())
        ])
    );
    assert!(
        home.live_instances().await.is_empty(),
        "both builders are gone"
    );
    // Jenkins reads a build per architecture, as Packer writes one per source.
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let builds = written["builds"].as_array().unwrap();
    assert_eq!(builds.len(), 2);
    for build in builds {
        let arch = build["custom_data"]["arch"].as_str().unwrap();
        assert_eq!(
            build["artifact_id"],
            format!(
                "{}:{},{}:{}",
                home.region,
                image_in(&images, &home.region, arch),
                away.region,
                image_in(&images, &away.region, arch)
            )
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_in_one_architecture_leaves_nothing_of_the_other() {
    let aws = Account::fresh().await;
    // The arm64 builder's step fails after a while: the x86_64 one has made its image.
    aws.emulate(json!({ "command_outcomes": [{
        "match": "export BAKERY_ARCH='arm64'", "status": "Failed", "exit_code": 3,
        "stderr": "no arm64 build of the package\n", "seconds": 8
    }] }));
    let recipe = TestRecipe::new("split")
        .step("package", "#!/bin/sh\nmake install\n")
        .with_both_architectures();
    let before = aws.footprint().await;

    let bake = aws.bakery().bake(recipe.path(), "1.0.0").run();

    bake.expect_code(1);
    // As a person reads it: whose line each is, and which build failed.
    bake.expect_stderr("x86_64: [create-image] created image");
    bake.expect_stderr("arm64: [recipe/package] FAILED");
    bake.expect_stderr("[cleanup] bake failed at step `recipe/package` (arm64)");
    bake.expect_stdout("split@1.0.0 FAILED at step `recipe/package` of its arm64 build");
    bake.expect_stdout("no arm64 build of the package");
    assert_eq!(
        aws.footprint().await,
        before,
        "nothing of either architecture"
    );
    assert!(aws.release_record("split", "1.0.0").await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_build_stopped_by_its_siblings_failure_says_so_not_failed() {
    let aws = Account::fresh().await;
    aws.emulate(json!({ "command_outcomes": [
        {"match": "export BAKERY_ARCH='arm64'", "status": "Failed", "exit_code": 3,
         "stderr": "no arm64 build of the package\n", "seconds": 1},
        {"match": "export BAKERY_ARCH='x86_64'", "status": "Success", "exit_code": 0,
         "seconds": 120}
    ] }));
    let recipe = TestRecipe::new("halted")
        .step("package", "#!/bin/sh\nmake install\n")
        .with_both_architectures();
    let before = aws.footprint().await;

    let bake = aws.bakery().bake(recipe.path(), "1.0.0").run();

    bake.expect_code(1);
    bake.expect_stderr("arm64: [recipe/package] FAILED");
    bake.expect_stderr("x86_64: [recipe/package] stopped after");
    assert!(
        bake.stderr
            .lines()
            .any(|l| l.contains("x86_64: [recipe/package] stopped")
                && l.ends_with("the arm64 build failed")),
        "{}",
        bake.stderr
    );
    assert!(!bake.stderr.contains("x86_64: [recipe/package] FAILED"));
    bake.expect_stdout("FAILED at step `recipe/package` of its arm64 build");
    // As Jenkins reads it: the stopped step's record says why.
    let json = aws.bakery().bake_json(recipe.path(), "1.0.1").run();
    let steps = json.json()["steps"].as_array().unwrap().clone();
    let stopped = steps
        .iter()
        .find(|s| s["name"] == "recipe/package" && s["arch"] == "x86_64")
        .unwrap();
    assert_eq!(stopped["status"], "interrupted");
    assert_eq!(stopped["stopped_because"], "the arm64 build failed");
    assert_eq!(
        aws.footprint().await,
        before,
        "the stopped build left nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn layered_roles_take_their_own_architecture_of_a_two_architecture_base() {
    let aws = Account::fresh().await;
    // `bake --all` of mixed roles: the base of both, an arm64-only role and an
    // x86_64-only one layered on it.
    let recipes = recipe_folder(&[
        ("base", AL2023),
        ("zk-arm", "role = \"base\", channel = \"stable\""),
        ("zk-x86", "role = \"base\", channel = \"stable\""),
    ]);
    let edit = |role: &str, change: &dyn Fn(&str) -> String| {
        let path = recipes.path().join(role).join("recipe.toml");
        std::fs::write(&path, change(&std::fs::read_to_string(&path).unwrap())).unwrap();
    };
    edit("base", &both_architectures);
    edit("zk-arm", &|text| {
        text.replace("arch = \"x86_64\"", "arch = \"arm64\"")
    });

    let all = aws
        .bakery()
        .args([
            "bake",
            "--all",
            "--output",
            "json",
            "--version",
            "1.0.0",
            "--promote",
            "stable",
        ])
        .arg_path(recipes.path())
        .run();

    all.expect_code(0);
    let result = all.json();
    let bakes = result["bakes"].as_array().unwrap();
    let of = |role: &str| bakes.iter().find(|b| b["role"] == role).unwrap().clone();
    let base = images_of(&of("base"));
    assert_eq!(
        of("zk-arm")["base_image"],
        image_in(&base, &aws.region, "arm64")
    );
    assert_eq!(
        of("zk-x86")["base_image"],
        image_in(&base, &aws.region, "x86_64")
    );

    // Outside `--all`, the channel's key of the recipe's architecture.
    let alone = TestRecipe::new("zk-arm-2")
        .with_base("role = \"base\", channel = \"stable\"")
        .with_arch("arm64");
    let layered = aws.bake_ok(alone.path(), &["--version", "1.0.0"]);
    assert_eq!(layered["base_image"], image_in(&base, &aws.region, "arm64"));
    assert_eq!(layered["base_release"], "base@1.0.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn promote_distribute_share_deprecate_and_prune_take_every_architecture() {
    let home = Account::fresh().await;
    let away = home.neighbour().await;
    let recipe = TestRecipe::new("base").with_both_architectures();
    let baked = home.bake_ok(
        recipe.path(),
        &["--version", "1.0.0", "--promote", "stable"],
    );
    let first = images_of(&baked);
    let second = images_of(&home.bake_ok(
        recipe.path(),
        &["--version", "1.1.0", "--promote", "stable"],
    ));

    // Distribute copies each architecture and records the copies.
    let copied = home
        .bakery()
        .args([
            "distribute",
            "base",
            "1.0.0",
            "--copy-to",
            &away.region,
            "--output",
            "json",
        ])
        .run();
    copied.expect_code(0);
    let record = home.release_record("base", "1.0.0").await.unwrap();
    for arch in ["x86_64", "arm64"] {
        let copy = record["architectures"][arch][&away.region]
            .as_str()
            .unwrap();
        assert_eq!(
            away.image(copy).await.architecture().unwrap().as_str(),
            arch
        );
    }

    // Sharing grants every architecture's image (the account would still need the
    // snapshots' key, which `share` says: exit 1).
    let shared = home
        .bakery()
        .args(["share", "base", "1.0.0", "--account", "111122223333"])
        .run();
    shared.expect_stdout("cannot use key");
    for arch in ["x86_64", "arm64"] {
        let shared = home
            .ec2
            .describe_image_attribute()
            .image_id(image_in(&first, &home.region, arch))
            .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
            .send()
            .await
            .unwrap();
        let accounts: Vec<&str> = shared
            .launch_permissions()
            .iter()
            .filter_map(|p| p.user_id())
            .collect();
        assert_eq!(accounts, ["111122223333"], "{arch}");
    }

    // A rollback moves both architectures' keys back.
    let rollback = home
        .bakery()
        .args([
            "promote",
            "base",
            "1.0.0",
            "--channel",
            "stable",
            "--allow-gap",
        ])
        .run();
    rollback.expect_code(0);
    for arch in ["x86_64", "arm64"] {
        assert_eq!(
            home.channel("base", &format!("stable/{arch}"))
                .await
                .as_deref(),
            Some(image_in(&first, &home.region, arch))
        );
    }

    // Deprecation marks both; a release no channel names is pruned whole.
    let regions = format!("{},{}", home.region, away.region);
    home.bakery()
        .args(["deprecate", "base", "1.0.0", "--regions", &regions])
        .run()
        .expect_code(0);
    for arch in ["x86_64", "arm64"] {
        let image = home.image(image_in(&first, &home.region, arch)).await;
        assert!(image.deprecation_time().is_some(), "{arch}");
    }
    home.bakery()
        .args(["distribute", "base", "1.1.0", "--copy-to", &away.region])
        .run()
        .expect_code(0);
    home.bakery()
        .args(["promote", "base", "1.1.0", "--channel", "stable"])
        .run()
        .expect_code(0);
    let pruned = home
        .bakery()
        .args([
            "prune",
            "base",
            "--keep",
            "1",
            "--yes",
            "--regions",
            &regions,
        ])
        .run();
    pruned.expect_code(0);
    for aws in [&home, &away] {
        let left: BTreeSet<String> = aws.own_image_names().await.into_iter().collect();
        assert_eq!(
            left,
            BTreeSet::from([
                "bakery/base/1.1.0/arm64".into(),
                "bakery/base/1.1.0/x86_64".into()
            ]),
            "{}: 1.0.0 went, both architectures, copies too",
            aws.region
        );
    }
    let bake_id = baked["bake_id"].as_str().unwrap();
    assert!(
        home.snapshots_of_bake(bake_id).await.is_empty(),
        "the snapshots of both architectures went with their images"
    );
    assert_eq!(second.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gate_tests_each_architecture_and_bakery_test_tests_both_again() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("gated")
        .test("smoke", "#!/bin/sh\ntrue\n")
        .with_both_architectures();

    let bake = aws.bakery().bake_json(recipe.path(), "1.0.0").run();

    bake.expect_code(0);
    for arch in ["x86_64", "arm64"] {
        for step in ["test-launch", "test/smoke", "test-terminate"] {
            assert!(
                said(&bake.stderr, "step_finished", step, arch),
                "{arch} {step}"
            );
        }
    }
    let result = bake.json();
    assert_eq!(result["tests"], "passed");
    let images = images_of(&result);
    assert_eq!(
        aws.test_boots(result["bake_id"].as_str().unwrap()).await,
        each_booted_once(&images),
        "EC2 holds one test instance per image, of the image's architecture"
    );
    for (_, arch, image) in images {
        assert_eq!(
            tags(aws.image(&image).await.tags())["bakery:tests"],
            "passed (smoke)",
            "{arch}"
        );
    }

    // A release made with --skip-tests, tested again: both images, one verdict.
    let skipped = images_of(&aws.bake_ok(recipe.path(), &["--version", "1.1.0", "--skip-tests"]));
    let tested = aws
        .bakery()
        .args(["test", "--output", "json", "--progress", "json"])
        .arg_path(recipe.path())
        .args(["1.1.0"])
        .run();
    tested.expect_code(0);
    for arch in ["x86_64", "arm64"] {
        assert!(
            said(&tested.stderr, "step_finished", "test/smoke", arch),
            "{arch}"
        );
    }
    assert_eq!(tested.json()["tests"], "passed");
    assert_eq!(
        images_of(&tested.json()),
        skipped,
        "the report names each image it tested"
    );
    assert_eq!(
        aws.test_boots(tested.json()["run_id"].as_str().unwrap())
            .await,
        each_booted_once(&skipped),
        "bakery test booted each image on an instance of its own"
    );
    for (_, arch, image) in skipped {
        assert_eq!(
            tags(aws.image(&image).await.tags())["bakery:tests"],
            "passed (smoke)",
            "{arch}"
        );
    }
    assert!(
        aws.live_instances().await.is_empty(),
        "both test instances are gone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signal_while_both_images_are_pending_removes_both_and_each_its_own_snapshots() {
    let aws = Account::fresh().await;
    aws.emulate(json!({ "image_pending_seconds": 600 }));
    let recipe = TestRecipe::new("pending").with_both_architectures();
    let before = aws.footprint().await;

    let mut bake = aws.bakery().bake(recipe.path(), "1.0.0").spawn();
    bake.wait_for_line("arm64: [wait-image] started");
    bake.wait_for_line("x86_64: [wait-image]");
    let signalled = std::time::Instant::now();
    bake.signal("INT");
    let bake = bake.finish();

    bake.expect_code(130);
    bake.expect_stderr("[cleanup] nothing left behind");
    bake.expect_stderr("arm64: [wait-image] stopped after");
    assert!(!bake.stderr.contains("build failed"), "{}", bake.stderr);
    // The whole bake was interrupted, not one of its builds.
    bake.expect_stdout("INTERRUPTED at step `wait-image` (bake");
    // Each image takes its own snapshots: none waits for one another image still uses.
    assert!(
        signalled.elapsed() < std::time::Duration::from_secs(30),
        "cleanup took {:?}",
        signalled.elapsed()
    );
    assert_eq!(aws.footprint().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn outdated_sees_the_base_of_each_architecture_move() {
    let aws = Account::fresh().await;
    let recipes = recipe_folder(&[
        ("base", AL2023),
        ("zookeeper", "role = \"base\", channel = \"stable\""),
    ]);
    for role in ["base", "zookeeper"] {
        let path = recipes.path().join(role).join("recipe.toml");
        std::fs::write(
            &path,
            both_architectures(&std::fs::read_to_string(&path).unwrap()),
        )
        .unwrap();
    }
    let base = recipes.path().join("base");
    let first = images_of(&aws.bake_ok(&base, &["--version", "1.0.0", "--promote", "stable"]));
    let second = images_of(&aws.bake_ok(&base, &["--version", "1.1.0"]));
    aws.bake_ok(&recipes.path().join("zookeeper"), &["--version", "1.0.0"]);
    let outdated = || {
        aws.bakery()
            .args(["outdated"])
            .arg_path(recipes.path())
            .run()
    };
    outdated().expect_code(0);

    // Only the arm64 key moves: the x86_64 build's inputs are as they were.
    aws.point_channel_by_hand(
        "base",
        "stable/arm64",
        image_in(&second, &aws.region, "arm64"),
    )
    .await;
    let moved = outdated();
    moved.expect_code(4);
    moved.expect_stdout(&format!(
        "its arm64 base moved: {} then, {} now",
        image_in(&first, &aws.region, "arm64"),
        image_in(&second, &aws.region, "arm64")
    ));
    // In JSON the ids are ids, the architecture a field of its own.
    let moved = aws
        .bakery()
        .args(["outdated", "--output", "json"])
        .arg_path(recipes.path())
        .run();
    let roles = moved.json()["roles"].clone();
    let zookeeper = roles
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "zookeeper");
    let reasons = zookeeper.unwrap()["reasons"].clone();
    let reason = &reasons.as_array().unwrap()[0];
    assert_eq!(reason["reason"], "base-moved", "{reasons}");
    assert_eq!(reason["was"], image_in(&first, &aws.region, "arm64"));
    assert_eq!(reason["arch"], "arm64");

    // A release whose arm64 copy never reached a region is missing there.
    let far = aws.neighbour().await;
    let mut record = aws.release_record("base", "1.1.0").await.unwrap();
    record["architectures"]["x86_64"][&far.region] = json!("ami-12345678");
    record["images"][&far.region] = json!("ami-12345678");
    aws.write_claim("base", "1.1.0", &record).await;
    let regions = format!("{},{}", aws.region, far.region);
    let partly = aws
        .bakery()
        .args(["outdated", "--regions", &regions])
        .arg_path(recipes.path())
        .run();
    partly.expect_code(4);
    let missing = format!("missing in {}", far.region);
    assert!(
        partly
            .stdout
            .lines()
            .any(|line| line.starts_with("base ") && line.contains(&missing)),
        "{}",
        partly.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_two_architecture_release_is_shared_once_in_each_region() {
    let home = Account::fresh().await;
    let away = home.neighbour().await;
    let recipe = TestRecipe::new("spread").with_both_architectures();
    let top = tempfile::tempdir().unwrap();
    std::fs::write(
        top.path().join("bakery.toml"),
        format!(
            "[environments.fleet]\nregions = [\"{}\", \"{}\"]\n\
             share = {{ accounts = [\"111122223333\"] }}\n",
            home.region, away.region
        ),
    )
    .unwrap();

    let bake = home
        .bakery()
        .current_dir(top.path())
        .bake_json(recipe.path(), "1.0.0")
        .args(["--env", "fleet"])
        .run();

    assert!([0, 5].contains(&bake.code), "{}", bake.stderr);
    let shared: Vec<String> = bake.json()["shared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["region"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shared, [home.region.clone(), away.region.clone()]);
    let said = |region: &str| {
        bake.events()
            .iter()
            .filter(|e| e["step"] == "share" && e["event"] == "info")
            .filter(|e| e["message"].as_str().unwrap().starts_with(region))
            .count()
    };
    assert_eq!((said(&home.region), said(&away.region)), (1, 1));
}
