//! The releases of a role, as AWS records them: AMIs tagged `bakery:role` and
//! `bakery:version`, release claims, and channel parameters.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use serde::{Serialize, Serializer};

use super::claim::ReleaseRecord;
use crate::aws::ec2::ImageInfo;
use crate::aws::state::ImageState;
use crate::aws::Aws;
use crate::config::recipe::pinned;
use crate::config::BaseSelector;
use crate::error::{Error, Result};
use crate::model::gate::TAG_TESTS;
use crate::model::names::nearest;
use crate::model::release::{
    channel_of_key, channels_path, claims_path, TAG_BASE_IMAGE, TAG_BASE_RELEASE, TAG_ROLE,
    TAG_VERSION,
};
use crate::model::time::{rfc3339, rfc3339_before};
use crate::model::{Arch, GateState, Release, RoleName};

/// Where a release stands in a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseState {
    /// Its image is available and not deprecated.
    Available,
    /// Its image's deprecation time has passed.
    Deprecated,
    /// Its image is in another state (`pending`, `failed`, `disabled`...).
    Image(ImageState),
}

impl fmt::Display for ReleaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseState::Available => f.write_str("available"),
            ReleaseState::Deprecated => f.write_str("deprecated"),
            ReleaseState::Image(state) => write!(f, "{state}"),
        }
    }
}

impl Serialize for ReleaseState {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One release in one region.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseSummary {
    /// The release's version (the image's `bakery:version` tag).
    pub version: String,
    /// The region the image is in.
    pub region: String,
    /// The release's image in this region.
    pub image_id: String,
    /// The image's name.
    pub name: String,
    /// When EC2 created the image (its CreationDate, UTC); None when EC2 gives none.
    pub created: Option<String>,
    /// The image's architecture (none for one EC2 names otherwise, e.g. i386).
    pub arch: Option<Arch>,
    /// The image it was baked on (its `bakery:base-image` tag); None on images without
    /// it.
    pub base_image: Option<String>,
    /// `role@version` of the base, for a role layered on another's release.
    pub base_release: Option<String>,
    /// Available, deprecated, or the image's own state.
    pub state: ReleaseState,
    /// What its release gate said (`bakery:tests`); none on images made before it.
    pub tests: Option<GateState>,
    /// When EC2 deprecates (or deprecated) the image: its DeprecationTime, UTC; None
    /// when none is set.
    pub deprecation_time: Option<String>,
    /// Channels whose parameter points at this image.
    pub channels: Vec<String>,
    /// The EBS snapshots behind the image.
    pub snapshot_ids: Vec<String>,
}

/// The images of a release in the region: tagged with its role and version, or named
/// like it.
pub async fn release_images(aws: &Aws, release: &Release) -> Result<Vec<ImageInfo>> {
    let version = release.version.to_string();
    let by_tag = aws
        .ec2
        .own_images(Some((TAG_VERSION, &version)), None)
        .await?;
    let by_name = aws
        .ec2
        .own_images(None, Some(&release.image_name_pattern()))
        .await?;
    let mut images: Vec<ImageInfo> = by_tag
        .into_iter()
        .filter(|i| i.tags.get(TAG_ROLE).map(String::as_str) == Some(release.role.as_str()))
        .collect();
    for image in by_name {
        if !images.iter().any(|i| i.id == image.id) {
            images.push(image);
        }
    }
    Ok(images)
}

/// Where a command that changes a release acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every region the role's releases are recorded in ([`role_regions`]), reached
    /// from these (the environment's; this region when empty).
    Everywhere(Vec<String>),
    /// Only these (`--regions`), said explicitly.
    Only(Vec<String>),
}

impl Scope {
    /// The regions the command acts in.
    pub async fn regions(&self, aws: &Aws, role: &RoleName) -> Result<Vec<String>> {
        match self {
            Scope::Everywhere(start) => role_regions(aws, role, start).await,
            Scope::Only(regions) => Ok(regions.clone()),
        }
    }

    /// Every region the role's releases are recorded in, whatever the scope: where a
    /// narrowed command must still look, so as not to split a channel.
    pub async fn all_regions(&self, aws: &Aws, role: &RoleName) -> Result<Vec<String>> {
        let (Scope::Everywhere(start) | Scope::Only(start)) = self;
        role_regions(aws, role, start).await
    }
}

/// Every region the role's releases are recorded in, reached from `start` (this region
/// when empty), `start` first. A release's record names every region it exists in and
/// is written in each, and a channel names releases of its region: so the closure over
/// the records finds a release, and the channels that name it, wherever they are,
/// whatever environment the command was given. One listing per region found.
pub async fn role_regions(aws: &Aws, role: &RoleName, start: &[String]) -> Result<Vec<String>> {
    let mut regions: Vec<String> = match start.is_empty() {
        true => vec![aws.region.clone()],
        false => start.to_vec(),
    };
    let mut next = 0;
    while let Some(region) = regions.get(next).cloned() {
        let records = aws
            .in_region(&region)
            .ssm
            .parameters_under(&claims_path(role))
            .await?;
        for (_, text) in records {
            let Some(record) = ReleaseRecord::parse(&text) else {
                continue;
            };
            for found in record.regions() {
                if !regions.contains(found) {
                    regions.push(found.clone());
                }
            }
        }
        next += 1;
    }
    Ok(regions)
}

/// The regions `release` is recorded in, found from `start` (this region when empty)
/// through the role's records, wherever they lead; `start` when no record names it (a
/// release made before records).
pub async fn release_regions(
    aws: &Aws,
    release: &Release,
    start: &[String],
) -> Result<Vec<String>> {
    for region in role_regions(aws, &release.role, start).await? {
        if let Some(record) = super::claim::read(&aws.in_region(&region), release).await? {
            return Ok(record.regions().into_iter().cloned().collect());
        }
    }
    Ok(match start.is_empty() {
        true => vec![aws.region.clone()],
        false => start.to_vec(),
    })
}

/// The clients of every region the role's releases are recorded in, from `start`.
pub async fn everywhere(aws: &Aws, role: &RoleName, start: &[String]) -> Result<Vec<Aws>> {
    Ok(aws.in_regions(&role_regions(aws, role, start).await?))
}

/// Versions of the role that exist (by the AMIs' version tags) or are claimed.
pub async fn taken_versions(aws: &Aws, role: &RoleName) -> Result<Vec<semver::Version>> {
    let images = aws
        .ec2
        .own_images(Some((TAG_ROLE, role.as_str())), None)
        .await?;
    let claims = aws.ssm.parameters_under(&claims_path(role)).await?;
    Ok(images
        .iter()
        .filter_map(|i| i.tags.get(TAG_VERSION).cloned())
        .chain(
            claims
                .iter()
                .filter_map(|(name, _)| name.rsplit('/').next().map(str::to_string)),
        )
        .filter_map(|v| v.parse().ok())
        .collect())
}

/// Channel key (`stable`, `stable/arm64`: `channel_keys`) -> image id, for the role
/// in the region.
pub async fn channels(aws: &Aws, role: &RoleName) -> Result<BTreeMap<String, String>> {
    let path = channels_path(role);
    Ok(aws
        .ssm
        .parameters_under(&path)
        .await?
        .into_iter()
        .map(|(name, value)| (name.trim_start_matches(&path).to_string(), value))
        .collect())
}

/// The channels that name `image_id` through any of their keys, each once.
pub fn channels_naming(channels: &BTreeMap<String, String>, image_id: &str) -> Vec<String> {
    let mut names: Vec<String> = channels
        .iter()
        .filter(|(_, target)| *target == image_id)
        .map(|(key, _)| channel_of_key(key).to_string())
        .collect();
    names.dedup();
    names
}

/// Every release of the role in the region, newest version first.
pub async fn list(aws: &Aws, role: &RoleName) -> Result<Vec<ReleaseSummary>> {
    Ok(list_with_channels(aws, role).await?.0)
}

/// [`list`], and the role's channel keys in the region, from the same reads.
pub async fn list_with_channels(
    aws: &Aws,
    role: &RoleName,
) -> Result<(Vec<ReleaseSummary>, BTreeMap<String, String>)> {
    let images = aws
        .ec2
        .own_images(Some((TAG_ROLE, role.as_str())), None)
        .await?;
    let channels = channels(aws, role).await?;
    let now = rfc3339(SystemTime::now());
    let mut releases: Vec<(semver::Version, ReleaseSummary)> = images
        .into_iter()
        .filter_map(|image| {
            let version: semver::Version = image.tags.get(TAG_VERSION)?.parse().ok()?;
            Some((version, summary(image, &channels, &now, &aws.region)))
        })
        .collect();
    releases.sort_by(|a, b| b.0.cmp(&a.0));
    let releases = releases.into_iter().map(|(_, summary)| summary).collect();
    Ok((releases, channels))
}

/// Every release of the role in each region, newest version first, then by region.
pub async fn list_everywhere(regions: &[Aws], role: &RoleName) -> Result<Vec<ReleaseSummary>> {
    let mut all: Vec<(semver::Version, usize, ReleaseSummary)> = Vec::new();
    for (order, aws) in regions.iter().enumerate() {
        for summary in list(aws, role).await? {
            let version = summary
                .version
                .parse()
                .unwrap_or(semver::Version::new(0, 0, 0));
            all.push((version, order, summary));
        }
    }
    all.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    Ok(all.into_iter().map(|(_, _, summary)| summary).collect())
}

fn summary(
    image: ImageInfo,
    channels: &BTreeMap<String, String>,
    now: &str,
    region: &str,
) -> ReleaseSummary {
    let deprecated = image
        .deprecation_time
        .as_deref()
        .is_some_and(|t| rfc3339_before(t, now));
    let state = match &image.state {
        ImageState::Available if deprecated => ReleaseState::Deprecated,
        ImageState::Available => ReleaseState::Available,
        other => ReleaseState::Image(other.clone()),
    };
    ReleaseSummary {
        version: image.tags.get(TAG_VERSION).cloned().unwrap_or_default(),
        region: region.to_string(),
        channels: channels_naming(channels, &image.id),
        base_image: image.tags.get(TAG_BASE_IMAGE).cloned(),
        base_release: image.tags.get(TAG_BASE_RELEASE).cloned(),
        arch: image.architecture.as_deref().and_then(Arch::of_ec2),
        tests: image
            .tags
            .get(TAG_TESTS)
            .and_then(|tag| GateState::of_tag(tag)),
        created: image.creation_date,
        deprecation_time: image.deprecation_time,
        snapshot_ids: image.snapshot_ids,
        image_id: image.id,
        name: image.name,
        state,
    }
}

/// Marks the release's images deprecated from `at` (EC2 rounds to the minute) in each
/// region that has it. Returns the image ids, by region.
pub async fn deprecate(
    regions: &[Aws],
    release: &Release,
    at: SystemTime,
) -> Result<BTreeMap<String, Vec<String>>> {
    let mut deprecated = BTreeMap::new();
    for aws in regions {
        let images = release_images(aws, release).await?;
        for image in &images {
            aws.ec2.enable_deprecation(&image.id, at).await?;
        }
        if !images.is_empty() {
            deprecated.insert(
                aws.region.clone(),
                images.into_iter().map(|i| i.id).collect(),
            );
        }
    }
    if deprecated.is_empty() {
        let searched: Vec<&str> = regions.iter().map(|a| a.region.as_str()).collect();
        return Err(
            Error::input(format!("{release} has no image in {}", searched.join(", ")))
                .with_hint(format!("see `bakery releases {}`", release.role)),
        );
    }
    Ok(deprecated)
}

/// The error for a channel of `role` that does not exist here: the channels that do,
/// and the one it most likely misspells.
async fn no_channel(aws: &Aws, role: &RoleName, channel: &str) -> Error {
    let error = Error::input(format!(
        "the base {role}@{channel}: channel {channel} of {role} does not exist in {}",
        aws.region
    ));
    let known: Vec<String> = match channels(aws, role).await {
        Ok(known) => known.into_keys().filter(|c| !c.contains('/')).collect(),
        Err(_) => Vec::new(),
    };
    let suggestion = nearest(channel, known.iter().map(String::as_str));
    match (suggestion, known.is_empty()) {
        (Some(near), _) => error.with_hint(format!(
            "did you mean `{role}@{near}`? The channels of {role} here: {}",
            known.join(", ")
        )),
        (None, false) => {
            error.with_hint(format!("the channels of {role} here: {}", known.join(", ")))
        }
        (None, true) => error.with_hint(format!(
            "bakery promote {role} <version> --channel {channel}"
        )),
    }
}

/// The image a channel names for `arch` (channels moved before they had architectures
/// have their plain name only).
async fn channel_image(aws: &Aws, role: &RoleName, channel: &str, arch: Arch) -> Result<String> {
    let keyed = Release::channel_parameter(role, &format!("{channel}/{arch}"));
    let plain = Release::channel_parameter(role, channel);
    if let Some(image_id) = aws.ssm.parameter(&keyed).await? {
        return Ok(image_id);
    }
    match aws.ssm.parameter(&plain).await? {
        Some(image_id) => Ok(image_id),
        None => Err(no_channel(aws, role, channel).await),
    }
}

/// The newest available `arch` image of a release matching `requirement`. A range
/// takes only releases that passed their tests (or have none); a pinned version is the
/// user's word for that release.
async fn newest_matching(
    aws: &Aws,
    role: &RoleName,
    requirement: &semver::VersionReq,
    arch: Arch,
) -> Result<String> {
    let pinned = pinned(requirement).is_some();
    let newest = list(aws, role).await?.into_iter().find(|r| {
        r.state == ReleaseState::Available
            && r.arch == Some(arch)
            && r.version.parse().is_ok_and(|v| requirement.matches(&v))
            && (pinned || r.tests.is_none_or(GateState::may_be_promoted))
    });
    let region = &aws.region;
    let tested = if pinned { "" } else { " and passed its tests" };
    let image = newest.ok_or_else(|| {
        Error::input(format!(
            "the base {role}@{requirement}: no available {arch} release of {role} matches \
             {requirement}{tested} in {region}"
        ))
        .with_hint(format!(
            "see `bakery releases {role}` (its TESTS column); a whole version pins a release \
             whatever its tests"
        ))
    })?;
    Ok(image.image_id)
}

/// The base of a layered role, in the recipe's architecture: the release a channel
/// points to, or the newest available release matching a version requirement.
pub async fn resolve(
    aws: &Aws,
    role: &RoleName,
    selector: &BaseSelector,
    arch: Arch,
) -> Result<(Release, ImageInfo)> {
    let region = &aws.region;
    let image_id = match selector {
        BaseSelector::Channel(channel) => channel_image(aws, role, channel, arch).await?,
        BaseSelector::Version(requirement) => newest_matching(aws, role, requirement, arch).await?,
    };
    let image = aws.ec2.describe_image(&image_id).await?.ok_or_else(|| {
        Error::input(format!(
            "the base {role} points to {image_id}, which does not exist in {region}"
        ))
    })?;
    if let Some(other) = image
        .architecture
        .as_deref()
        .filter(|a| *a != arch.as_str())
    {
        let selector = match selector {
            BaseSelector::Channel(channel) => channel.clone(),
            BaseSelector::Version(requirement) => requirement.to_string(),
        };
        return Err(Error::input(format!(
            "the base {role}@{selector} is {image_id} in {region}, an {other} image; the recipe \
             is {arch}: the base release has no {arch} image there"
        ))
        .with_hint(format!(
            "bake {role} for {arch} too (its recipe's `arch`), or set this recipe's `arch` to {other}"
        )));
    }
    let version = image
        .tags
        .get(TAG_VERSION)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            Error::input(format!(
                "the base image {image_id} has no `{TAG_VERSION}` tag: not a bakery release"
            ))
        })?;
    Ok((
        Release {
            role: role.clone(),
            version,
        },
        image,
    ))
}
