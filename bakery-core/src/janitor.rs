//! `bakery cleanup`: what crashed bakes left behind (a `kill -9`, a lost host), found
//! by bakery's tags and claims, and removed on request.
//!
//! A bake is alive while its claim says `baking` and either its process still runs
//! (same host) or its deadline has not passed (another host). Everything of a bake
//! that is not alive and never became a release is a leftover. Images are only taken
//! when their bake's claim shows it died, so a release whose claim was deleted by hand
//! is never mistaken for one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::aws::Aws;
use crate::error::Result;
use crate::events::EventSink;
use crate::ledger::Resource;
use crate::pipeline::Deadlines;
use crate::release::{rfc3339_before, TAG_BAKE_ID, TAG_BUILDER, TAG_DEADLINE};
use crate::removal::Remover;

#[derive(Debug, Clone, Serialize)]
pub struct Leftover {
    pub resource: Resource,
    pub bake_id: String,
    pub reason: String,
}

/// This machine's name, as recorded in claims.
pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// True when a bakery process with this pid runs on this machine.
fn bakery_runs(pid: u64) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("bakery"))
}

#[derive(Debug, Default)]
struct Bakes {
    /// Bakes whose claim says `baking` and that still run.
    alive: BTreeSet<String>,
    /// Bakes whose claim says `baking` but that are gone, with why.
    dead: BTreeMap<String, String>,
    /// Claims of dead bakes: (region, parameter name, bake id).
    dead_claims: Vec<(String, String, String)>,
}

async fn bakes(aws: &Aws, now: &str) -> Result<Bakes> {
    let host = this_host();
    let mut bakes = Bakes::default();
    for (name, value) in aws.ssm.parameters_under("/bakery/").await? {
        if !name.contains("/releases/") {
            continue;
        }
        let Ok(claim) = serde_json::from_str::<serde_json::Value>(&value) else {
            continue;
        };
        if claim["state"] != "baking" {
            continue;
        }
        let bake_id = claim["bake_id"].as_str().unwrap_or_default().to_string();
        let same_host = claim["host"].as_str() == Some(host.as_str());
        let deadline = claim["deadline"].as_str().unwrap_or_default();
        let reason = if same_host && !claim["pid"].as_u64().is_some_and(bakery_runs) {
            Some(format!("its bakery process (pid {}) is gone", claim["pid"]))
        } else if rfc3339_before(deadline, now) {
            Some(format!("its deadline {deadline} has passed"))
        } else {
            None
        };
        match reason {
            Some(reason) => {
                bakes.dead.insert(bake_id.clone(), reason);
                bakes.dead_claims.push((aws.region.clone(), name, bake_id));
            }
            None => {
                bakes.alive.insert(bake_id);
            }
        }
    }
    Ok(bakes)
}

/// Everything in the region that crashed bakes left behind.
/// What dead bakes left in `regions`. A bake's claim lives in its build region, its
/// copies elsewhere: the claims of every region are read first, so that a copy left
/// by a bake killed while distributing is found in the copy's region.
pub async fn find(regions: &[Aws]) -> Result<Vec<Leftover>> {
    let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let mut bakes = Bakes::default();
    for aws in regions {
        let found = self::bakes(aws, &now).await?;
        bakes.alive.extend(found.alive);
        bakes.dead.extend(found.dead);
        bakes.dead_claims.extend(found.dead_claims);
    }
    let mut leftovers = Vec::new();
    for aws in regions {
        leftovers.extend(find_in_region(aws, &mut bakes, &now).await?);
    }
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
    leftovers.sort_by_key(|l| removal_order(&l.resource));
    Ok(leftovers)
}

async fn find_in_region(aws: &Aws, bakes: &mut Bakes, now: &str) -> Result<Vec<Leftover>> {
    let region = aws.region.clone();
    let mut leftovers = Vec::new();

    // Builders (and their security groups) of bakes that are not alive, or past their deadline.
    let builders = aws.ec2.instances_tagged(TAG_BUILDER, "true").await?;
    let groups = aws.ec2.security_groups_tagged(TAG_BUILDER, "true").await?;
    for (kind, found) in [("instance", builders), ("security group", groups)] {
        for (id, tags) in found {
            let bake_id = tags.get(TAG_BAKE_ID).cloned().unwrap_or_default();
            let deadline = tags
                .get(TAG_DEADLINE)
                .map(String::as_str)
                .unwrap_or_default();
            let reason = if rfc3339_before(deadline, now) {
                format!("builder {kind} past its deadline {deadline}")
            } else if let Some(why) = bakes.dead.get(&bake_id) {
                format!("bake {bake_id} died: {why}")
            } else if !bakes.alive.contains(&bake_id) {
                format!("bake {bake_id} is not running (no claim says it bakes)")
            } else {
                continue;
            };
            bakes
                .dead
                .entry(bake_id.clone())
                .or_insert_with(|| reason.clone());
            let resource = if kind == "instance" {
                Resource::Instance {
                    id,
                    region: region.clone(),
                }
            } else {
                Resource::SecurityGroup {
                    id,
                    region: region.clone(),
                }
            };
            leftovers.push(Leftover {
                resource,
                bake_id,
                reason,
            });
        }
    }
    // Images and snapshots of bakes that died before their image became a release.
    for bake_id in bakes
        .dead
        .keys()
        .filter(|id| !bakes.alive.contains(*id))
        .cloned()
        .collect::<Vec<_>>()
    {
        let Some(claim) = bakes
            .dead_claims
            .iter()
            .find(|(_, _, b)| *b == bake_id)
            .map(|(_, name, _)| name.clone())
        else {
            continue;
        };
        let reason = format!(
            "half-made by bake {bake_id}, which died: {}",
            bakes.dead[&bake_id]
        );
        // By the bake's tag, and by the release's name: a copy is tagged only once
        // CopyImage has answered, so a kill in between leaves it untagged.
        let mut images = aws
            .ec2
            .own_images(Some((TAG_BAKE_ID, &bake_id)), None)
            .await?;
        if let Some(pattern) = release_name_pattern(&claim) {
            for image in aws.ec2.own_images(None, Some(&pattern)).await? {
                let other_bake = image.tags.get(TAG_BAKE_ID).is_some_and(|b| *b != bake_id);
                if !other_bake && !images.iter().any(|i| i.id == image.id) {
                    images.push(image);
                }
            }
        }
        let mut snapshots: BTreeSet<String> = BTreeSet::new();
        for image in images {
            snapshots.extend(image.snapshot_ids.iter().cloned());
            let resource = Resource::Image {
                id: image.id,
                region: region.clone(),
            };
            leftovers.push(Leftover {
                resource,
                bake_id: bake_id.clone(),
                reason: reason.clone(),
            });
        }
        snapshots.extend(aws.ec2.snapshots_tagged(TAG_BAKE_ID, &bake_id).await?);
        for snapshot in snapshots {
            let resource = Resource::Snapshot {
                id: snapshot,
                region: region.clone(),
                image: String::new(),
            };
            leftovers.push(Leftover {
                resource,
                bake_id: bake_id.clone(),
                reason: reason.clone(),
            });
        }
    }
    Ok(leftovers)
}

/// `bakery/<role>/<version>/*` for the claim `/bakery/<role>/releases/<version>`.
fn release_name_pattern(claim: &str) -> Option<String> {
    let rest = claim.strip_prefix("/bakery/")?;
    let (role, version) = rest.split_once("/releases/")?;
    Some(format!("bakery/{role}/{version}/*"))
}

/// Instances first (their groups and volumes follow them), claims last.
fn removal_order(resource: &Resource) -> u8 {
    match resource {
        Resource::Instance { .. } => 0,
        Resource::Image { .. } => 1,
        Resource::Snapshot { .. } => 2,
        Resource::SecurityGroup { .. } => 3,
        Resource::Claim { .. } => 4,
    }
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
        match remover.remove(&leftover.resource).await {
            Ok(()) => sink.emit(crate::events::Event::ResourceRemoved {
                resource: leftover.resource.clone(),
            }),
            Err(error) => failed.push((leftover.clone(), error.to_string())),
        }
    }
    failed
}
