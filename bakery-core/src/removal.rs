//! Removing one resource from AWS, and waiting for an instance's or an image's state:
//! shared by the bake, its cleanup, distribution and `bakery cleanup`.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::aws::ec2::ImageInfo;
use crate::aws::{is_not_found, Aws};
use crate::error::Result;
use crate::events::EventSink;
use crate::ledger::Resource;
use crate::pipeline::Deadlines;
use crate::wait::{self, Poll, Target, WaitPolicy};

pub struct Remover<'a> {
    pub aws: &'a Aws,
    pub sink: &'a dyn EventSink,
    pub cancel: &'a CancellationToken,
    pub deadlines: &'a Deadlines,
}

impl Remover<'_> {
    /// Removes the resource; one that is already gone counts as removed. An instance
    /// is terminated and waited for; an image is deregistered (its snapshots are
    /// separate resources).
    pub async fn remove(&self, resource: &Resource) -> Result<()> {
        let ec2 = &self.aws.ec2;
        match resource {
            Resource::Instance { id, .. } => {
                gone(ec2.terminate_instance(id).await)?;
                let passing = ["pending", "running", "stopping", "stopped", "shutting-down"];
                let deadline = self.deadlines.instance_terminated;
                self.wait_for_instance("terminate", id, "terminated", &passing, deadline)
                    .await
            }
            Resource::Image { id, .. } => gone(ec2.deregister_image(id).await),
            Resource::Snapshot { id, .. } => {
                // A snapshot of a just-deregistered or still pending image may refuse
                // deletion for a moment.
                let busy = ["InvalidSnapshot.InUse", "IncorrectState"];
                self.delete_when_free("snapshot", id, &busy, || ec2.delete_snapshot(id))
                    .await
            }
            Resource::SecurityGroup { id, .. } => {
                // Deletable once no instance uses it: right after termination it may
                // still answer DependencyViolation.
                let busy = ["DependencyViolation"];
                self.delete_when_free("security group", id, &busy, || {
                    ec2.delete_security_group(id)
                })
                .await
            }
            Resource::Claim { id, .. } => self.aws.ssm.delete_parameter(id).await,
        }
    }

    /// Waits until the image is available, failing fast on `failed`, `invalid`,
    /// `deregistered` and the other states it cannot come back from.
    pub async fn wait_for_image(&self, step: &str, image_id: &str) -> Result<ImageInfo> {
        let ec2 = &self.aws.ec2;
        let target = Target {
            step,
            what: "image",
            resource: image_id,
            region: &self.aws.region,
            hint: None,
        };
        let policy = WaitPolicy::new(self.deadlines.image_available)
            .with_max_interval(Duration::from_secs(30));
        wait::until(target, &policy, self.sink, self.cancel, || async {
            Ok(match ec2.describe_image(image_id).await? {
                None => Poll::Pending("not yet visible".into()),
                Some(image) => match image.state.as_str() {
                    "available" => Poll::Ready(image),
                    "pending" | "transient" => Poll::Pending(image.state),
                    _ => Poll::Failed {
                        state: image.state,
                        reason: image.state_reason,
                    },
                },
            })
        })
        .await
    }

    /// Waits until the instance is in `wanted`; states in `passing` are on the way,
    /// any other state is a failure. An instance AWS no longer knows counts as
    /// terminated.
    pub async fn wait_for_instance(
        &self,
        step: &str,
        instance_id: &str,
        wanted: &str,
        passing: &[&str],
        deadline: Duration,
    ) -> Result<()> {
        let ec2 = &self.aws.ec2;
        let target = Target {
            step,
            what: "instance",
            resource: instance_id,
            region: &self.aws.region,
            hint: None,
        };
        wait::until(
            target,
            &WaitPolicy::new(deadline),
            self.sink,
            self.cancel,
            || async {
                Ok(match ec2.instance_state(instance_id).await? {
                    None if wanted == "terminated" => Poll::Ready(()),
                    None => Poll::Pending("not yet visible".into()),
                    Some((state, _)) if state == wanted => Poll::Ready(()),
                    Some((state, _)) if passing.contains(&state.as_str()) => Poll::Pending(state),
                    Some((state, reason)) => Poll::Failed { state, reason },
                })
            },
        )
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
        let target = Target {
            step: "cleanup",
            what,
            resource: id,
            region: &self.aws.region,
            hint: None,
        };
        wait::until(target, &policy, self.sink, self.cancel, || async {
            match delete().await {
                Ok(()) => Ok(Poll::Ready(())),
                Err(e) if is_not_found(&e) => Ok(Poll::Ready(())),
                Err(e) if e.aws_code().is_some_and(|code| busy_codes.contains(&code)) => {
                    Ok(Poll::Pending("still in use".into()))
                }
                Err(e) => Err(e),
            }
        })
        .await
    }
}

fn gone(result: Result<()>) -> Result<()> {
    match result {
        Err(e) if is_not_found(&e) => Ok(()),
        other => other,
    }
}
