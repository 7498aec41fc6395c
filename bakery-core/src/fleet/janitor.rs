//! `bakery cleanup`: what crashed bakes left behind (a `kill -9`, a lost host), found
//! by bakery's tags and claims, and removed on request.
//!
//! A bake is alive while its claim says `baking`, its lease has not expired and its
//! deadline has not passed; a cleanup that shares the bake's process table (same host,
//! boot and pid namespace) also sees a bake gone when its process is. Everything of a
//! bake that is not alive and never became a release is a leftover. Images are only taken
//! when their bake's claim shows it died, so a release whose claim was deleted by hand
//! is never mistaken for one. The judgements are pure functions ([`judge_claim`],
//! [`judge_builder`]); the rest reads AWS and applies them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::aws::Aws;
use crate::error::Result;
use crate::events::{Event, EventSink};
use crate::model::release::{TAG_BAKE_ID, TAG_BUILDER, TAG_DEADLINE, TAG_KEPT, TAG_TEST_INSTANCE};
use crate::model::time::{rfc3339, rfc3339_before};
use crate::model::{Release, Resource, Step};
use crate::ops::removal::Remover;
use crate::release::claim::{RecordState, ReleaseRecord, Retest, Whereabouts};
use crate::wait::Deadlines;

#[derive(Debug, Clone, Serialize)]
pub struct Leftover {
    pub resource: Resource,
    pub bake_id: String,
    pub reason: String,
}

/// What a cleanup found: what to remove, and what to spare and say so.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sweep {
    pub leftovers: Vec<Leftover>,
    /// Builders kept on purpose, until their deadline.
    pub kept: Vec<Leftover>,
}

/// True when a bakery process with this pid runs on this machine.
fn bakery_runs(pid: u64) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("bakery"))
}

/// Why the bake that holds `record` is dead, or None while it may still be baking.
/// `here` is where this cleanup runs; `runs` says whether a bakery process with a
/// pid runs here, and is asked only when the bake ran in this very process table.
pub fn judge_claim(
    record: &ReleaseRecord,
    here: &Whereabouts,
    now: &str,
    runs: impl Fn(u64) -> bool,
) -> Option<String> {
    if record.state != RecordState::Baking {
        return None;
    }
    if let Some(deadline) = record
        .deadline
        .as_deref()
        .filter(|d| rfc3339_before(d, now))
    {
        return Some(format!("its deadline {deadline} has passed"));
    }
    if let Some(lease) = record
        .lease_until
        .as_deref()
        .filter(|l| rfc3339_before(l, now))
    {
        return Some(format!(
            "its lease expired at {lease}: the bake stopped renewing it"
        ));
    }
    process_gone(&record.whereabouts(), record.pid, here, runs)
        .map(|pid| format!("its bakery process (pid {pid}) is gone"))
}

/// The pid of a process that ran in this very process table and runs no more; None
/// when it runs, or when it ran elsewhere (another host, boot or pid namespace).
fn process_gone(
    at: &Whereabouts,
    pid: Option<u64>,
    here: &Whereabouts,
    runs: impl Fn(u64) -> bool,
) -> Option<String> {
    (here.shares_processes_with(at) && !pid.is_some_and(runs))
        .then(|| pid.map_or("unknown".to_string(), |p| p.to_string()))
}

/// What the janitor makes of a builder instance or security group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Its bake is gone: remove it.
    Leftover(String),
    /// Kept with `--keep-on-failure` and not yet past its deadline: spare it.
    Kept(String),
}

/// What becomes of a builder or test instance or security group (`kind`, as the
/// reason names it: `builder instance`, `test security group`) of bake `bake_id`,
/// or None while its bake is alive.
pub fn judge_builder(
    kind: &str,
    bake_id: &str,
    deadline: &str,
    kept: bool,
    now: &str,
    bakes: &Bakes,
) -> Option<Verdict> {
    if rfc3339_before(deadline, now) {
        Some(Verdict::Leftover(format!(
            "{kind} past its deadline {deadline}"
        )))
    } else if kept {
        Some(Verdict::Kept(format!(
            "kept with --keep-on-failure until its deadline {deadline}"
        )))
    } else if let Some(why) = bakes.dead.get(bake_id) {
        Some(Verdict::Leftover(format!(
            "{kind} of bake {bake_id}, which died: {why}"
        )))
    } else if !bakes.alive.contains(bake_id) {
        Some(Verdict::Leftover(format!(
            "{kind} of bake {bake_id}, which is not running (no claim says it bakes)"
        )))
    } else {
        None
    }
}

/// Why the `bakery test` run a release record names is gone, or None while it
/// renews its lease; its process table is asked only from its own (as for a bake).
pub fn judge_retest(
    retest: &Retest,
    here: &Whereabouts,
    now: &str,
    runs: impl Fn(u64) -> bool,
) -> Option<String> {
    if rfc3339_before(&retest.lease_until, now) {
        return Some(format!(
            "its lease expired at {}: `bakery test` stopped renewing it",
            retest.lease_until
        ));
    }
    process_gone(&retest.whereabouts(), retest.pid, here, runs)
        .map(|pid| format!("its `bakery test` process (pid {pid}) is gone"))
}

/// The bakes the claims speak of.
#[derive(Debug, Default)]
pub struct Bakes {
    /// Bakes whose claim says `baking` and that still run.
    pub alive: BTreeSet<String>,
    /// Bakes that are gone, with why.
    pub dead: BTreeMap<String, String>,
    /// Claims of dead bakes: (region, parameter name, bake id).
    pub dead_claims: Vec<(String, String, String)>,
    /// Images a release record or a channel names: never leftovers, whatever the
    /// claims say.
    pub protected: BTreeSet<String>,
}

async fn bakes(aws: &Aws, now: &str) -> Result<Bakes> {
    let here = Whereabouts::here();
    let mut bakes = Bakes::default();
    for (name, value) in aws.ssm.parameters_under("/bakery/").await? {
        if name.contains("/channels/") {
            bakes.protected.insert(value);
            continue;
        }
        if Release::of_claim_parameter(&name).is_none() {
            continue;
        }
        let Some(record) = ReleaseRecord::parse(&value) else {
            continue;
        };
        bakes
            .protected
            .extend(record.image_ids().into_iter().cloned());
        if let Some(retest) = &record.retest {
            if let Some(why) = judge_retest(retest, &here, now, bakery_runs) {
                bakes.dead.insert(retest.run.clone(), why);
            } else {
                bakes.alive.insert(retest.run.clone());
            }
        }
        if record.state != RecordState::Baking {
            continue;
        }
        match judge_claim(&record, &here, now, bakery_runs) {
            Some(reason) => {
                bakes.dead.insert(record.bake_id.clone(), reason);
                bakes
                    .dead_claims
                    .push((aws.region.clone(), name, record.bake_id));
            }
            None => {
                bakes.alive.insert(record.bake_id);
            }
        }
    }
    Ok(bakes)
}

/// What dead bakes left in `regions`. A bake's claim lives in its build region, its
/// copies elsewhere: the claims of every region are read first, so that a copy left
/// by a bake killed while distributing is found in the copy's region.
pub async fn find(regions: &[Aws]) -> Result<Sweep> {
    let now = rfc3339(SystemTime::now());
    let mut bakes = Bakes::default();
    for aws in regions {
        let found = self::bakes(aws, &now).await?;
        bakes.alive.extend(found.alive);
        bakes.dead.extend(found.dead);
        bakes.dead_claims.extend(found.dead_claims);
        bakes.protected.extend(found.protected);
    }
    let mut sweep = Sweep::default();
    for aws in regions {
        let found = find_in_region(aws, &mut bakes, &now).await?;
        sweep.leftovers.extend(found.leftovers);
        sweep.kept.extend(found.kept);
    }
    let leftovers = &mut sweep.leftovers;
    for (region, name, bake_id) in &bakes.dead_claims {
        let reason = format!(
            "claim of bake {bake_id}, which died: {}",
            bakes.dead[bake_id]
        );
        leftovers.push(Leftover {
            resource: Resource::Claim {
                id: name.clone(),
                region: region.clone(),
            },
            bake_id: bake_id.clone(),
            reason,
        });
    }
    leftovers.sort_by_key(|l| l.resource.removal_order());
    Ok(sweep)
}

async fn find_in_region(aws: &Aws, bakes: &mut Bakes, now: &str) -> Result<Sweep> {
    let region = aws.region.clone();
    let mut sweep = Sweep::default();
    let leftovers = &mut sweep.leftovers;

    // Builders and test instances (and their security groups) of bakes that are not
    // alive, or past their deadline.
    let mut found = Vec::new();
    for (tag, what) in [(TAG_BUILDER, "builder"), (TAG_TEST_INSTANCE, "test")] {
        let instances = aws.ec2.instances_tagged(tag, "true").await?;
        let groups = aws.ec2.security_groups_tagged(tag, "true").await?;
        found.extend(instances.into_iter().map(|i| (i.id, i.tags, what, true)));
        found.extend(groups.into_iter().map(|(id, tags)| (id, tags, what, false)));
    }
    for (id, tags, what, is_instance) in found {
        let kind = if is_instance {
            format!("{what} instance")
        } else {
            format!("{what} security group")
        };
        let bake_id = tags.get(TAG_BAKE_ID).cloned().unwrap_or_default();
        let deadline = tags
            .get(TAG_DEADLINE)
            .map(String::as_str)
            .unwrap_or_default();
        let kept = tags.get(TAG_KEPT).is_some_and(|v| v == "true");
        let Some(verdict) = judge_builder(&kind, &bake_id, deadline, kept, now, bakes) else {
            continue;
        };
        let region = region.clone();
        let resource = if is_instance {
            Resource::Instance { id, region }
        } else {
            Resource::SecurityGroup { id, region }
        };
        match verdict {
            Verdict::Kept(reason) => sweep.kept.push(Leftover {
                resource,
                bake_id,
                reason,
            }),
            Verdict::Leftover(reason) => {
                bakes
                    .dead
                    .entry(bake_id.clone())
                    .or_insert_with(|| reason.clone());
                leftovers.push(Leftover {
                    resource,
                    bake_id,
                    reason,
                });
            }
        }
    }
    // Images and snapshots of bakes that died before their image became a release.
    let dead: Vec<String> = bakes
        .dead
        .keys()
        .filter(|id| !bakes.alive.contains(*id))
        .cloned()
        .collect();
    let mut spared: Option<BTreeSet<String>> = None;
    for bake_id in dead {
        let Some(release) = bakes
            .dead_claims
            .iter()
            .find(|(_, _, b)| *b == bake_id)
            .and_then(|(_, name, _)| Release::of_claim_parameter(name))
        else {
            continue;
        };
        let reason = format!(
            "half-made by bake {bake_id}, which died: {}",
            bakes.dead[&bake_id]
        );
        // By the bake's tag, and by the release's name: copies made before CopyImage
        // took its tags at creation were tagged only once it had answered, so a kill in
        // between left them untagged.
        let mut images = aws
            .ec2
            .own_images(Some((TAG_BAKE_ID, &bake_id)), None)
            .await?;
        for image in aws
            .ec2
            .own_images(None, Some(&release.image_name_pattern()))
            .await?
        {
            let other_bake = image.tags.get(TAG_BAKE_ID).is_some_and(|b| *b != bake_id);
            if !other_bake && !images.iter().any(|i| i.id == image.id) {
                images.push(image);
            }
        }
        images.retain(|image| !bakes.protected.contains(&image.id));
        let mut snapshots: BTreeSet<String> = BTreeSet::new();
        for image in images {
            snapshots.extend(image.snapshot_ids.iter().cloned());
            leftovers.push(Leftover {
                resource: Resource::Image {
                    id: image.id,
                    region: region.clone(),
                },
                bake_id: bake_id.clone(),
                reason: reason.clone(),
            });
        }
        // A bake's snapshots, but not those of an image that is a release.
        if spared.is_none() {
            spared = Some(protected_snapshots(aws, &bakes.protected).await?);
        }
        let spared = spared.as_ref().expect("just read");
        snapshots.extend(
            aws.ec2
                .snapshots_tagged(TAG_BAKE_ID, &bake_id)
                .await?
                .into_iter()
                .filter(|s| !spared.contains(s)),
        );
        for snapshot in snapshots {
            leftovers.push(Leftover {
                resource: Resource::Snapshot {
                    id: snapshot,
                    region: region.clone(),
                    image: String::new(),
                },
                bake_id: bake_id.clone(),
                reason: reason.clone(),
            });
        }
    }
    Ok(sweep)
}

/// The snapshots behind the protected images of the region (one read of the
/// account's images).
async fn protected_snapshots(aws: &Aws, protected: &BTreeSet<String>) -> Result<BTreeSet<String>> {
    Ok(aws
        .ec2
        .own_images(None, None)
        .await?
        .into_iter()
        .filter(|image| protected.contains(&image.id))
        .flat_map(|image| image.snapshot_ids)
        .collect())
}

/// Removes the leftovers in order; returns those that could not be removed, with why.
pub async fn remove(
    aws: &Aws,
    leftovers: &[Leftover],
    sink: &dyn EventSink,
) -> Vec<(Leftover, String)> {
    let cancel = CancellationToken::new();
    let deadlines = Deadlines::default();
    let remover = Remover {
        aws,
        sink,
        cancel: &cancel,
        deadlines: &deadlines,
    };
    let mut failed = Vec::new();
    for leftover in leftovers {
        match remover.remove(&Step::Cleanup, &leftover.resource).await {
            Ok(()) => sink.emit(Event::ResourceRemoved {
                step: Step::Cleanup,
                resource: leftover.resource.clone(),
            }),
            Err(error) => failed.push((leftover.clone(), error.to_string())),
        }
    }
    failed
}

#[cfg(test)]
mod tests;
