//! `bakery bake` end to end: the real binary against the local emulator.
//! Each test has a region of its own.

use serde_json::json;

use crate::support::{base64_decode, tags, Account, TestRecipe};

#[tokio::test(flavor = "multi_thread")]
async fn a_bake_makes_a_tagged_release_and_leaves_no_builder_behind() {
    let aws = Account::in_region("eu-west-1").await;
    // Real AWS takes time for every transition; so does the emulator here.
    aws.emulate(json!({
        "instance_pending_seconds": 2, "instance_stopping_seconds": 1,
        "instance_shutting_down_seconds": 1, "image_pending_seconds": 3,
        "ssm_online_after_seconds": 1, "command_seconds": 1
    }));
    let manifest = tempfile::NamedTempFile::new().unwrap();
    std::fs::remove_file(manifest.path()).unwrap();

    let bake = aws
        .bakery()
        .args([
            "bake",
            "recipes/base",
            "--version",
            "1.4.0",
            "--output",
            "json",
            "--manifest",
        ])
        .arg_path(manifest.path())
        .env("BUILD_URL", "https://jenkins.example.com/job/base/42/")
        .env("GIT_COMMIT", "0123abcd")
        .run();

    assert_eq!(bake.code, 0, "{}", bake.stderr);
    let result = bake.json();
    assert_eq!(result["status"], "succeeded");
    assert_eq!(result["role"], "base");
    assert_eq!(result["version"], "1.4.0");
    let image_id = result["images"][0]["image_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(result["images"][0]["region"], "eu-west-1");
    assert_eq!(result["images"][0]["name"], "bakery/base/1.4.0/x86_64");
    let step_names = crate::support::step_names(&result);
    assert_eq!(
        step_names,
        [
            "check-release",
            "claim",
            "resolve-base",
            "launch",
            "wait-ready",
            "recipe/packages",
            "recipe/time-and-logs",
            "recipe/harden-ssh",
            "firstboot",
            "generalize",
            "stop",
            "create-image",
            "wait-image",
            "terminate",
            "record-release",
            "promote"
        ]
    );
    assert!(
        result["steps"][4]["seconds"].as_f64().unwrap() >= 2.0,
        "waited for pending -> running"
    );
    assert_eq!(result["leaked"], json!([]));

    // The image: its name, the tag schema on it and on its snapshot, a deprecation time.
    let image = aws.image(&image_id).await;
    assert_eq!(image.name(), Some("bakery/base/1.4.0/x86_64"));
    assert!(
        image.deprecation_time().is_some(),
        "every release is deprecated in time"
    );
    let image_tags = tags(image.tags());
    let bake_id = result["bake_id"].as_str().unwrap();
    assert_eq!(image_tags["bakery:role"], "base");
    assert_eq!(image_tags["bakery:version"], "1.4.0");
    assert_eq!(image_tags["bakery:bake-id"], bake_id);
    assert_eq!(
        image_tags["bakery:base-image"],
        result["base_image"].as_str().unwrap()
    );
    assert!(image_tags["bakery:recipe-digest"].starts_with("sha256:"));
    assert!(image_tags["bakery:created-by"].starts_with("arn:aws:"));
    assert_eq!(
        image_tags["bakery:build-url"],
        "https://jenkins.example.com/job/base/42/"
    );
    assert_eq!(image_tags["bakery:source-commit"], "0123abcd");
    assert_eq!(image_tags["Name"], "base@1.4.0");
    assert_eq!(image_tags["team"], "platform", "the recipe's own tags");
    let snapshot_id = image.block_device_mappings()[0]
        .ebs()
        .unwrap()
        .snapshot_id()
        .unwrap();
    assert_eq!(aws.snapshot_tags(snapshot_id).await, image_tags);

    // The builder: IMDSv2 only, tagged, dead-man's switch, terminated, its group gone.
    let builder = result["builder_instance_id"].as_str().unwrap();
    assert_eq!(aws.instance_state(builder).await, "terminated");
    assert!(aws.live_instances().await.is_empty());
    assert!(aws.extra_security_groups().await.is_empty());
    let instance = aws
        .instances()
        .await
        .into_iter()
        .find(|i| i.instance_id() == Some(builder))
        .unwrap();
    assert_eq!(
        instance
            .metadata_options()
            .unwrap()
            .http_tokens()
            .unwrap()
            .as_str(),
        "required"
    );
    assert_eq!(instance.key_name(), None, "no key pair");
    let builder_tags = tags(instance.tags());
    assert_eq!(builder_tags["bakery:builder"], "true");
    assert_eq!(builder_tags["bakery:bake-id"], bake_id);
    let shutdown = aws
        .ec2
        .describe_instance_attribute()
        .instance_id(builder)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::InstanceInitiatedShutdownBehavior)
        .send()
        .await
        .unwrap();
    assert_eq!(
        shutdown
            .instance_initiated_shutdown_behavior()
            .unwrap()
            .value(),
        Some("terminate")
    );

    // The recipe's steps went through Run Command, in order, then firstboot and
    // generalize last.
    let commands = aws.commands_sent_to(builder).await;
    assert_eq!(commands.len(), 5);
    assert!(commands
        .iter()
        .all(|(document, _)| document == "AWS-RunShellScript"));
    assert!(commands[0].1.contains("dnf -y upgrade"));
    assert!(commands[1].1.contains("export JOURNAL_MAX_USE='512M'"));
    assert!(commands[2]
        .1
        .contains("export SSH_ALLOW_GROUPS='wheel admin ssm-user'"));
    assert!(commands[3].1.contains("bakery firstboot step"));
    assert!(commands[4].1.contains("rm -f /etc/ssh/ssh_host_*"));

    // Events went to stderr as JSON lines, one per step start at least.
    let events = bake.events();
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "step_started")
            .count(),
        16
    );
    assert!(events
        .iter()
        .any(|e| e["event"] == "waiting" && e["state"] == "pending"));

    // A manifest a Packer-based Jenkins pipeline reads.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest.path()).unwrap()).unwrap();
    assert_eq!(
        manifest["builds"][0]["artifact_id"],
        format!("eu-west-1:{image_id}")
    );
    assert_eq!(manifest["last_run_uuid"], bake_id);
    assert_eq!(manifest["builds"][0]["bakery"]["version"], "1.4.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_step_fails_the_bake_names_the_step_and_removes_everything() {
    let aws = Account::in_region("eu-west-2").await;
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

    assert_eq!(bake.code, 1, "{}", bake.stderr);
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
    assert!(error.contains("eu-west-2"), "{error}");
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
async fn sigint_during_the_image_wait_interrupts_and_removes_the_half_made_image() {
    let aws = Account::in_region("eu-west-3").await;
    aws.emulate(json!({ "image_pending_seconds": 600 }));
    let recipe = TestRecipe::new("slow").step("noop", "#!/bin/sh\ntrue\n");

    let mut bake = aws.bakery().bake_json(recipe.path(), "2.0.0").spawn();
    bake.wait_for_line("\"state\":\"pending\"");
    assert_eq!(
        aws.own_images().await.len(),
        1,
        "the image exists while pending"
    );
    bake.signal("INT");
    let bake = bake.finish();

    assert_eq!(bake.code, 130, "{}", bake.stderr);
    let result = bake.json();
    assert_eq!(result["status"], "interrupted");
    assert_eq!(result["failed_step"], "wait-image");
    assert!(
        aws.own_images().await.is_empty(),
        "the half-made image is deregistered"
    );
    let claims = aws
        .ssm
        .get_parameters_by_path()
        .path("/bakery/slow/releases/")
        .send()
        .await
        .unwrap();
    assert!(
        claims.parameters().is_empty(),
        "the interrupted bake gave its claim back"
    );
    assert!(
        aws.snapshots_of_bake(result["bake_id"].as_str().unwrap())
            .await
            .is_empty(),
        "and its snapshot deleted"
    );
    assert!(
        aws.live_instances().await.is_empty(),
        "nothing left running"
    );
    assert!(aws.extra_security_groups().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_launch_waits_still_terminates_the_builder() {
    let aws = Account::in_region("eu-north-1").await;
    aws.emulate(json!({ "instance_pending_seconds": 600 }));
    let recipe = TestRecipe::new("stuck");

    let mut bake = aws
        .bakery()
        .args(["bake", "--version", "1.0.0"])
        .arg_path(recipe.path())
        .spawn();
    bake.wait_for_line("[wait-ready] started");
    bake.signal("TERM");
    let bake = bake.finish();

    assert_eq!(bake.code, 130, "{}", bake.stderr);
    assert!(
        bake.stdout.contains("INTERRUPTED at step `wait-ready`"),
        "{}",
        bake.stdout
    );
    assert!(bake.stderr.contains("SIGTERM received"), "{}", bake.stderr);
    assert!(aws.live_instances().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_that_exists_is_refused_before_anything_is_launched() {
    let aws = Account::in_region("eu-central-1").await;
    let recipe = TestRecipe::new("api").step("build", "#!/bin/sh\necho build\n");
    let first = aws
        .bakery()
        .args(["bake", "--version", "3.1.0"])
        .arg_path(recipe.path())
        .run();
    assert_eq!(first.code, 0, "{}", first.stderr);
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

    assert_eq!(again.code, 2, "{}", again.stderr);
    let error = again.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("api@3.1.0 already exists in eu-central-1"),
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
    let aws = Account::in_region("ap-south-1").await;
    let recipe = TestRecipe::new("app").with_toml("colour = \"blue\"\n");

    let bad_key = aws
        .bakery()
        .args(["bake", "--version", "1.0.0"])
        .arg_path(recipe.path())
        .run();
    assert_eq!(bad_key.code, 2);
    assert!(
        bad_key
            .stderr
            .contains("recipe.toml:7:1: unknown field `colour`"),
        "{}",
        bad_key.stderr
    );

    let good = TestRecipe::new("app");
    let bad_version = aws
        .bakery()
        .args(["bake", "--version", "1.0"])
        .arg_path(good.path())
        .run();
    assert_eq!(bad_version.code, 2);
    assert!(
        bad_version.stderr.contains("invalid --version `1.0`"),
        "{}",
        bad_version.stderr
    );

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
    assert!(bad_flag.stderr.contains("--output"), "{}", bad_flag.stderr);

    let unknown_base = TestRecipe::new("app2").with_toml("");
    std::fs::write(
        unknown_base.path().join("recipe.toml"),
        "name = \"app2\"\nplatform = \"linux\"\narch = \"x86_64\"\nbase = { ssm_parameter = \"/no/such/parameter\" }\n",
    )
    .unwrap();
    let no_base = aws
        .bakery()
        .args(["bake", "--version", "1.0.0"])
        .arg_path(unknown_base.path())
        .run();
    assert_eq!(no_base.code, 2, "{}", no_base.stderr);
    assert!(
        no_base.stdout.contains("SSM parameter /no/such/parameter"),
        "{}",
        no_base.stdout
    );

    assert!(aws.instances().await.is_empty());
    assert!(aws.extra_security_groups().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_and_server_errors_are_retried() {
    let aws = Account::in_region("ap-northeast-1").await;
    aws.emulate(json!({
        "image_pending_seconds": 2,
        "faults": [
            {"action": "DescribeImages", "times": 4, "status": 503, "code": "RequestLimitExceeded"},
            {"action": "DescribeInstances", "times": 3, "status": 503, "code": "RequestLimitExceeded"},
            {"action": "GetCommandInvocation", "times": 3, "status": 400, "code": "ThrottlingException"},
            {"action": "RunInstances", "times": 1, "status": 500, "code": "InternalError"}
        ]
    }));
    let recipe = TestRecipe::new("busy").step("work", "#!/bin/sh\necho work\n");

    let bake = aws.bakery().bake_json(recipe.path(), "1.0.0").run();

    assert_eq!(bake.code, 0, "{}", bake.stderr);
    assert_eq!(
        aws.instances().await.len(),
        1,
        "one builder, though RunInstances was retried"
    );
    assert_eq!(aws.own_images().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_image_fails_fast_and_is_cleaned_up() {
    let aws = Account::in_region("us-west-1").await;
    aws.emulate(json!({ "image_pending_seconds": 2, "image_final_state": "failed" }));
    let recipe = TestRecipe::new("fragile");

    let bake = aws.bakery().bake_json(recipe.path(), "1.0.0").run();

    assert_eq!(bake.code, 1, "{}", bake.stderr);
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
    let aws = Account::in_region("us-west-2").await;
    aws.emulate(json!({
        "command_outcomes": [{"match": "exit 7", "status": "Failed", "exit_code": 7}]
    }));
    let recipe = TestRecipe::new("debugme").step("boom", "#!/bin/sh\nexit 7\n");

    let bake = aws
        .bakery()
        .args(["bake", "--version", "1.0.0", "--keep-on-failure"])
        .arg_path(recipe.path())
        .run();

    assert_eq!(bake.code, 1, "{}", bake.stderr);
    assert!(bake.stderr.contains("KEEPING instance"), "{}", bake.stderr);
    assert!(bake.stderr.contains("dead-man's switch"), "{}", bake.stderr);
    assert!(
        bake.stdout.contains("KEPT on purpose: instance"),
        "{}",
        bake.stdout
    );
    let live = aws.live_instances().await;
    assert_eq!(live.len(), 1, "the builder is still there");
    aws.ec2
        .terminate_instances()
        .instance_ids(&live[0])
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_base_can_be_an_image_id_or_the_newest_image_matching_an_owner_and_name() {
    let aws = Account::in_region("ca-central-1").await;
    let newest = TestRecipe::new("by-filter")
        .with_base("owner = \"amazon\", name = \"al2023-ami-2023.*-x86_64\"");

    let bake = aws.bakery().bake_json(newest.path(), "1.0.0").run();

    assert_eq!(bake.code, 0, "{}", bake.stderr);
    let base_image = bake.json()["base_image"].as_str().unwrap().to_string();
    let candidates = aws
        .ec2
        .describe_images()
        .owners("amazon")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("name")
                .values("al2023-ami-2023.*-x86_64")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let newest_date = candidates
        .images()
        .iter()
        .filter_map(|i| i.creation_date())
        .max()
        .unwrap();
    assert_eq!(
        aws.image(&base_image).await.creation_date(),
        Some(newest_date)
    );

    let pinned = TestRecipe::new("by-id").with_base(&format!("image = \"{base_image}\""));
    let bake = aws.bakery().bake_json(pinned.path(), "1.0.0").run();
    assert_eq!(bake.code, 0, "{}", bake.stderr);
    assert_eq!(bake.json()["base_image"], base_image.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_builder_carries_its_dead_mans_switch_and_encrypted_tagged_volume() {
    let aws = Account::in_region("sa-east-1").await;
    aws.emulate(
        json!({ "command_outcomes": [{"match": "exit 9", "status": "Failed", "exit_code": 9}] }),
    );
    let recipe = TestRecipe::new("inspect").step("fail", "#!/bin/sh\nexit 9\n");

    let bake = aws
        .bakery()
        .bake_json(recipe.path(), "1.0.0")
        .args(["--keep-on-failure"])
        .run();

    assert_eq!(bake.code, 1, "{}", bake.stderr);
    let builder = bake.json()["builder_instance_id"]
        .as_str()
        .unwrap()
        .to_string();
    let user_data = aws
        .ec2
        .describe_instance_attribute()
        .instance_id(&builder)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap();
    let encoded = user_data.user_data().unwrap().value().unwrap();
    let script = String::from_utf8(base64_decode(encoded)).unwrap();
    assert!(script.contains("--on-active="), "{script}");
    assert!(script.contains("systemctl poweroff"), "{script}");
    let volumes = aws
        .ec2
        .describe_volumes()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("attachment.instance-id")
                .values(&builder)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let volume = &volumes.volumes()[0];
    assert_eq!(volume.encrypted(), Some(true));
    assert_eq!(tags(volume.tags())["bakery:builder"], "true");
    aws.ec2
        .terminate_instances()
        .instance_ids(&builder)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_exits_at_once_and_lists_what_may_be_left() {
    let aws = Account::in_region("ap-southeast-1").await;
    aws.emulate(json!({ "instance_pending_seconds": 600, "instance_shutting_down_seconds": 600 }));
    let recipe = TestRecipe::new("impatient");

    let mut bake = aws
        .bakery()
        .args(["bake", "--version", "1.0.0"])
        .arg_path(recipe.path())
        .spawn();
    bake.wait_for_line("[wait-ready] started");
    bake.signal("INT");
    bake.wait_for_line("[cleanup] bake interrupted");
    bake.signal("INT");
    let bake = bake.finish();

    assert_eq!(bake.code, 130, "{}", bake.stderr);
    assert!(
        bake.stderr
            .contains("second signal, exiting now without cleanup"),
        "{}",
        bake.stderr
    );
    let left = aws.instances().await[0].instance_id().unwrap().to_string();
    assert!(
        bake.stderr
            .contains(&format!("instance {left} (ap-southeast-1)")),
        "{}",
        bake.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cleanup_that_cannot_finish_exits_3_and_names_what_leaked() {
    let aws = Account::in_region("ap-southeast-2").await;
    aws.emulate(json!({
        "command_outcomes": [{"match": "exit 5", "status": "Failed", "exit_code": 5}],
        "faults": [{"action": "TerminateInstances", "times": 100, "status": 403, "code": "UnauthorizedOperation",
                    "message": "You are not authorized to perform this operation."}]
    }));
    let recipe = TestRecipe::new("leaky").step("fail", "#!/bin/sh\nexit 5\n");

    let bake = aws.bakery().bake_json(recipe.path(), "1.0.0").run();

    assert_eq!(bake.code, 3, "{}", bake.stderr);
    let result = bake.json();
    let builder = result["builder_instance_id"].as_str().unwrap();
    assert_eq!(result["leaked"][0]["type"], "instance");
    assert_eq!(result["leaked"][0]["id"], builder);
    assert!(
        bake.stderr.contains("UnauthorizedOperation"),
        "{}",
        bake.stderr
    );
    aws.emulate(json!({ "faults": [] }));
}
