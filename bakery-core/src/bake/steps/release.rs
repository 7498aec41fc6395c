//! The first stages: which release the bake makes (`check-release`), and making it
//! the bake's own (`claim`).

use super::super::context::{Bake, Facts};
use crate::aws::ssm::MAX_RECORD_BYTES;
use crate::error::{Error, Result};
use crate::model::time::rfc3339;
use crate::model::{Arch, Release, Resource, Step, VersionRequest};
use crate::plan::BuildPlan;
use crate::release::catalog;
use crate::release::claim::{self, Claimed, RecordState, ReleaseRecord};

use super::super::lease::LEASE;

/// How often a bumped bake that keeps losing the race for its version tries again:
/// each loss means another bake took a version, so this bounds only a runaway.
const CLAIM_ATTEMPTS: usize = 64;

/// What `check-release` decided: the release, and who bakes it.
pub struct Chosen {
    pub release: Release,
    /// The caller's ARN (`bakery:created-by`).
    pub created_by: String,
}

/// The release the bake holds, and its record as claimed.
pub struct Claim {
    pub release: Release,
    pub record: ReleaseRecord,
}

/// Who is baking, and which version: given, or the next one; refuses a release that
/// exists.
pub async fn check(bake: &Bake<'_>, facts: &mut Facts) -> Result<Chosen> {
    let created_by = bake.aws.caller_arn().await?;
    let release = choose(bake, facts).await?;
    bake.info(
        Step::CheckRelease,
        format!(
            "{release} is free in {}; baking as {created_by}",
            bake.region()
        ),
    );
    Ok(Chosen {
        release,
        created_by,
    })
}

/// The version to bake (the next one after what the role has, for a bump), checked
/// to have no image yet.
async fn choose(bake: &Bake<'_>, facts: &mut Facts) -> Result<Release> {
    let plan = bake.plan;
    let version = match &plan.version {
        VersionRequest::Exact(version) => version.clone(),
        next => next.resolve(&catalog::taken_versions(bake.aws, &plan.role).await?)?,
    };
    let release = plan.release(version);
    facts.release = Some(release.clone());
    if let Some(image) = catalog::release_images(bake.aws, &release).await?.first() {
        return Err(Error::input(format!(
            "{release} already exists in {}: {} ({})",
            bake.region(),
            image.id,
            image.name
        ))
        .with_hint(format!(
            "releases are immutable, bake a new version (e.g. --version {} or --bump patch)",
            next_patch(&release.version)
        )));
    }
    Ok(release)
}

/// Claims `role@version` with an SSM parameter created with overwrite disabled.
/// When another bake holds it: a given version is refused; a bumped one moves on to
/// the next version.
/// The record a release can grow to fits in Parameter Store (an advanced parameter's
/// 8 KB), said before the claim rather than after every copy exists.
fn check_record_size(bake: &Bake<'_>, record: &ReleaseRecord) -> Result<()> {
    let plan = bake.plan;
    let architectures: Vec<Arch> = plan.builds.iter().map(BuildPlan::arch).collect();
    let regions: Vec<String> = std::iter::once(plan.region.clone())
        .chain(plan.copy_to.iter().map(|d| d.region.clone()))
        .collect();
    let inputs = plan.builds[0].inputs.with_base("ami-0123456789abcdef0");
    let fullest = record.fullest(&architectures, &regions, &plan.test_names, inputs);
    let bytes = fullest.to_json().len();
    if bytes <= MAX_RECORD_BYTES {
        return Ok(());
    }
    let vars: usize = plan.vars.iter().map(|(k, v)| k.len() + v.len()).sum();
    Err(Error::input(format!(
        "the release's record would be up to {bytes} bytes ({} regions, {} architectures, \
         {vars} bytes of variables); Parameter Store keeps at most {MAX_RECORD_BYTES}",
        regions.len(),
        architectures.len()
    ))
    .with_hint("copy to fewer regions per release, or shorten the variables' values"))
}

pub async fn claim(bake: &Bake<'_>, chosen: Chosen, facts: &mut Facts) -> Result<Claim> {
    let plan = bake.plan;
    let mut release = chosen.release;
    for attempt in 1..=CLAIM_ATTEMPTS {
        let record = ReleaseRecord {
            bake_id: plan.bake_id.clone(),
            release: release.to_string(),
            state: RecordState::Baking,
            started_at: rfc3339(bake.started_at),
            created_by: Some(chosen.created_by.clone()),
            lock: bake.lock().cloned(),
            deadline: Some(rfc3339(bake.started_at + plan.bake_lifetime())),
            lease_until: Some(rfc3339(std::time::SystemTime::now() + LEASE)),
            images: Default::default(),
            architectures: Default::default(),
            vars: plan.vars.clone(),
            overrides: plan.settings.overrides.clone(),
            tests: None,
            inputs: None,
            retest: None,
            distributing: None,
        };
        check_record_size(bake, &record)?;
        let name = release.claim_parameter();
        let holder = match claim::claim(bake.aws, &release, &record).await? {
            Claimed::Ours => {
                bake.created(
                    Step::Claim,
                    Resource::Claim {
                        id: name.clone(),
                        region: bake.region().to_string(),
                    },
                );
                bake.info(Step::Claim, format!("{release} claimed ({name})"));
                return Ok(Claim { release, record });
            }
            Claimed::Held(holder) => holder.map_or("another bake".to_string(), |r| r.holder()),
        };
        if matches!(plan.version, VersionRequest::Exact(_)) || attempt == CLAIM_ATTEMPTS {
            return Err(Error::input(format!(
                "{release} is claimed in {} by {holder} ({name})",
                bake.region()
            ))
            .with_hint("bake another version, or delete the parameter if that bake is dead"));
        }
        bake.info(
            Step::Claim,
            format!("{release} was just claimed by {holder}; taking the next version"),
        );
        release = choose(bake, facts).await?;
    }
    unreachable!("the last attempt returns")
}

/// The version to suggest instead of one that exists.
fn next_patch(version: &semver::Version) -> semver::Version {
    let mut next = version.clone();
    if next.pre.is_empty() {
        next.patch += 1;
    }
    next.pre = semver::Prerelease::EMPTY;
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suggested_next_version_is_the_next_patch() {
        assert_eq!(next_patch(&"1.2.3".parse().unwrap()).to_string(), "1.2.4");
        assert_eq!(
            next_patch(&"1.3.0-rc.1".parse().unwrap()).to_string(),
            "1.3.0"
        );
    }
}
