//! The Linux firstboot agent, run for real: against the emulator's S3 and SNS, with
//! the emulated instance's own metadata service, and the AWS CLI an instance has.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::support::{repo_root, Account, Inbox};

/// An instance on its first boot: its root file system is a temporary folder, its
/// metadata service the emulator's, its role's S3 bucket and alert topic its own.
struct FirstBoot {
    account: Account,
    root: tempfile::TempDir,
    instance_id: String,
    bucket: String,
    inbox: Inbox,
}

fn succeeded(out: std::process::Output) {
    assert!(out.status.success(), "the AWS CLI failed: {out:?}");
}

impl FirstBoot {
    /// An instance tagged `tags`, a bucket and a topic named after `name`.
    async fn new(name: &str, tags: &[(&str, &str)]) -> FirstBoot {
        let account = Account::fresh().await;
        let mut launch = account
            .ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .min_count(1)
            .max_count(1)
            .metadata_options(
                aws_sdk_ec2::types::InstanceMetadataOptionsRequest::builder()
                    .instance_metadata_tags(aws_sdk_ec2::types::InstanceMetadataTagsState::Enabled)
                    .build(),
            );
        let mut spec = aws_sdk_ec2::types::TagSpecification::builder()
            .resource_type(aws_sdk_ec2::types::ResourceType::Instance);
        for (key, value) in [("Name", name)].iter().chain(tags) {
            spec = spec.tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key(*key)
                    .value(*value)
                    .build(),
            );
        }
        launch = launch.tag_specifications(spec.build());
        let instance_id = launch.send().await.unwrap().instances()[0]
            .instance_id()
            .unwrap()
            .to_string();
        let bucket = format!("runlists-{name}");
        // S3 takes no location constraint for us-east-1, and wants one everywhere else.
        let constraint = format!("LocationConstraint={}", account.region);
        let mut create = vec!["s3api", "create-bucket", "--bucket", &bucket];
        if account.region != "us-east-1" {
            create.extend(["--create-bucket-configuration", &constraint]);
        }
        succeeded(account.aws_cli(&create));
        let inbox = account.inbox(&format!("firstboot-{name}")).await;
        FirstBoot {
            account,
            root: tempfile::tempdir().unwrap(),
            instance_id,
            bucket,
            inbox,
        }
    }

    fn path(&self, path: &str) -> PathBuf {
        self.root.path().join(path.trim_start_matches('/'))
    }

    fn upload(&self, key: &str, text: &str) {
        let file = self.root.path().join("upload");
        std::fs::write(&file, text).unwrap();
        succeeded(self.account.aws_cli(&[
            "s3",
            "cp",
            file.to_str().unwrap(),
            &format!("s3://{}/{key}", self.bucket),
        ]));
    }

    /// What the firstboot step of a bake writes: the config and the marker.
    fn baked_with(&self, config: Value) -> &FirstBoot {
        let mut full = json!({
            "role": "zookeeper", "version": "1.4.0",
            "runner": format!("sh {} {{runlist}}", self.runner().display()),
            "sns_topic": self.inbox.topic_arn, "retry": true,
            "fetch_attempts": 2, "fetch_timeout": 30
        });
        for (key, value) in config.as_object().unwrap() {
            full[key] = value.clone();
        }
        std::fs::create_dir_all(self.path("/etc/bakery")).unwrap();
        std::fs::write(
            self.path("/etc/bakery/firstboot.json"),
            serde_json::to_string_pretty(&full).unwrap(),
        )
        .unwrap();
        std::fs::write(self.path("/firstboot.txt"), "bakery firstboot marker\n").unwrap();
        self
    }

    /// A runner that keeps a copy of the runlist it was given, as chef-client would
    /// apply it.
    fn runner(&self) -> PathBuf {
        let runner = self.root.path().join("runner.sh");
        std::fs::write(
            &runner,
            format!(
                "#!/bin/sh\necho \"applying $1\"\ncp \"$1\" {}\n",
                self.path("/applied.json").display()
            ),
        )
        .unwrap();
        runner
    }

    /// Boots: runs the agent as the init system would. Returns its exit code.
    fn boot(&self) -> i32 {
        self.boot_with_env(&[])
    }

    fn boot_with_env(&self, env: &[(&str, &str)]) -> i32 {
        let cli_dir = crate::support::aws_cli_path()
            .parent()
            .unwrap()
            .to_path_buf();
        let path = format!(
            "{}:{}",
            cli_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let status = Command::new("sh")
            .arg(repo_root().join("firstboot/linux/bakery-firstboot"))
            .env_clear()
            .env("PATH", path)
            .env("BAKERY_FIRSTBOOT_ROOT", self.root.path())
            .env(
                "BAKERY_IMDS_ENDPOINT",
                format!("{}/bakery-imds/{}", self.account.endpoint, self.instance_id),
            )
            .env("AWS_ENDPOINT_URL", self.account.endpoint)
            // Stand-ins for the instance role's credentials.
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .envs(env.iter().copied())
            .status()
            .unwrap();
        status.code().unwrap_or(-1)
    }

    fn marker_present(&self) -> bool {
        self.path("/firstboot.txt").exists()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("/var/log/bakery-firstboot.log")).unwrap_or_default()
    }

    fn applied(&self) -> Option<String> {
        std::fs::read_to_string(self.path("/applied.json")).ok()
    }

    /// What the agent left for the release gate to read.
    fn outcome(&self) -> Option<Value> {
        let text =
            std::fs::read_to_string(self.path("/var/lib/bakery/firstboot/outcome.json")).ok()?;
        Some(serde_json::from_str(&text).expect("the outcome is one JSON object"))
    }

    /// Runs the release gate's firstboot command against this instance's files, as
    /// Run Command would on a test instance. Returns its exit code and output.
    fn gate_reads_outcome(&self) -> (i32, String) {
        let script = bakery_core::script::firstboot::outcome_script(
            bakery_core::model::Platform::Linux,
            std::time::Duration::from_secs(4),
        );
        let root = self.root.path().display().to_string();
        let script = script
            .replace("/var/", &format!("{root}/var/"))
            .replace("/firstboot.txt", &format!("{root}/firstboot.txt"));
        let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    }

    async fn alerts(&self) -> Vec<(String, Value)> {
        self.inbox.messages().await
    }
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn without_the_marker_nothing_happens() {
    let instance = FirstBoot::new("no-marker", &[]).await;
    instance.baked_with(json!({ "runlist": "s3://runlists-no-marker/zookeeper.json" }));
    std::fs::remove_file(instance.path("/firstboot.txt")).unwrap();

    assert_eq!(instance.boot(), 0);
    assert_eq!(instance.log(), "", "the agent wrote nothing");
    assert_eq!(instance.applied(), None);
    assert!(instance.alerts().await.is_empty());
}

#[tokio::test]
async fn the_runlist_named_by_the_instance_tags_is_fetched_and_applied() {
    let instance = FirstBoot::new("success", &[("environment", "production")]).await;
    let runlist = r#"{"run_list": ["role[zookeeper]"]}"#;
    instance.upload("production/zookeeper.json", runlist);
    instance.baked_with(json!({ "runlist": "s3://runlists-success/{environment}/{role}.json" }));

    assert_eq!(instance.boot(), 0, "{}", instance.log());
    assert_eq!(instance.applied().as_deref(), Some(runlist));
    assert!(!instance.marker_present(), "the marker is removed");
    let kept = instance.path("/var/lib/bakery/firstboot/runlist");
    assert_eq!(
        mode_of(&kept),
        0o600,
        "the runlist is readable by root only"
    );
    assert!(instance
        .log()
        .contains("fetching s3://runlists-success/production/zookeeper.json"));
    assert!(instance.alerts().await.is_empty());

    // The next boot is not a first boot.
    std::fs::remove_file(instance.path("/applied.json")).unwrap();
    assert_eq!(instance.boot(), 0);
    assert_eq!(instance.applied(), None);
}

#[tokio::test]
async fn a_placeholder_without_a_tag_comes_from_the_environment() {
    let instance = FirstBoot::new("from-env", &[]).await;
    instance.upload("staging/zookeeper.json", "{}");
    instance
        .baked_with(json!({ "runlist": "s3://runlists-from-env/{environment}/zookeeper.json" }));

    assert_eq!(
        instance.boot_with_env(&[("environment", "staging")]),
        0,
        "{}",
        instance.log()
    );
    assert_eq!(instance.applied().as_deref(), Some("{}"));
}

#[tokio::test]
async fn a_failing_runner_alerts_the_team_and_the_next_boot_retries() {
    let instance = FirstBoot::new("runner-fails", &[("environment", "production")]).await;
    instance.upload("production/zookeeper.json", "{}");
    instance.baked_with(json!({
        "runlist": "s3://runlists-runner-fails/{environment}/zookeeper.json",
        "runner": "echo 'zookeeper: package not found'; exit 7"
    }));

    assert_eq!(instance.boot(), 1);
    assert!(
        instance.marker_present(),
        "the marker stays for the next boot"
    );
    let alerts = instance.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let (subject, alert) = &alerts[0];
    assert_eq!(
        subject,
        &format!(
            "bakery firstboot: zookeeper 1.4.0 failed at run on {}",
            instance.instance_id
        )
    );
    assert_eq!(alert["event"], "firstboot-failed");
    assert_eq!(alert["role"], "zookeeper");
    assert_eq!(alert["version"], "1.4.0");
    assert_eq!(alert["instance_id"], instance.instance_id.as_str());
    assert_eq!(alert["region"], instance.account.region);
    assert_eq!(alert["phase"], "run");
    assert_eq!(alert["exit_code"], 7);
    assert_eq!(alert["marker_kept"], true);
    assert!(
        alert["log_tail"]
            .as_str()
            .unwrap()
            .contains("zookeeper: package not found"),
        "{alert}"
    );
}

#[tokio::test]
async fn a_missing_runlist_fails_the_fetch_phase_after_its_retries() {
    let instance = FirstBoot::new("missing", &[]).await;
    instance.baked_with(json!({ "runlist": "s3://runlists-missing/nowhere.json" }));

    assert_eq!(instance.boot(), 4);
    assert!(instance.marker_present());
    assert_eq!(instance.applied(), None, "the runner never ran");
    assert_eq!(
        instance.log().matches("fetching ").count(),
        2,
        "two attempts"
    );
    let alerts = instance.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].1["phase"], "fetch");
    assert!(alerts[0].1["error"]
        .as_str()
        .unwrap()
        .contains("s3://runlists-missing/nowhere.json"));
}

#[tokio::test]
async fn with_retry_off_the_marker_goes_after_the_alert() {
    let instance = FirstBoot::new("no-retry", &[]).await;
    instance.upload("zookeeper.json", "{}");
    instance.baked_with(json!({
        "runlist": "s3://runlists-no-retry/zookeeper.json",
        "runner": "exit 3", "retry": false
    }));

    assert_eq!(instance.boot(), 1);
    assert!(!instance.marker_present());
    let alerts = instance.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].1["marker_kept"], false);
    assert_eq!(alerts[0].1["exit_code"], 3);
}

#[tokio::test]
async fn a_placeholder_with_no_value_fails_the_config_phase() {
    let instance = FirstBoot::new("no-tag", &[]).await;
    instance.baked_with(json!({ "runlist": "s3://runlists-no-tag/{environment}/zookeeper.json" }));

    assert_eq!(instance.boot(), 2);
    let alerts = instance.alerts().await;
    assert_eq!(alerts[0].1["phase"], "config");
    assert!(alerts[0].1["error"]
        .as_str()
        .unwrap()
        .contains("placeholder {environment}"));
}

#[tokio::test]
async fn the_agent_leaves_its_outcome_for_the_release_gate() {
    let instance = FirstBoot::new("outcome", &[]).await;
    instance.upload("zookeeper.json", "{}");
    instance.baked_with(json!({ "runlist": "s3://runlists-outcome/zookeeper.json" }));
    let (waited, said) = instance.gate_reads_outcome();
    assert_eq!(waited, 124, "no outcome before the agent ran: {said}");
    assert!(said.contains("left no outcome in 4 s"), "{said}");

    assert_eq!(instance.boot(), 0, "{}", instance.log());
    let outcome = instance.outcome().expect("an outcome");
    assert_eq!(outcome["phase"], "done");
    assert_eq!(outcome["exit_code"], 0);
    assert_eq!(outcome["version"], "1.4.0");
    let (status, said) = instance.gate_reads_outcome();
    assert_eq!(status, 0, "{said}");
    let read = bakery_core::script::firstboot::FirstbootOutcome::find(&said).unwrap();
    assert_eq!(read.phase, "done");
}

#[tokio::test]
async fn a_failed_first_boot_leaves_the_phase_the_gate_names() {
    let instance = FirstBoot::new("outcome-fails", &[]).await;
    instance.upload("zookeeper.json", "{}");
    instance.baked_with(json!({
        "runlist": "s3://runlists-outcome-fails/zookeeper.json",
        "runner": "echo 'zoo.cfg: template error'; exit 9"
    }));

    assert_eq!(instance.boot(), 1);
    let outcome = instance.outcome().expect("an outcome");
    assert_eq!(outcome["phase"], "run");
    assert_eq!(outcome["exit_code"], 1);
    assert_eq!(outcome["command_exit_code"], 9);
    let (status, said) = instance.gate_reads_outcome();
    assert_eq!(status, 1, "{said}");
    assert!(
        said.contains("zoo.cfg: template error"),
        "the log's tail: {said}"
    );
    let read = bakery_core::script::firstboot::FirstbootOutcome::find(&said).unwrap();
    assert_eq!(
        (read.phase.as_str(), read.command_exit_code),
        ("run", Some(9))
    );
}

#[tokio::test]
async fn a_test_instance_tag_gives_another_runlist_or_none() {
    let other = FirstBoot::new(
        "override",
        &[(
            "bakery:firstboot-runlist",
            "s3://runlists-override/test.json",
        )],
    )
    .await;
    other.upload("test.json", r#"{"run_list": ["role[smoke]"]}"#);
    other.upload("zookeeper.json", "{}");
    other.baked_with(json!({ "runlist": "s3://runlists-override/zookeeper.json" }));
    assert_eq!(other.boot(), 0, "{}", other.log());
    assert_eq!(
        other.applied().as_deref(),
        Some(r#"{"run_list": ["role[smoke]"]}"#)
    );

    let none = FirstBoot::new("override-none", &[("bakery:firstboot-runlist", "none")]).await;
    none.baked_with(json!({ "runlist": "s3://runlists-override-none/zookeeper.json" }));
    assert_eq!(none.boot(), 0, "{}", none.log());
    assert_eq!(none.applied(), None, "nothing fetched, nothing run");
    assert!(!none.marker_present());
    assert_eq!(none.outcome().unwrap()["phase"], "done");
}
