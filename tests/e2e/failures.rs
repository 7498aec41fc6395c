//! A bake that fails removes everything it created and says why: a failing step, a
//! failed image, a cleanup that cannot finish (exit 3), `--keep-on-failure`, and input
//! refused before anything exists (exit 2).

use serde_json::json;

use crate::support::{Account, TestRecipe};

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_step_fails_the_bake_names_the_step_and_removes_everything() {
    let aws = Account::fresh().await;
    aws.emulate(json!({
        "command_seconds": 1,
        "command_outcomes": [{
            "match": "apt-get install -y broken-package",
            "status": "Failed", "exit_code": 100,
            "stdout": "Reading package lists...\nBuilding dependency tree...\n",
            "stderr": "E: Unable to locate package broken-package\n"
        }]
    }));
    let recipe = TestRecipe::new("web")
        .step("prepare", "#!/bin/sh\necho preparing\n")
        .step(
            "install",
            "#!/bin/sh\nset -e\napt-get install -y broken-package\n",
        )
        .step("never", "#!/bin/sh\necho unreachable\n");

    let bake = aws.bakery().bake_json(recipe.path(), "1.0.0").run();

    bake.expect_code(1);
    let result = bake.json();
    assert_eq!(result["status"], "failed");
    assert_eq!(result["failed_step"], "recipe/install");
    let error = result["error"].as_str().unwrap();
    assert!(error.contains("step `recipe/install` failed"), "{error}");
    assert!(error.contains("exit code 100"), "{error}");
    assert!(
        error.contains("E: Unable to locate package broken-package"),
        "{error}"
    );
    assert!(error.contains(&aws.region), "{error}");
    assert!(aws.own_images().await.is_empty());
    assert!(aws.live_instances().await.is_empty());
    assert!(aws.extra_security_groups().await.is_empty());
    assert_eq!(result["leaked"], json!([]));
    let builder = result["builder_instance_id"].as_str().unwrap();
    assert_eq!(
        aws.commands_sent_to(builder).await.len(),
        2,
        "the step after the failure never ran"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_image_fails_fast_and_is_cleaned_up() {
    let aws = Account::fresh().await;
    aws.emulate(json!({ "image_pending_seconds": 2, "image_final_state": "failed" }));
    let recipe = TestRecipe::new("fragile");

    let bake = aws.bakery().bake_json(recipe.path(), "1.0.0").run();

    bake.expect_code(1);
    let result = bake.json();
    assert_eq!(result["failed_step"], "wait-image");
    assert!(
        result["error"].as_str().unwrap().contains("is `failed`"),
        "{}",
        result["error"]
    );
    assert!(
        result["seconds"].as_f64().unwrap() < 120.0,
        "no waiting for the deadline"
    );
    assert!(aws.own_images().await.is_empty());
    assert!(aws
        .snapshots_of_bake(result["bake_id"].as_str().unwrap())
        .await
        .is_empty());
    assert!(aws.live_instances().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_on_failure_keeps_the_builder_and_says_so() {
    let aws = Account::fresh().await;
    aws.emulate(json!({
        "command_outcomes": [{"match": "exit 7", "status": "Failed", "exit_code": 7}]
    }));
    let recipe = TestRecipe::new("debugme").step("boom", "#!/bin/sh\nexit 7\n");

    let bake = aws
        .bakery()
        .args(["bake", "--version", "1.0.0", "--keep-on-failure"])
        .arg_path(recipe.path())
        .run();

    bake.expect_code(1);
    bake.expect_stderr("KEEPING instance");
    bake.expect_stderr("dead-man's switch");
    bake.expect_stderr("the builder's group stays with it");
    bake.expect_stderr("kept on purpose: instance");
    assert!(
        !bake.stderr.contains("nothing left behind"),
        "{}",
        bake.stderr
    );
    bake.expect_stdout("KEPT on purpose: instance");
    let live = aws.live_instances().await;
    assert_eq!(live.len(), 1, "the builder is still there");
    aws.terminate(&live[0]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cleanup_that_cannot_finish_exits_3_and_names_what_leaked() {
    let aws = Account::fresh().await;
    aws.emulate(json!({
        "command_outcomes": [{"match": "exit 5", "status": "Failed", "exit_code": 5}],
        "faults": [{"action": "TerminateInstances", "times": 100, "status": 403, "code": "UnauthorizedOperation",
                    "message": "You are not authorized to perform this operation."}]
    }));
    let recipe = TestRecipe::new("leaky").step("fail", "#!/bin/sh\nexit 5\n");

    let bake = aws.bakery().bake_json(recipe.path(), "1.0.0").run();

    bake.expect_code(3);
    let result = bake.json();
    let builder = result["builder_instance_id"].as_str().unwrap();
    assert_eq!(result["leaked"][0]["type"], "instance");
    assert_eq!(result["leaked"][0]["id"], builder);
    bake.expect_stderr("UnauthorizedOperation");
    aws.emulate(json!({ "faults": [] }));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_that_exists_is_refused_before_anything_is_launched() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("api").step("build", "#!/bin/sh\necho build\n");
    let first = aws.bakery().bake(recipe.path(), "3.1.0").run();
    first.expect_code(0);
    // Without a terminal, progress is one timestamped line per event; the result is on stdout.
    assert!(
        first.stderr.lines().all(|l| l.starts_with("20")),
        "{}",
        first.stderr
    );
    assert!(
        first.stdout.starts_with("api@3.1.0 baked in "),
        "{}",
        first.stdout
    );
    let instances_before = aws.instances().await.len();

    let again = aws.bakery().bake_json(recipe.path(), "3.1.0").run();

    again.expect_code(2);
    let error = again.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains(&format!("api@3.1.0 already exists in {}", aws.region)),
        "{error}"
    );
    assert!(error.contains("--version 3.1.1"), "{error}");
    assert_eq!(
        aws.instances().await.len(),
        instances_before,
        "nothing launched"
    );
    assert_eq!(aws.own_images().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_exits_2_says_where_and_creates_nothing() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("app").with_toml("colour = \"blue\"\n");

    let bad_key = aws.bakery().bake(recipe.path(), "1.0.0").run();
    assert_eq!(bad_key.code, 2);
    bad_key.expect_stderr("recipe.toml:7:1: unknown field `colour`");

    let good = TestRecipe::new("app");
    let bad_version = aws.bakery().bake(good.path(), "1.0").run();
    assert_eq!(bad_version.code, 2);
    bad_version.expect_stderr("invalid --version `1.0`");

    let missing = aws
        .bakery()
        .args([
            "bake",
            "recipes/nope",
            "--version",
            "1.0.0",
            "--output",
            "json",
        ])
        .run();
    assert_eq!(missing.code, 2);
    assert_eq!(missing.json()["error_kind"], "invalid-input");

    let bad_flag = aws
        .bakery()
        .args([
            "bake",
            "recipes/base",
            "--version",
            "1.0.0",
            "--output",
            "yaml",
        ])
        .run();
    assert_eq!(bad_flag.code, 2);
    bad_flag.expect_stderr("--output");

    let unknown_base = TestRecipe::new("app2").with_toml("");
    std::fs::write(
        unknown_base.path().join("recipe.toml"),
        "name = \"app2\"\nplatform = \"linux\"\narch = \"x86_64\"\nbase = { ssm_parameter = \"/no/such/parameter\" }\n",
    )
    .unwrap();
    let no_base = aws.bakery().bake(unknown_base.path(), "1.0.0").run();
    no_base.expect_code(2);
    no_base.expect_stdout("SSM parameter /no/such/parameter");

    assert!(aws.instances().await.is_empty());
    assert!(aws.extra_security_groups().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_after_the_record_never_removes_the_release() {
    let aws = Account::fresh().await;
    // The builder cannot be terminated: the failure comes after the release is recorded.
    aws.emulate(json!({
        "faults": [{"action": "TerminateInstances", "times": null, "status": 403,
                    "code": "UnauthorizedOperation",
                    "message": "You are not authorized to perform this operation."}]
    }));
    let recipe = TestRecipe::new("kept");

    let bake = aws
        .bakery()
        .bake_json(recipe.path(), "7.0.0")
        .args(["--promote", "stable"])
        .run();

    aws.emulate(json!({ "clear_faults": true }));
    let result = bake.json();
    bake.expect_stderr("UnauthorizedOperation");
    assert_eq!(bake.code, 5, "released, not finished: {}", bake.stderr);
    let image = result["images"][0]["image_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        aws.image(&image).await.state().map(|s| s.as_str()),
        Some("available"),
        "the release's image stays"
    );
    let record = aws.release_record("kept", "7.0.0").await.unwrap();
    assert_eq!(record["state"], "released");
    for channel in ["latest", "stable"] {
        assert_eq!(
            aws.channel("kept", channel).await,
            Some(image.clone()),
            "{channel}"
        );
    }
    let cleanup = format!("bakery cleanup --regions {} --yes", aws.region);
    assert!(
        result["to_complete"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().starts_with(&cleanup)),
        "{result}"
    );
    let builder = result["builder_instance_id"].as_str().unwrap();
    assert!(
        result["leaked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == builder),
        "the builder is named: {result}"
    );

    // The janitor removes the builder and leaves the release be.
    aws.bakery().args(["cleanup", "--yes"]).run().expect_code(0);
    assert!(aws.live_instances().await.is_empty(), "the builder is gone");
    assert_eq!(
        aws.image(&image).await.state().map(|s| s.as_str()),
        Some("available")
    );
    assert_eq!(
        aws.release_record("kept", "7.0.0").await.unwrap()["state"],
        "released"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_step_with_more_output_than_ssm_returns_says_its_end_is_missing() {
    let aws = Account::fresh().await;
    // 40,000 characters: SSM returns the first 24,000, so the failure's own last lines
    // never reach bakery.
    let output: String = (0..4000).map(|n| format!("compiling {n:05}\n")).collect();
    aws.emulate(json!({ "command_outcomes": [{
        "match": "make world", "status": "Failed", "exit_code": 2,
        "stdout": format!("{output}error: the last line\n")
    }] }));
    let recipe = TestRecipe::new("chatty").step("build", "#!/bin/sh\nmake world\n");

    let bake = aws.bakery().bake_json(recipe.path(), "1.0.0").run();

    bake.expect_code(1);
    let error = bake.json()["error"].as_str().unwrap().to_string();
    assert!(
        !error.contains("error: the last line"),
        "SSM cut it: {error}"
    );
    assert!(
        error.contains("the step's last lines are not here"),
        "{error}"
    );
    assert!(aws.live_instances().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminate_refused_with_another_resource_s_not_found_is_reported_not_waited_on() {
    let aws = Account::fresh().await;
    // The step fails; the cleanup's TerminateInstances is refused naming a network
    // interface (not the instance) as not found: the instance is not gone.
    aws.emulate(json!({
        "command_outcomes": [{"match": "exit 4", "status": "Failed", "exit_code": 4}],
        "faults": [{"action": "TerminateInstances", "times": null, "status": 400,
                    "code": "InvalidNetworkInterfaceID.NotFound",
                    "message": "The networkInterface ID 'eni-0abc' does not exist"}]
    }));
    let recipe = TestRecipe::new("stubborn").step("fail", "#!/bin/sh\nexit 4\n");

    let bake = aws
        .bakery()
        .bake_json(recipe.path(), "1.0.0")
        .through(&["timeout", "120"])
        .run();

    aws.emulate(json!({ "clear_faults": true }));
    bake.expect_code(3);
    bake.expect_stderr("InvalidNetworkInterfaceID.NotFound");
    let builder = bake.json()["builder_instance_id"]
        .as_str()
        .unwrap()
        .to_string();
    aws.terminate(&builder).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_with_retries_runs_again_after_a_failure_and_names_each_attempt() {
    let aws = Account::fresh().await;
    // The mirror blips once: the first run fails, the second succeeds.
    aws.emulate(json!({ "command_outcomes": [{
        "match": "dnf -y install flaky", "times": 1, "status": "Failed", "exit_code": 1,
        "stderr": "Curl error (28): Timeout was reached\n"
    }] }));
    let recipe = TestRecipe::new("flaky")
        .step("install", "#!/bin/sh\ndnf -y install flaky\n")
        .with_toml("retries = 2\nretry_delay = \"1s\"\n");

    let bake = aws.bakery().bake_json(recipe.path(), "1.0.0").run();

    bake.expect_code(0);
    bake.expect_stderr("attempt 1 of 3 failed (failed, exit code 1); trying again in 1s");
    let builder = bake.json()["builder_instance_id"]
        .as_str()
        .unwrap()
        .to_string();
    let installs = aws
        .commands_sent_to(&builder)
        .await
        .into_iter()
        .filter(|(_, text)| text.contains("dnf -y install flaky"))
        .count();
    assert_eq!(installs, 2, "sent again once, not more");

    // Every attempt fails: the last one's output is the error.
    aws.emulate(json!({ "command_outcomes": [{
        "match": "dnf -y install flaky", "status": "Failed", "exit_code": 1,
        "stderr": "Curl error (28): Timeout was reached\n"
    }] }));
    let failed = aws.bakery().bake_json(recipe.path(), "1.0.1").run();
    failed.expect_code(1);
    failed.expect_stderr("attempt 2 of 3 failed");
    let result = failed.json();
    assert_eq!(result["failed_step"], "recipe/install");
    assert!(result["error"]
        .as_str()
        .unwrap()
        .contains("Curl error (28)"));
}
