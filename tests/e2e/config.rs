//! bakery.toml environments in real bakes: `bake --dry-run` and step output.

use serde_json::json;

use crate::support::{Account, TestRecipe};

fn dry_run_recipe() -> TestRecipe {
    // Some regions have no AL2023 parameter in the emulator: an Ubuntu stock image.
    TestRecipe::new("dry").with_base("image = \"ami-1e749f67\"")
}

#[tokio::test]
async fn a_dry_run_checks_the_launch_with_ec2_dry_run_and_creates_nothing() {
    let account = Account::fresh().await;
    let recipe = dry_run_recipe();
    let checked = account
        .bakery()
        .bake_json(recipe.path(), "1.0.0")
        .args(["--dry-run"])
        .run();
    checked.expect_code(0);
    let report = checked.json();
    assert_eq!(report["dry_run"], true);
    let steps = crate::support::step_names(&report);
    assert_eq!(steps, ["check-release", "resolve-base", "check-launch"]);
    assert!(checked
        .stderr
        .contains("ec2:RunInstances t3.small from ami-1e749f67 would succeed"));

    assert!(account.instances().await.is_empty(), "no instance");
    assert!(
        account.extra_security_groups().await.is_empty(),
        "no security group"
    );
    let claims = account
        .ssm
        .get_parameters_by_path()
        .path("/bakery/dry/")
        .recursive(true)
        .send()
        .await
        .unwrap();
    assert!(claims.parameters().is_empty(), "no claim");

    // A permission problem shows in seconds, named, and still nothing is made.
    account.emulate(json!({ "faults": [{"action": "RunInstances", "times": 1, "status": 403,
        "code": "UnauthorizedOperation", "message": "You are not authorized to perform this operation."}] }));
    let refused = account
        .bakery()
        .args(["bake", "--dry-run", "--version", "1.0.0"])
        .arg_path(recipe.path())
        .run();
    account.emulate(json!({ "faults": [] }));
    refused.expect_code(1);
    refused.expect_stdout("FAILED at step `check-launch`");
    refused.expect_stdout("RunInstances");
    refused.expect_stdout("UnauthorizedOperation");
    assert!(account.instances().await.is_empty());
}

#[tokio::test]
async fn step_output_goes_to_the_environments_bucket_and_log_group_too() {
    let account = Account::fresh().await;
    let top = tempfile::tempdir().unwrap();
    std::fs::write(
        top.path().join("bakery.toml"),
        format!(
            "[environments.ci]\nregions = [\"{}\"]\n\
             step_output = {{ s3_bucket = \"bake-logs\", s3_prefix = \"bakery\", cloudwatch_log_group = \"/bakery/steps\" }}\n",
            account.region
        ),
    )
    .unwrap();
    let recipe = TestRecipe::new("chatty")
        .with_base("image = \"ami-1e749f67\"")
        .step("talk", "#!/bin/sh\necho hello\n");
    // Run from another region: the environment says where to bake.
    let elsewhere = account.neighbour().await;
    let baked = elsewhere
        .bakery()
        .current_dir(top.path())
        .bake_json(recipe.path(), "1.2.3")
        .args(["--env", "ci"])
        .run();
    baked.expect_code(0);
    let report = baked.json();
    let builder = report["builder_instance_id"].as_str().unwrap();
    let bake_id = report["bake_id"].as_str().unwrap();

    let commands = account
        .ssm
        .list_commands()
        .instance_id(builder)
        .send()
        .await
        .unwrap();
    assert!(!commands.commands().is_empty());
    for command in commands.commands() {
        assert_eq!(command.output_s3_bucket_name(), Some("bake-logs"));
        assert_eq!(
            command.output_s3_key_prefix(),
            Some(format!("bakery/chatty/1.2.3/{bake_id}-x86_64").as_str()),
            "each build's output has its own prefix"
        );
        let cloudwatch = command.cloud_watch_output_config().unwrap();
        assert_eq!(
            cloudwatch.cloud_watch_log_group_name(),
            Some("/bakery/steps")
        );
        assert!(cloudwatch.cloud_watch_output_enabled());
    }
    assert!(baked.stderr.contains(&format!(
        "whole output kept in s3://bake-logs/bakery/chatty/1.2.3/{bake_id}-x86_64/"
    )));
}

#[tokio::test]
async fn step_output_streams_into_events_while_the_step_runs() {
    // A region of its own: the emulator settings below must hold for the whole bake.
    let account = Account::fresh_in_gov().await;
    account.emulate(
        json!({ "command_outcomes": [{ "match": "stream-demo", "status": "Success",
        "stdout": "line 1\nline 2\nline 3\nline 4\n", "seconds": 4 }] }),
    );
    let recipe = TestRecipe::new("streamer")
        .with_base("image = \"ami-1e749f67\"")
        .step("talk", "#!/bin/sh\necho stream-demo\n");
    let baked = account
        .bakery()
        .args([
            "bake",
            "--version",
            "1.0.0",
            "--output",
            "json",
            "--progress",
            "json",
        ])
        .arg_path(recipe.path())
        .run();
    baked.expect_code(0);
    let events = baked.events();
    let position = |wanted: &dyn Fn(&serde_json::Value) -> bool| events.iter().rposition(wanted);
    let first_line = events
        .iter()
        .position(|e| e["event"] == "output" && e["line"] == "line 1")
        .expect("line 1 was shown");
    let last_running = position(&|e| {
        e["event"] == "waiting" && e["step"] == "recipe/talk" && e["state"] == "InProgress"
    })
    .expect("the step was seen running");
    assert!(
        first_line < last_running,
        "line 1 was shown while the step still ran"
    );
    let lines: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "output" && e["step"] == "recipe/talk")
        .map(|e| e["line"].as_str().unwrap())
        .collect();
    assert_eq!(
        lines,
        ["line 1", "line 2", "line 3", "line 4"],
        "each line once"
    );
}
