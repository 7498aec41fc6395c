//! `bakery cleanup` after `kill -9`: nothing may be left behind, and a bake that still
//! runs is left alone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;

use crate::bakery::Bakery;
use crate::support::{Account, TestRecipe};

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_removes_what_killed_bakes_left_and_spares_a_running_bake() {
    let aws = Account::fresh().await;
    aws.emulate(json!({
        "instance_pending_seconds": 3, "image_pending_seconds": 600,
        "command_outcomes": [{"match": "sleep-for-the-test", "status": "Success", "seconds": 600}]
    }));
    // Kill -9 at each kind of moment: a wait after launch, a running step, the image wait.
    let kill_points = [
        ("early", "[wait-ready] started"),
        ("mid", "[recipe/long] started"),
        ("late", "[wait-image] started"),
    ];
    for (role, line) in kill_points {
        let script = if role == "mid" {
            "#!/bin/sh\necho sleep-for-the-test\n"
        } else {
            "#!/bin/sh\ntrue\n"
        };
        let recipe =
            TestRecipe::new(role).step(if role == "mid" { "long" } else { "quick" }, script);
        let mut bake = aws.bakery().bake(recipe.path(), "1.0.0").spawn();
        bake.wait_for_line(line);
        bake.signal("KILL");
        assert_eq!(bake.finish().code, -1, "killed");
    }
    aws.settle().await;
    assert_eq!(
        aws.live_instances().await.len(),
        3,
        "three builders left running"
    );
    assert_eq!(aws.own_images().await.len(), 1, "one half-made image");

    // A bake that is still running must not be touched.
    let running_recipe =
        TestRecipe::new("alive").step("long", "#!/bin/sh\necho sleep-for-the-test\n");
    let mut running = aws.bakery().bake(running_recipe.path(), "1.0.0").spawn();
    running.wait_for_line("[recipe/long] started");

    let dry_run = aws.bakery().args(["cleanup"]).run();
    dry_run.expect_code(0);
    dry_run.expect_stdout("run again with --yes");
    assert_eq!(
        aws.live_instances().await.len(),
        4,
        "a dry run removes nothing"
    );

    let cleanup = aws
        .bakery()
        .args(["cleanup", "--yes", "--output", "json"])
        .run();

    cleanup.expect_code(0);
    let report = cleanup.json();
    assert_eq!(report["failed"], json!([]));
    let live = aws.live_instances().await;
    assert_eq!(
        live.len(),
        1,
        "only the running bake's builder is left: {live:?}\n{}",
        cleanup.stdout
    );
    assert!(aws.own_images().await.is_empty(), "no half-made image");
    let ours = aws_sdk_ec2::types::Filter::builder()
        .name("tag-key")
        .values("bakery:bake-id")
        .build();
    let snapshots = aws
        .ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(ours)
        .send()
        .await
        .unwrap();
    assert!(
        snapshots.snapshots().is_empty(),
        "no orphan snapshot: {:?}",
        snapshots.snapshots()
    );
    let claims = aws
        .ssm
        .get_parameters_by_path()
        .path("/bakery/")
        .recursive(true)
        .send()
        .await
        .unwrap();
    let claims: Vec<&str> = claims
        .parameters()
        .iter()
        .map(|p| p.name().unwrap())
        .collect();
    assert_eq!(
        claims,
        ["/bakery/alive/releases/1.0.0"],
        "only the running bake's claim"
    );
    assert_eq!(
        aws.extra_security_groups().await.len(),
        1,
        "only the running bake's group"
    );

    running.signal("INT");
    assert_eq!(running.finish().code, 130);
    assert!(aws.live_instances().await.is_empty());
    let again = aws.bakery().args(["cleanup"]).run();
    again.expect_stdout(&format!("nothing left behind in {}", aws.region));
}

/// Another pid namespace with its own /proc (a Jenkins agent's container), one
/// without (`unshare` alone: /proc is the host's, its pids are not this namespace's),
/// and the host itself.
const PID_NAMESPACES: [&[&str]; 3] = [
    &["unshare", "--pid", "--fork", "--mount-proc"],
    &["unshare", "--pid", "--fork"],
    &["env"],
];

#[tokio::test(flavor = "multi_thread")]
async fn a_cleanup_from_any_pid_namespace_or_binary_name_judges_a_bake_by_its_lock() {
    let aws = Account::fresh().await;
    aws.emulate(json!({
        "command_outcomes": [{"match": "sleep-for-the-test", "status": "Success", "seconds": 600}]
    }));
    let recipe = TestRecipe::new("busy").step("long", "#!/bin/sh\necho sleep-for-the-test\n");
    // Installed under another name: nothing in its command line says "bakery".
    let mut running = aws
        .bakery()
        .renamed("imagebaker")
        .bake(recipe.path(), "1.0.0")
        .spawn();
    running.wait_for_line("[recipe/long] started");

    for namespace in PID_NAMESPACES {
        let cleanup = aws
            .bakery()
            .renamed("janitor")
            .args(["cleanup", "--yes"])
            .through(namespace)
            .run();
        cleanup.expect_code(0);
        cleanup.expect_stdout("nothing left behind");
    }
    assert_eq!(
        aws.live_instances().await.len(),
        1,
        "the running bake's builder stays"
    );
    assert_eq!(aws.extra_security_groups().await.len(), 1, "and its group");
    let claim = aws
        .release_record("busy", "1.0.0")
        .await
        .expect("and its claim");
    let lock = claim["lock"]["path"]
        .as_str()
        .expect("the claim names its lock");
    assert!(std::path::Path::new(lock).exists());

    // Killed, it is known gone at once, from a namespace that cannot see its pid.
    running.signal("KILL");
    assert_eq!(running.finish().code, -1);
    let cleanup = aws
        .bakery()
        .args(["cleanup", "--yes"])
        .through(PID_NAMESPACES[1])
        .run();
    cleanup.expect_code(0);
    cleanup.expect_stdout("is free: its process has ended");
    assert!(aws.live_instances().await.is_empty(), "{}", cleanup.stdout);
    assert!(aws.extra_security_groups().await.is_empty());
    assert!(aws.release_record("busy", "1.0.0").await.is_none());
    assert!(
        !std::path::Path::new(lock).exists(),
        "the lock file went with its claim"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_in_a_loop_beside_starting_bakes_takes_nothing_of_theirs() {
    let aws = Account::fresh().await;
    aws.emulate(json!({"instance_pending_seconds": 1, "command_seconds": 1}));
    let recipe = TestRecipe::new("crowd").step("quick", "#!/bin/sh\ntrue\n");
    let stop = Arc::new(AtomicBool::new(false));
    let janitor = {
        let (region, endpoint, stop) = (aws.region.clone(), aws.endpoint, stop.clone());
        std::thread::spawn(move || {
            let mut runs = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let namespace = PID_NAMESPACES[runs.len() % PID_NAMESPACES.len()];
                let cleanup = Bakery::new(&region)
                    .env("AWS_ENDPOINT_URL", endpoint)
                    .args(["cleanup", "--yes", "--output", "json"])
                    .through(namespace)
                    .run();
                runs.push(cleanup);
            }
            runs
        })
    };
    // Eight bumped bakes start at once: as bakery, under another name, in a pid
    // namespace of their own.
    let bakes: Vec<_> = (0..8)
        .map(|n| {
            let bake = aws.bakery();
            let bake = match n % 3 {
                0 => bake.renamed("imagebaker"),
                1 => bake.through(&["unshare", "--pid", "--fork"]),
                _ => bake,
            };
            bake.args(["bake", "--bump", "patch", "--output", "json"])
                .arg_path(recipe.path())
                .spawn()
        })
        .collect();
    let outcomes: Vec<_> = bakes.into_iter().map(|bake| bake.finish()).collect();
    stop.store(true, Ordering::SeqCst);
    let runs = janitor.join().unwrap();

    assert!(runs.len() >= 2, "the cleanups ran while the bakes did");
    for run in &runs {
        run.expect_code(0);
        assert_eq!(run.json()["leftovers"], json!([]), "{}", run.stdout);
    }
    let mut versions = std::collections::BTreeSet::new();
    for outcome in &outcomes {
        outcome.expect_code(0);
        let result = outcome.json();
        let version = result["version"].as_str().unwrap().to_string();
        let record = aws.release_record("crowd", &version).await.unwrap();
        assert_eq!(record["state"], "released");
        let image = record["images"][&aws.region].as_str().unwrap();
        assert_eq!(
            aws.image(image).await.state().unwrap().as_str(),
            "available"
        );
        versions.insert(version);
    }
    assert_eq!(versions.len(), 8, "eight releases");
    assert!(aws.live_instances().await.is_empty());
    assert!(aws.extra_security_groups().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cleanup_asks_again_before_each_removal_and_spares_a_release_made_meanwhile() {
    let aws = Account::fresh().await;
    aws.emulate(json!({
        "command_outcomes": [{"match": "sleep-for-the-test", "status": "Success", "seconds": 600}]
    }));
    let recipe = TestRecipe::new("comeback").step("long", "#!/bin/sh\necho sleep-for-the-test\n");
    let mut bake = aws.bakery().bake(recipe.path(), "1.0.0").spawn();
    bake.wait_for_line("[recipe/long] started");
    bake.signal("KILL");
    assert_eq!(bake.finish().code, -1);
    // The builder's termination answers late; meanwhile the release is recorded, as a
    // bake taken for dead but alive would do.
    aws.emulate(json!({"faults": [
        {"action": "TerminateInstances", "times": 1, "delay_seconds": 5}
    ]}));
    let before = aws.calls("TerminateInstances");
    let cleanup = aws
        .bakery()
        .args(["cleanup", "--yes", "--output", "json"])
        .spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while aws.calls("TerminateInstances") == before {
        assert!(
            std::time::Instant::now() < deadline,
            "cleanup never terminated"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mut record = aws.release_record("comeback", "1.0.0").await.unwrap();
    record["state"] = json!("released");
    aws.write_claim("comeback", "1.0.0", &record).await;

    let cleanup = cleanup.finish();
    cleanup.expect_code(0);
    let report = cleanup.json();
    let spared: Vec<&str> = report["spared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["resource"]["type"].as_str().unwrap_or_default())
        .collect();
    assert!(!spared.is_empty(), "{report:#}");
    assert!(
        report["spared"][0]["why"]
            .as_str()
            .unwrap()
            .contains("finished its release since the listing"),
        "{report:#}"
    );
    let kept = aws.release_record("comeback", "1.0.0").await;
    assert_eq!(kept.unwrap()["state"], "released", "the record stays");
    assert!(
        aws.live_instances().await.is_empty(),
        "the builder went first"
    );

    // The next cleanup judges afresh: the group of a bake that holds no claim goes,
    // the release stays.
    let again = aws.bakery().args(["cleanup", "--yes"]).run();
    again.expect_code(0);
    assert!(
        aws.extra_security_groups().await.is_empty(),
        "{}",
        again.stdout
    );
    assert!(aws.release_record("comeback", "1.0.0").await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_builder_kept_on_failure_is_spared_by_cleanup_until_its_deadline() {
    let aws = Account::fresh().await;
    aws.emulate(json!({
        "command_outcomes": [{"match": "exit 3", "status": "Failed", "exit_code": 3}]
    }));
    let recipe = TestRecipe::new("broken").step("fail", "#!/bin/sh\nexit 3\n");
    let failed = aws
        .bakery()
        .bake(recipe.path(), "1.0.0")
        .args(["--keep-on-failure"])
        .run();
    failed.expect_code(1);
    let kept = aws.live_instances().await;
    assert_eq!(kept.len(), 1);

    let cleanup = aws.bakery().args(["cleanup", "--yes"]).run();

    cleanup.expect_code(0);
    assert!(
        cleanup
            .stdout
            .lines()
            .any(|l| l.starts_with("kept") && l.contains(&format!("instance {}", kept[0]))),
        "{}",
        cleanup.stdout
    );
    cleanup.expect_stdout("until its deadline");
    cleanup.expect_stdout("run again with --kept --yes");
    assert_eq!(
        aws.live_instances().await,
        kept,
        "still there for debugging"
    );
    assert_eq!(aws.extra_security_groups().await.len(), 1, "kept with it");

    let removed = aws.bakery().args(["cleanup", "--kept", "--yes"]).run();

    removed.expect_code(0);
    removed.expect_stdout("removed on request (--kept)");
    assert!(aws.live_instances().await.is_empty(), "{}", removed.stdout);
    assert!(
        aws.extra_security_groups().await.is_empty(),
        "{}",
        removed.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_left_by_a_distribution_killed_after_the_record_are_found_and_copied_again() {
    let home = Account::fresh().await;
    let far = home.neighbour().await;
    let regions = format!("{},{}", home.region, far.region);
    let recipe = TestRecipe::new("spread");
    home.bake_ok(recipe.path(), &["--version", "1.0.0"]);
    // Baked long ago: its bake's last lease (five minutes after the record) is over.
    let mut record = home.release_record("spread", "1.0.0").await.unwrap();
    record["lease_until"] = json!("2026-01-01T00:00:00Z");
    home.write_claim("spread", "1.0.0", &record).await;
    let recipe_with_copies = TestRecipe::new("copied");
    far.emulate(json!({"image_pending_seconds": 600}));

    // `bakery distribute`, and a bake's own distribute step, killed while copying.
    let distribute = home
        .bakery()
        .args(["distribute", "spread", "1.0.0", "--regions", &far.region])
        .spawn();
    far.until_images(1).await;
    distribute.signal("KILL");
    assert_eq!(distribute.finish().code, -1);
    let bake = home
        .bakery()
        .bake(recipe_with_copies.path(), "1.0.0")
        .args(["--copy-to", &far.region])
        .spawn();
    far.until_images(2).await;
    bake.signal("KILL");
    assert_eq!(bake.finish().code, -1);
    let pending = far.own_images().await;
    assert!(pending
        .iter()
        .all(|i| i.state().unwrap().as_str() == "pending"));

    let cleanup = home
        .bakery()
        .args([
            "cleanup",
            "--yes",
            "--regions",
            &regions,
            "--output",
            "json",
        ])
        .run();
    cleanup.expect_code(0);
    let leftovers = cleanup.json()["leftovers"].clone();
    for copy in &pending {
        let id = copy.image_id().unwrap();
        assert!(
            leftovers
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["resource"]["id"] == id
                    && l["reason"]
                        .as_str()
                        .unwrap()
                        .contains("its record does not name")),
            "{id} listed: {leftovers:#}"
        );
    }
    assert!(far.own_images().await.is_empty(), "both copies removed");
    for role in ["spread", "copied"] {
        let record = home.release_record(role, "1.0.0").await.unwrap();
        assert_eq!(record["state"], "released", "{role}'s record stays");
        assert!(home.release_record(role, "1.0.0").await.is_some());
        assert_eq!(record["images"].as_object().unwrap().len(), 1);
    }
    assert!(
        home.live_instances().await.is_empty(),
        "the killed bake's builder went"
    );

    // `distribute` copies again: a new copy, available, in the record.
    far.emulate(json!({"image_pending_seconds": 0}));
    for role in ["spread", "copied"] {
        let again = home
            .bakery()
            .args(["distribute", role, "1.0.0", "--regions", &far.region])
            .args(["--output", "json"])
            .run();
        again.expect_code(0);
        let record = home.release_record(role, "1.0.0").await.unwrap();
        let copy = record["images"][&far.region].as_str().unwrap();
        assert!(
            pending.iter().all(|p| p.image_id().unwrap() != copy),
            "not a replay"
        );
        assert_eq!(far.image(copy).await.state().unwrap().as_str(), "available");
        assert!(
            record.get("distributing").is_none(),
            "the run's lease is gone"
        );
    }
}
