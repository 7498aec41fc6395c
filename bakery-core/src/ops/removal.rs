//! Removing one resource from AWS, and waiting for an instance's or an image's state:
//! shared by the bake, its cleanup, distribution and `bakery cleanup`. What a poll
//! means is decided by pure functions, tested on their own.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::aws::ec2::{ImageInfo, InstanceInfo};
use crate::aws::error::{is_not_found, OrAbsent};
use crate::aws::state::{ImageState, InstanceState};
use crate::aws::Aws;
use crate::error::Result;
use crate::events::EventSink;
use crate::model::{Resource, Step};
use crate::wait::{self, timings, Deadlines, Learning, Poll, Target, Transition, WaitPolicy};

pub struct Remover<'a> {
    pub aws: &'a Aws,
    pub sink: &'a dyn EventSink,
    pub cancel: &'a CancellationToken,
    pub deadlines: &'a Deadlines,
}

/// Delete answers that mean "still in use, try again in a moment".
const SNAPSHOT_BUSY: &[&str] = &["InvalidSnapshot.InUse", "IncorrectState"];
const GROUP_BUSY: &[&str] = &["DependencyViolation"];

impl Remover<'_> {
    /// Removes the resource; one that is already gone counts as removed. An instance
    /// is terminated and waited for; an image is deregistered (its snapshots are
    /// separate resources).
    pub async fn remove(&self, step: &Step, resource: &Resource) -> Result<()> {
        let ec2 = &self.aws.ec2;
        match resource {
            Resource::Instance { id, .. } => {
                // Only the instance's own NotFound means it is gone: after another one
                // (an interface's) it would never be seen terminated.
                ec2.terminate_instance(id)
                    .await
                    .or_gone_as(&["InvalidInstanceID.NotFound"])?;
                let passing = [
                    InstanceState::Pending,
                    InstanceState::Running,
                    InstanceState::Stopping,
                    InstanceState::Stopped,
                    InstanceState::ShuttingDown,
                ];
                let deadline = self.deadlines.instance_terminated;
                self.wait_for_instance(step, id, InstanceState::Terminated, &passing, deadline)
                    .await
            }
            Resource::Image { id, .. } => ec2.deregister_image(id).await.or_gone(),
            // A snapshot of a just-deregistered or still pending image may refuse
            // deletion for a moment.
            Resource::Snapshot { id, .. } => {
                self.delete_when_free("snapshot", id, SNAPSHOT_BUSY, || ec2.delete_snapshot(id))
                    .await
            }
            // Deletable once no instance uses it: right after termination it may
            // still answer DependencyViolation.
            Resource::SecurityGroup { id, .. } => {
                self.delete_when_free("security group", id, GROUP_BUSY, || {
                    ec2.delete_security_group(id)
                })
                .await
            }
            Resource::Claim { id, .. } => self.aws.ssm.delete_parameter(id).await,
        }
    }

    /// Waits until the image is available, failing fast on `failed`, `invalid`,
    /// `deregistered` and the other states it cannot come back from.
    /// `made` says how it was made: a created and a copied image take different times.
    pub async fn wait_for_image(
        &self,
        step: &Step,
        image_id: &str,
        made: Transition,
    ) -> Result<ImageInfo> {
        let ec2 = &self.aws.ec2;
        // A bake's own image waits as long as its `[deadlines] image` says.
        let hint = (made == Transition::ImageAvailable).then_some(
            "a large image can take longer: raise `[deadlines] image` in the recipe or the \
             environment (default 1h)",
        );
        let target = Target {
            hint,
            ..self.target(step, "image", image_id)
        };
        let policy = WaitPolicy::new(self.deadlines.image_available).learning(self.learning(made));
        wait::until(target, &policy, self.sink, self.cancel, || async {
            Ok(image_poll(ec2.watched_image(image_id).await?))
        })
        .await
    }

    /// Waits until the instance is `wanted`; states in `passing` are on the way, any
    /// other state is a failure. An instance AWS no longer knows counts as terminated.
    pub async fn wait_for_instance(
        &self,
        step: &Step,
        instance_id: &str,
        wanted: InstanceState,
        passing: &[InstanceState],
        deadline: Duration,
    ) -> Result<()> {
        let ec2 = &self.aws.ec2;
        let target = self.target(step, "instance", instance_id);
        let mut policy = WaitPolicy::new(deadline);
        if let Some(transition) = transition_to(&wanted) {
            policy = policy.learning(self.learning(transition));
        }
        wait::until(target, &policy, self.sink, self.cancel, || async {
            let seen = ec2.watched_instance(instance_id).await?;
            Ok(instance_poll(seen, &wanted, passing))
        })
        .await
    }

    /// Repeats a delete while AWS answers that the resource is still in use.
    async fn delete_when_free<F, Fut>(
        &self,
        what: &'static str,
        id: &str,
        busy_codes: &[&str],
        delete: F,
    ) -> Result<()>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let policy = WaitPolicy::new(Duration::from_secs(300)).retrying();
        let target = self.target(&Step::Cleanup, what, id);
        wait::until(target, &policy, self.sink, self.cancel, || async {
            deletion_poll(delete().await, busy_codes)
        })
        .await
    }

    /// What this machine saw `transition` take in this region before.
    pub fn learning(&self, transition: Transition) -> Learning {
        timings::learning(self.aws.endpoint(), &self.aws.region, transition)
    }

    fn target<'t>(&'t self, step: &'t Step, what: &'static str, id: &'t str) -> Target<'t> {
        Target {
            step,
            what,
            resource: id,
            region: &self.aws.region,
            hint: None,
        }
    }
}

/// The transition an instance makes to reach `wanted`, whose duration the wait learns.
fn transition_to(wanted: &InstanceState) -> Option<Transition> {
    match wanted {
        InstanceState::Running => Some(Transition::InstanceRunning),
        InstanceState::Stopped => Some(Transition::InstanceStopped),
        InstanceState::Terminated => Some(Transition::InstanceTerminated),
        _ => None,
    }
}

/// What one look at an image means for a wait until it is available.
pub fn image_poll(seen: Option<ImageInfo>) -> Poll<ImageInfo> {
    match seen {
        None => Poll::Pending("not yet visible".into()),
        Some(image) if image.state == ImageState::Available => Poll::Ready(image),
        Some(image) if image.state.is_pending() => Poll::Pending(image.state.to_string()),
        Some(image) => Poll::Failed {
            state: image.state.to_string(),
            reason: image.state_reason,
        },
    }
}

/// What one look at an instance means for a wait until it is `wanted`.
pub fn instance_poll(
    seen: Option<InstanceInfo>,
    wanted: &InstanceState,
    passing: &[InstanceState],
) -> Poll<()> {
    match seen {
        None if *wanted == InstanceState::Terminated => Poll::Ready(()),
        None => Poll::Pending("not yet visible".into()),
        Some(instance) if instance.state == *wanted => Poll::Ready(()),
        Some(instance) if passing.contains(&instance.state) => {
            Poll::Pending(instance.state.to_string())
        }
        Some(instance) => Poll::Failed {
            state: instance.state.to_string(),
            reason: instance.state_reason,
        },
    }
}

/// What one delete's answer means: done (also when already gone), still in use (try
/// again), or an error.
pub fn deletion_poll(answer: Result<()>, busy_codes: &[&str]) -> Result<Poll<()>> {
    match answer {
        Ok(()) => Ok(Poll::Ready(())),
        Err(e) if is_not_found(&e) => Ok(Poll::Ready(())),
        Err(e) if e.aws_code().is_some_and(|code| busy_codes.contains(&code)) => {
            Ok(Poll::Pending("still in use".into()))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
