//! The release gate: a test instance from the new image boots through firstboot and
//! runs the recipe's tests before the image may become a release; a failure leaves
//! nothing; `--skip-tests` is recorded and `promote` then wants `--force`; `bakery
//! test` runs the gate again on a release and records what it says.

use serde_json::{json, Value};

use crate::support::{nothing_but_releases_left, tags, Account, TestRecipe};

/// A role with a step and two tests.
fn gated(role: &str) -> TestRecipe {
    TestRecipe::new(role)
        .with_base("image = \"ami-1e749f67\"")
        .step("install", "#!/bin/sh\necho installing\n")
        .test(
            "sshd-config",
            "#!/bin/sh\nsshd -t && echo sshd config valid\n",
        )
        .test(
            "agents",
            "#!/bin/sh\nsystemctl is-enabled amazon-ssm-agent\n",
        )
}

async fn test_instances(aws: &Account, bake_id: &str) -> Vec<aws_sdk_ec2::types::Instance> {
    aws.test_instances(bake_id).await
}

fn step_names(result: &Value) -> Vec<String> {
    crate::recipe::step_names(result)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passing_gate_releases_the_image_it_booted_and_says_so() {
    let aws = Account::fresh_in_gov().await;
    let recipe = gated("gated");

    let result = aws.bake_ok(recipe.path(), &["--version", "1.0.0"]);

    let steps = step_names(&result);
    let after_image: Vec<&str> = steps
        .iter()
        .skip_while(|s| *s != "wait-image")
        .map(String::as_str)
        .collect();
    assert_eq!(
        after_image,
        [
            "wait-image",
            "terminate",
            "test-launch",
            "test-ready",
            "test-firstboot",
            "test/sshd-config",
            "test/agents",
            "test-terminate",
            "record-release",
            "promote"
        ]
    );
    assert_eq!(result["tests"], "passed");
    assert_eq!(result["test_names"], json!(["sshd-config", "agents"]));
    let image_id = result["images"][0]["image_id"].as_str().unwrap();
    let image = aws.image(image_id).await;
    assert_eq!(
        tags(image.tags())["bakery:tests"],
        "passed (sshd-config, agents)"
    );
    let record = aws.release_record("gated", "1.0.0").await.unwrap();
    assert_eq!(record["tests"]["state"], "passed");
    assert_eq!(record["tests"]["tests"], json!(["sshd-config", "agents"]));

    // The test instance was made from the new image, with the builder's hardening.
    let bake_id = result["bake_id"].as_str().unwrap();
    let tested = test_instances(&aws, bake_id).await;
    assert_eq!(tested.len(), 1);
    let instance = &tested[0];
    assert_eq!(instance.image_id(), Some(image_id));
    let metadata = instance.metadata_options().unwrap();
    assert_eq!(metadata.http_tokens().unwrap().as_str(), "required");
    assert_eq!(
        metadata.instance_metadata_tags().unwrap().as_str(),
        "enabled",
        "the agent reads its placeholders and runlist override from the tags"
    );
    assert!(instance.key_name().is_none(), "no key pair");
    let id = instance.instance_id().unwrap();
    let commands: Vec<String> = aws
        .commands_sent_to(id)
        .await
        .into_iter()
        .map(|(_, script)| script)
        .collect();
    assert_eq!(commands.len(), 3, "firstboot, then each test: {commands:?}");
    assert!(
        commands[0].contains("how the firstboot agent ended"),
        "{commands:?}"
    );
    assert!(commands[1].contains("sshd -t"), "{commands:?}");
    assert!(
        commands[2].contains("systemctl is-enabled amazon-ssm-agent"),
        "{commands:?}"
    );
    nothing_but_releases_left("gated", &aws, &[&aws]).await;

    let releases = aws.bakery().args(["releases", "gated"]).run();
    releases.expect_code(0);
    releases.expect_stdout("TESTS");
    releases.expect_stdout("passed");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plan_and_the_dry_run_know_the_test_instance() {
    let aws = Account::fresh_in_gov().await;
    let recipe =
        gated("planned").with_toml("[test]\ninstance_type = \"t3.large\"\nrunlist = \"none\"\n");

    let plan = aws.bakery().plan_json(recipe.path(), "1.0.0").run();
    plan.expect_code(0);
    let plan = plan.json();
    let chain: Vec<&str> = plan["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        chain.contains(&"test-firstboot") && chain.contains(&"test/agents"),
        "{chain:?}"
    );
    let calls = plan["aws_calls"].to_string();
    assert!(
        calls.contains("ec2:RunInstances t3.large from the new image"),
        "{calls}"
    );
    assert_eq!(plan["builds"][0]["test_instance_type"], "t3.large");
    assert_eq!(plan["test"]["runlist"], "none");

    let dry = aws
        .bakery()
        .args(["bake", "--dry-run", "--version", "1.0.0"])
        .arg_path(recipe.path())
        .run();
    dry.expect_code(0);
    dry.expect_stderr("ec2:RunInstances t3.large for the test instance would succeed");
}

#[tokio::test(flavor = "multi_thread")]
async fn skipped_tests_are_recorded_promote_wants_force_and_bakery_test_clears_them() {
    let aws = Account::fresh_in_gov().await;
    let recipe = gated("skipper");
    let tested_first = aws.bake_ok(recipe.path(), &["--version", "1.0.0"]);
    let first_image = tested_first["images"][0]["image_id"].as_str().unwrap();

    let result = aws.bake_ok(recipe.path(), &["--version", "2.0.0", "--skip-tests"]);
    assert_eq!(result["tests"], "skipped");
    assert_eq!(
        aws.channel("skipper", "latest").await.as_deref(),
        Some(first_image),
        "latest stays on the release that passed its tests"
    );
    let before = aws.footprint().await;
    let untested = aws
        .bakery()
        .bake(recipe.path(), "3.0.0")
        .args(["--skip-tests", "--promote", "stable"])
        .run();
    untested.expect_code(2);
    untested.expect_stderr("--promote stable with --skip-tests");
    assert_eq!(aws.footprint().await, before, "nothing created");
    assert!(!step_names(&result).iter().any(|s| s.starts_with("test")));
    let image_id = result["images"][0]["image_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        tags(aws.image(&image_id).await.tags())["bakery:tests"],
        "skipped"
    );
    assert_eq!(
        aws.release_record("skipper", "2.0.0").await.unwrap()["tests"]["state"],
        "skipped"
    );

    let promote = |force: bool| {
        let mut bakery = aws
            .bakery()
            .args(["promote", "skipper", "2.0.0", "--channel", "stable"]);
        if force {
            bakery = bakery.args(["--force"]);
        }
        bakery.run()
    };
    let refused = promote(false);
    refused.expect_code(2);
    refused.expect_stderr(
        "skipper@2.0.0 has not passed its recipe's tests: it was made with --skip-tests",
    );
    refused.expect_stderr("--force");
    promote(true).expect_code(0);

    // The gate again, against the release: recorded on the record and the tag.
    let tested = aws
        .bakery()
        .args(["test", "--output", "json"])
        .arg_path(recipe.path())
        .args(["2.0.0"])
        .run();
    tested.expect_code(0);
    let report = tested.json();
    assert_eq!(report["tests"], "passed");
    assert_eq!(report["images"][0]["image_id"], image_id.as_str());
    let record = aws.release_record("skipper", "2.0.0").await.unwrap();
    assert_eq!(record["tests"]["state"], "passed");
    assert_eq!(record["tests"]["by"], report["run_id"]);
    assert!(record.get("retest").is_none(), "the run's lease is gone");
    assert_eq!(
        tags(aws.image(&image_id).await.tags())["bakery:tests"],
        "passed (sshd-config, agents)"
    );
    assert_eq!(
        aws.channel("skipper", "latest").await,
        Some(image_id.clone()),
        "passed now: latest moves to it"
    );
    assert_eq!(
        test_instances(&aws, report["run_id"].as_str().unwrap())
            .await
            .len(),
        1
    );
    nothing_but_releases_left("skipper", &aws, &[&aws]).await;
    promote(false).expect_code(0);

    // Another run holds the release (its lease on the record is live): refused.
    let mut held = record.clone();
    held["retest"] = json!({ "run": "t-other", "lease_until": "2099-01-01T00:00:00Z" });
    aws.write_claim("skipper", "2.0.0", &held).await;
    let second = aws
        .bakery()
        .args(["test", "--output", "json"])
        .arg_path(recipe.path())
        .args(["2.0.0"])
        .run();
    second.expect_code(2);
    second.expect_stderr("is being tested by another `bakery test` (run t-other");
    assert_eq!(second.json()["failed_step"], "find-release");
    aws.write_claim("skipper", "2.0.0", &record).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_test_leaves_no_image_no_snapshot_no_claim_and_names_the_test() {
    let aws = Account::fresh_in_gov().await;
    aws.emulate(json!({
        "command_outcomes": [{
            "match": "sshd -t && echo sshd config valid",
            "status": "Failed", "exit_code": 255,
            "stdout": "",
            "stderr": "/etc/ssh/sshd_config line 12: Bad configuration option: PermitRootLogn\n"
        }]
    }));
    let recipe = gated("refused");
    let inbox = aws.inbox("gate-alerts").await;
    let before = aws.footprint().await;

    let bake = aws
        .bakery()
        .bake_json(recipe.path(), "1.0.0")
        .args(["--keep-on-failure", "--sns-topic", &inbox.topic_arn])
        .run();

    bake.expect_code(1);
    let result = bake.json();
    assert_eq!(result["failed_step"], "test/sshd-config");
    assert_eq!(result["tests"], "failed");
    let error = result["error"].as_str().unwrap();
    assert!(
        error.contains("Bad configuration option: PermitRootLogn"),
        "{error}"
    );
    let alerts = inbox.messages().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].1["step"], "test/sshd-config");
    assert!(alerts[0].1["output_tail"]
        .as_str()
        .unwrap()
        .contains("PermitRootLogn"));
    assert!(
        aws.release_record("refused", "1.0.0").await.is_none(),
        "no claim, no record"
    );
    // --keep-on-failure keeps the test instance (the builder was gone already).
    let kept = result["kept"].as_array().unwrap();
    assert_eq!(kept.len(), 2, "the test instance and its group: {kept:?}");
    let test_instance = test_instances(&aws, result["bake_id"].as_str().unwrap()).await;
    assert_eq!(kept[0]["id"], test_instance[0].instance_id().unwrap());
    bake.expect_stderr("the test instance stays for debugging");
    bake.expect_stderr("the test instance's group stays with it");
    assert!(
        !bake.stderr.contains("the builder stays"),
        "the builder was gone already:\n{}",
        bake.stderr
    );
    let events = bake.events();
    let finished = events
        .iter()
        .find(|e| e["event"] == "cleanup_finished")
        .unwrap();
    assert_eq!(finished["kept"].as_array().unwrap().len(), 2, "{finished}");
    assert_eq!(finished["leaked"].as_array().unwrap().len(), 0);
    let mut after = aws.footprint().await;
    assert_eq!(after.remove("instances").unwrap().len(), 1);
    assert_eq!(after.remove("security groups").unwrap().len(), 1);
    let mut expected = before.clone();
    expected.remove("instances");
    expected.remove("security groups");
    assert_eq!(after, expected, "no image, no snapshot, no parameter");

    // The builder's group, kept with the test instance, lives as long as it does.
    let group = aws.extra_security_groups().await.remove(0);
    assert_eq!(
        aws.security_group_tags(&group).await["bakery:deadline"],
        tags(test_instance[0].tags())["bakery:deadline"],
    );
    let removed = aws.bakery().args(["cleanup", "--kept", "--yes"]).run();
    removed.expect_code(0);
    assert!(aws.live_instances().await.is_empty(), "{}", removed.stdout);
    assert!(
        aws.extra_security_groups().await.is_empty(),
        "{}",
        removed.stdout
    );
}

/// One region for the three ways a test stage ends early (each sets the emulator).
#[tokio::test(flavor = "multi_thread")]
async fn a_firstboot_failure_a_signal_or_kill_9_in_the_test_stage_leave_nothing() {
    let aws = Account::fresh().await;
    let before = aws.footprint().await;

    // The firstboot agent failed on the test instance: the bake names its phase.
    let outcome = json!({
        "phase": "fetch", "exit_code": 4, "command_exit_code": 1,
        "error": "could not fetch s3://runlists/prod/zookeeper.json after 5 attempts",
        "finished_at": "2026-11-23T10:00:00Z", "role": "booting", "version": "1.0.0"
    });
    aws.emulate(json!({
        "command_outcomes": [{
            "match": "how the firstboot agent ended on this test instance",
            "status": "Failed", "exit_code": 1,
            "stdout": format!("bakery-firstboot: fetching s3://runlists/prod/zookeeper.json (attempt 5 of 5)\n{outcome}\n")
        }]
    }));
    let bake = aws
        .bakery()
        .bake_json(gated("booting").path(), "1.0.0")
        .run();
    bake.expect_code(1);
    let result = bake.json();
    assert_eq!(result["failed_step"], "test-firstboot");
    // Each removal said once (a snapshot was said with its image, then again).
    let removed: Vec<String> = bake
        .events()
        .iter()
        .filter(|e| e["event"] == "resource_removed")
        .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
        .collect();
    let once: std::collections::BTreeSet<&String> = removed.iter().collect();
    assert_eq!(once.len(), removed.len(), "{removed:?}");
    assert!(
        removed.iter().any(|id| id.starts_with("snap-")),
        "{removed:?}"
    );
    let error = result["error"].as_str().unwrap();
    assert!(
        error.contains("the firstboot agent failed in its `fetch` phase"),
        "{error}"
    );
    assert!(
        error.contains("could not fetch s3://runlists/prod/zookeeper.json"),
        "{error}"
    );
    assert_eq!(aws.footprint().await, before, "nothing left, no release");

    // SIGINT while a test runs.
    aws.emulate(json!({
        "command_outcomes": [{ "match": "slow smoke test", "seconds": 600 }]
    }));
    let slow = gated("interrupted").test("slow", "#!/bin/sh\n# slow smoke test\ntrue\n");
    let mut bake = aws.bakery().bake(slow.path(), "1.0.0").spawn();
    bake.wait_for_line("[test/slow] started");
    bake.signal("INT");
    let bake = bake.finish();
    bake.expect_code(130);
    bake.expect_stdout("INTERRUPTED at step `test/slow`");
    assert_eq!(aws.footprint().await, before, "interrupted: nothing left");

    // kill -9 as the test instance boots, then `bakery cleanup`.
    let killed = gated("killed");
    let mut bake = aws.bakery().bake(killed.path(), "1.0.0").spawn();
    bake.wait_for_line("[test-ready] started");
    bake.signal("KILL");
    assert_eq!(bake.finish().code, -1);
    aws.settle().await;
    assert!(
        !aws.live_instances().await.is_empty(),
        "the test instance was left running"
    );
    let cleanup = aws
        .bakery()
        .args(["cleanup", "--yes", "--output", "json"])
        .run();
    cleanup.expect_code(0);
    let removed = cleanup.json().to_string();
    assert!(removed.contains("test instance"), "{removed}");
    assert_eq!(aws.footprint().await, before, "after cleanup: nothing left");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_rerun_is_recorded_and_promote_refuses_it() {
    let aws = Account::fresh().await;
    let recipe = gated("rerun");
    aws.bake_ok(recipe.path(), &["--version", "1.0.0"]);

    // The fleet's runlist changed: the same image now fails a test.
    aws.emulate(json!({
        "command_outcomes": [{
            "match": "systemctl is-enabled amazon-ssm-agent",
            "status": "Failed", "exit_code": 1, "stdout": "disabled\n"
        }]
    }));
    let tested = aws
        .bakery()
        .args(["test"])
        .arg_path(recipe.path())
        .args(["1.0.0"])
        .run();
    tested.expect_code(1);
    tested.expect_stdout("rerun@1.0.0: test run FAILED at step `test/agents`");
    tested.expect_stdout("the release's tests are now recorded as: failed");
    let record = aws.release_record("rerun", "1.0.0").await.unwrap();
    assert_eq!(record["tests"]["state"], "failed");
    assert_eq!(record["tests"]["failed"], "test/agents");
    assert!(aws.live_instances().await.is_empty());
    assert!(aws.extra_security_groups().await.is_empty());

    let refused = aws
        .bakery()
        .args(["promote", "rerun", "1.0.0", "--channel", "stable"])
        .run();
    refused.expect_code(2);
    refused.expect_stderr("its tests failed at `test/agents`");

    // A role layered on a range does not land on it; pinned, it does.
    let layered = |version: &str| {
        let recipe = TestRecipe::new("onrerun")
            .with_base(&format!("role = \"rerun\", version = \"{version}\""));
        aws.bakery()
            .bake_json(recipe.path(), "1.0.0")
            .args(["--dry-run"])
            .run()
    };
    let ranged = layered("^1");
    ranged.expect_code(2);
    ranged.expect_stderr("no available x86_64 release of rerun matches ^1 and passed its tests");
    let pinned = layered("1.0.0");
    pinned.expect_code(0);
    assert_eq!(pinned.json()["base_release"], "rerun@1.0.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn bakery_test_gives_the_tests_the_variables_the_release_was_baked_with() {
    let aws = Account::fresh_in_gov().await;
    let recipe = gated("versioned")
        .with_toml("[vars.APP_VERSION]\nrequired = true\n")
        .test(
            "app",
            "#!/bin/sh\ntest \"$(cat /opt/app/VERSION)\" = \"$APP_VERSION\"\n",
        );
    aws.bake_ok(
        recipe.path(),
        &[
            "--version",
            "1.0.0",
            "--skip-tests",
            "--var",
            "APP_VERSION=7.1.0",
        ],
    );

    let tested = aws
        .bakery()
        .args(["test", "--output", "json"])
        .arg_path(recipe.path())
        .args(["1.0.0"])
        .run();
    tested.expect_code(0);
    let run_id = tested.json()["run_id"].as_str().unwrap().to_string();
    let instance = test_instances(&aws, &run_id).await;
    let scripts: Vec<String> = aws
        .commands_sent_to(instance[0].instance_id().unwrap())
        .await
        .into_iter()
        .map(|(_, script)| script)
        .collect();
    let app = scripts
        .iter()
        .find(|s| s.contains("/opt/app/VERSION"))
        .unwrap();
    assert!(app.contains("export APP_VERSION='7.1.0'"), "{app}");
}
