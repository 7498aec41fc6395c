//! What a failed or interrupted bake does last: remove everything it created, newest
//! first, within its own deadline, whatever happened. Resources whose create call was
//! answered but not recorded are found by the `bakery:bake-id` tag.

use tokio_util::sync::CancellationToken;

use super::context::{Bake, Failure};
use super::report::BakeStatus;
use crate::error::{ErrorKind, Result};
use crate::events::Event;
use std::collections::BTreeMap;

use crate::model::release::{TAG_BAKE_ID, TAG_DEADLINE, TAG_KEPT};
use crate::model::{Release, Resource, Step};
use crate::plan::BakePlan;
use crate::release::claim::{self, RecordState};

/// What a run that ends leaves standing on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Everything it made goes.
    Nothing,
    /// `--keep-on-failure` after a step failed (not after an interrupt): its instances
    /// and their security groups stay, the groups until their instances' deadline.
    Instances,
}

impl Keep {
    /// What a bake or `bakery test` of `plan` keeps after `failure`.
    pub fn after(plan: &BakePlan, failure: Option<&Failure>) -> Keep {
        let failed = failure.is_some_and(|f| f.error.kind() == ErrorKind::Failed);
        match plan.keep_on_failure && failed {
            true => Keep::Instances,
            false => Keep::Nothing,
        }
    }
}

/// Why the builder, or the test instance, or its security group, stays with
/// `--keep-on-failure`. Once the gate ran, the builder was gone already: what stays
/// is the test instance.
fn kept_reason(bake: &Bake<'_>, resource: &Resource) -> String {
    let test = bake.plan.test.as_ref();
    let gated = bake.has_test_instances();
    let (what, lifetime) = match test {
        Some(test) if gated => ("the test instance", test.lifetime),
        _ => ("the builder", bake.plan.builder_lifetime),
    };
    if let Resource::SecurityGroup { .. } = resource {
        return format!(
            "--keep-on-failure: {what}'s group stays with it, until the same deadline; \
             `bakery cleanup --kept --yes` removes both when you are done"
        );
    }
    format!(
        "--keep-on-failure: {what} stays for debugging and terminates itself \
         within {} (dead-man's switch); `bakery cleanup --kept --yes` removes it when \
         you are done",
        crate::model::time::human(lifetime)
    )
}

/// The end of a bake or a `bakery test` run: the cleanup, when the ledger holds
/// anything — or, after a failure of a chosen `release`, may (a claim whose answers
/// were all lost is looked for) — keeping what `--keep-on-failure` keeps. What it
/// kept on purpose and what it could not remove.
pub async fn at_the_end(
    bake: &Bake<'_>,
    failure: Option<&Failure>,
    release: Option<&Release>,
) -> (Vec<Resource>, Vec<Resource>) {
    let swept = failure.is_some() && release.is_some() && !bake.plan.dry_run;
    if bake.ledger.is_empty() && !swept {
        return (Vec::new(), Vec::new());
    }
    let reason = match failure {
        Some(f) => format!(
            "{} {} at step `{}`{}",
            bake.plan.run,
            BakeStatus::of_error(&f.error).as_str(),
            f.step,
            super::of_arch(f.arch)
        ),
        None => format!("{} finishing", bake.plan.run),
    };
    cleanup(bake, &reason, Keep::after(bake.plan, failure), release).await
}

/// Removes what the ledger holds, newest first, within the cleanup deadline.
/// Returns what was kept on purpose and what could not be removed (leaked).
// Long on purpose: the walk, its deadline and its report together, so that nothing
// the walk did is left out of the report.
pub async fn cleanup(
    bake: &Bake<'_>,
    reason: &str,
    keep: Keep,
    release: Option<&Release>,
) -> (Vec<Resource>, Vec<Resource>) {
    bake.sink.emit(Event::CleanupStarted {
        reason: reason.to_string(),
    });
    // Cleanup must finish even when the bake was interrupted: it has its own token,
    // and a second signal ends the process instead.
    let never = CancellationToken::new();
    let kept = std::sync::Mutex::new(Vec::new());
    let walk = async {
        let latest_deadline = find_unrecorded(bake, release).await;
        let kept_until = match keep {
            Keep::Instances => latest_deadline,
            Keep::Nothing => None,
        };
        let keeping = (keep == Keep::Instances).then_some(Keeping {
            until: kept_until.as_deref(),
        });
        // In the order AWS lets things go — instances, images, snapshots, groups,
        // claims — each kind all at once (a termination takes tens of seconds on AWS,
        // eaten from the grace period before a second signal); what the sweep found
        // may have been created before what the ledger recorded (a group before its
        // instance), so the order is by kind, not by age.
        let mut resources = bake.ledger.newest_first();
        resources.sort_by_key(Resource::removal_order);
        for stage in resources.chunk_by(|a, b| a.removal_order() == b.removal_order()) {
            let removals = stage.iter().map(|resource| async {
                if let Some(resource) = clean_one(bake, resource, keeping, &never).await {
                    kept.lock().expect("kept").push(resource);
                }
            });
            futures_util::future::join_all(removals).await;
        }
    };
    if tokio::time::timeout(bake.deadlines.cleanup, walk)
        .await
        .is_err()
    {
        bake.sink.emit(Event::Warning {
            message: format!(
                "cleanup did not finish within {}",
                crate::model::time::human(bake.deadlines.cleanup)
            ),
        });
    }
    let kept = kept.into_inner().expect("kept");
    let leaked: Vec<Resource> = bake
        .ledger
        .newest_first()
        .into_iter()
        .filter(|r| !kept.contains(r))
        .collect();
    bake.sink.emit(Event::CleanupFinished {
        leaked: leaked.clone(),
        kept: kept.clone(),
    });
    (kept, leaked)
}

/// How kept resources are marked: the groups with their instances' deadline, when known.
#[derive(Clone, Copy)]
struct Keeping<'a> {
    until: Option<&'a str>,
}

/// Removes one resource of the ledger, or keeps it (`keeping`: `--keep-on-failure`'s
/// instances and groups, tagged so that `bakery cleanup` spares them, the groups with
/// the instances' deadline when known): the resource kept, if so.
async fn clean_one(
    bake: &Bake<'_>,
    resource: &Resource,
    keeping: Option<Keeping<'_>>,
    never: &CancellationToken,
) -> Option<Resource> {
    let keepable = matches!(
        resource,
        Resource::Instance { .. } | Resource::SecurityGroup { .. }
    );
    if let Some(Keeping { until }) = keeping.filter(|_| keepable) {
        let mut mark = BTreeMap::from([(TAG_KEPT.to_string(), "true".to_string())]);
        if let (Resource::SecurityGroup { .. }, Some(until)) = (resource, until) {
            mark.insert(TAG_DEADLINE.to_string(), until.to_string());
        }
        if let Err(error) = bake.aws.ec2.tag(&[resource.id().to_string()], &mark).await {
            bake.sink.emit(Event::Warning {
                message: format!("could not tag {} as kept: {error}", resource.describe()),
            });
        }
        bake.sink.emit(Event::ResourceKept {
            resource: resource.clone(),
            reason: kept_reason(bake, resource),
        });
        return Some(resource.clone());
    }
    // Removed already, with its image (the list was taken before the walk); or it
    // will be, right after its image.
    if !bake.ledger.contains(resource) {
        return None;
    }
    if let Resource::Snapshot { image, .. } = resource {
        let image = Resource::Image {
            id: image.clone(),
            region: resource.region().to_string(),
        };
        if bake.ledger.contains(&image) {
            return None;
        }
    }
    if let Err(error) = remove(bake, &Step::Cleanup, resource, never).await {
        bake.sink.emit(Event::Warning {
            message: format!("could not remove {}: {error}", resource.describe()),
        });
    }
    None
}

/// Resources of this bake whose create call was carried out but not recorded (an
/// interrupt in between, or an answer lost) are found by the bake-id tag every
/// resource carries, and the claim by the bake id it records. Once the record says
/// released, its images are the release's: never the bake's to remove, whatever failed
/// after (a builder that would not terminate, a copy, a channel). Returns the latest
/// deadline of the bake's live instances: a group kept with them lives as long.
async fn find_unrecorded(bake: &Bake<'_>, release: Option<&Release>) -> Option<String> {
    let region = bake.region().to_string();
    let id = &bake.plan.bake_id;
    let mut released = std::collections::BTreeSet::new();
    if let Some(release) = release {
        let ours = claim::read(bake.aws, release).await.ok().flatten();
        match ours.filter(|r| r.bake_id == *id) {
            Some(record) if record.state == RecordState::Baking => {
                bake.ledger.record(Resource::Claim {
                    id: release.claim_parameter(),
                    region: region.clone(),
                });
            }
            Some(record) => released.extend(record.image_ids().into_iter().cloned()),
            None => {}
        }
    }
    if let Ok(groups) = bake.aws.ec2.security_groups_tagged(TAG_BAKE_ID, id).await {
        for (group, _) in groups {
            bake.ledger.record(Resource::SecurityGroup {
                id: group,
                region: region.clone(),
            });
        }
    }
    let mut latest_deadline: Option<String> = None;
    if let Ok(instances) = bake.aws.ec2.instances_tagged(TAG_BAKE_ID, id).await {
        for instance in instances {
            latest_deadline = latest_deadline.max(instance.tags.get(TAG_DEADLINE).cloned());
            bake.ledger.record(Resource::Instance {
                id: instance.id,
                region: region.clone(),
            });
        }
    }
    if let Ok(images) = bake.aws.ec2.own_images(Some((TAG_BAKE_ID, id)), None).await {
        for image in images.into_iter().filter(|i| !released.contains(&i.id)) {
            bake.ledger.record(Resource::Image {
                id: image.id,
                region: region.clone(),
            });
        }
    }
    latest_deadline
}

/// Removes one resource; an image takes its snapshots with it (those the ledger
/// knows and those tagged with this bake).
pub async fn remove(
    bake: &Bake<'_>,
    step: &Step,
    resource: &Resource,
    cancel: &CancellationToken,
) -> Result<()> {
    bake.remover(cancel).remove(step, resource).await?;
    bake.removed(step.clone(), resource);
    if let Resource::Image { id, region } = resource {
        let mut snapshots = bake.ledger.snapshots_of(id);
        // The bake's snapshots, but not those another image of it was made with (a
        // bake of several architectures makes an image for each).
        let tagged = bake
            .aws
            .ec2
            .snapshots_tagged_for(TAG_BAKE_ID, &bake.plan.bake_id)
            .await;
        let tagged = tagged
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(snapshot, of)| of.is_none_or(|of| of == *id).then_some(snapshot));
        for snapshot in tagged {
            let snapshot = Resource::Snapshot {
                id: snapshot,
                region: region.clone(),
                image: id.clone(),
            };
            if !snapshots.contains(&snapshot) {
                bake.ledger.record(snapshot.clone());
                snapshots.push(snapshot);
            }
        }
        for snapshot in snapshots {
            bake.remover(cancel).remove(step, &snapshot).await?;
            bake.removed(step.clone(), &snapshot);
        }
    }
    Ok(())
}
