//! What every stage of a bake shares: the plan, the AWS clients, the event sink, the
//! interrupt, the ledger of what it created, and the runner that turns each stage into
//! a step (events, timing, the interrupt check).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ledger::Ledger;
use super::report::{BakeStatus, ImageRecord, StepRecord};
use super::steps::changes::Unchanged;
use crate::aws::Aws;
use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::model::inputs::ReleaseInputs;
use crate::model::{GateState, Release, Resource, Step};
use crate::ops::removal::Remover;
use crate::plan::BakePlan;
use crate::release::distribute::RegionOutcome;
use crate::release::sharing::ShareOutcome;
use crate::wait::{Deadlines, Target};

pub struct Bake<'a> {
    pub plan: &'a BakePlan,
    pub aws: &'a Aws,
    pub sink: &'a dyn EventSink,
    pub cancel: CancellationToken,
    pub deadlines: Deadlines,
    pub ledger: Ledger,
    pub started_at: SystemTime,
    started: Instant,
    /// The steps run so far, for the report, with their place in the chain.
    steps: Mutex<Vec<(usize, StepRecord)>>,
    /// Where in the plan's chain the bake is: each step must be the next one.
    position: AtomicUsize,
    /// The release gate's test instance, once launched.
    test_instance: Mutex<Option<String>>,
}

/// What the bake has learned and made so far: what its report tells, whether it
/// succeeds or not. Stages hand each other values; this is only the report's record.
#[derive(Debug, Default)]
pub struct Facts {
    /// Known once the first step has chosen the version.
    pub release: Option<Release>,
    pub builder: Option<String>,
    pub base_image: Option<String>,
    /// `role@version` of the base, when the recipe is layered on another role.
    pub base_release: Option<String>,
    /// The image, once it is the release's (no longer the bake's to remove).
    pub released: Option<ImageRecord>,
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

/// Why the chain stopped: the step and its error.
pub struct Failure {
    pub step: Step,
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
            aws,
            sink,
            cancel,
            deadlines: Deadlines::default(),
            ledger: Ledger::default(),
            started_at: SystemTime::now(),
            started: Instant::now(),
            steps: Mutex::new(Vec::new()),
            position: AtomicUsize::new(0),
            test_instance: Mutex::new(None),
        }
    }

    /// Records the test instance (cleanup says what it keeps and why).
    pub fn launched_test_instance(&self, instance_id: &str) {
        *self.test_instance.lock().expect("test instance") = Some(instance_id.to_string());
    }

    pub fn is_test_instance(&self, instance_id: &str) -> bool {
        self.test_instance.lock().expect("test instance").as_deref() == Some(instance_id)
    }

    pub fn region(&self) -> &str {
        &self.aws.region
    }

    pub fn seconds(&self) -> f64 {
        round(self.started.elapsed().as_secs_f64())
    }

    /// The steps run so far, in the chain's order (steps that overlap end in any order).
    pub fn step_records(&self) -> Vec<StepRecord> {
        let mut steps = self.steps.lock().expect("step records").clone();
        steps.sort_by_key(|(position, _)| *position);
        steps.into_iter().map(|(_, record)| record).collect()
    }

    /// Runs one step of the chain: the interrupt check before it, its events and its
    /// timing. Steps run in the order of the plan's chain.
    pub async fn step<T>(
        &self,
        step: Step,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T, Failure> {
        let position = self.position.fetch_add(1, Ordering::Relaxed);
        debug_assert_eq!(
            self.plan.chain.get(position),
            Some(&step),
            "the bake runs the plan's chain, in order"
        );
        if self.cancel.is_cancelled() {
            return Err(Failure {
                step,
                error: Error::Interrupted,
            });
        }
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
        self.steps.lock().expect("step records").push((
            position,
            StepRecord {
                name: step.clone(),
                seconds,
                status,
            },
        ));
        match result {
            Ok(value) => {
                self.sink.emit(Event::StepFinished { step, seconds });
                Ok(value)
            }
            Err(error) => {
                self.sink.emit(Event::StepFailed {
                    step: step.clone(),
                    seconds,
                    error: error.to_string(),
                });
                Err(Failure { step, error })
            }
        }
    }

    /// A step the plan may leave out (secrets, copies, sharing, channels): run when
    /// the plan's chain has it.
    pub async fn optional<T>(
        &self,
        step: Step,
        work: impl Future<Output = Result<T>>,
    ) -> Result<Option<T>, Failure> {
        if !self.plan.runs(&step) {
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
