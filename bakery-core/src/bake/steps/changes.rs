//! `check-changed` (`bake --if-changed`): the release this bake would make, compared
//! with the role's newest release by their inputs' fingerprint (`bakery:inputs`). The
//! same inputs: nothing is baked, and the bake points at that release.

use super::super::context::Bake;
use super::super::report::ImageRecord;
use super::base::{self, Base};
use crate::config::Destination;
use crate::error::{Error, Result};
use crate::model::inputs::{ReleaseInputs, TAG_INPUTS};
use crate::model::{Release, Step};
use crate::release::catalog::{self, ReleaseState};
use crate::release::{claim, distribute};

/// What `check-changed` found.
pub enum Checked {
    /// The newest release has this bake's inputs: nothing to bake.
    Unchanged(Unchanged),
    /// Something changed: the bake goes on, on the base it compared.
    Changed(Base),
}

/// The role's newest release, which has the inputs this bake would have.
#[derive(Debug)]
pub struct Unchanged {
    pub release: Release,
    pub images: Vec<ImageRecord>,
    pub inputs: ReleaseInputs,
}

pub async fn check(bake: &Bake<'_>) -> Result<Checked> {
    let (aws, plan) = (bake.aws, bake.plan);
    let base = base::resolve(bake, Step::CheckChanged).await?;
    let inputs = plan.inputs.with_base(&base.image.id);
    let newest = catalog::list(aws, &plan.role)
        .await?
        .into_iter()
        .find(|r| matches!(r.state, ReleaseState::Available | ReleaseState::Deprecated));
    let Some(newest) = newest else {
        bake.info(
            Step::CheckChanged,
            format!("{} has no release yet: baking", plan.role),
        );
        return Ok(Checked::Changed(base));
    };
    let release = Release::parse(plan.role.as_str(), &newest.version)?;
    let image = aws.ec2.describe_image(&newest.image_id).await?;
    let recorded = image.as_ref().and_then(|i| i.tags.get(TAG_INPUTS));
    if recorded != Some(&inputs.fingerprint) {
        let record = claim::read(aws, &release).await?;
        let why = differences(record.and_then(|r| r.inputs).as_ref(), &inputs);
        bake.info(
            Step::CheckChanged,
            format!("changed since {release}: {why}; baking"),
        );
        return Ok(Checked::Changed(base));
    }
    let record = claim::read(aws, &release).await?;
    let mut images = Vec::new();
    let mut regions = record
        .map(|r| r.images)
        .unwrap_or_else(|| [(aws.region.clone(), newest.image_id.clone())].into());
    // Unchanged, but not yet everywhere the bake would put it: copied, not re-baked.
    let missing: Vec<Destination> = plan
        .copy_to
        .iter()
        .filter(|d| !regions.contains_key(&d.region))
        .cloned()
        .collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|d| d.region.as_str()).collect();
        bake.info(
            Step::CheckChanged,
            format!(
                "{release} is unchanged but missing in {}: copying it there",
                names.join(", ")
            ),
        );
        let outcomes =
            distribute::complete(aws, &release, &missing, plan.copy_jobs, bake.sink).await?;
        if let Some(failed) = outcomes.iter().find(|o| o.error.is_some()) {
            return Err(Error::distribution(format!(
                "{release} could not be copied to {}: {}",
                failed.region,
                failed.error.as_deref().unwrap_or_default()
            ))
            .with_hint(format!(
                "complete it with `bakery distribute {} {}`",
                release.role, release.version
            )));
        }
        for outcome in outcomes {
            if let Some(image_id) = outcome.image_id {
                regions.insert(outcome.region, image_id);
            }
        }
    }
    for (region, image_id) in regions {
        // As a bake reports its images: with their snapshots (one read per region).
        let described = aws.in_region(&region).ec2.describe_image(&image_id).await?;
        images.push(ImageRecord {
            region,
            name: described
                .as_ref()
                .map_or_else(|| release.image_name(plan.arch), |i| i.name.clone()),
            snapshot_ids: described.map(|i| i.snapshot_ids).unwrap_or_default(),
            image_id,
        });
    }
    bake.info(
        Step::CheckChanged,
        format!(
            "{release} has the same inputs ({}): nothing to bake",
            inputs.fingerprint
        ),
    );
    Ok(Checked::Unchanged(Unchanged {
        release,
        images,
        inputs,
    }))
}

/// Which inputs differ from a release's, in words.
pub fn differences(before: Option<&ReleaseInputs>, now: &ReleaseInputs) -> String {
    let Some(before) = before else {
        return "its inputs were not recorded (made before bakery recorded them)".into();
    };
    let mut changed = Vec::new();
    if before.inputs.recipe_digest != now.inputs.recipe_digest {
        changed.push("the recipe folder".to_string());
    }
    if before.inputs.settings != now.inputs.settings {
        changed.push("the settings (builder, steps' scripts, env or variables, firstboot)".into());
    }
    if before.inputs.agent != now.inputs.agent {
        changed.push("the firstboot agent".to_string());
    }
    if before.base_image != now.base_image {
        changed.push(format!(
            "the base image ({} then, {} now)",
            before.base_image, now.base_image
        ));
    }
    if changed.is_empty() {
        return "its inputs".into();
    }
    changed.join(", ")
}
