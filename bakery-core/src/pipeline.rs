//! Runs a [`BakePlan`]: the chain of DESIGN.md, step by step, with every created
//! resource in the ledger and a cleanup that walks it backwards on any failure or
//! interrupt.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::alerts;
use crate::aws::ec2::{BuilderLaunch, ImageInfo};
use crate::aws::ssm::{Invocation, OutputDestination, ScriptCommand};
use crate::aws::Aws;
use crate::channels;
use crate::commands;
use crate::distribute;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, EventSink, OutputStream};
use crate::ledger::{Ledger, Resource};
use crate::plan::{BakePlan, PlannedStep};
use crate::recipe::{BaseImage, Platform};
use crate::release::{self, Provenance, Release, TAG_BAKE_ID};
use crate::releases;
use crate::removal::Remover;
use crate::report::{BakeReport, BakeStatus, ImageRecord, StepRecord};
use crate::sharing;
use crate::version::VersionRequest;
use crate::wait::{self, Poll, Target, WaitPolicy};

/// How long each wait may take before the bake gives up.
pub struct Deadlines {
    pub instance_running: Duration,
    pub ssm_online: Duration,
    pub instance_stopped: Duration,
    /// At least 30 minutes: large images take that long on AWS.
    pub image_available: Duration,
    pub instance_terminated: Duration,
    /// The whole cleanup, after which what is left is reported as leaked.
    pub cleanup: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            instance_running: Duration::from_secs(10 * 60),
            ssm_online: Duration::from_secs(15 * 60),
            instance_stopped: Duration::from_secs(15 * 60),
            image_available: Duration::from_secs(60 * 60),
            instance_terminated: Duration::from_secs(10 * 60),
            cleanup: Duration::from_secs(10 * 60),
        }
    }
}

/// Output lines kept for the error of a failed step.
const OUTPUT_TAIL_LINES: usize = 25;

/// Runs the whole chain; never panics on AWS errors, always returns a report.
/// Cancelling `cancel` interrupts the bake at the next wait and cleans up.
pub async fn bake(
    plan: &BakePlan,
    aws: &Aws,
    sink: &dyn EventSink,
    cancel: CancellationToken,
) -> BakeReport {
    let run = Run {
        plan,
        aws,
        sink,
        cancel,
        deadlines: Deadlines::default(),
        ledger: Ledger::default(),
        steps: Mutex::new(Vec::new()),
        builder: Mutex::new(None),
        base_image: Mutex::new(None),
        release: Mutex::new(None),
        released: Mutex::new(None),
        copies: Mutex::new(Vec::new()),
        regions: Mutex::new(Vec::new()),
        base_release: Mutex::new(None),
        promoted: Mutex::new(Vec::new()),
        shared: Mutex::new(Vec::new()),
        started_at: SystemTime::now(),
        started: Instant::now(),
    };
    run.execute().await
}

struct Run<'a> {
    plan: &'a BakePlan,
    aws: &'a Aws,
    sink: &'a dyn EventSink,
    cancel: CancellationToken,
    deadlines: Deadlines,
    ledger: Ledger,
    steps: Mutex<Vec<StepRecord>>,
    builder: Mutex<Option<String>>,
    base_image: Mutex<Option<String>>,
    /// Known once the first step has chosen the version.
    release: Mutex<Option<Release>>,
    /// The image, once it is the release's (no longer the bake's to remove).
    released: Mutex<Option<ImageRecord>>,
    /// Copies in other regions, once available.
    copies: Mutex<Vec<ImageRecord>>,
    /// What distribution did in each region.
    regions: Mutex<Vec<distribute::RegionOutcome>>,
    /// `role@version` of the base, when the recipe is layered on another role.
    base_release: Mutex<Option<String>>,
    /// Channels moved to the new release.
    promoted: Mutex<Vec<String>>,
    /// What sharing did in each region.
    shared: Mutex<Vec<sharing::ShareOutcome>>,
    started_at: SystemTime,
    started: Instant,
}

/// Why the chain stopped: the step and its error.
struct Failure {
    step: String,
    error: Error,
}

impl Run<'_> {
    fn region(&self) -> &str {
        &self.aws.region
    }

    fn release(&self) -> Release {
        self.release
            .lock()
            .expect("lock")
            .clone()
            .expect("the version is chosen by the first step")
    }

    fn image_name(&self) -> String {
        self.release().image_name(self.plan.arch)
    }

    async fn execute(&self) -> BakeReport {
        self.sink.emit(Event::BakeStarted {
            bake_id: self.plan.bake_id.clone(),
            release: format!("{}@{}", self.plan.role, self.plan.version),
            region: self.region().to_string(),
            recipe: self.plan.recipe_dir.display().to_string(),
        });
        let outcome = self.chain().await;
        let (status, failure) = match outcome {
            Ok(()) => (BakeStatus::Succeeded, None),
            Err(failure) => {
                let status = if failure.error.kind() == ErrorKind::Interrupted {
                    BakeStatus::Interrupted
                } else {
                    BakeStatus::Failed
                };
                (status, Some(failure))
            }
        };
        let failure_tail = match failure.as_ref().map(|f| &f.error) {
            Some(Error::StepFailed { output_tail, .. }) => Some(output_tail.clone()),
            _ => None,
        };
        let (mut kept, mut leaked) = (Vec::new(), Vec::new());
        if !self.ledger.is_empty() {
            let keep_builder = status == BakeStatus::Failed
                && self.plan.keep_on_failure
                && failure
                    .as_ref()
                    .is_some_and(|f| f.error.kind() == ErrorKind::Failed);
            let reason = match &failure {
                Some(f) => format!("{} at step `{}`", status_word(status), f.step),
                None => "finishing".to_string(),
            };
            (kept, leaked) = self.cleanup(&reason, keep_builder).await;
        }
        let report = BakeReport {
            status,
            dry_run: self.plan.dry_run,
            role: self.plan.role.to_string(),
            version: match self.release.lock().expect("lock").as_ref() {
                Some(release) => release.version.to_string(),
                None => self.plan.version.to_string(),
            },
            bake_id: self.plan.bake_id.clone(),
            region: self.region().to_string(),
            builder_instance_id: self.builder.lock().expect("lock").clone(),
            base_image: self.base_image.lock().expect("lock").clone(),
            base_release: self.base_release.lock().expect("lock").clone(),
            images: self
                .released
                .lock()
                .expect("lock")
                .clone()
                .into_iter()
                .chain(self.copies.lock().expect("lock").clone())
                .collect(),
            regions: self.regions.lock().expect("lock").clone(),
            steps: self.steps.lock().expect("lock").clone(),
            started_at: humantime::format_rfc3339_seconds(self.started_at).to_string(),
            seconds: round(self.started.elapsed().as_secs_f64()),
            error: failure.as_ref().map(|f| f.error.to_string()),
            error_kind: failure.as_ref().map(|f| f.error.kind()),
            failed_step: failure.map(|f| f.step),
            channels: self.promoted.lock().expect("lock").clone(),
            shared: self.shared.lock().expect("lock").clone(),
            leaked,
            kept,
        };
        self.alert(&report, failure_tail).await;
        report
    }

    /// Publishes the alert, when a topic is configured; a failure to publish is a
    /// warning, never a second failure.
    async fn alert(&self, report: &BakeReport, output_tail: Option<String>) {
        if self.plan.dry_run {
            return;
        }
        let Some(topic) = &self.plan.sns_topic else {
            return;
        };
        if report.status == BakeStatus::Succeeded && !self.plan.notify_success {
            return;
        }
        let (subject, body) = alerts::message(
            report,
            output_tail.as_deref(),
            self.plan.build_url.as_deref(),
        );
        match self.aws.sns.publish(topic, &subject, &body).await {
            Ok(()) => self.sink.emit(Event::Info {
                step: "report".into(),
                message: format!("alert sent to {topic}"),
            }),
            Err(error) => self.sink.emit(Event::Warning {
                message: format!("could not send the alert: {error}"),
            }),
        }
    }

    /// `--dry-run`: every read the bake makes, then the calls that would create
    /// something, made with EC2's DryRun so that AWS checks permissions and parameters.
    async fn dry_run(&self) -> Result<(), Failure> {
        self.step("check-release", self.check_release()).await?;
        let base = self.step("resolve-base", self.resolve_base()).await?;
        if !self.plan.secret_parameters.is_empty() {
            self.step("check-secrets", self.check_secrets()).await?;
        }
        self.step("check-launch", self.check_launch(&base)).await?;
        if !self.plan.copy_to.is_empty() {
            self.step("check-distribute", self.check_distribute(&base))
                .await?;
        }
        Ok(())
    }

    /// The steps' secret parameters exist and are SecureString, before anything is
    /// launched (their values are read on the builder, never here).
    async fn check_secrets(&self) -> Result<()> {
        for name in &self.plan.secret_parameters {
            match self.aws.ssm.parameter_type(name).await?.as_deref() {
                Some("SecureString") => {}
                Some(other) => {
                    return Err(Error::input(format!(
                        "SSM parameter {name} in {} is a {other}: a step's `secrets` must be \
                         SecureString parameters (put it again with --type SecureString)",
                        self.region()
                    )))
                }
                None => {
                    return Err(Error::input(format!(
                        "SSM parameter {name}, named in a step's `secrets`, does not exist in {}",
                        self.region()
                    )))
                }
            }
        }
        self.info(
            "check-secrets",
            format!(
                "{} SecureString parameter(s) present; the builder reads them itself",
                self.plan.secret_parameters.len()
            ),
        );
        Ok(())
    }

    async fn check_launch(&self, base: &ImageInfo) -> Result<()> {
        let mut security_groups = self.plan.builder.security_groups.clone();
        if security_groups.is_empty() {
            let vpc = self.builder_vpc().await?;
            self.aws.ec2.check_create_security_group(&vpc).await?;
            self.info(
                "check-launch",
                format!("ec2:CreateSecurityGroup in {vpc} would succeed"),
            );
            // The group does not exist: the launch is checked with the VPC's default.
            security_groups.clear();
        }
        let launch = self.builder_launch(base, security_groups, self.builder_tags().0)?;
        self.aws.ec2.check_run_builder(&launch).await?;
        self.info(
            "check-launch",
            format!(
                "ec2:RunInstances {} from {} would succeed",
                launch.instance_type, base.id
            ),
        );
        Ok(())
    }

    async fn check_distribute(&self, base: &ImageInfo) -> Result<()> {
        for destination in &self.plan.copy_to {
            self.aws
                .in_region(&destination.region)
                .ec2
                .check_copy_image(self.region(), &base.id, destination.kms_key.as_deref())
                .await?;
            self.info(
                "check-distribute",
                format!("ec2:CopyImage to {} would succeed", destination.region),
            );
        }
        Ok(())
    }

    async fn chain(&self) -> Result<(), Failure> {
        if self.plan.dry_run {
            return self.dry_run().await;
        }
        let created_by = self.step("check-release", self.check_release()).await?;
        self.step("claim", self.claim(&created_by)).await?;
        let base = self.step("resolve-base", self.resolve_base()).await?;
        if !self.plan.secret_parameters.is_empty() {
            self.step("check-secrets", self.check_secrets()).await?;
        }
        let instance_id = self.step("launch", self.launch(&base)).await?;
        self.step("wait-ready", self.wait_ready(&instance_id))
            .await?;
        for planned in &self.plan.steps {
            self.step(&planned.name, self.run_step(planned, &instance_id))
                .await?;
        }
        self.step("stop", self.stop(&instance_id)).await?;
        let provenance = Provenance {
            bake_id: self.plan.bake_id.clone(),
            base_image: base.id.clone(),
            base_release: self.base_release.lock().expect("lock").clone(),
            recipe_digest: self.plan.recipe_digest.clone(),
            created_by: Some(created_by),
            source_commit: self.plan.source_commit.clone(),
            build_url: self.plan.build_url.clone(),
        };
        let image_id = self
            .step("create-image", self.create_image(&instance_id, &provenance))
            .await?;
        let image = self.step("wait-image", self.wait_image(&image_id)).await?;
        self.step("terminate", self.remove_builder(&instance_id))
            .await?;
        self.step("record-release", self.record_release(&image))
            .await?;
        // The image and its snapshots are the release now: no longer the bake's to remove.
        let image_resource = Resource::Image {
            id: image.image_id.clone(),
            region: image.region.clone(),
        };
        for snapshot in self.ledger.snapshots_of(&image.image_id) {
            self.ledger.forget(&snapshot);
        }
        self.ledger.forget(&image_resource);
        *self.released.lock().expect("lock") = Some(image.clone());
        if !self.plan.copy_to.is_empty() {
            self.step("distribute", self.distribute(&image)).await?;
        }
        if !self.plan.share.is_empty() {
            self.step("share", self.share()).await?;
        }
        let channels = self.channels_to_move();
        if !channels.is_empty() {
            self.step("promote", self.promote(&channels)).await?;
        }
        Ok(())
    }

    /// Runs one step of the chain: events, timing, and the interrupt check before it.
    async fn step<T>(
        &self,
        name: &str,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T, Failure> {
        if self.cancel.is_cancelled() {
            return Err(Failure {
                step: name.to_string(),
                error: Error::Interrupted,
            });
        }
        self.sink.emit(Event::StepStarted {
            step: name.to_string(),
        });
        let started = Instant::now();
        let result = work.await;
        let seconds = round(started.elapsed().as_secs_f64());
        let status = match &result {
            Ok(_) => BakeStatus::Succeeded,
            Err(Error::Interrupted) => BakeStatus::Interrupted,
            Err(_) => BakeStatus::Failed,
        };
        self.steps.lock().expect("lock").push(StepRecord {
            name: name.to_string(),
            seconds,
            status,
        });
        match result {
            Ok(value) => {
                self.sink.emit(Event::StepFinished {
                    step: name.to_string(),
                    seconds,
                });
                Ok(value)
            }
            Err(error) => {
                self.sink.emit(Event::StepFailed {
                    step: name.to_string(),
                    seconds,
                    error: error.to_string(),
                });
                Err(Failure {
                    step: name.to_string(),
                    error,
                })
            }
        }
    }

    fn info(&self, step: &str, message: String) {
        self.sink.emit(Event::Info {
            step: step.to_string(),
            message,
        });
    }

    fn created(&self, resource: Resource) {
        self.ledger.record(resource.clone());
        self.sink.emit(Event::ResourceCreated { resource });
    }

    fn removed(&self, resource: &Resource) {
        self.ledger.forget(resource);
        self.sink.emit(Event::ResourceRemoved {
            resource: resource.clone(),
        });
    }

    fn remover<'r>(&'r self, cancel: &'r CancellationToken) -> Remover<'r> {
        Remover {
            aws: self.aws,
            sink: self.sink,
            cancel,
            deadlines: &self.deadlines,
        }
    }

    fn target<'t>(&'t self, step: &'t str, what: &'static str, resource: &'t str) -> Target<'t> {
        Target {
            step,
            what,
            resource,
            region: self.region(),
            hint: None,
        }
    }

    // ------------------------------------------------------------ the steps

    /// Who is baking, and which version: given, or the next one. Returns the caller ARN.
    async fn check_release(&self) -> Result<String> {
        let caller = self.aws.caller_arn().await?;
        self.choose_version().await?;
        self.info(
            "check-release",
            format!(
                "{} is free in {}; baking as {caller}",
                self.release(),
                self.region()
            ),
        );
        Ok(caller)
    }

    /// Sets the release this bake makes and checks that no image of it exists.
    async fn choose_version(&self) -> Result<()> {
        let version = match &self.plan.version {
            VersionRequest::Exact(version) => version.clone(),
            next => next.resolve(&releases::taken_versions(self.aws, &self.plan.role).await?),
        };
        let release = self.plan.release(version);
        *self.release.lock().expect("lock") = Some(release.clone());
        let existing = releases::release_images(self.aws, &release).await?;
        if let Some(image) = existing.first() {
            return Err(Error::input(format!(
                "{release} already exists in {}: {} ({}); releases are immutable, bake a new version \
                 (e.g. --version {} or --bump patch)",
                self.region(),
                image.id,
                image.name,
                next_patch(&release.version)
            )));
        }
        Ok(())
    }

    /// Claims `role@version` with an SSM parameter created with overwrite disabled.
    /// When another bake holds it: a given version is refused; a bumped one moves on
    /// to the next version.
    async fn claim(&self, created_by: &str) -> Result<()> {
        const ATTEMPTS: usize = 5;
        for attempt in 1..=ATTEMPTS {
            let release = self.release();
            let name = release.claim_parameter();
            let value = serde_json::json!({
                "bake_id": self.plan.bake_id,
                "release": release.to_string(),
                "state": "baking",
                "started_at": humantime::format_rfc3339_seconds(self.started_at).to_string(),
                "created_by": created_by,
                // Where the bake runs and until when: `bakery cleanup` tells a dead
                // bake from a running one by these.
                "host": crate::janitor::this_host(),
                "pid": std::process::id(),
                "deadline": humantime::format_rfc3339_seconds(self.started_at + self.plan.builder_lifetime).to_string(),
            });
            let description = format!("bakery: claim of {release}");
            if self
                .aws
                .ssm
                .create_parameter(&name, &value.to_string(), &description)
                .await?
            {
                self.created(Resource::Claim {
                    id: name.clone(),
                    region: self.region().to_string(),
                });
                self.info("claim", format!("{release} claimed ({name})"));
                return Ok(());
            }
            let holder = self.aws.ssm.parameter(&name).await?.unwrap_or_default();
            let holder = serde_json::from_str::<serde_json::Value>(&holder)
                .ok()
                .map(|v| {
                    let field = |key: &str| v[key].as_str().unwrap_or("?").to_string();
                    let (id, state, since) =
                        (field("bake_id"), field("state"), field("started_at"));
                    format!("bake {id} ({state}, since {since})")
                })
                .unwrap_or_else(|| "another bake".to_string());
            if matches!(self.plan.version, VersionRequest::Exact(_)) || attempt == ATTEMPTS {
                return Err(Error::input(format!(
                    "{release} is claimed in {} by {holder} ({name}); bake another version, or delete \
                     the parameter if that bake is dead",
                    self.region()
                )));
            }
            self.info(
                "claim",
                format!("{release} was just claimed by {holder}; taking the next version"),
            );
            self.choose_version().await?;
        }
        unreachable!("the last attempt returns")
    }

    /// `latest` follows every final release (unless turned off); `--promote` adds one.
    fn channels_to_move(&self) -> Vec<String> {
        let mut channels = Vec::new();
        if self.plan.update_latest && self.release().version.pre.is_empty() {
            channels.push("latest".to_string());
        }
        for channel in &self.plan.promote {
            if !channels.contains(channel) {
                channels.push(channel.clone());
            }
        }
        channels
    }

    async fn promote(&self, channels: &[String]) -> Result<()> {
        let release = self.release();
        for channel in channels {
            let promotion = channels::promote(self.aws, &release, channel).await?;
            self.info(
                "promote",
                format!(
                    "channel {channel} -> {} ({})",
                    promotion.image_id, promotion.parameter
                ),
            );
            self.promoted.lock().expect("lock").push(channel.clone());
        }
        Ok(())
    }

    /// Copies the release to the other regions, records every copy, and fails (after
    /// recording what succeeded) when a region failed.
    /// Shares the release in every region it now exists in.
    async fn share(&self) -> Result<()> {
        let mut regions = vec![self.region().to_string()];
        regions.extend(
            self.copies
                .lock()
                .expect("lock")
                .iter()
                .map(|c| c.region.clone()),
        );
        let outcomes =
            sharing::share(self.aws, &self.release(), &regions, &self.plan.share, true).await;
        for outcome in &outcomes {
            self.info(
                "share",
                format!(
                    "{}: {} {}",
                    outcome.region,
                    outcome.status,
                    outcome.image_ids.join(", ")
                ),
            );
        }
        *self.shared.lock().expect("lock") = outcomes.clone();
        let problems: Vec<String> = outcomes
            .iter()
            .flat_map(|o| {
                o.error
                    .iter()
                    .map(move |e| format!("{}: {e}", o.region))
                    .chain(
                        o.key_problems
                            .iter()
                            .map(move |p| format!("{}: {p}", o.region)),
                    )
            })
            .collect();
        if problems.is_empty() {
            return Ok(());
        }
        Err(Error::Distribution(format!(
            "{} is released but not usable by everyone it is shared with:\n  {}\nfix it, then run \
             `bakery share {} {}`",
            self.release(),
            problems.join("\n  "),
            self.plan.role,
            self.release().version
        )))
    }

    async fn distribute(&self, image: &ImageRecord) -> Result<()> {
        let source = self
            .aws
            .ec2
            .describe_image(&image.image_id)
            .await?
            .ok_or_else(|| Error::BadState {
                what: "image",
                resource: image.image_id.clone(),
                region: image.region.clone(),
                state: "gone".into(),
                reason: None,
            })?;
        let deprecate_at = SystemTime::now() + self.plan.deprecate_after;
        let outcomes = distribute::distribute(
            self.aws,
            &source,
            &self.plan.copy_to,
            deprecate_at,
            self.plan.copy_jobs,
            self.sink,
            &self.cancel,
        )
        .await;
        for outcome in &outcomes {
            if let Some(image_id) = &outcome.image_id {
                self.copies.lock().expect("lock").push(ImageRecord {
                    region: outcome.region.clone(),
                    image_id: image_id.clone(),
                    name: source.name.clone(),
                    snapshot_ids: outcome.snapshot_ids.clone(),
                });
            }
        }
        *self.regions.lock().expect("lock") = outcomes.clone();
        self.record_release(image).await?;
        let failed: Vec<String> = outcomes
            .iter()
            .filter_map(|o| Some(format!("{}: {}", o.region, o.error.as_ref()?)))
            .collect();
        if failed.is_empty() {
            return Ok(());
        }
        let done: Vec<&str> = std::iter::once(self.region())
            .chain(
                outcomes
                    .iter()
                    .filter(|o| o.error.is_none())
                    .map(|o| o.region.as_str()),
            )
            .collect();
        Err(Error::Distribution(format!(
            "{} is released in {} but not everywhere:\n  {}\ncomplete it with `bakery distribute {} {} --copy-to <regions>`",
            self.release(),
            done.join(", "),
            failed.join("\n  "),
            self.plan.role,
            self.release().version
        )))
    }

    /// The claim becomes the record of the release: its image ids per region.
    async fn record_release(&self, image: &ImageRecord) -> Result<()> {
        let release = self.release();
        let name = release.claim_parameter();
        let mut images =
            std::collections::BTreeMap::from([(image.region.clone(), image.image_id.clone())]);
        for copy in self.copies.lock().expect("lock").iter() {
            images.insert(copy.region.clone(), copy.image_id.clone());
        }
        let value = serde_json::json!({
            "bake_id": self.plan.bake_id,
            "release": release.to_string(),
            "state": "released",
            "started_at": humantime::format_rfc3339_seconds(self.started_at).to_string(),
            "images": images,
        });
        // The record lives in every region the release exists in.
        for region in images.keys() {
            let aws = if *region == self.aws.region {
                self.aws.clone()
            } else {
                self.aws.in_region(region)
            };
            aws.ssm
                .overwrite_parameter(&name, &value.to_string())
                .await?;
        }
        self.ledger.forget(&Resource::Claim {
            id: name,
            region: self.region().to_string(),
        });
        Ok(())
    }

    async fn resolve_base(&self) -> Result<ImageInfo> {
        let region = self.region();
        let arch = self.plan.arch.as_str();
        let image = match &self.plan.base {
            BaseImage::Image(id) => self.aws.ec2.describe_image(id).await?.ok_or_else(|| {
                Error::input(format!("base image {id} not found in {region}: check `base.image` in the recipe"))
            })?,
            BaseImage::SsmParameter(path) => {
                let id = self.aws.ssm.parameter(path).await?.ok_or_else(|| {
                    Error::input(format!(
                        "SSM parameter {path} (the recipe's `base.ssm_parameter`) not found in {region}"
                    ))
                })?;
                self.aws.ec2.describe_image(&id).await?.ok_or_else(|| {
                    Error::input(format!("SSM parameter {path} points to {id}, which does not exist in {region}"))
                })?
            }
            BaseImage::Filter { owner, name } => {
                self.aws.ec2.latest_image(owner, name, arch).await?.ok_or_else(|| {
                    Error::input(format!(
                        "no available {arch} image of owner {owner} named like `{name}` in {region}: \
                         check `base.owner` and `base.name` in the recipe"
                    ))
                })?
            }
            BaseImage::Release { role, selector } => {
                let (release, image) = releases::resolve(self.aws, role, selector).await?;
                *self.base_release.lock().expect("lock") = Some(release.to_string());
                image
            }
        };
        if image.state != "available" {
            return Err(Error::input(format!(
                "base image {} is `{}` in {region}, not available",
                image.id, image.state
            )));
        }
        if let Some(image_arch) = &image.architecture {
            if image_arch != arch {
                return Err(Error::input(format!(
                    "base image {} is {image_arch} but the recipe's arch is {arch}",
                    image.id
                )));
            }
        }
        if image.windows != (self.plan.platform == Platform::Windows) {
            return Err(Error::input(format!(
                "base image {} is {} but the recipe's platform is {}",
                image.id,
                if image.windows { "windows" } else { "linux" },
                self.plan.platform
            )));
        }
        *self.base_image.lock().expect("lock") = Some(image.id.clone());
        self.info(
            "resolve-base",
            format!("base image {} ({})", image.id, image.name),
        );
        Ok(image)
    }

    /// The builder's tags, with the deadline after which the janitor may remove it.
    fn builder_tags(&self) -> (std::collections::BTreeMap<String, String>, SystemTime) {
        let deadline = SystemTime::now() + self.plan.builder_lifetime;
        let tags = release::builder_tags(
            &self.release(),
            &self.plan.bake_id,
            &humantime::format_rfc3339_seconds(deadline).to_string(),
        );
        (tags, deadline)
    }

    /// What RunInstances gets, for the launch and for its dry run.
    fn builder_launch(
        &self,
        base: &ImageInfo,
        security_groups: Vec<String>,
        tags: std::collections::BTreeMap<String, String>,
    ) -> Result<BuilderLaunch> {
        let plan = self.plan;
        let volume_size_gib = root_volume_size(plan.builder.volume_size_gib, base)?;
        Ok(BuilderLaunch {
            image_id: base.id.clone(),
            instance_type: plan.builder.instance_type.clone(),
            root_device_name: base
                .root_device_name
                .clone()
                .unwrap_or_else(|| "/dev/xvda".into()),
            volume_size_gib,
            volume_type: plan.builder.volume_type.clone(),
            kms_key: plan.builder.kms_key.clone(),
            subnet: plan.builder.subnet.clone(),
            security_groups,
            instance_profile: plan.builder.instance_profile.clone(),
            user_data: commands::builder_user_data(
                plan.platform,
                &plan.bake_id,
                plan.builder_lifetime,
                plan.builder.install_ssm_agent,
            ),
            client_token: plan.client_token(),
            tags,
        })
    }

    async fn launch(&self, base: &ImageInfo) -> Result<String> {
        let plan = self.plan;
        let (tags, deadline) = self.builder_tags();
        let mut security_groups = plan.builder.security_groups.clone();
        if security_groups.is_empty() {
            security_groups.push(self.create_security_group(&tags).await?);
        }
        // The group, the instance and its volumes carry the same deadline.
        let launch = self.builder_launch(base, security_groups, tags)?;
        let instance_id = self.aws.ec2.run_builder(&launch).await?;
        self.created(Resource::Instance {
            id: instance_id.clone(),
            region: self.region().to_string(),
        });
        *self.builder.lock().expect("lock") = Some(instance_id.clone());
        self.info(
            "launch",
            format!(
                "builder {instance_id} ({}) from {}; it terminates itself by {} if bakery is gone",
                launch.instance_type,
                base.id,
                humantime::format_rfc3339_seconds(deadline)
            ),
        );
        Ok(instance_id)
    }

    async fn builder_vpc(&self) -> Result<String> {
        Ok(match &self.plan.builder.subnet {
            Some(subnet) => self.aws.ec2.vpc_of_subnet(subnet).await?.ok_or_else(|| {
                Error::input(format!("subnet {subnet} not found in {}", self.region()))
            })?,
            None => self.aws.ec2.default_vpc().await?.ok_or_else(|| {
                Error::input(format!(
                    "{} has no default VPC: set `builder.subnet` in the recipe or pass --subnet",
                    self.region()
                ))
            })?,
        })
    }

    async fn create_security_group(
        &self,
        tags: &std::collections::BTreeMap<String, String>,
    ) -> Result<String> {
        let vpc = self.builder_vpc().await?;
        let name = format!("bakery-builder-{}", self.plan.bake_id);
        let id = self
            .aws
            .ec2
            .create_security_group(
                &name,
                &format!("bakery builder of {}: no inbound rules", self.release()),
                &vpc,
                tags,
            )
            .await?;
        self.created(Resource::SecurityGroup {
            id: id.clone(),
            region: self.region().to_string(),
        });
        Ok(id)
    }

    async fn wait_ready(&self, instance_id: &str) -> Result<()> {
        let deadline = self.deadlines.instance_running;
        self.remover(&self.cancel)
            .wait_for_instance("wait-ready", instance_id, "running", &["pending"], deadline)
            .await?;
        let ssm = &self.aws.ssm;
        let mut target = self.target("wait-ready", "SSM agent of", instance_id);
        target.hint = Some(
            "the builder's SSM agent never came online: check that its instance profile allows SSM \
             (AmazonSSMManagedInstanceCore) and that its subnet reaches the SSM endpoints",
        );
        // An agent may have registered while the instance was reported pending: look at once.
        let policy = WaitPolicy::new(self.deadlines.ssm_online).retrying();
        wait::until(target, &policy, self.sink, &self.cancel, || async {
            Ok(match ssm.ping_status(instance_id).await? {
                Some(status) if status == "Online" => Poll::Ready(()),
                Some(status) => Poll::Pending(format!("SSM {status}")),
                None => Poll::Pending("SSM agent not registered".into()),
            })
        })
        .await
    }

    async fn run_step(&self, planned: &PlannedStep, instance_id: &str) -> Result<()> {
        let step = planned.name.as_str();
        let text = planned.command_for(&self.release());
        let command = ScriptCommand {
            document: planned.document,
            script: &text,
            execution_timeout_secs: planned.timeout.as_secs(),
            comment: format!("bakery {} {step} {}", self.release(), self.plan.bake_id),
            output: self.output_destination(),
        };
        let ssm = &self.aws.ssm;
        // Just after registering, SSM may still refuse the instance for a moment.
        let command_id = wait::until(
            self.target(step, "Run Command delivery to", instance_id),
            &WaitPolicy::new(Duration::from_secs(120)).retrying(),
            self.sink,
            &self.cancel,
            || async {
                match ssm.send_script(instance_id, &command).await {
                    Ok(id) => Ok(Poll::Ready(id)),
                    Err(e) if e.aws_code() == Some("InvalidInstanceId") => {
                        Ok(Poll::Pending("instance not accepting commands yet".into()))
                    }
                    Err(e) => Err(e),
                }
            },
        )
        .await?;
        self.info(step, format!("command {command_id} sent to {instance_id}"));
        if let Some(output) = &command.output {
            self.info(step, kept_output_text(output, &command_id, instance_id));
        }

        let shown_stdout = AtomicUsize::new(0);
        let shown_stderr = AtomicUsize::new(0);
        let waited = wait::until(
            self.target(step, "command", &command_id),
            // A command's own timeout plus delivery time; polls stay frequent so that
            // output streams in.
            &WaitPolicy::new(planned.timeout + Duration::from_secs(120))
                .with_max_interval(Duration::from_secs(5)),
            self.sink,
            &self.cancel,
            || async {
                let Some(invocation) = ssm.invocation(&command_id, instance_id).await? else {
                    return Ok(Poll::Pending("Delivering".into()));
                };
                let finished = invocation.is_finished();
                self.stream_output(
                    step,
                    &invocation.stdout,
                    &shown_stdout,
                    OutputStream::Stdout,
                    finished,
                );
                self.stream_output(
                    step,
                    &invocation.stderr,
                    &shown_stderr,
                    OutputStream::Stderr,
                    finished,
                );
                Ok(if finished {
                    Poll::Ready(invocation)
                } else {
                    Poll::Pending(invocation.status)
                })
            },
        )
        .await;
        let invocation = match waited {
            Ok(invocation) => invocation,
            Err(error) => {
                // Best effort: the builder is about to be terminated anyway.
                let _ = tokio::time::timeout(
                    Duration::from_secs(10),
                    ssm.cancel_command(&command_id, instance_id),
                )
                .await;
                return Err(error);
            }
        };
        if invocation.status == "Success" {
            return Ok(());
        }
        Err(Error::StepFailed {
            step: step.to_string(),
            instance_id: instance_id.to_string(),
            region: self.region().to_string(),
            status: invocation.status.to_lowercase(),
            exit_code: invocation.exit_code,
            output_tail: output_tail(&invocation),
        })
    }

    /// Where the whole output of the bake's commands is kept, when configured.
    fn output_destination(&self) -> Option<OutputDestination> {
        let configured = &self.plan.step_output;
        if configured.s3_bucket.is_none() && configured.cloudwatch_log_group.is_none() {
            return None;
        }
        let release = self.release();
        let prefix = [
            configured.s3_prefix.as_deref().map(|p| p.trim_matches('/')),
            Some(release.role.as_str()),
            Some(&release.version.to_string()),
            Some(self.plan.bake_id.as_str()),
        ]
        .into_iter()
        .flatten()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("/");
        Some(OutputDestination {
            s3_bucket: configured.s3_bucket.clone(),
            s3_key_prefix: configured.s3_bucket.as_ref().map(|_| prefix),
            s3_region: configured
                .s3_bucket
                .as_ref()
                .map(|_| self.region().to_string()),
            cloudwatch_log_group: configured.cloudwatch_log_group.clone(),
        })
    }

    /// Emits the lines of `text` past what was already shown: whole lines while the
    /// command runs, everything once it has finished.
    fn stream_output(
        &self,
        step: &str,
        text: &str,
        shown: &AtomicUsize,
        stream: OutputStream,
        finished: bool,
    ) {
        let from = shown.load(Ordering::Relaxed);
        if text.len() <= from || !text.is_char_boundary(from) {
            return;
        }
        let new = &text[from..];
        let complete = match new.rfind('\n') {
            _ if finished => new,
            Some(end) => &new[..=end],
            None => return,
        };
        for line in complete.lines() {
            self.sink.emit(Event::Output {
                step: step.to_string(),
                stream,
                line: line.to_string(),
            });
        }
        shown.store(from + complete.len(), Ordering::Relaxed);
    }

    async fn stop(&self, instance_id: &str) -> Result<()> {
        let ec2 = &self.aws.ec2;
        ec2.stop_instance(instance_id).await?;
        let passing = ["pending", "running", "stopping"];
        let deadline = self.deadlines.instance_stopped;
        self.remover(&self.cancel)
            .wait_for_instance("stop", instance_id, "stopped", &passing, deadline)
            .await
    }

    async fn create_image(&self, instance_id: &str, provenance: &Provenance) -> Result<String> {
        let release = self.release();
        let tags = release::image_tags(&release, provenance, &self.plan.recipe_tags);
        let image_id = self
            .aws
            .ec2
            .create_image(
                instance_id,
                &self.image_name(),
                &self.plan.image_description(&release),
                &tags,
            )
            .await?;
        self.created(Resource::Image {
            id: image_id.clone(),
            region: self.region().to_string(),
        });
        self.info(
            "create-image",
            format!("image {image_id} ({}) registered", self.image_name()),
        );
        Ok(image_id)
    }

    async fn wait_image(&self, image_id: &str) -> Result<ImageRecord> {
        let ec2 = &self.aws.ec2;
        let image = self
            .remover(&self.cancel)
            .wait_for_image("wait-image", image_id)
            .await?;
        for snapshot in &image.snapshot_ids {
            self.created(Resource::Snapshot {
                id: snapshot.clone(),
                region: self.region().to_string(),
                image: image_id.to_string(),
            });
        }
        let deprecate_at = SystemTime::now() + self.plan.deprecate_after;
        ec2.enable_deprecation(image_id, deprecate_at).await?;
        self.info(
            "wait-image",
            format!(
                "image {image_id} available; deprecated from {}",
                humantime::format_rfc3339_seconds(deprecate_at)
            ),
        );
        Ok(ImageRecord {
            region: self.region().to_string(),
            image_id: image_id.to_string(),
            name: image.name,
            snapshot_ids: image.snapshot_ids,
        })
    }

    /// Terminates the builder, waits until it is gone, then removes its security group.
    async fn remove_builder(&self, instance_id: &str) -> Result<()> {
        let instance = Resource::Instance {
            id: instance_id.to_string(),
            region: self.region().to_string(),
        };
        self.remove(&instance, &self.cancel).await?;
        for resource in self.ledger.newest_first() {
            if matches!(resource, Resource::SecurityGroup { .. }) {
                self.remove(&resource, &self.cancel).await?;
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------ cleanup

    /// Removes what the ledger holds, newest first, within the cleanup deadline.
    /// Returns what was kept on purpose and what could not be removed (leaked).
    async fn cleanup(&self, reason: &str, keep_builder: bool) -> (Vec<Resource>, Vec<Resource>) {
        self.sink.emit(Event::CleanupStarted {
            reason: reason.to_string(),
        });
        // Cleanup must finish even when the bake was interrupted: it has its own token,
        // and a second signal ends the process instead.
        let never = CancellationToken::new();
        let mut kept = Vec::new();
        let walk = async {
            self.find_unrecorded().await;
            for resource in self.ledger.newest_first() {
                let keep = keep_builder
                    && matches!(
                        resource,
                        Resource::Instance { .. } | Resource::SecurityGroup { .. }
                    );
                if keep {
                    self.sink.emit(Event::ResourceKept {
                        resource: resource.clone(),
                        reason: format!(
                            "--keep-on-failure: the builder stays for debugging and terminates itself \
                             within {} (dead-man's switch); terminate it yourself when done",
                            humantime::format_duration(self.plan.builder_lifetime)
                        ),
                    });
                    kept.push(resource);
                    continue;
                }
                if let Resource::Snapshot { image, .. } = &resource {
                    let image = Resource::Image {
                        id: image.clone(),
                        region: resource.region().to_string(),
                    };
                    if self.ledger.contains(&image) {
                        continue; // removed right after its image
                    }
                }
                if let Err(error) = self.remove(&resource, &never).await {
                    self.sink.emit(Event::Warning {
                        message: format!("could not remove {}: {error}", resource.describe()),
                    });
                }
            }
        };
        if tokio::time::timeout(self.deadlines.cleanup, walk)
            .await
            .is_err()
        {
            self.sink.emit(Event::Warning {
                message: format!(
                    "cleanup did not finish within {}",
                    humantime::format_duration(self.deadlines.cleanup)
                ),
            });
        }
        let leaked: Vec<Resource> = self
            .ledger
            .newest_first()
            .into_iter()
            .filter(|r| !kept.contains(r))
            .collect();
        self.sink.emit(Event::CleanupFinished {
            leaked: leaked.clone(),
        });
        (kept, leaked)
    }

    /// Resources of this bake whose create call was answered but not recorded (an
    /// interrupt in between) are found by the bake-id tag every resource carries.
    async fn find_unrecorded(&self) {
        let region = self.region().to_string();
        let id = &self.plan.bake_id;
        if let Ok(instances) = self.aws.ec2.instances_tagged(TAG_BAKE_ID, id).await {
            for (instance, _) in instances {
                self.ledger.record(Resource::Instance {
                    id: instance,
                    region: region.clone(),
                });
            }
        }
        if let Ok(images) = self.aws.ec2.own_images(Some((TAG_BAKE_ID, id)), None).await {
            for image in images {
                self.ledger.record(Resource::Image {
                    id: image.id,
                    region: region.clone(),
                });
            }
        }
    }

    /// Removes one resource; an image takes its snapshots with it (those the ledger
    /// knows and those tagged with this bake).
    async fn remove(&self, resource: &Resource, cancel: &CancellationToken) -> Result<()> {
        self.remover(cancel).remove(resource).await?;
        self.removed(resource);
        if let Resource::Image { id, region } = resource {
            let mut snapshots = self.ledger.snapshots_of(id);
            let tagged = self
                .aws
                .ec2
                .snapshots_tagged(TAG_BAKE_ID, &self.plan.bake_id)
                .await;
            for snapshot in tagged.unwrap_or_default() {
                let snapshot = Resource::Snapshot {
                    id: snapshot,
                    region: region.clone(),
                    image: id.clone(),
                };
                if !snapshots.contains(&snapshot) {
                    self.ledger.record(snapshot.clone());
                    snapshots.push(snapshot);
                }
            }
            for snapshot in snapshots {
                self.remover(cancel).remove(&snapshot).await?;
                self.removed(&snapshot);
            }
        }
        Ok(())
    }
}

/// The builder's root volume: the recipe's size, or the base image's; never smaller
/// than the base image's snapshot, which EC2 would refuse after the launch call.
fn root_volume_size(wanted: Option<i32>, base: &ImageInfo) -> Result<i32> {
    match (wanted, base.root_volume_gib) {
        (Some(wanted), Some(base_size)) if wanted < base_size => Err(Error::input(format!(
            "builder volume_size {wanted} GiB is smaller than the root volume of base image {} ({base_size} GiB)",
            base.id
        ))),
        (Some(wanted), _) => Ok(wanted),
        (None, Some(base_size)) => Ok(base_size),
        (None, None) => Ok(8),
    }
}

/// Where SSM keeps a command's whole output, for the events.
fn kept_output_text(output: &OutputDestination, command_id: &str, instance_id: &str) -> String {
    let mut places = Vec::new();
    if let (Some(bucket), Some(prefix)) = (&output.s3_bucket, &output.s3_key_prefix) {
        places.push(format!(
            "s3://{bucket}/{prefix}/{command_id}/{instance_id}/"
        ));
    }
    if let Some(group) = &output.cloudwatch_log_group {
        places.push(format!(
            "CloudWatch Logs {group} (streams {command_id}/{instance_id}/...)"
        ));
    }
    format!("whole output kept in {}", places.join(" and "))
}

fn output_tail(invocation: &Invocation) -> String {
    let mut lines: Vec<&str> = invocation.stdout.lines().collect();
    lines.extend(invocation.stderr.lines());
    let start = lines.len().saturating_sub(OUTPUT_TAIL_LINES);
    lines[start..]
        .iter()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn next_patch(version: &semver::Version) -> semver::Version {
    let mut next = version.clone();
    if next.pre.is_empty() {
        next.patch += 1;
    }
    next.pre = semver::Prerelease::EMPTY;
    next
}

fn status_word(status: BakeStatus) -> &'static str {
    match status {
        BakeStatus::Succeeded => "succeeded",
        BakeStatus::Failed => "failed",
        BakeStatus::Interrupted => "interrupted",
    }
}

fn round(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_tail_keeps_the_last_lines_of_both_streams() {
        let invocation = Invocation {
            status: "Failed".into(),
            exit_code: 3,
            stdout: (1..=40).map(|i| format!("line {i}\n")).collect(),
            stderr: "E: unable to locate package\n".into(),
        };
        let tail = output_tail(&invocation);
        assert_eq!(tail.lines().count(), OUTPUT_TAIL_LINES);
        assert!(tail.ends_with("  | E: unable to locate package"));
        assert!(tail.starts_with("  | line 17"));
    }

    #[test]
    fn the_suggested_next_version_is_the_next_patch() {
        assert_eq!(next_patch(&"1.2.3".parse().unwrap()).to_string(), "1.2.4");
        assert_eq!(
            next_patch(&"1.3.0-rc.1".parse().unwrap()).to_string(),
            "1.3.0"
        );
    }
}
