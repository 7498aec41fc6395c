//! Helpers that keep each end-to-end test reading like a usage example: the local
//! emulator, a test's own region of it, and the real `bakery` binary pointed at it
//! (with the throwaway recipes of `tests/support`).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::config::Credentials;
use serde_json::Value;

pub use crate::bakery::{repo_root, Bakery};
pub use crate::recipe::{recipe_folder, step_names, TestRecipe, AL2023};

/// A recipes folder holding a copy of `recipe`, named `role` (what `outdated` and
/// `bake --all` read).
pub fn recipes_folder_with(recipe: &TestRecipe, role: &str) -> tempfile::TempDir {
    let folder = tempfile::tempdir().unwrap();
    let copied = Command::new("cp")
        .arg("-r")
        .arg(recipe.path())
        .arg(folder.path().join(role))
        .status()
        .unwrap();
    assert!(copied.success());
    folder
}

/// A team's checkout whose environments are `two` (both regions) and `home` (the first).
pub fn checkout(home: &str, away: &str) -> tempfile::TempDir {
    let top = tempfile::tempdir().unwrap();
    std::fs::write(
        top.path().join("bakery.toml"),
        format!(
            "[environments.two]\nregions = [\"{home}\", \"{away}\"]\n\
             [environments.home]\nregions = [\"{home}\"]\n"
        ),
    )
    .unwrap();
    top
}

/// One of the suite's emulators: `scripts/local-aws` under the name `tests` (the
/// first), `tests-2`, `tests-3`, …; each is started when a test first takes one of its
/// regions and reset once per run, so that every run starts from empty accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Emulator(usize);

/// How many emulators the suite may start: enough regions for every test to have its
/// own ([`Account::fresh`] panics, naming this constant, once they are all taken).
pub const EMULATORS: usize = 6;

/// The commercial regions of every emulator, handed out one test at a time: those where
/// moto publishes Amazon Linux 2023 (its SSM parameters and images), which the tests'
/// recipes are based on (not mx-central-1, ap-east-2, ap-southeast-6 or -7).
const REGIONS: [&str; 30] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "ca-west-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "af-south-1",
    "ap-east-1",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
];

/// The regions of AWS GovCloud (its own partition, `aws-us-gov`): for tests of what
/// differs there (ARNs, IAM).
const GOV_REGIONS: [&str; 2] = ["us-gov-west-1", "us-gov-east-1"];

/// Where a test's region is: AWS's commercial partition, or GovCloud.
#[derive(Debug, Clone, Copy)]
enum Partition {
    Commercial,
    Gov,
}

impl Partition {
    fn regions(self) -> &'static [&'static str] {
        match self {
            Partition::Commercial => &REGIONS,
            Partition::Gov => &GOV_REGIONS,
        }
    }
}

/// How many regions of each partition each emulator has handed out so far.
static TAKEN: std::sync::Mutex<[[usize; EMULATORS]; 2]> =
    std::sync::Mutex::new([[0; EMULATORS]; 2]);

/// The next free region of `partition` in `emulator` (any emulator when None: the one
/// with the most left, so that tests spread over them).
fn take(partition: Partition, emulator: Option<Emulator>) -> (Emulator, &'static str) {
    let list = partition.regions();
    let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    let counts = &mut taken[partition as usize];
    let index = emulator.map(|e| e.0).unwrap_or_else(|| {
        (0..EMULATORS)
            .min_by_key(|&i| counts[i])
            .expect("emulators")
    });
    let next = counts[index];
    assert!(
        next < list.len(),
        "every region of the suite's emulators is taken: raise EMULATORS in \
         tests/e2e/support.rs (and scripts/test's list)"
    );
    counts[index] += 1;
    (Emulator(index), list[next])
}

impl Emulator {
    fn name(self) -> String {
        match self.0 {
            0 => "tests".to_string(),
            n => format!("tests-{}", n + 1),
        }
    }

    /// Started if needed and reset once per test run.
    pub fn endpoint(self) -> &'static str {
        static STARTED: [OnceLock<String>; EMULATORS] = [const { OnceLock::new() }; EMULATORS];
        STARTED[self.0].get_or_init(|| {
            let env = local_aws(&self.name(), "start");
            local_aws(&self.name(), "reset");
            env.lines()
                .find_map(|l| l.strip_prefix("export AWS_ENDPOINT_URL="))
                .expect("local-aws prints AWS_ENDPOINT_URL")
                .to_string()
        })
    }
}

/// The AWS CLI that `scripts/local-aws install` puts in its own virtualenv.
pub fn aws_cli_path() -> PathBuf {
    repo_root().join(".local-aws/awscli/bin/aws")
}

fn local_aws(name: &str, command: &str) -> String {
    let out = Command::new(repo_root().join("scripts/local-aws"))
        .arg(command)
        .env("BAKERY_LOCAL_AWS_NAME", name)
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/local-aws runs");
    assert!(out.status.success(), "scripts/local-aws {command} failed");
    String::from_utf8(out.stdout).unwrap()
}

/// How long after its create a resource is visible to every Describe: the emulator's
/// default `eventual_consistency_seconds`, and a margin.
pub const VISIBLE_AFTER: std::time::Duration = std::time::Duration::from_millis(2500);

/// One test's slice of the emulator: its own region, so tests run in parallel
/// without seeing each other's images and instances.
pub struct Account {
    pub region: String,
    pub endpoint: &'static str,
    emulator: Emulator,
    pub ec2: aws_sdk_ec2::Client,
    pub ssm: aws_sdk_ssm::Client,
}

impl Account {
    /// A region no other test of this run has: of whichever emulator has the most left.
    pub async fn fresh() -> Account {
        let (emulator, region) = take(Partition::Commercial, None);
        Account::of(emulator, region).await
    }

    /// Another fresh region of this account's emulator: where a test copies, shares or
    /// distributes to.
    pub async fn neighbour(&self) -> Account {
        let (emulator, region) = take(Partition::Commercial, Some(self.emulator));
        Account::of(emulator, region).await
    }

    /// A fresh region of AWS GovCloud (partition `aws-us-gov`), with the
    /// `bakery-builder` profile that IAM there needs.
    pub async fn fresh_in_gov() -> Account {
        let (emulator, region) = take(Partition::Gov, None);
        let account = Account::of(emulator, region).await;
        account.seed_builder_profile();
        account
    }

    async fn of(emulator: Emulator, region: &str) -> Account {
        let endpoint = emulator.endpoint();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .load()
            .await;
        let account = Account {
            region: region.to_string(),
            endpoint,
            emulator,
            ec2: aws_sdk_ec2::Client::new(&config),
            ssm: aws_sdk_ssm::Client::new(&config),
        };
        // A clean slate for this region's emulator settings.
        account.emulate(serde_json::json!({
            "instance_pending_seconds": 0, "instance_stopping_seconds": 0,
            "instance_shutting_down_seconds": 0, "image_pending_seconds": 0,
            "image_final_state": "available", "ssm_online_after_seconds": 0,
            "command_seconds": 0, "command_outcomes": [], "eventual_consistency_seconds": 2
        }));
        account
    }

    /// IAM is per partition: a region outside `aws` (us-gov-*) needs its own
    /// `bakery-builder` instance profile, as an account there would.
    pub fn seed_builder_profile(&self) {
        // Fails harmlessly when an earlier test already made it.
        let _ = self.aws_cli(&[
            "iam",
            "create-instance-profile",
            "--instance-profile-name",
            "bakery-builder",
        ]);
    }

    /// Runs the pinned AWS CLI (as an instance would have it) against this region.
    pub fn aws_cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(aws_cli_path())
            .args(["--region", &self.region])
            .args(args)
            .env("AWS_ENDPOINT_URL", self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .expect("the AWS CLI runs (scripts/local-aws install puts it in .local-aws/awscli)")
    }

    /// Sets this region's emulator behaviour (tests/emulator/README.md).
    pub fn emulate(&self, mut settings: Value) {
        settings["region"] = Value::String(self.region.clone());
        self.control("POST", "config", &settings.to_string());
    }

    /// Lets the deprecation time of `image_id` pass (a fixture: AWS takes only future
    /// deprecation times, so on AWS this state comes by waiting).
    pub fn deprecation_passed(&self, image_id: &str) {
        let body = serde_json::json!({ "region": self.region, "image_id": image_id });
        self.control("POST", "deprecation-passed", &body.to_string());
    }

    /// How many `action` calls this region's emulator has answered so far.
    pub fn calls(&self, action: &str) -> u64 {
        let answer = self.control("GET", "calls", "");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let calls: Value = serde_json::from_str(body).expect("the emulator's calls, as JSON");
        calls[format!("{} {action}", self.region)]
            .as_u64()
            .unwrap_or(0)
    }

    /// The reboots SSM Agent made of `instance_id` for commands that asked for one
    /// (exit code 194 or 3010): each one's start and end, in seconds since the epoch.
    pub fn reboots(&self, instance_id: &str) -> Vec<(f64, f64)> {
        let answer = self.control("GET", "reboots", "");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let reboots: Value = serde_json::from_str(body).expect("the emulator's reboots, as JSON");
        reboots[instance_id]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|r| {
                        let at = |key: &str| r[key].as_f64().expect("a time in seconds");
                        (at("started_seconds"), at("ended_seconds"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One request to the emulator's control endpoint; its whole answer.
    fn control(&self, method: &str, what: &str, body: &str) -> String {
        let address = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("emulator reachable");
        write!(
            stream,
            "{method} /bakery-emulator/{what} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "emulator refused {method} {what} {body}: {answer}"
        );
        answer
    }

    /// Waits until what was just made is visible to a listing, as EC2's eventual
    /// consistency lets it be (the emulator's default window, and a margin).
    pub async fn settle(&self) {
        tokio::time::sleep(VISIBLE_AFTER).await;
    }

    pub fn bakery(&self) -> Bakery {
        Bakery::new(&self.region).env("AWS_ENDPOINT_URL", self.endpoint)
    }

    /// `bakery bake <recipe> --output json <args>`, which must succeed; its result.
    pub fn bake_ok(&self, recipe: &Path, args: &[&str]) -> Value {
        let outcome = self
            .bakery()
            .args(["bake", "--output", "json"])
            .args(args)
            .arg_path(recipe)
            .run();
        assert_eq!(outcome.code, 0, "bake {args:?} failed:\n{}", outcome.stderr);
        outcome.json()
    }

    /// The image a channel key (`stable`, `stable/arm64`) of the role names here.
    pub async fn channel(&self, role: &str, key: &str) -> Option<String> {
        let name = format!("/bakery/{role}/channels/{key}");
        let out = self.ssm.get_parameter().name(name).send().await.ok()?;
        out.parameter()?.value().map(str::to_string)
    }

    /// The release record (or claim) `/bakery/<role>/releases/<version>`, as JSON.
    pub async fn release_record(&self, role: &str, version: &str) -> Option<Value> {
        let name = format!("/bakery/{role}/releases/{version}");
        let out = self.ssm.get_parameter().name(name).send().await.ok()?;
        serde_json::from_str(out.parameter()?.value()?).ok()
    }

    /// `count` bakes of `recipe` with `--bump patch`, all started at once; their outcomes.
    pub fn bumped_bakes_at_once(&self, recipe: &Path, count: usize) -> Vec<crate::bakery::Outcome> {
        let bakes: Vec<_> = (0..count)
            .map(|_| {
                self.bakery()
                    .args(["bake", "--bump", "patch", "--output", "json"])
                    .arg_path(recipe)
                    .spawn()
            })
            .collect();
        bakes.into_iter().map(|bake| bake.finish()).collect()
    }

    /// Writes a release's claim parameter as another bake (or a dead one) left it.
    pub async fn write_claim(&self, role: &str, version: &str, claim: &Value) {
        self.ssm
            .put_parameter()
            .name(format!("/bakery/{role}/releases/{version}"))
            .value(claim.to_string())
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .unwrap();
    }

    /// Points a channel at an image in this region by hand, not through bakery.
    pub async fn point_channel_by_hand(&self, role: &str, channel: &str, image_id: &str) {
        self.ssm
            .put_parameter()
            .name(format!("/bakery/{role}/channels/{channel}"))
            .value(image_id)
            .data_type("aws:ec2:image")
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .unwrap();
    }

    /// The names of the images this account owns in the region.
    pub async fn own_image_names(&self) -> Vec<String> {
        self.own_images()
            .await
            .iter()
            .filter_map(|i| i.name().map(str::to_string))
            .collect()
    }

    /// The images this account owns in the region.
    pub async fn own_images(&self) -> Vec<aws_sdk_ec2::types::Image> {
        self.ec2
            .describe_images()
            .owners("self")
            .send()
            .await
            .unwrap()
            .images()
            .to_vec()
    }

    pub async fn image(&self, image_id: &str) -> aws_sdk_ec2::types::Image {
        self.ec2
            .describe_images()
            .image_ids(image_id)
            .send()
            .await
            .unwrap()
            .images()[0]
            .clone()
    }

    pub async fn snapshot_tags(&self, snapshot_id: &str) -> BTreeMap<String, String> {
        let out = self
            .ec2
            .describe_snapshots()
            .snapshot_ids(snapshot_id)
            .send()
            .await
            .unwrap();
        tags(out.snapshots()[0].tags())
    }

    /// Snapshots that carry `bakery:bake-id=<bake_id>`.
    pub async fn snapshots_of_bake(&self, bake_id: &str) -> Vec<String> {
        let filter = aws_sdk_ec2::types::Filter::builder()
            .name("tag:bakery:bake-id")
            .values(bake_id)
            .build();
        let out = self
            .ec2
            .describe_snapshots()
            .owner_ids("self")
            .filters(filter)
            .send()
            .await
            .unwrap();
        out.snapshots()
            .iter()
            .map(|s| s.snapshot_id().unwrap().to_string())
            .collect()
    }

    /// Every instance of the region with its state name.
    pub async fn instances(&self) -> Vec<aws_sdk_ec2::types::Instance> {
        let out = self.ec2.describe_instances().send().await.unwrap();
        out.reservations()
            .iter()
            .flat_map(|r| r.instances().to_vec())
            .collect()
    }

    /// The instances a bake (or `bakery test` run) launched with
    /// `bakery:test-instance`, terminated or not.
    pub async fn test_instances(&self, run_id: &str) -> Vec<aws_sdk_ec2::types::Instance> {
        self.instances()
            .await
            .into_iter()
            .filter(|i| {
                let tags = tags(i.tags());
                tags.get("bakery:test-instance").map(String::as_str) == Some("true")
                    && tags.get("bakery:bake-id").map(String::as_str) == Some(run_id)
            })
            .collect()
    }

    /// What EC2 holds of a run's release gate: for each image, the instance types of
    /// the test instances booted from it.
    pub async fn test_boots(&self, run_id: &str) -> BTreeMap<String, Vec<String>> {
        let mut boots: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for instance in self.test_instances(run_id).await {
            boots
                .entry(instance.image_id().unwrap().to_string())
                .or_default()
                .push(instance.instance_type().unwrap().as_str().to_string());
        }
        boots
    }

    /// Terminates an instance by hand (one a test kept, or launched itself).
    pub async fn terminate(&self, instance_id: &str) {
        self.ec2
            .terminate_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .unwrap();
    }

    pub async fn instance_state(&self, instance_id: &str) -> String {
        let out = self
            .ec2
            .describe_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .unwrap();
        out.reservations()[0].instances()[0]
            .state()
            .unwrap()
            .name()
            .unwrap()
            .as_str()
            .to_string()
    }

    /// Instances that are not terminated (or on their way there).
    pub async fn live_instances(&self) -> Vec<String> {
        self.instances()
            .await
            .into_iter()
            .filter(|i| {
                let state = i.state().unwrap().name().unwrap().as_str().to_string();
                state != "terminated" && state != "shutting-down"
            })
            .map(|i| i.instance_id().unwrap().to_string())
            .collect()
    }

    /// Everything a bake could have made in the region, by kind: instances that are
    /// not terminated, own images and snapshots, security groups beside the default
    /// ones, and parameters under /bakery/.
    pub async fn footprint(&self) -> BTreeMap<&'static str, Vec<String>> {
        let images = async {
            let images = self.own_images().await;
            images
                .iter()
                .map(|i| i.image_id().unwrap().to_string())
                .collect()
        };
        let snapshots = async {
            let out = self.ec2.describe_snapshots().owner_ids("self").send();
            let out = out.await.unwrap();
            out.snapshots()
                .iter()
                .map(|s| s.snapshot_id().unwrap().to_string())
                .collect()
        };
        let parameters =
            async {
                let mut parameters: Vec<String> = Vec::new();
                let mut pages = self
                    .ssm
                    .get_parameters_by_path()
                    .path("/bakery/")
                    .recursive(true)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    parameters.extend(page.unwrap().parameters().iter().map(|p| {
                        format!("{}={}", p.name().unwrap(), p.value().unwrap_or_default())
                    }));
                }
                parameters
            };
        let (images, snapshots, parameters, instances, groups) = tokio::join!(
            images,
            snapshots,
            parameters,
            self.live_instances(),
            self.extra_security_groups()
        );
        let footprint = BTreeMap::from([
            ("instances", instances),
            ("images", images),
            ("snapshots", snapshots),
            ("security groups", groups),
            ("parameters", parameters),
        ]);
        footprint
            .into_iter()
            .map(|(kind, mut ids)| {
                ids.sort();
                (kind, ids)
            })
            .collect()
    }

    /// Security groups other than the VPC's default one.
    pub async fn extra_security_groups(&self) -> Vec<String> {
        let out = self.ec2.describe_security_groups().send().await.unwrap();
        out.security_groups()
            .iter()
            .filter(|g| g.group_name() != Some("default"))
            .map(|g| g.group_id().unwrap().to_string())
            .collect()
    }

    /// Waits (at most two minutes) until this region holds `count` images of bakery's:
    /// a copy or an image has started.
    pub async fn until_images(&self, count: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while self.own_images().await.len() < count {
            assert!(std::time::Instant::now() < deadline, "no image started");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// The tags of a security group.
    pub async fn security_group_tags(&self, group_id: &str) -> BTreeMap<String, String> {
        let out = self
            .ec2
            .describe_security_groups()
            .group_ids(group_id)
            .send()
            .await
            .unwrap();
        tags(out.security_groups()[0].tags())
    }

    /// When each Run Command sent to an instance was requested (seconds since the
    /// epoch), with its script text.
    pub async fn commands_requested(&self, instance_id: &str) -> Vec<(f64, String)> {
        let listed = self.commands_listed(instance_id).await;
        let at = |c: &aws_sdk_ssm::types::Command| {
            c.requested_date_time()
                .expect("RequestedDateTime")
                .as_secs_f64()
        };
        listed.iter().map(|c| (at(c), script_of(c))).collect()
    }

    /// The script texts of the Run Commands sent to an instance, oldest first.
    pub async fn commands_sent_to(&self, instance_id: &str) -> Vec<(String, String)> {
        let listed = self.commands_listed(instance_id).await;
        let document =
            |c: &aws_sdk_ssm::types::Command| c.document_name().unwrap_or_default().to_string();
        listed.iter().map(|c| (document(c), script_of(c))).collect()
    }

    /// ListCommands of an instance.
    async fn commands_listed(&self, instance_id: &str) -> Vec<aws_sdk_ssm::types::Command> {
        let out = self
            .ssm
            .list_commands()
            .instance_id(instance_id)
            .send()
            .await;
        out.unwrap().commands().to_vec()
    }
}

/// A Run Command's script text (its `commands` parameter, one line each).
fn script_of(command: &aws_sdk_ssm::types::Command) -> String {
    command
        .parameters()
        .and_then(|p| p.get("commands"))
        .map(|v| v.join("\n"))
        .unwrap_or_default()
}

pub fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}

/// A bake from `home` that also reaches `away`, slow enough that each of its steps can
/// be caught as it starts: the folder of its bakery.toml (environment `env`, both
/// regions) and the steps of its chain, as the plan of this very bake lists them.
pub async fn two_region_bake_to_catch(
    home: &Account,
    away: &Account,
    env: &str,
    recipe: &TestRecipe,
) -> (tempfile::TempDir, Vec<String>) {
    // Every transition takes a moment, as on AWS.
    home.emulate(serde_json::json!({
        "instance_pending_seconds": 1, "instance_stopping_seconds": 1,
        "instance_shutting_down_seconds": 1, "image_pending_seconds": 2, "command_seconds": 1
    }));
    away.emulate(serde_json::json!({ "image_pending_seconds": 2 }));
    let top = tempfile::tempdir().unwrap();
    std::fs::write(
        top.path().join("bakery.toml"),
        format!(
            "[environments.{env}]\nregions = [\"{}\", \"{}\"]\n",
            home.region, away.region
        ),
    )
    .unwrap();
    let plan = home
        .bakery()
        .current_dir(top.path())
        .plan_json(recipe.path(), "1.0.0")
        .args(["--env", env])
        .run();
    plan.expect_code(0);
    let steps = plan.json()["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    (top, steps)
}

/// What bakes of `role` may leave once they have ended, however they ended: in every
/// one of `regions`, no builder running, no builder security group, no image that is
/// not part of a recorded release (claims live in `home`), no snapshot of a bake that
/// no such image holds; and no claim still `baking`.
pub async fn nothing_but_releases_left(role: &str, home: &Account, regions: &[&Account]) {
    let mut pages = home
        .ssm
        .get_parameters_by_path()
        .path(format!("/bakery/{role}/releases/"))
        .into_paginator()
        .send();
    let mut claims = Vec::new();
    while let Some(page) = pages.next().await {
        claims.extend(page.unwrap().parameters().to_vec());
    }
    for claim in claims {
        let value: Value = serde_json::from_str(claim.value().unwrap()).unwrap();
        assert_ne!(
            value["state"],
            "baking",
            "stale claim {}: {value}",
            claim.name().unwrap()
        );
    }
    for account in regions {
        // Other tests may share a region: only what carries this role's tag counts.
        let of_role = |tagged: &[aws_sdk_ec2::types::Tag]| {
            tags(tagged).get("bakery:role").map(String::as_str) == Some(role)
        };
        let instances: Vec<String> = account
            .instances()
            .await
            .into_iter()
            .filter(|i| of_role(i.tags()))
            .filter(|i| {
                let state = i.state().unwrap().name().unwrap().as_str().to_string();
                state != "terminated" && state != "shutting-down"
            })
            .map(|i| i.instance_id().unwrap().to_string())
            .collect();
        assert_eq!(
            instances,
            Vec::<String>::new(),
            "builders left in {}",
            account.region
        );
        let groups = account.ec2.describe_security_groups().send().await.unwrap();
        let groups: Vec<&str> = groups
            .security_groups()
            .iter()
            .filter(|g| of_role(g.tags()))
            .map(|g| g.group_id().unwrap())
            .collect();
        assert_eq!(
            groups,
            Vec::<&str>::new(),
            "builder groups left in {}",
            account.region
        );
        let mut kept_snapshots = std::collections::BTreeSet::new();
        let prefix = format!("bakery/{role}/");
        for image in account.own_images().await {
            let Some(rest) = image.name().unwrap().strip_prefix(&prefix) else {
                continue;
            };
            let version = rest.split('/').next().unwrap().to_string();
            let record = home.release_record(role, &version).await;
            assert!(
                record.as_ref().is_some_and(|r| r["state"] != "baking"),
                "{} ({}) in {} is not part of a recorded release: {record:?}",
                image.image_id().unwrap(),
                image.name().unwrap(),
                account.region
            );
            for mapping in image.block_device_mappings() {
                if let Some(snapshot) = mapping.ebs().and_then(|e| e.snapshot_id()) {
                    kept_snapshots.insert(snapshot.to_string());
                }
            }
        }
        let snapshots = account.ec2.describe_snapshots().owner_ids("self").send();
        for snapshot in snapshots.await.unwrap().snapshots() {
            let id = snapshot.snapshot_id().unwrap();
            if of_role(snapshot.tags()) {
                assert!(
                    kept_snapshots.contains(id),
                    "orphan snapshot {id} in {}",
                    account.region
                );
            }
        }
    }
}

pub fn tags(tags: &[aws_sdk_ec2::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
        .collect()
}

/// An SNS topic with an SQS queue subscribed to it: what a team's alerting reads.
pub struct Inbox {
    pub topic_arn: String,
    queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

impl Account {
    pub async fn inbox(&self, name: &str) -> Inbox {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .endpoint_url(self.endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .load()
            .await;
        let sns = aws_sdk_sns::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let topic_arn = sns
            .create_topic()
            .name(name)
            .send()
            .await
            .unwrap()
            .topic_arn()
            .unwrap()
            .to_string();
        let queue_url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_string();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let queue_arn = attributes.attributes().unwrap()
            [&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .unwrap();
        Inbox {
            topic_arn,
            queue_url,
            sqs,
        }
    }
}

impl Inbox {
    /// The SNS notifications delivered so far: (subject, message as JSON).
    pub async fn messages(&self) -> Vec<(String, Value)> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        out.messages()
            .iter()
            .map(|m| {
                let envelope: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                let message = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
                (
                    envelope["Subject"].as_str().unwrap_or_default().to_string(),
                    message,
                )
            })
            .collect()
    }
}
