//! `bakery bake` makes a tagged release: the tag schema on the image and its snapshots,
//! the builder's hardening and dead-man's switch, every form of base, and retries of
//! throttling and server errors.

use serde_json::json;

use crate::support::{base64_decode, tags, Account, TestRecipe};

#[tokio::test(flavor = "multi_thread")]
async fn a_bake_makes_a_tagged_release_and_leaves_no_builder_behind() {
    let aws = Account::fresh().await;
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

    bake.expect_code(0);
    let result = bake.json();
    assert_eq!(result["status"], "succeeded");
    assert_eq!(result["role"], "base");
    assert_eq!(result["version"], "1.4.0");
    let image_id = result["images"][0]["image_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(result["images"][0]["region"], aws.region);
    assert_eq!(result["images"][0]["name"], "bakery/base/1.4.0/x86_64");
    // The release's steps once, each architecture's in its own build.
    let steps_of = |arch: Option<&str>| -> Vec<String> {
        let steps = result["steps"].as_array().unwrap();
        steps
            .iter()
            .filter(|s| s["arch"].as_str() == arch)
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        steps_of(None),
        [
            "check-release",
            "network",
            "claim",
            "record-release",
            "promote"
        ]
    );
    for arch in ["x86_64", "arm64"] {
        assert_eq!(
            steps_of(Some(arch)),
            [
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
                "test-launch",
                "test-ready",
                "test-firstboot",
                "test/sshd-config",
                "test/agents",
                "test/generalized",
                "test/log-rotation",
                "test-terminate",
            ],
            "{arch}"
        );
    }
    let wait_ready = result["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "wait-ready")
        .unwrap();
    assert!(
        wait_ready["seconds"].as_f64().unwrap() >= 2.0,
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

    // As docs/jenkins.md runs it, without a terminal: one JSON object on stdout (read
    // above), plain timestamped lines on stderr for the console log, one per step start
    // at least.
    let lines: Vec<&str> = bake.stderr.lines().collect();
    for line in &lines {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_err(),
            "a JSON line in the console log: {line}"
        );
    }
    let stamped = |line: &&&str| line.len() > 20 && line[..20].ends_with('Z');
    let started = lines
        .iter()
        .filter(|l| stamped(l) && l.ends_with("] started"));
    assert_eq!(
        started.count(),
        result["steps"].as_array().unwrap().len(),
        "{}",
        bake.stderr
    );

    // A manifest a Packer-based Jenkins pipeline reads.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest.path()).unwrap()).unwrap();
    assert_eq!(
        manifest["builds"][0]["artifact_id"],
        format!("{}:{image_id}", aws.region)
    );
    assert_eq!(
        manifest["last_run_uuid"],
        manifest["builds"][0]["packer_run_uuid"]
    );
    assert_eq!(manifest["builds"][0]["bakery"]["bake_id"], bake_id);
    assert_eq!(manifest["builds"][0]["bakery"]["version"], "1.4.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_and_server_errors_are_retried() {
    let aws = Account::fresh().await;
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

    bake.expect_code(0);
    assert_eq!(
        aws.instances().await.len(),
        1,
        "one builder, though RunInstances was retried"
    );
    assert_eq!(aws.own_images().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_base_can_be_an_image_id_or_the_newest_image_matching_an_owner_and_name() {
    let aws = Account::fresh().await;
    let newest = TestRecipe::new("by-filter")
        .with_base("owner = \"amazon\", name = \"al2023-ami-2023.*-x86_64\"");

    let bake = aws.bakery().bake_json(newest.path(), "1.0.0").run();

    bake.expect_code(0);
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
    bake.expect_code(0);
    assert_eq!(bake.json()["base_image"], base_image.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_builder_carries_its_dead_mans_switch_and_encrypted_tagged_volume() {
    let aws = Account::fresh().await;
    aws.emulate(
        json!({ "command_outcomes": [{"match": "exit 9", "status": "Failed", "exit_code": 9}] }),
    );
    // An io1 root volume, with the IOPS EC2 requires of it.
    let recipe = TestRecipe::new("inspect")
        .with_toml("volume_type = \"io1\"\nvolume_iops = 3000\n")
        .step("fail", "#!/bin/sh\nexit 9\n");

    let bake = aws
        .bakery()
        .bake_json(recipe.path(), "1.0.0")
        .args(["--keep-on-failure"])
        .run();

    bake.expect_code(1);
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
    assert_eq!(volume.volume_type().map(|t| t.as_str()), Some("io1"));
    assert_eq!(volume.iops(), Some(3000));
    assert_eq!(tags(volume.tags())["bakery:builder"], "true");
    aws.terminate(&builder).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bake_piped_into_a_reader_that_went_away_still_finishes_and_cleans_up() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("piped")
        .with_base("image = \"ami-1e749f67\"")
        .step("work", "#!/bin/sh\necho work\n");

    // `bakery bake … 2>&1 | head -3`: head has gone long before the result is printed.
    let bake = aws
        .bakery()
        .bake(recipe.path(), "1.0.0")
        .run_into_a_closed_pipe();

    assert_eq!(bake.code, 0, "the bake's own exit code, not a panic");
    let images = aws.own_image_names().await;
    assert!(
        images.contains(&"bakery/piped/1.0.0/x86_64".to_string()),
        "the release was made: {images:?}"
    );
    let builders: Vec<_> = aws
        .instances()
        .await
        .into_iter()
        .filter(|i| tags(i.tags()).get("bakery:role").map(String::as_str) == Some("piped"))
        .map(|i| i.state().unwrap().name().unwrap().as_str().to_string())
        .collect();
    assert_eq!(builders, ["terminated"], "its builder is gone");
}

/// Live lines need a terminal that can draw them: in a pipe (a CI log) even
/// `--progress bar` gives plain lines rather than nothing, and `-q` keeps the result
/// and drops the progress.
#[tokio::test(flavor = "multi_thread")]
async fn progress_in_a_pipe_is_plain_lines_and_quiet_keeps_only_the_result() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("progress")
        .with_base("image = \"ami-1e749f67\"")
        .step("work", "#!/bin/sh\necho work\n");

    let barred = aws
        .bakery()
        .bake(recipe.path(), "1.0.0")
        .args(["--progress", "bar"])
        .run();
    barred.expect_code(0);
    barred.expect_stderr("[launch] started");
    barred.expect_stderr("[recipe/work] done in");

    let quiet = aws.bakery().args(["-q"]).bake(recipe.path(), "1.0.1").run();
    quiet.expect_code(0);
    quiet.expect_stdout("progress@1.0.1 baked");
    assert!(!quiet.stderr.contains("[launch]"), "{}", quiet.stderr);

    let listed = aws.bakery().args(["releases", "progress"]).run();
    listed.expect_code(0);
    let header: Vec<&str> = listed
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["VERSION", "ARCH", "REGION", "IMAGE", "STATE", "TESTS", "CREATED", "BASE", "CHANNELS"]
    );
    listed.expect_stdout("x86_64");
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_commands_piped_into_a_reader_that_went_away_exit_quietly() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("listed");
    aws.bake_ok(recipe.path(), &["--version", "1.0.0"]);
    for args in [
        &["releases", "listed"][..],
        &["releases", "listed", "--output", "json"],
        &["audit"],
        &["cleanup"],
        &["promote", "listed", "1.0.0", "--channel", "stable"],
    ] {
        let listed = aws.bakery().args(args).run_into_a_closed_pipe();
        assert_eq!(listed.code, 0, "{args:?}: not 101, a panic");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_that_requires_tags_on_create_gets_them_on_everything_bakery_makes() {
    let home = Account::fresh().await;
    let away = home.neighbour().await;
    // The organisation's policy: no instance, image, copy or group without `team`.
    for aws in [&home, &away] {
        aws.emulate(json!({ "required_tags": ["team"] }));
    }
    let recipe = TestRecipe::new("tagged")
        .with_toml("[tags]\nteam = \"platform\"\n")
        .test("smoke", "#!/bin/sh\ntrue\n");

    let bake = home
        .bakery()
        .bake_json(recipe.path(), "1.0.0")
        .args(["--copy-to", &away.region])
        .run();

    for aws in [&home, &away] {
        aws.emulate(json!({ "required_tags": [] }));
    }
    bake.expect_code(0);
    let result = bake.json();
    for instance in home.instances().await {
        assert_eq!(
            tags(instance.tags()).get("team").map(String::as_str),
            Some("platform"),
            "{:?}",
            instance.instance_id()
        );
    }
    for aws in [&home, &away] {
        for image in aws.own_images().await {
            assert_eq!(tags(image.tags())["team"], "platform", "{}", aws.region);
        }
    }
    assert_eq!(result["images"].as_array().unwrap().len(), 2, "{result}");
}
