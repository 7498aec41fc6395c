//! Channels: `/bakery/<role>/channels/<name>` points at a release's image in each
//! region (data type `aws:ec2:image`), so that `resolve:ssm:` gives the same release
//! everywhere. A promote writes every region of the release, and refuses to leave a
//! region of the environment on another release; `latest` is always the highest final
//! release. A rollback is a promote of an older version; SSM keeps every value in the
//! parameter's history.

use std::collections::BTreeMap;

use serde::Serialize;

use super::catalog::{self, release_images, ReleaseState, Scope};
use super::claim;
use crate::aws::ec2::ImageInfo;
use crate::aws::Aws;
use crate::error::{Error, Result};
use crate::model::names::check_channel;
use crate::model::release::{channel_keys, ArchImage};
use crate::model::{Arch, GateState, Release, RoleName};

/// A channel the role does not have yet, whose name is a near miss of one it has
/// (`stabel` beside `stable`), is refused: a launch template resolving `stable` would
/// never see the promotion. A new channel of another name is made as asked.
pub async fn check_not_misspelt(aws: &Aws, role: &RoleName, channel: &str) -> Result<()> {
    let existing: Vec<String> = catalog::channels(aws, role)
        .await?
        .into_keys()
        .filter(|key| !key.contains('/'))
        .collect();
    if existing.iter().any(|c| c == channel) {
        return Ok(());
    }
    match crate::model::names::nearest(channel, existing.iter().map(String::as_str)) {
        Some(near) => Err(Error::input(format!(
            "{role} has no channel `{channel}`, but has `{near}` (its channels here: {})",
            existing.join(", ")
        ))
        .with_hint(format!(
            "did you mean --channel {near}? To make a new channel `{channel}`, add --new-channel"
        ))),
        None => Ok(()),
    }
}

/// A channel points only at a release that passed its recipe's tests (or whose
/// recipe has none): anything else needs the caller's `--force`.
pub async fn check_tested(aws: &Aws, release: &Release) -> Result<()> {
    let Some(record) = claim::read(aws, release).await? else {
        return Ok(()); // the promote itself says the release is missing
    };
    let state = record.gate();
    if state.may_be_promoted() {
        return Ok(());
    }
    let tests = record.tests.as_ref();
    let why = match state {
        GateState::Skipped => "it was made with --skip-tests".to_string(),
        GateState::Failed => format!(
            "its tests failed{} (run {})",
            tests
                .and_then(|t| t.failed.as_deref())
                .map(|f| format!(" at `{f}`"))
                .unwrap_or_default(),
            tests.map_or("?", |t| t.by.as_str())
        ),
        _ => format!("its tests are {state}"),
    };
    Err(Error::input(format!(
        "{release} has not passed its recipe's tests: {why}; a channel would send fleets an \
         image that never passed them"
    ))
    .with_hint(format!(
        "run them with `bakery test {} {}` (the role's recipe folder, or its name under \
         recipes/), or promote anyway with --force",
        release.role, release.version
    )))
}

/// What a promote does about a region where the channel exists and the release does
/// not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gap {
    /// Refuse the promote, naming the regions: the channel would mean two releases.
    Refuse,
    /// Leave those regions on their release, and say so.
    Accept,
}

/// The channel in one region, after a promote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelMove {
    /// The region moved.
    pub region: String,
    /// The image the channel's plain name points at (x86_64, or the only one).
    pub image_id: String,
    /// The image the channel pointed at before, if any.
    pub previous: Option<String>,
    /// Architecture -> image: the channel's `<name>/<arch>` parameters.
    pub architectures: BTreeMap<String, String>,
}

/// What a promote did: the channel moved to the release in each region of the scope
/// that has it.
#[derive(Debug, Clone, Serialize)]
pub struct Promotion {
    /// The release promoted, `role@version`.
    pub release: String,
    /// The channel's name.
    pub channel: String,
    /// The first region moved, and its image (where the command ran, when it could).
    pub region: String,
    /// The channel's SSM parameter (`/bakery/<role>/channels/<name>`).
    pub parameter: String,
    /// The image the channel's plain name now points at in `region`.
    pub image_id: String,
    /// The image the channel pointed at in `region` before; None when it was new there.
    pub previous: Option<String>,
    /// Region -> image, for the other regions moved.
    pub other_regions: BTreeMap<String, String>,
    /// Every region moved.
    pub moved: Vec<ChannelMove>,
    /// Regions where the channel stays on another release (accepted gaps).
    pub gaps: Vec<String>,
}

/// The regions a move of one of the role's channels looks at: every region the
/// role's releases are recorded in (and the release's own record's), from `scope`.
async fn regions_of(aws: &Aws, release: &Release, scope: &Scope) -> Result<Vec<String>> {
    let mut all = scope.all_regions(aws, &release.role).await?;
    if let Some(record) = claim::read(aws, release).await? {
        for region in record.regions() {
            if !all.contains(region) {
                all.push(region.clone());
            }
        }
    }
    Ok(all)
}

/// The regions of the release: `regions` (this one when empty), then those its record
/// lists.
async fn release_regions(aws: &Aws, release: &Release, regions: &[String]) -> Result<Vec<String>> {
    let mut all = vec![aws.region.clone()];
    all.extend(regions.iter().cloned());
    if let Some(record) = claim::read(aws, release).await? {
        all.extend(record.regions().into_iter().cloned());
    }
    let mut seen = std::collections::BTreeSet::new();
    all.retain(|r| seen.insert(r.clone()));
    Ok(all)
}

/// Where a promote would write, and the regions it would leave on another release.
struct Targets {
    /// Region and the release's available images there, with their architectures.
    targets: Vec<(String, Vec<ArchImage>)>,
    gaps: Vec<String>,
}

/// The release's images where the scope writes; the regions where the channel exists
/// and would stay on another release: those that lack the release, and those a
/// narrowed scope leaves out.
async fn targets(aws: &Aws, release: &Release, parameter: &str, scope: &Scope) -> Result<Targets> {
    let mut found = Targets {
        targets: Vec::new(),
        gaps: Vec::new(),
    };
    for region in regions_of(aws, release, scope).await? {
        let regional = aws.in_region(&region);
        let written = match scope {
            Scope::Only(regions) => regions.contains(&region),
            Scope::Everywhere(_) => true,
        };
        let images = available_images(&regional, release).await?;
        if written && !images.is_empty() {
            found.targets.push((region, images));
            continue;
        }
        // Left as it is: a gap unless the channel names this release there already.
        let named = regional.ssm.parameter(parameter).await?;
        if named.is_some_and(|image| !images.iter().any(|(id, _)| *id == image)) {
            found.gaps.push(region);
        }
    }
    Ok(found)
}

async fn available_images(aws: &Aws, release: &Release) -> Result<Vec<ArchImage>> {
    Ok(release_images(aws, release)
        .await?
        .into_iter()
        .filter(ImageInfo::is_available)
        .map(|i| {
            let arch = i.architecture.as_deref().and_then(Arch::of_ec2);
            (i.id, arch)
        })
        .collect())
}

/// The regions where `channel` exists and the release does not: where a promote
/// would leave the channel on another release.
pub async fn gaps(
    aws: &Aws,
    release: &Release,
    channel: &str,
    scope: &Scope,
) -> Result<Vec<String>> {
    let parameter = Release::channel_parameter(&release.role, channel);
    Ok(targets(aws, release, &parameter, scope).await?.gaps)
}

/// The role's regions beyond `moved` where `channel` exists and the release does not:
/// where it stays on another release. Only those regions are read (besides the
/// records' listing that finds them).
pub async fn stays_elsewhere(
    aws: &Aws,
    release: &Release,
    channel: &str,
    moved: &[String],
) -> Result<Vec<String>> {
    let parameter = Release::channel_parameter(&release.role, channel);
    let mut behind = Vec::new();
    for region in catalog::role_regions(aws, &release.role, moved).await? {
        if moved.contains(&region) {
            continue;
        }
        let regional = aws.in_region(&region);
        if regional.ssm.parameter(&parameter).await?.is_some()
            && available_images(&regional, release).await?.is_empty()
        {
            behind.push(region);
        }
    }
    Ok(behind)
}

/// Points `channel` at the release in every region of the scope that has it; refuses
/// (`Gap::Refuse`) to leave the channel on another release anywhere the role is.
pub async fn promote(
    aws: &Aws,
    release: &Release,
    channel: &str,
    scope: &Scope,
    gap: Gap,
) -> Result<Promotion> {
    check_channel(channel)?;
    let parameter = Release::channel_parameter(&release.role, channel);
    let Targets { targets, gaps } = targets(aws, release, &parameter, scope).await?;
    if targets.is_empty() {
        return Err(Error::input(format!(
            "{release} has no available image in {}: nothing to promote",
            aws.region
        ))
        .with_hint(format!("see `bakery releases {}`", release.role)));
    }
    if !gaps.is_empty() && gap == Gap::Refuse {
        let left = match scope {
            Scope::Only(_) => "is missing in, or left out by --regions of,",
            Scope::Everywhere(_) => "is missing in",
        };
        return Err(Error::input(format!(
            "{release} {left} {}, where channel {channel} exists: the channel would name two \
             releases",
            gaps.join(", ")
        ))
        .with_hint(
            "copy it there first (--distribute), or leave those regions on their release \
             (--allow-gap)",
        ));
    }
    // Every region at once: each region's keys are its own.
    let moves = targets
        .into_iter()
        .map(|(region, images)| move_in_region(aws, release, channel, region, images));
    let moved = futures_util::future::try_join_all(moves).await?;
    let first = moved[0].clone();
    Ok(Promotion {
        release: release.to_string(),
        channel: channel.to_string(),
        region: first.region,
        parameter,
        image_id: first.image_id,
        previous: first.previous,
        other_regions: moved[1..]
            .iter()
            .map(|m| (m.region.clone(), m.image_id.clone()))
            .collect(),
        moved,
        gaps,
    })
}

/// Moves `channel` in `region` to the release's `images` there: each architecture's
/// key, then the plain name last (a launch template resolving it finds every
/// architecture's key already moved).
async fn move_in_region(
    aws: &Aws,
    release: &Release,
    channel: &str,
    region: String,
    images: Vec<ArchImage>,
) -> Result<ChannelMove> {
    let description = format!("bakery: channel {channel} of {}", release.role);
    let parameter = Release::channel_parameter(&release.role, channel);
    let ssm = &aws.in_region(&region).ssm;
    let mut keys = channel_keys(channel, &images).into_iter();
    let (_, image_id) = keys.next().expect("a region with images has the plain key");
    for (key, image) in keys {
        let key = Release::channel_parameter(&release.role, &key);
        ssm.point_image_parameter(&key, &image, &description)
            .await?;
    }
    let architectures = images
        .iter()
        .filter_map(|(id, arch)| Some((arch.as_ref()?.to_string(), id.clone())))
        .collect();
    let previous = ssm
        .put_image_parameter(&parameter, &image_id, &description)
        .await?;
    Ok(ChannelMove {
        region,
        image_id,
        previous,
        architectures,
    })
}

/// The highest final release of the role available in the region, and what `latest`
/// should be for it there: its keys ([`channel_keys`]) not yet written, each with its
/// image. One listing says both.
async fn highest_final(
    aws: &Aws,
    role: &RoleName,
) -> Result<Option<(String, Vec<(String, String)>)>> {
    let (releases, channels) = catalog::list_with_channels(aws, role).await?;
    let available: Vec<(semver::Version, catalog::ReleaseSummary)> = releases
        .into_iter()
        .filter(|r| r.state == ReleaseState::Available)
        // The gate holds for latest too: a release whose tests failed, were skipped or
        // have not ended is no channel's (images made before the gate have no state).
        .filter(|r| r.tests.is_none_or(GateState::may_be_promoted))
        .filter_map(|r| Some((r.version.parse::<semver::Version>().ok()?, r)))
        .filter(|(v, _)| v.pre.is_empty())
        .collect();
    let Some(highest) = available.iter().map(|(v, _)| v).max().cloned() else {
        return Ok(None);
    };
    let images: Vec<ArchImage> = available
        .into_iter()
        .filter(|(v, _)| *v == highest)
        .map(|(_, r)| {
            let arch = r.arch;
            (r.image_id, arch)
        })
        .collect();
    let unwritten = channel_keys("latest", &images)
        .into_iter()
        .filter(|(key, image)| channels.get(key) != Some(image))
        .collect();
    Ok(Some((highest.to_string(), unwritten)))
}

/// Points `latest` at the highest final release that passed its tests (or has none) in
/// every region of `release`, never at a lower one: a hotfix of an older line leaves
/// it alone, and so does a release made with `--skip-tests`. Written, then read
/// again, so that two bakes finishing together end on the higher release. Returns
/// whether `latest` now names `release` (in the first region).
pub async fn move_latest(aws: &Aws, release: &Release, regions: &[String]) -> Result<bool> {
    const SETTLE: usize = 3;
    let description = format!("bakery: channel latest of {}", release.role);
    let mut names_release = false;
    for (index, region) in release_regions(aws, release, regions)
        .await?
        .into_iter()
        .enumerate()
    {
        let regional = aws.in_region(&region);
        for _ in 0..SETTLE {
            let Some((highest, unwritten)) = highest_final(&regional, &release.role).await? else {
                break;
            };
            if unwritten.is_empty() {
                if index == 0 {
                    names_release = highest == release.version.to_string();
                }
                break;
            }
            // The plain name last, as a promote does.
            for (key, image) in unwritten.iter().rev() {
                let parameter = Release::channel_parameter(&release.role, key);
                regional
                    .ssm
                    .point_image_parameter(&parameter, image, &description)
                    .await?;
            }
        }
    }
    Ok(names_release)
}

/// A channel that names different releases in different regions of a role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Split {
    /// The channel's name.
    pub channel: String,
    /// Region -> version (`-` where the channel names no release of the role).
    pub regions: BTreeMap<String, String>,
}

/// Channels whose regions disagree, from the releases listed in each region: among the
/// regions that hold releases of the role, a channel names one release or none.
pub fn splits(releases: &[catalog::ReleaseSummary]) -> Vec<Split> {
    let regions: std::collections::BTreeSet<&String> = releases.iter().map(|r| &r.region).collect();
    let mut by_channel: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for release in releases {
        for channel in &release.channels {
            by_channel
                .entry(channel.clone())
                .or_default()
                .insert(release.region.clone(), release.version.clone());
        }
    }
    by_channel
        .into_iter()
        .filter_map(|(channel, mut named)| {
            for region in &regions {
                named
                    .entry((*region).clone())
                    .or_insert_with(|| "-".to_string());
            }
            let versions: std::collections::BTreeSet<&String> = named.values().collect();
            (versions.len() > 1).then_some(Split {
                channel,
                regions: named,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::catalog::ReleaseSummary;

    fn listed(version: &str, region: &str, channels: &[&str]) -> ReleaseSummary {
        ReleaseSummary {
            tests: None,
            version: version.into(),
            region: region.into(),
            image_id: format!("ami-{version}-{region}"),
            name: format!("bakery/base/{version}/x86_64"),
            created: None,
            base_image: None,
            base_release: None,
            arch: Some(crate::model::Arch::X86_64),
            state: ReleaseState::Available,
            deprecation_time: None,
            channels: channels.iter().map(|c| c.to_string()).collect(),
            snapshot_ids: vec![],
        }
    }

    #[test]
    fn a_channel_that_names_one_release_everywhere_is_not_split() {
        let releases = [
            listed("2.0.0", "eu-west-1", &["stable", "latest"]),
            listed("2.0.0", "us-east-1", &["stable", "latest"]),
            listed("1.0.0", "us-east-1", &[]),
        ];
        assert!(splits(&releases).is_empty());
    }

    #[test]
    fn a_channel_on_two_releases_or_missing_in_a_region_is_split() {
        let releases = [
            listed("2.0.0", "eu-west-1", &["stable"]),
            listed("1.0.0", "us-east-1", &["stable"]),
            listed("2.0.0", "ap-south-1", &[]),
        ];
        let found = splits(&releases);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].channel, "stable");
        assert_eq!(found[0].regions["eu-west-1"], "2.0.0");
        assert_eq!(found[0].regions["us-east-1"], "1.0.0");
        assert_eq!(found[0].regions["ap-south-1"], "-");
    }
}
