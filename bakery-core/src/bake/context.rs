//! What every stage of a bake shares: the plan, the AWS clients, the event sink, the
//! interrupt, the ledger of what it created, and the runner that turns each stage into
//! a step (events, timing, the interrupt check).

use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ledger::Ledger;
use super::report::{BakeStatus, ImageRecord, StepRecord};
use super::steps::changes::Unchanged;
use crate::aws::Aws;
use crate::error::{Error, Result};
use crate::events::{ArchEvents, Event, EventSink};
use crate::model::inputs::ReleaseInputs;
use crate::model::{Arch, GateState, Release, Resource, Step};
use crate::ops::removal::Remover;
use crate::plan::{BakePlan, BuildPlan};
use crate::release::distribute::RegionOutcome;
use crate::release::lock::{LockNote, RunLock};
use crate::release::sharing::ShareOutcome;
use crate::wait::{Deadlines, Target};

/// A bake, or one architecture's build within it: the builds of a bake share its
/// ledger, its step records and its test instances, and each walks its own part of
/// the chain: the bake the steps of the release, each build those of its
/// architecture ([`Step::is_per_architecture`]).
pub struct Bake<'a> {
    pub plan: &'a BakePlan,
    /// The build this context makes; None for the release's own steps.
    build: Option<&'a BuildPlan>,
    pub aws: &'a Aws,
    pub sink: &'a dyn EventSink,
    pub cancel: CancellationToken,
    /// The whole bake's interrupt (a signal); a build's `cancel` also stops it when a
    /// sibling build failed.
    interrupt: CancellationToken,
    /// The first build whose step failed on its own: why its siblings stopped.
    failed_build: Arc<std::sync::OnceLock<Arch>>,
    /// Why the whole bake was stopped, when not by a signal (its deadline passed).
    stopped_because: Arc<std::sync::OnceLock<String>>,
    pub deadlines: Deadlines,
    pub ledger: Arc<Ledger>,
    pub started_at: SystemTime,
    /// The architecture this build makes, when the bake makes several.
    pub arch: Option<Arch>,
    started: Instant,
    /// The steps this context runs, in order.
    chain: Vec<Step>,
    /// The steps run so far by the bake and its builds, for the report, in the order
    /// they started.
    steps: Arc<Mutex<Vec<(usize, StepRecord)>>>,
    started_steps: Arc<AtomicUsize>,
    /// Where in its chain this context is: each step must be the next one.
    position: AtomicUsize,
    /// Reboots of the instance during the step this context runs now.
    reboots: AtomicU32,
    /// The release gate's test instances, once launched.
    test_instances: Arc<Mutex<Vec<String>>>,
    /// Each build's builder, once launched.
    builders: Arc<Mutex<Vec<(Arch, String)>>>,
    /// Held while the bake runs: `bakery cleanup` sees it free once the bake is gone.
    lock: Arc<Option<RunLock>>,
}

/// What the bake has learned and made so far: what its report tells, whether it
/// succeeds or not. Stages hand each other values; this is only the report's record.
#[derive(Debug, Default)]
pub struct Facts {
    /// Known once the first step has chosen the version.
    pub release: Option<Release>,
    /// Each architecture's base image.
    pub base_images: std::collections::BTreeMap<Arch, String>,
    /// `role@version` of the base, when the recipe is layered on another role.
    pub base_release: Option<String>,
    /// The images, once they are the release's (no longer the bake's to remove).
    pub released: Vec<ImageRecord>,
    /// Copies in other regions, once available.
    pub copies: Vec<ImageRecord>,
    /// What distribution did in each region.
    pub regions: Vec<RegionOutcome>,
    /// Channels moved to the new release.
    pub promoted: Vec<String>,
    /// What sharing did in each region.
    pub shared: Vec<ShareOutcome>,
    /// What the release gate said.
    pub tests: GateState,
    /// What the release is made of, once the base is resolved.
    pub inputs: Option<ReleaseInputs>,
    /// `--if-changed`: the newest release, which has this bake's inputs.
    pub unchanged: Option<Unchanged>,
}

/// The waits' deadlines: bakery's, unless the plan's `[deadlines]` say otherwise
/// (`instance` for every instance wait: running, SSM, stopped, terminated).
fn deadlines_of(plan: &BakePlan) -> Deadlines {
    let mut deadlines = Deadlines::default();
    if let Some(image) = plan.waits.image {
        deadlines.image_available = image;
    }
    if let Some(instance) = plan.waits.instance {
        deadlines.instance_running = instance;
        deadlines.ssm_online = instance;
        deadlines.instance_stopped = instance;
        deadlines.instance_terminated = instance;
    }
    deadlines
}

/// Why the chain stopped: the step, the architecture whose build it was (when the
/// bake makes several), and its error.
pub struct Failure {
    pub step: Step,
    pub arch: Option<Arch>,
    pub error: Error,
}

impl<'a> Bake<'a> {
    pub fn new(
        plan: &'a BakePlan,
        aws: &'a Aws,
        sink: &'a dyn EventSink,
        cancel: CancellationToken,
    ) -> Self {
        Bake {
            plan,
            build: None,
            aws,
            sink,
            interrupt: cancel.clone(),
            cancel,
            failed_build: Arc::default(),
            stopped_because: Arc::default(),
            deadlines: deadlines_of(plan),
            ledger: Arc::default(),
            started_at: SystemTime::now(),
            arch: None,
            started: Instant::now(),
            chain: plan.chain.clone(),
            steps: Arc::default(),
            started_steps: Arc::default(),
            position: AtomicUsize::new(0),
            reboots: AtomicU32::new(0),
            test_instances: Arc::default(),
            builders: Arc::default(),
            lock: Arc::new(RunLock::take(&plan.bake_id)),
        }
    }

    /// The bake of a release whose builds run the steps of each architecture: this
    /// context runs the others.
    pub fn leaving_builds_their_steps(mut self) -> Self {
        self.chain.retain(|step| !step.is_per_architecture());
        self
    }

    /// One build per architecture of the plan, each with its mark from [`marks`] (its
    /// events marked when there are several); `siblings` stops them all.
    pub fn builds(
        &self,
        marks: &'a [ArchEvents<'a>],
        siblings: &CancellationToken,
    ) -> Vec<Bake<'a>> {
        let several = marks.len() > 1;
        self.plan
            .builds
            .iter()
            .zip(marks)
            .map(|(build, mark)| {
                let sink: &dyn EventSink = if several { mark } else { mark.sink };
                self.of_build(build, sink, siblings.clone())
            })
            .collect()
    }

    /// The context of one build of this bake, with its events marked as its own when
    /// the bake makes several; `cancel` stops it.
    fn of_build(
        &self,
        build: &'a BuildPlan,
        sink: &'a dyn EventSink,
        cancel: CancellationToken,
    ) -> Bake<'a> {
        Bake {
            plan: self.plan,
            build: Some(build),
            aws: self.aws,
            sink,
            cancel,
            interrupt: self.interrupt.clone(),
            failed_build: self.failed_build.clone(),
            stopped_because: self.stopped_because.clone(),
            deadlines: self.deadlines,
            ledger: self.ledger.clone(),
            started_at: self.started_at,
            arch: self.plan.makes_several().then_some(build.arch()),
            started: self.started,
            chain: self
                .plan
                .chain
                .iter()
                .filter(|step| step.is_per_architecture())
                .cloned()
                .collect(),
            steps: self.steps.clone(),
            started_steps: self.started_steps.clone(),
            position: AtomicUsize::new(0),
            reboots: AtomicU32::new(0),
            test_instances: self.test_instances.clone(),
            builders: self.builders.clone(),
            lock: self.lock.clone(),
        }
    }

    /// The build this context makes: a build's own steps run only in its context
    /// ([`Bake::builds`]), never in the release's.
    pub fn build(&self) -> &'a BuildPlan {
        self.build
            .expect("a build's step runs in its build's context")
    }

    /// What the claim says of the lock this bake holds.
    pub fn lock(&self) -> Option<&LockNote> {
        self.lock.as_ref().as_ref().map(RunLock::note)
    }

    /// Records this build's builder, for the report.
    pub fn launched_builder(&self, instance_id: &str) {
        let mut builders = self.builders.lock().expect("builders");
        builders.push((self.build().arch(), instance_id.to_string()));
    }

    /// The builders launched, in the order of the plan's architectures.
    pub fn builders(&self) -> Vec<(Arch, String)> {
        let mut builders = self.builders.lock().expect("builders").clone();
        let order: Vec<Arch> = self.plan.builds.iter().map(BuildPlan::arch).collect();
        builders.sort_by_key(|(arch, _)| order.iter().position(|a| a == arch));
        builders
    }

    /// Records a test instance (cleanup says what it keeps and why).
    pub fn launched_test_instance(&self, instance_id: &str) {
        self.test_instances
            .lock()
            .expect("test instances")
            .push(instance_id.to_string());
    }

    /// True once the gate launched a test instance.
    pub fn has_test_instances(&self) -> bool {
        !self
            .test_instances
            .lock()
            .expect("test instances")
            .is_empty()
    }

    pub fn region(&self) -> &str {
        &self.aws.region
    }

    pub fn seconds(&self) -> f64 {
        round(self.started.elapsed().as_secs_f64())
    }

    /// Notes that the instance rebooted `times` during the step running now.
    pub fn rebooted(&self, times: u32) {
        self.reboots.store(times, Ordering::Relaxed);
    }

    /// The steps run so far, in the order they started.
    pub fn step_records(&self) -> Vec<StepRecord> {
        let mut steps = self.steps.lock().expect("step records").clone();
        steps.sort_by_key(|(position, _)| *position);
        steps.into_iter().map(|(_, record)| record).collect()
    }

    /// Runs one step of the chain: the interrupt check before it, its events and its
    /// timing. Steps run in the order of the plan's chain.
    // Long on purpose: a step's whole life (start, cut short or not, record, end) in
    // the order it happens, so that no path forgets its event or its record.
    pub async fn step<T>(
        &self,
        step: Step,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T, Failure> {
        let position = self.position.fetch_add(1, Ordering::Relaxed);
        debug_assert_eq!(
            self.chain.get(position),
            Some(&step),
            "the bake runs the plan's chain, in order"
        );
        if self.cancel.is_cancelled() {
            return Err(self.failure(step, Error::Interrupted));
        }
        let order = self.started_steps.fetch_add(1, Ordering::Relaxed);
        self.sink.emit(Event::StepStarted { step: step.clone() });
        let started = Instant::now();
        let result = if step.may_be_cut() {
            tokio::select! {
                result = work => result,
                _ = self.cancel.cancelled() => Err(Error::Interrupted),
            }
        } else {
            crate::aws::signal::no_new_requests_after(self.cancel.clone(), work).await
        };
        let seconds = round(started.elapsed().as_secs_f64());
        let status = match &result {
            Ok(_) => BakeStatus::Succeeded,
            Err(error) => BakeStatus::of_error(error),
        };
        let stopped_because = matches!(result, Err(Error::Interrupted)).then(|| self.why_stopped());
        self.steps.lock().expect("step records").push((
            order,
            StepRecord {
                name: step.clone(),
                arch: self.arch,
                seconds,
                status,
                stopped_because: stopped_because.clone(),
                reboots: self.reboots.swap(0, Ordering::Relaxed),
            },
        ));
        match result {
            Ok(value) => {
                self.sink.emit(Event::StepFinished { step, seconds });
                Ok(value)
            }
            Err(Error::Interrupted) => {
                self.sink.emit(Event::StepStopped {
                    step: step.clone(),
                    seconds,
                    why: stopped_because.unwrap_or_default(),
                });
                Err(self.failure(step, Error::Interrupted))
            }
            Err(error) => {
                if let Some(arch) = self.build.map(BuildPlan::arch) {
                    let _ = self.failed_build.set(arch);
                }
                self.sink.emit(Event::StepFailed {
                    step: step.clone(),
                    seconds,
                    error: error.to_string(),
                });
                Err(self.failure(step, error))
            }
        }
    }

    /// Why a step was cut short: a signal, the bake's deadline, or a sibling build's
    /// failure.
    fn why_stopped(&self) -> String {
        if let Some(why) = self.stopped_because.get() {
            return why.clone();
        }
        match self.failed_build.get() {
            Some(arch) if !self.interrupt.is_cancelled() => {
                format!("the {arch} build failed")
            }
            _ => "interrupted".to_string(),
        }
    }

    /// Stops the whole bake for `why` (as a signal would: what it made is removed).
    pub fn stop_because(&self, why: String) {
        let _ = self.stopped_because.set(why);
        self.cancel.cancel();
    }

    fn failure(&self, step: Step, error: Error) -> Failure {
        Failure {
            step,
            arch: self.arch,
            error,
        }
    }

    /// A step the plan may leave out (secrets, copies, sharing, channels): run when
    /// the plan's chain has it.
    pub async fn optional<T>(
        &self,
        step: Step,
        work: impl Future<Output = Result<T>>,
    ) -> Result<Option<T>, Failure> {
        if !self.chain.contains(&step) {
            return Ok(None);
        }
        self.step(step, work).await.map(Some)
    }

    pub fn info(&self, step: Step, message: String) {
        self.sink.emit(Event::Info { step, message });
    }

    /// Records a resource the bake created; cleanup removes it unless it is forgotten.
    pub fn created(&self, step: Step, resource: Resource) {
        self.ledger.record(resource.clone());
        self.sink.emit(Event::ResourceCreated { step, resource });
    }

    pub fn removed(&self, step: Step, resource: &Resource) {
        self.ledger.forget(resource);
        self.sink.emit(Event::ResourceRemoved {
            step,
            resource: resource.clone(),
        });
    }

    pub fn remover<'r>(&'r self, cancel: &'r CancellationToken) -> Remover<'r> {
        Remover {
            aws: self.aws,
            sink: self.sink,
            cancel,
            deadlines: &self.deadlines,
        }
    }

    pub fn target<'t>(
        &'t self,
        step: &'t Step,
        what: &'static str,
        resource: &'t str,
    ) -> Target<'t> {
        Target {
            step,
            what,
            resource,
            region: self.region(),
            hint: None,
        }
    }
}

fn round(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// What marks each build's events with its architecture.
pub fn marks<'a>(plan: &'a BakePlan, sink: &'a dyn EventSink) -> Vec<ArchEvents<'a>> {
    plan.builds
        .iter()
        .map(|build| ArchEvents {
            arch: build.arch(),
            sink,
        })
        .collect()
}
