//! `bakery cleanup`: what crashed bakes left behind (a `kill -9`, a lost host), found
//! by bakery's tags and claims, and removed on request.
//!
//! A bake is alive while its claim says `baking`, its lease has not expired, its
//! deadline has not passed and the lock it holds (`release::lock`) is not
//! free. No process table is asked: a pid means nothing in another pid namespace, and
//! a process's name says nothing about what it runs. Resources are listed before the
//! claims are read, so a bake that claims after the listing owns nothing listed; and
//! each removal is preceded by a fresh read of its owner's claim ([`remove`]), so a
//! verdict is never acted on after its bake came back or finished. Everything of a
//! bake that is not alive and never became a release is a leftover. Images are only
//! taken when their bake's claim shows it died, so a release whose claim was deleted by
//! hand is never mistaken for one. The judgements are pure functions ([`judge_claim`],
//! [`judge_builder`]); the rest reads AWS and applies them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::aws::ec2::ImageInfo;
use crate::aws::error::OrAbsent;
use crate::aws::Aws;
use crate::error::Result;
use crate::events::{Event, EventSink};
use crate::model::release::{TAG_BAKE_ID, TAG_BUILDER, TAG_DEADLINE, TAG_KEPT, TAG_TEST_INSTANCE};
use crate::model::time::{rfc3339, rfc3339_before};
use crate::model::{Release, Resource, Step};
use crate::ops::removal::Remover;
use crate::release::claim::{RecordState, ReleaseRecord, RunLease};
use crate::release::lock::{self, LockNote, LockProbe};
use crate::wait::Deadlines;

/// A resource a bake that is gone left behind, or a builder kept on purpose: one line
/// of `bakery cleanup`'s report.
#[derive(Debug, Clone, Serialize)]
pub struct Leftover {
    /// The resource, with its region.
    pub resource: Resource,
    /// The bake it belongs to (its `bakery:bake-id` tag, or its claim's); empty when it
    /// has no such tag.
    pub bake_id: String,
    /// Why it is a leftover (or kept), in words for the report.
    pub reason: String,
    /// Whom to ask again, right before the removal, whether it is still gone.
    #[serde(skip)]
    pub owner: Owner,
}

/// Who a leftover belongs to, as far as a removal must check again.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Owner {
    /// Nothing can make it alive again: past its deadline, or its bake held no claim
    /// when the claims were read (after the resources were listed).
    #[default]
    Nobody,
    /// The bake that holds the claim `parameter` in `region`.
    Claim {
        /// The region the claim is in.
        region: String,
        /// The claim's SSM parameter name.
        parameter: String,
    },
    /// The `bakery test` run the record `parameter` in `region` names.
    Retest {
        /// The region the record is in.
        region: String,
        /// The release record's SSM parameter name.
        parameter: String,
    },
    /// Whoever makes the copies of the release recorded in `parameter` in `region`:
    /// its bake, or a `bakery distribute`.
    Copies {
        /// The region the record is in.
        region: String,
        /// The release record's SSM parameter name.
        parameter: String,
    },
}

/// What a cleanup found: what to remove, and what to spare and say so.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sweep {
    /// What to remove, in the order removals go (instances first, claims last).
    pub leftovers: Vec<Leftover>,
    /// Builders kept on purpose, until their deadline.
    pub kept: Vec<Leftover>,
}

impl Sweep {
    /// The sweep with what `--keep-on-failure` kept among the leftovers: removed on
    /// request before its deadline (`bakery cleanup --kept`).
    pub fn including_kept(mut self) -> Sweep {
        for mut kept in std::mem::take(&mut self.kept) {
            kept.reason = format!("{}; removed on request (--kept)", kept.reason);
            kept.owner = Owner::Nobody;
            self.leftovers.push(kept);
        }
        self.leftovers.sort_by_key(|l| l.resource.removal_order());
        self
    }
}

/// Why the bake that holds `record` is gone, or None while it may still run: a
/// baking bake until its deadline, lease or lock says otherwise; the bake of a release
/// only while its last lease runs or its lock is held (it terminates its builders
/// beside the record). `probe` says what the lock the record names says.
pub fn judge_claim(
    record: &ReleaseRecord,
    now: &str,
    probe: impl Fn(&LockNote) -> LockProbe,
) -> Option<String> {
    let released = record.state == RecordState::Released;
    if let Some(deadline) = record
        .deadline
        .as_deref()
        .filter(|d| rfc3339_before(d, now))
    {
        return Some(format!("its deadline {deadline} has passed"));
    }
    if released
        && record
            .lock
            .as_ref()
            .is_some_and(|note| probe(note) == LockProbe::Held)
    {
        return None;
    }
    match record.lease_until.as_deref() {
        Some(lease) if rfc3339_before(lease, now) => {
            return Some(format!(
                "its lease expired at {lease}: the bake stopped renewing it"
            ))
        }
        None if released => return Some("its release is recorded and its bake ended".into()),
        _ => {}
    }
    lock_free(record.lock.as_ref(), probe)
        .map(|path| format!("its lock {path} is free: its process has ended"))
}

/// The path of the lock `note` names when nobody holds it any more.
fn lock_free(note: Option<&LockNote>, probe: impl Fn(&LockNote) -> LockProbe) -> Option<String> {
    note.filter(|note| probe(note) == LockProbe::Free)
        .map(|note| note.path.clone())
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

/// Why a run a release record names (`what`: `bakery test`, `bakery distribute`) is
/// gone, or None while it renews its lease and holds its lock.
pub fn judge_run(
    run: &RunLease,
    what: &str,
    now: &str,
    probe: impl Fn(&LockNote) -> LockProbe,
) -> Option<String> {
    if rfc3339_before(&run.lease_until, now) {
        return Some(format!(
            "its lease expired at {}: {what} stopped renewing it",
            run.lease_until
        ));
    }
    lock_free(run.lock.as_ref(), probe)
        .map(|path| format!("its lock {path} is free: {what} has ended"))
}

const TEST_RUN: &str = "`bakery test`";

/// The bakes the claims speak of.
#[derive(Debug, Default)]
pub struct Bakes {
    /// Bakes whose claim says `baking` and that still run.
    pub alive: BTreeSet<String>,
    /// Bakes that are gone, with why.
    pub dead: BTreeMap<String, String>,
    /// Whose claim or record each bake (or `bakery test` run) is asked again in.
    pub owners: BTreeMap<String, Owner>,
    /// Claims of dead bakes: (region, parameter name, bake id).
    pub dead_claims: Vec<(String, String, String)>,
    /// Images a release record or a channel names: never leftovers, whatever the
    /// claims say.
    pub protected: BTreeSet<String>,
    /// Released releases (`role@version`): whether a run may still copy them.
    pub recorded: BTreeMap<String, Recorded>,
}

/// A released release as the janitor sees it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Where its record is read again before a removal.
    pub owner: Owner,
    /// Its bake or a `bakery distribute` may still be copying it.
    pub copying: bool,
}

impl Bakes {
    fn owner(&self, bake_id: &str) -> Owner {
        self.owners.get(bake_id).cloned().unwrap_or_default()
    }

    fn extend(&mut self, other: Bakes) {
        self.alive.extend(other.alive);
        self.dead.extend(other.dead);
        self.owners.extend(other.owners);
        self.dead_claims.extend(other.dead_claims);
        self.protected.extend(other.protected);
        for (release, recorded) in other.recorded {
            let known = self.recorded.entry(release).or_insert(recorded.clone());
            known.copying |= recorded.copying;
        }
    }
}

async fn bakes(aws: &Aws, now: &str) -> Result<Bakes> {
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
        let (region, parameter) = (aws.region.clone(), name.clone());
        if let Some(retest) = &record.retest {
            let owner = Owner::Retest { region, parameter };
            bakes.owners.insert(retest.run.clone(), owner);
            match judge_run(retest, TEST_RUN, now, lock::probe) {
                Some(why) => bakes.dead.insert(retest.run.clone(), why),
                None => bakes
                    .alive
                    .insert(retest.run.clone())
                    .then_some(String::new()),
            };
        }
        if record.state == RecordState::Released {
            let owner = Owner::Copies {
                region: aws.region.clone(),
                parameter: name.clone(),
            };
            let copying = still_copying(&record, now);
            let recorded = Recorded { owner, copying };
            bakes.recorded.insert(record.release.clone(), recorded);
        }
        let owner = Owner::Claim {
            region: aws.region.clone(),
            parameter: name.clone(),
        };
        match (record.state, judge_claim(&record, now, lock::probe)) {
            (_, None) => {
                bakes.owners.insert(record.bake_id.clone(), owner);
                bakes.alive.insert(record.bake_id);
            }
            (RecordState::Baking, Some(reason)) => {
                bakes.owners.insert(record.bake_id.clone(), owner);
                bakes.dead.insert(record.bake_id.clone(), reason);
                bakes
                    .dead_claims
                    .push((aws.region.clone(), name, record.bake_id));
            }
            // A release whose bake has ended: what is left of that bake is nobody's.
            (RecordState::Released, Some(_)) => {}
        }
    }
    Ok(bakes)
}

/// Whether the bake of a released release, or a `bakery distribute` of it, may still
/// be copying it.
fn still_copying(record: &ReleaseRecord, now: &str) -> bool {
    let distributing = record
        .distributing
        .as_ref()
        .is_some_and(|run| judge_run(run, "`bakery distribute`", now, lock::probe).is_none());
    distributing || judge_claim(record, now, lock::probe).is_none()
}

/// The copies of released releases that their records do not name, whose makers are
/// gone: a bake or `bakery distribute` killed while copying left them pending (or
/// finished, unrecorded). `bakery distribute` copies the region again.
async fn unrecorded_copies(aws: &Aws, bakes: &Bakes) -> Result<Vec<Leftover>> {
    if bakes.recorded.values().all(|r| r.copying) {
        return Ok(Vec::new());
    }
    let mut leftovers = Vec::new();
    for image in aws.ec2.own_images(None, Some("bakery/*")).await? {
        let Some(release) = release_of_image_name(&image.name) else {
            continue;
        };
        let Some(recorded) = bakes.recorded.get(&release).filter(|r| !r.copying) else {
            continue;
        };
        if bakes.protected.contains(&image.id) {
            continue;
        }
        let reason = format!(
            "copy of {release} that its record does not name, made by a distribution \
             that stopped ({}): `bakery distribute` copies the region again",
            image.state
        );
        let bake_id = image.tags.get(TAG_BAKE_ID).cloned().unwrap_or_default();
        let region = aws.region.clone();
        let snapshots = image.snapshot_ids.iter().map(|id| Resource::Snapshot {
            id: id.clone(),
            region: region.clone(),
            image: image.id.clone(),
        });
        let image = Resource::Image {
            id: image.id.clone(),
            region: region.clone(),
        };
        for resource in std::iter::once(image).chain(snapshots) {
            leftovers.push(Leftover {
                resource,
                bake_id: bake_id.clone(),
                reason: reason.clone(),
                owner: recorded.owner.clone(),
            });
        }
    }
    Ok(leftovers)
}

/// `role@version` of an image named `bakery/<role>/<version>/<arch>`.
fn release_of_image_name(name: &str) -> Option<String> {
    match name.split('/').collect::<Vec<_>>()[..] {
        ["bakery", role, version, _arch] => Some(format!("{role}@{version}")),
        _ => None,
    }
}

/// A builder or test instance, or its security group, as listed.
struct Tagged {
    resource: Resource,
    tags: BTreeMap<String, String>,
    /// `builder instance`, `test security group`, …
    kind: String,
}

/// Every builder and test instance and security group of `aws`'s region.
async fn tagged(aws: &Aws) -> Result<Vec<Tagged>> {
    let region = &aws.region;
    let mut found = Vec::new();
    for (tag, what) in [(TAG_BUILDER, "builder"), (TAG_TEST_INSTANCE, "test")] {
        for instance in aws.ec2.instances_tagged(tag, "true").await? {
            found.push(Tagged {
                resource: Resource::Instance {
                    id: instance.id,
                    region: region.clone(),
                },
                tags: instance.tags,
                kind: format!("{what} instance"),
            });
        }
        for (id, tags) in aws.ec2.security_groups_tagged(tag, "true").await? {
            found.push(Tagged {
                resource: Resource::SecurityGroup {
                    id,
                    region: region.clone(),
                },
                tags,
                kind: format!("{what} security group"),
            });
        }
    }
    Ok(found)
}

/// What dead bakes left in `regions`. The instances and groups are listed first, the
/// claims of every region read after: a bake claims before it launches, so whatever
/// the listing holds has its claim in what is read. A bake's claim lives in its build
/// region, its copies elsewhere: a copy left by a bake killed while distributing is
/// found in the copy's region.
pub async fn find(regions: &[Aws]) -> Result<Sweep> {
    let mut listed = Vec::new();
    for aws in regions {
        listed.extend(tagged(aws).await?);
    }
    let now = rfc3339(SystemTime::now());
    let mut bakes = Bakes::default();
    for aws in regions {
        bakes.extend(self::bakes(aws, &now).await?);
    }
    let mut sweep = judge_listed(listed, &mut bakes, &now);
    // A bake that ended between the listing and the claims removed its own: what is
    // still there is listed again.
    if !sweep.leftovers.is_empty() {
        let mut still = Vec::new();
        for aws in regions {
            if sweep
                .leftovers
                .iter()
                .any(|l| l.resource.region() == aws.region)
            {
                still.extend(tagged(aws).await?.into_iter().map(|t| t.resource));
            }
        }
        sweep.leftovers.retain(|l| still.contains(&l.resource));
    }
    for aws in regions {
        sweep.leftovers.extend(half_made(aws, &bakes).await?);
        sweep
            .leftovers
            .extend(unrecorded_copies(aws, &bakes).await?);
    }
    for (region, name, bake_id) in &bakes.dead_claims {
        let reason = format!(
            "claim of bake {bake_id}, which died: {}",
            bakes.dead[bake_id]
        );
        sweep.leftovers.push(Leftover {
            resource: Resource::Claim {
                id: name.clone(),
                region: region.clone(),
            },
            bake_id: bake_id.clone(),
            reason,
            owner: bakes.owner(bake_id),
        });
    }
    sweep.leftovers.sort_by_key(|l| l.resource.removal_order());
    Ok(sweep)
}

/// The builders, test instances and groups of bakes that are not alive, or past
/// their deadline.
fn judge_listed(listed: Vec<Tagged>, bakes: &mut Bakes, now: &str) -> Sweep {
    let mut sweep = Sweep::default();
    for Tagged {
        resource,
        tags,
        kind,
    } in listed
    {
        let bake_id = tags.get(TAG_BAKE_ID).cloned().unwrap_or_default();
        let deadline = tags
            .get(TAG_DEADLINE)
            .map(String::as_str)
            .unwrap_or_default();
        let kept = tags.get(TAG_KEPT).is_some_and(|v| v == "true");
        let owner = match rfc3339_before(deadline, now) {
            true => Owner::Nobody,
            false => bakes.owner(&bake_id),
        };
        match judge_builder(&kind, &bake_id, deadline, kept, now, bakes) {
            None => {}
            Some(Verdict::Kept(reason)) => sweep.kept.push(Leftover {
                resource,
                bake_id,
                reason,
                owner,
            }),
            Some(Verdict::Leftover(reason)) => {
                bakes
                    .dead
                    .entry(bake_id.clone())
                    .or_insert_with(|| reason.clone());
                sweep.leftovers.push(Leftover {
                    resource,
                    bake_id,
                    reason,
                    owner,
                });
            }
        }
    }
    sweep
}

/// The images and snapshots of bakes that died before their image became a release.
async fn half_made(aws: &Aws, bakes: &Bakes) -> Result<Vec<Leftover>> {
    let region = aws.region.clone();
    let mut leftovers = Vec::new();
    let mut spared: Option<BTreeSet<String>> = None;
    for (_, name, bake_id) in &bakes.dead_claims {
        let Some(release) = Release::of_claim_parameter(name) else {
            continue;
        };
        let reason = format!(
            "half-made by bake {bake_id}, which died: {}",
            bakes.dead[bake_id]
        );
        let leftover = |resource| Leftover {
            resource,
            bake_id: bake_id.clone(),
            reason: reason.clone(),
            owner: bakes.owner(bake_id),
        };
        let mut images = images_of(aws, bake_id, &release).await?;
        images.retain(|image| !bakes.protected.contains(&image.id));
        let mut snapshots: BTreeSet<String> = BTreeSet::new();
        for image in images {
            snapshots.extend(image.snapshot_ids.iter().cloned());
            leftovers.push(leftover(Resource::Image {
                id: image.id,
                region: region.clone(),
            }));
        }
        // A bake's snapshots, but not those of an image that is a release.
        if spared.is_none() {
            spared = Some(protected_snapshots(aws, &bakes.protected).await?);
        }
        let spared = spared.as_ref().expect("just read");
        snapshots.extend(
            aws.ec2
                .snapshots_tagged(TAG_BAKE_ID, bake_id)
                .await?
                .into_iter()
                .filter(|s| !spared.contains(s)),
        );
        for snapshot in snapshots {
            leftovers.push(leftover(Resource::Snapshot {
                id: snapshot,
                region: region.clone(),
                image: String::new(),
            }));
        }
    }
    Ok(leftovers)
}

/// The images of bake `bake_id`: by its tag, and by the release's name — copies made
/// before CopyImage took its tags at creation were tagged only once it had answered,
/// so a kill in between left them untagged.
async fn images_of(aws: &Aws, bake_id: &str, release: &Release) -> Result<Vec<ImageInfo>> {
    let mut images = aws
        .ec2
        .own_images(Some((TAG_BAKE_ID, bake_id)), None)
        .await?;
    let named = aws
        .ec2
        .own_images(None, Some(&release.image_name_pattern()))
        .await?;
    for image in named {
        let other_bake = image.tags.get(TAG_BAKE_ID).is_some_and(|b| b != bake_id);
        if !other_bake && !images.iter().any(|i| i.id == image.id) {
            images.push(image);
        }
    }
    Ok(images)
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

/// What a removal did: what it spared on a second look, and what it could not remove.
#[derive(Debug, Default, Serialize)]
pub struct Removal {
    /// Leftovers not removed because the second look found their owner back, or another
    /// resource of their bake was not removed.
    pub spared: Vec<Spared>,
    /// Leftovers whose second look or removal failed, with the error.
    pub failed: Vec<Spared>,
}

/// A leftover not removed, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Spared {
    /// The leftover; its fields are this one's in JSON.
    #[serde(flatten)]
    pub leftover: Leftover,
    /// Why it was spared, or the error its removal met.
    pub why: String,
}

/// Removes the leftovers in the order AWS lets things go — instances, images,
/// snapshots, groups, claims last everywhere (while anything of a bake is left, its
/// claim is what lets the next cleanup find it) — each kind all at once. Each removal
/// is preceded by a fresh read of its owner; once anything of a bake is spared or
/// cannot be removed, the rest of that bake stays for the next cleanup.
pub async fn remove(regions: &[Aws], leftovers: &[Leftover], sink: &dyn EventSink) -> Removal {
    let removal = std::sync::Mutex::new(Removal::default());
    let mut ordered: Vec<&Leftover> = leftovers.iter().collect();
    ordered.sort_by_key(|l| l.resource.removal_order());
    for stage in ordered.chunk_by(|a, b| a.resource.removal_order() == b.resource.removal_order()) {
        let held_back: BTreeSet<String> = {
            let removal = removal.lock().expect("removal");
            let not_removed = removal.spared.iter().chain(&removal.failed);
            not_removed.map(|s| s.leftover.bake_id.clone()).collect()
        };
        let removals = stage.iter().map(|leftover| async {
            let held = held_back.contains(&leftover.bake_id);
            let outcome = remove_one(regions, leftover, held, sink).await;
            let mut removal = removal.lock().expect("removal");
            match outcome {
                Removed::Gone => {}
                Removed::Spared(why) => removal.spared.push(Spared {
                    leftover: (*leftover).clone(),
                    why,
                }),
                Removed::Failed(why) => removal.failed.push(Spared {
                    leftover: (*leftover).clone(),
                    why,
                }),
            }
        });
        futures_util::future::join_all(removals).await;
    }
    removal.into_inner().expect("removal")
}

/// What became of one leftover.
enum Removed {
    Gone,
    Spared(String),
    Failed(String),
}

/// Removes one leftover after a second look at its owner; `held_back` when another
/// resource of its bake was not removed.
async fn remove_one(
    regions: &[Aws],
    leftover: &Leftover,
    held_back: bool,
    sink: &dyn EventSink,
) -> Removed {
    if held_back {
        return Removed::Spared("another resource of its bake was not removed".into());
    }
    let lock = match check_again(regions, leftover).await {
        Ok(Check::Gone { lock }) => lock,
        Ok(Check::Spared(why)) => return Removed::Spared(why),
        Err(error) => return Removed::Failed(error.to_string()),
    };
    let aws = regions[0].in_region(leftover.resource.region());
    let (cancel, deadlines) = (CancellationToken::new(), Deadlines::default());
    let remover = Remover {
        aws: &aws,
        sink,
        cancel: &cancel,
        deadlines: &deadlines,
    };
    if let Err(error) = images_first(&aws, leftover, sink).await {
        return Removed::Failed(error.to_string());
    }
    if let Err(error) = remover.remove(&Step::Cleanup, &leftover.resource).await {
        return Removed::Failed(error.to_string());
    }
    sink.emit(Event::ResourceRemoved {
        step: Step::Cleanup,
        resource: leftover.resource.clone(),
    });
    if let (Resource::Claim { .. }, Some(lock)) = (&leftover.resource, lock) {
        lock::remove_file_of(&lock);
    }
    Removed::Gone
}

/// A dead bake's snapshot whose image the listing did not show (EC2 may list a new AMI
/// a moment after its snapshot — "Eventual consistency in the Amazon EC2 API"): the
/// bake's images that use it are deregistered first, as the listing would have had
/// them, since DeleteSnapshot refuses a snapshot a registered AMI uses. Its owner was
/// just asked again ([`check_again`]): the bake is dead and its claim no release.
async fn images_first(aws: &Aws, leftover: &Leftover, sink: &dyn EventSink) -> Result<()> {
    let Resource::Snapshot { id, image, region } = &leftover.resource else {
        return Ok(());
    };
    if !image.is_empty() || !matches!(leftover.owner, Owner::Claim { .. }) {
        return Ok(());
    }
    let tag = (TAG_BAKE_ID, leftover.bake_id.as_str());
    let images = aws.ec2.own_images(Some(tag), None).await?;
    for image in images.into_iter().filter(|i| i.snapshot_ids.contains(id)) {
        aws.ec2
            .deregister_image(&image.id)
            .await
            .or_gone_as(&["InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"])?;
        sink.emit(Event::ResourceRemoved {
            step: Step::Cleanup,
            resource: Resource::Image {
                id: image.id,
                region: region.clone(),
            },
        });
    }
    Ok(())
}

/// What a second look at a leftover's owner says.
enum Check {
    /// Still gone; the lock file its claim names, if any, goes with the claim.
    Gone { lock: Option<LockNote> },
    /// Spared, and why.
    Spared(String),
}

/// Asks the leftover's owner again, now.
async fn check_again(regions: &[Aws], leftover: &Leftover) -> Result<Check> {
    let (region, parameter) = match &leftover.owner {
        Owner::Nobody => return Ok(Check::Gone { lock: None }),
        Owner::Claim { region, parameter }
        | Owner::Retest { region, parameter }
        | Owner::Copies { region, parameter } => (region, parameter),
    };
    let aws = regions[0].in_region(region);
    let record = aws.ssm.parameter(parameter).await?;
    let record = record.as_deref().and_then(ReleaseRecord::parse);
    let now = rfc3339(SystemTime::now());
    let bake = &leftover.bake_id;
    let spared = |why: String| Ok(Check::Spared(why));
    match (&leftover.owner, record) {
        (_, None) => Ok(Check::Gone { lock: None }),
        (Owner::Copies { .. }, Some(record)) => {
            let image = match &leftover.resource {
                Resource::Snapshot { image, .. } => image.as_str(),
                other => other.id(),
            };
            if record.image_ids().iter().any(|id| *id == image) {
                spared(format!("its record names {image} now"))
            } else if still_copying(&record, &now) {
                spared(format!("{} is being copied again", record.release))
            } else {
                Ok(Check::Gone { lock: None })
            }
        }
        (Owner::Retest { .. }, Some(record)) => match record.retest {
            Some(retest)
                if retest.run == *bake
                    && judge_run(&retest, TEST_RUN, &now, lock::probe).is_none() =>
            {
                spared(format!("`bakery test` run {bake} is alive after all"))
            }
            _ => Ok(Check::Gone { lock: None }),
        },
        (_, Some(record)) if record.bake_id != *bake => spared(format!(
            "{parameter} is held by {} since the listing",
            record.holder()
        )),
        (_, Some(record))
            if record.state == RecordState::Released
                && leftover.resource.is_part_of_a_release() =>
        {
            spared(format!(
                "bake {bake} finished its release since the listing"
            ))
        }
        (_, Some(record)) => match judge_claim(&record, &now, lock::probe) {
            Some(_) => Ok(Check::Gone { lock: record.lock }),
            None => spared(format!(
                "bake {bake} is alive after all: it renewed its lease"
            )),
        },
    }
}

#[cfg(test)]
mod tests;
