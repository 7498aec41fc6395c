//! After the image: `record-release` (the claim becomes the release's record),
//! `distribute` (copies in the other regions), `share`, and `promote` (channels).

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::super::context::Bake;
use super::super::report::ImageRecord;
use super::release::Claim;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::model::gate::TAG_TESTS;
use crate::model::inputs::ReleaseInputs;
use crate::model::time::rfc3339;
use crate::model::{Arch, GateState, PermissionChange, Release, Resource, Step};
use crate::release::catalog::Scope;
use crate::release::channels::{self, Gap};
use crate::release::claim::TestRecord;
use crate::release::distribute::RegionOutcome;
use crate::release::sharing::ShareOutcome;
use crate::release::{claim, distribute, sharing};

/// What the record of a release says beside its images: its gate's verdict and what
/// it is made of.
#[derive(Clone, Copy)]
pub struct Verdict<'a> {
    pub tests: GateState,
    pub inputs: Option<&'a ReleaseInputs>,
}

/// The claim becomes the record of the release: its image ids per architecture and
/// region, in every region the release exists in. The images and their snapshots are
/// the release's now, no longer the bake's to remove.
pub async fn record(
    bake: &Bake<'_>,
    claim: &Claim,
    images: &[ImageRecord],
    verdict: Verdict<'_>,
) -> Result<()> {
    if verdict.tests == GateState::Passed {
        // Copies carry the image's tags: they say passed too.
        let names = &bake.plan.test_names;
        let tag = BTreeMap::from([(TAG_TESTS.to_string(), GateState::Passed.tag_value(names))]);
        let tagged: Vec<String> = images
            .iter()
            .flat_map(|image| std::iter::once(&image.image_id).chain(&image.snapshot_ids))
            .cloned()
            .collect();
        bake.aws.ec2.tag(&tagged, &tag).await?;
    }
    write_record(bake, claim, images, verdict).await?;
    for image in images {
        for snapshot in bake.ledger.snapshots_of(&image.image_id) {
            bake.ledger.hand_over(&snapshot);
        }
        bake.ledger.hand_over(&Resource::Image {
            id: image.image_id.clone(),
            region: image.region.clone(),
        });
    }
    Ok(())
}

/// Writes the release's record with `images` (every architecture's, in every region).
async fn write_record(
    bake: &Bake<'_>,
    claim: &Claim,
    images: &[ImageRecord],
    verdict: Verdict<'_>,
) -> Result<()> {
    let mut architectures: BTreeMap<Arch, BTreeMap<String, String>> = BTreeMap::new();
    for image in images {
        architectures
            .entry(image.arch)
            .or_default()
            .insert(image.region.clone(), image.image_id.clone());
    }
    // The bake lives on while its builders terminate and its copies are made.
    let last_lease = match bake.plan.copy_to.is_empty() {
        true => SystemTime::now() + crate::bake::lease::LEASE,
        false => distribute::copies_done_by(SystemTime::now()),
    };
    let mut record = claim.record.released(architectures, last_lease);
    record.inputs = verdict.inputs.cloned();
    record.tests = Some(TestRecord {
        state: verdict.tests,
        tests: bake.plan.test_names.clone(),
        at: rfc3339(SystemTime::now()),
        by: bake.plan.bake_id.clone(),
        failed: None,
    });
    claim::write_everywhere(bake.aws, &claim.release, &record).await?;
    bake.ledger.forget(&Resource::Claim {
        id: claim.release.claim_parameter(),
        region: bake.region().to_string(),
    });
    Ok(())
}

/// What distribution made: the copies, and what each region did.
#[derive(Default)]
pub struct Copies {
    pub images: Vec<ImageRecord>,
    pub regions: Vec<RegionOutcome>,
}

/// Copies each image of the release to the other regions (the architectures at
/// once), records every copy, and fails (after recording what succeeded) when a
/// region failed. `copies` holds what was made, whatever the outcome.
pub async fn distribute(
    bake: &Bake<'_>,
    claim: &Claim,
    images: &[ImageRecord],
    verdict: Verdict<'_>,
    copies: &mut Copies,
) -> Result<()> {
    let deprecate_at = SystemTime::now() + bake.plan.deprecate_after;
    let copied = images
        .iter()
        .map(|image| copies_of(bake, image, deprecate_at));
    let several = images.len() > 1;
    let mut failed = Vec::new();
    for copied in futures_util::future::join_all(copied).await {
        let (arch, name, outcomes) = copied?;
        for outcome in &outcomes {
            match (&outcome.image_id, &outcome.error) {
                (Some(image_id), _) => copies.images.push(ImageRecord {
                    region: outcome.region.clone(),
                    arch,
                    image_id: image_id.clone(),
                    name: name.clone(),
                    snapshot_ids: outcome.snapshot_ids.clone(),
                }),
                (None, Some(error)) if several => {
                    failed.push(format!("{} ({arch}): {error}", outcome.region))
                }
                (None, Some(error)) => failed.push(format!("{}: {error}", outcome.region)),
                (None, None) => {}
            }
        }
        copies.regions.extend(outcomes);
    }
    let everywhere: Vec<ImageRecord> = images.iter().chain(&copies.images).cloned().collect();
    write_record(bake, claim, &everywhere, verdict).await?;
    if failed.is_empty() {
        return Ok(());
    }
    let mut done: Vec<&str> = std::iter::once(bake.region())
        .chain(copies.images.iter().map(|c| c.region.as_str()))
        .collect();
    done.dedup();
    let release = &claim.release;
    Err(Error::distribution(format!(
        "{release} is released in {} but not everywhere:\n  {}",
        done.join(", "),
        failed.join("\n  "),
    ))
    .with_hint(format!(
        "complete it with `bakery distribute {} {} --copy-to <regions>`",
        release.role, release.version
    )))
}

/// Copies one image to every region of the plan's `copy_to`: its architecture, name
/// and what each region did.
async fn copies_of(
    bake: &Bake<'_>,
    image: &ImageRecord,
    deprecate_at: SystemTime,
) -> Result<(Arch, String, Vec<RegionOutcome>)> {
    let plan = bake.plan;
    let source = bake
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
    let how = distribute::Distribution {
        run: &plan.bake_id,
        deprecate_at,
        jobs: plan.copy_jobs,
    };
    let (sink, cancel) = (bake.sink, &bake.cancel);
    let outcomes = distribute::distribute(bake.aws, &source, &plan.copy_to, how, sink, cancel);
    Ok((image.arch, source.name.clone(), outcomes.await))
}

/// Shares the release in `regions` (every region it now exists in); `shared` holds
/// what each region did, whatever the outcome.
pub async fn share(
    bake: &Bake<'_>,
    claim: &Claim,
    regions: &[String],
    shared: &mut Vec<ShareOutcome>,
) -> Result<()> {
    let release = &claim.release;
    let outcomes = sharing::share(
        bake.aws,
        release,
        regions,
        &bake.plan.share,
        PermissionChange::Grant,
    )
    .await;
    for outcome in &outcomes {
        bake.info(
            Step::Share,
            format!(
                "{}: {} {}",
                outcome.region,
                outcome.status.as_str(),
                outcome.image_ids.join(", ")
            ),
        );
    }
    shared.clone_from(&outcomes);
    let problems: Vec<String> = outcomes
        .iter()
        .flat_map(|o| {
            o.error
                .iter()
                .chain(&o.key_problems)
                .map(move |p| format!("{}: {p}", o.region))
        })
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::distribution(format!(
        "{release} is released but not usable by everyone it is shared with:\n  {}",
        problems.join("\n  "),
    ))
    .with_hint(format!(
        "fix it, then run `bakery share {} {}`",
        release.role, release.version
    )))
}

/// Points `--promote`'s channel at the new release in every region of the bake, and
/// `latest` at the highest final release (this one, unless a higher one exists);
/// `promoted` holds the channels moved, whatever the outcome.
pub async fn promote(
    bake: &Bake<'_>,
    claim: &Claim,
    tests: GateState,
    promoted: &mut Vec<String>,
) -> Result<()> {
    let release = &claim.release;
    let regions: Vec<String> = std::iter::once(bake.region().to_string())
        .chain(bake.plan.copy_to.iter().map(|d| d.region.clone()))
        .collect();
    let scope = Scope::Everywhere(regions.clone());
    for channel in bake.plan.channels_to_move() {
        if channel == "latest" {
            if channels::move_latest(bake.aws, release, &regions).await? {
                bake.info(Step::Promote, format!("channel latest -> {release}"));
                warn_left_behind(bake, release, &regions).await?;
                promoted.push(channel);
            } else if !tests.may_be_promoted() {
                bake.info(
                    Step::Promote,
                    format!(
                        "channel latest stays: {release}'s tests are {}; `bakery test` moves \
                         it once they pass",
                        tests
                    ),
                );
            } else {
                bake.info(
                    Step::Promote,
                    format!("channel latest stays on a higher release than {release}"),
                );
            }
            continue;
        }
        let promotion = channels::promote(bake.aws, release, &channel, &scope, Gap::Refuse).await?;
        bake.info(
            Step::Promote,
            format!(
                "channel {channel} -> {} ({}) in {}",
                promotion.image_id,
                promotion.parameter,
                promotion
                    .moved
                    .iter()
                    .map(|m| m.region.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        promoted.push(channel);
    }
    Ok(())
}

/// `latest` names another release in the role's regions this release is not in (a
/// staging bake, production's regions): said, with the command that ends the split.
async fn warn_left_behind(bake: &Bake<'_>, release: &Release, moved: &[String]) -> Result<()> {
    let behind = channels::stays_elsewhere(bake.aws, release, "latest", moved).await?;
    if !behind.is_empty() {
        bake.sink.emit(Event::Warning {
            message: format!(
                "channel latest stays on an older release in {}, which {release} is not in: \
                 `bakery distribute {} {} --regions {}` ends the split",
                behind.join(", "),
                release.role,
                release.version,
                behind.join(",")
            ),
        });
    }
    Ok(())
}
