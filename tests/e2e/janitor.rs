//! `bakery cleanup` after `kill -9`: nothing may be left behind, and a bake that still
//! runs is left alone.

use serde_json::json;

use crate::support::{Account, TestRecipe};

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_removes_what_killed_bakes_left_and_spares_a_running_bake() {
    let aws = Account::in_region("af-south-1").await;
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
    again.expect_stdout("nothing left behind in af-south-1");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cleanup_in_another_pid_namespace_spares_a_running_bake() {
    let aws = Account::in_second_emulator("ap-northeast-1").await;
    aws.emulate(json!({
        "command_outcomes": [{"match": "sleep-for-the-test", "status": "Success", "seconds": 600}]
    }));
    let recipe = TestRecipe::new("busy").step("long", "#!/bin/sh\necho sleep-for-the-test\n");
    let mut running = aws.bakery().bake(recipe.path(), "1.0.0").spawn();
    running.wait_for_line("[recipe/long] started");

    // A Jenkins agent's container: the same host name, a pid namespace of its own,
    // where the bake's process cannot be seen.
    let cleanup = aws
        .bakery()
        .args(["cleanup", "--yes"])
        .through(&["unshare", "--pid", "--fork", "--mount-proc"])
        .run();

    cleanup.expect_code(0);
    cleanup.expect_stdout("nothing left behind");
    assert_eq!(
        aws.live_instances().await.len(),
        1,
        "the running bake's builder stays"
    );
    assert!(
        aws.release_record("busy", "1.0.0").await.is_some(),
        "and its claim"
    );
    running.signal("INT");
    assert_eq!(running.finish().code, 130);
    assert!(aws.live_instances().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_builder_kept_on_failure_is_spared_by_cleanup_until_its_deadline() {
    let aws = Account::in_second_emulator("ap-northeast-2").await;
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
    assert_eq!(
        aws.live_instances().await,
        kept,
        "still there for debugging"
    );
    aws.terminate(&kept[0]).await;
}
