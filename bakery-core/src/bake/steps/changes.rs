//! `check-changed` (`bake --if-changed`): the release this bake would make, compared
//! with the role's newest release by their inputs' fingerprint (`bakery:inputs`). The
//! same inputs: nothing is baked, and the bake points at that release.

use super::super::context::Bake;
use super::super::report::ImageRecord;
use super::base::{self, Base};
use crate::config::Destination;
use crate::error::{Error, Result};
use crate::model::inputs::{ReleaseInputs, TAG_INPUTS};
use std::collections::BTreeMap;

use crate::model::{Arch, Release, Step};
use crate::release::catalog::{self, ReleaseState};
use crate::release::{claim, distribute};

/// What `check-changed` found.
pub enum Checked {
    /// The newest release has this bake's inputs: nothing to bake.
    Unchanged(Unchanged),
    /// Something changed: the bake goes on, each build on the base it compared.
    Changed(Vec<Base>),
}

/// The role's newest release, which has the inputs this bake would have.
#[derive(Debug)]
pub struct Unchanged {
    pub release: Release,
    pub images: Vec<ImageRecord>,
    pub inputs: ReleaseInputs,
}

/// Compares each build's inputs with the newest release's image of its architecture:
/// one that differs, or is missing, means the whole release is baked again.
pub async fn check(bake: &Bake<'_>, builds: &[Bake<'_>]) -> Result<Checked> {
    let (aws, plan) = (bake.aws, bake.plan);
    let mut bases = Vec::new();
    let mut inputs = Vec::new();
    for build in builds {
        let base = base::resolve(build, Step::CheckChanged).await?;
        inputs.push(build.build().inputs.with_base(&base.image.id));
        bases.push(base);
    }
    let releases: Vec<catalog::ReleaseSummary> = catalog::list(aws, &plan.role)
        .await?
        .into_iter()
        .filter(|r| matches!(r.state, ReleaseState::Available | ReleaseState::Deprecated))
        .collect();
    let Some(newest) = releases.first() else {
        bake.info(
            Step::CheckChanged,
            format!("{} has no release yet: baking", plan.role),
        );
        return Ok(Checked::Changed(bases));
    };
    let release = Release::parse(plan.role.as_str(), &newest.version)?;
    if let Some(why) = changed(bake, builds, &releases, &release, &inputs).await? {
        bake.info(Step::CheckChanged, why);
        return Ok(Checked::Changed(bases));
    }
    let mut recorded = recorded_regions(bake, &release, &newest.image_id).await?;
    copy_where_missing(bake, &release, &mut recorded).await?;
    let images = images_of(bake, &release, recorded).await?;
    let inputs = inputs.swap_remove(0);
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

/// Why the bake differs from `release` (`releases` lists its images), in words: the
/// first build whose inputs its image's `bakery:inputs` do not match, or which has none.
async fn changed(
    bake: &Bake<'_>,
    builds: &[Bake<'_>],
    releases: &[catalog::ReleaseSummary],
    release: &Release,
    inputs: &[ReleaseInputs],
) -> Result<Option<String>> {
    let aws = bake.aws;
    for (build, inputs) in builds.iter().zip(inputs) {
        let arch = build.build().arch();
        let version = release.version.to_string();
        let image = releases
            .iter()
            .find(|r| r.version == version && r.arch == Some(arch));
        let Some(image) = image else {
            return Ok(Some(format!("{release} has no {arch} image: baking")));
        };
        let described = aws.ec2.describe_image(&image.image_id).await?;
        let recorded = described.as_ref().and_then(|i| i.tags.get(TAG_INPUTS));
        if recorded != Some(&inputs.fingerprint) {
            let record = claim::read(aws, release).await?;
            let vars = record
                .as_ref()
                .map(|r| var_changes(&r.vars, &bake.plan.vars));
            let mut why = differences(record.and_then(|r| r.inputs).as_ref(), inputs);
            if let Some(vars) = vars.filter(|v| !v.is_empty()) {
                why = format!("{why}; variables: {}", vars.join(", "));
            }
            let of = crate::bake::of_arch(build.arch);
            return Ok(Some(format!("changed since {release}{of}: {why}; baking")));
        }
    }
    Ok(None)
}

/// Each architecture's regions and images, as the release's record has them (a record
/// made before architectures: `images`; none: the image found in the build region).
async fn recorded_regions(
    bake: &Bake<'_>,
    release: &Release,
    image_id: &str,
) -> Result<Vec<(Arch, BTreeMap<String, String>)>> {
    let first = bake.plan.builds[0].arch();
    Ok(match claim::read(bake.aws, release).await? {
        Some(r) if !r.architectures.is_empty() => r.architectures.into_iter().collect(),
        Some(r) => vec![(first, r.images)],
        None => vec![(
            first,
            [(bake.region().to_string(), image_id.to_string())].into(),
        )],
    })
}

/// Unchanged, but not yet everywhere the bake would put it: copied, not re-baked.
async fn copy_where_missing(
    bake: &Bake<'_>,
    release: &Release,
    recorded: &mut [(Arch, BTreeMap<String, String>)],
) -> Result<()> {
    let plan = bake.plan;
    let missing: Vec<Destination> = plan
        .copy_to
        .iter()
        .filter(|d| {
            recorded
                .iter()
                .any(|(_, regions)| !regions.contains_key(&d.region))
        })
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|d| d.region.as_str()).collect();
    bake.info(
        Step::CheckChanged,
        format!(
            "{release} is unchanged but missing in {}: copying it there",
            names.join(", ")
        ),
    );
    // A signal waits for these copies (the step is not cut): they become the release's.
    let never = tokio_util::sync::CancellationToken::new();
    let (jobs, sink) = (plan.copy_jobs, bake.sink);
    let outcomes = distribute::complete(bake.aws, release, &missing, jobs, sink, &never).await?;
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
        let arch = outcome.arch;
        let regions = recorded.iter_mut().find(|(a, _)| Some(*a) == arch);
        if let (Some((_, regions)), Some(image_id)) = (regions, outcome.image_id) {
            regions.insert(outcome.region, image_id);
        }
    }
    Ok(())
}

/// The release's images, as a bake reports its own: with their snapshots (one read
/// per region).
async fn images_of(
    bake: &Bake<'_>,
    release: &Release,
    recorded: Vec<(Arch, BTreeMap<String, String>)>,
) -> Result<Vec<ImageRecord>> {
    let mut images = Vec::new();
    for (arch, regions) in recorded {
        for (region, image_id) in regions {
            let described = bake
                .aws
                .in_region(&region)
                .ec2
                .describe_image(&image_id)
                .await?;
            images.push(ImageRecord {
                region,
                arch,
                name: described
                    .as_ref()
                    .map_or_else(|| release.image_name(arch), |i| i.name.clone()),
                snapshot_ids: described.map(|i| i.snapshot_ids).unwrap_or_default(),
                image_id,
            });
        }
    }
    Ok(images)
}

/// Each variable whose value differs from a release's: `NAME old → new`.
pub fn var_changes(then: &BTreeMap<String, String>, now: &BTreeMap<String, String>) -> Vec<String> {
    let names: std::collections::BTreeSet<&String> = then.keys().chain(now.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| match (then.get(name), now.get(name)) {
            (Some(a), Some(b)) if a == b => None,
            (Some(a), Some(b)) => Some(format!("{name} {a} → {b}")),
            (None, Some(b)) => Some(format!("{name} (none) → {b}")),
            (Some(a), None) => Some(format!("{name} {a} → (none)")),
            (None, None) => None,
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_variable_is_named_with_its_old_and_new_value() {
        let then = [("ZK".to_string(), "3.9.4".to_string())].into();
        let now = [
            ("ZK".to_string(), "3.9.3".to_string()),
            ("LOG".to_string(), "info".to_string()),
        ]
        .into();
        assert_eq!(
            var_changes(&then, &now),
            ["LOG (none) → info", "ZK 3.9.4 → 3.9.3"]
        );
    }
}
