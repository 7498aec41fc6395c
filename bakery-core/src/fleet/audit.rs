//! `bakery audit`: which fleets run which releases, how old their images are, and
//! which ones break the policy (older than a quarter by default, or not baked by
//! bakery at all).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::aws::ec2::ImageInfo;
use crate::aws::state::ImageState;
use crate::aws::Aws;
use crate::error::Result;
use crate::model::release::{TAG_BUILDER, TAG_ROLE, TAG_TEST_INSTANCE, TAG_VERSION};
use crate::model::time::age_at;
use crate::model::Release;
use crate::model::RoleName;
use crate::release::channels::{self, Split};
use crate::release::{catalog, claim};

/// A quarter: the default for `--max-age`.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(91 * 24 * 3600);

/// The instances running one image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fleet {
    /// Where the fleet runs.
    pub region: String,
    /// The role, or None for an image bakery did not bake.
    pub role: Option<String>,
    /// The release's version (the image's `bakery:version` tag), or None for an image
    /// bakery did not bake.
    pub version: Option<String>,
    /// The AMI the instances run.
    pub image_id: String,
    /// The image's name; None when the image no longer exists.
    pub image_name: Option<String>,
    /// When EC2 created the image (its CreationDate, UTC); None when the image no
    /// longer exists.
    pub image_created: Option<String>,
    /// When the release was baked (its record's start): a copy made later in this
    /// region is as old as its release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_at: Option<String>,
    /// The release's age (the image's own, for an image bakery did not bake).
    pub age_days: Option<u64>,
    /// Channels of the role that point at this image.
    pub channels: Vec<String>,
    /// The ids of the running instances on the image.
    pub instances: Vec<String>,
    /// Why the fleet breaks the policy; empty when it does not.
    pub violations: Vec<String>,
    /// Its image is disabled, or deprecated since a time now past.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired: Option<Retired>,
}

/// How an image no fleet should run any more is retired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Retired {
    /// DisableImage: no new instance can launch from it.
    Disabled,
    /// Its deprecation time has passed.
    Deprecated {
        /// Its DeprecationTime, as EC2 gives it (UTC).
        since: String,
    },
}

impl Retired {
    /// Why a fleet on it breaks the policy.
    pub fn describe(&self) -> String {
        match self {
            Retired::Disabled => {
                "its image is disabled: no new instance can launch from it".to_string()
            }
            Retired::Deprecated { since } => format!("its image is deprecated since {since}"),
        }
    }
}

/// The fleets of the region (bakery's own builders and test instances excepted), worst first.
pub async fn audit(aws: &Aws, max_age: Duration) -> Result<Vec<Fleet>> {
    let instances = aws.ec2.running_instances().await?;
    let mut by_image: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for instance in instances {
        let ours = |tag| instance.tags.get(tag).map(String::as_str) == Some("true");
        if ours(TAG_BUILDER) || ours(TAG_TEST_INSTANCE) {
            continue;
        }
        by_image
            .entry(instance.image_id)
            .or_default()
            .push(instance.id);
    }
    let mut images = BTreeMap::new();
    let mut released = BTreeMap::new();
    let mut channels_of: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for image_id in by_image.keys() {
        let image = aws.ec2.describe_image(image_id).await?;
        if let Some(at) = release_time(aws, image.as_ref()).await? {
            released.insert(image_id.clone(), at);
        }
        if let Some(role) = image.as_ref().and_then(|i| i.tags.get(TAG_ROLE)) {
            if !channels_of.contains_key(role) {
                let channels = match RoleName::parse(role) {
                    Ok(name) => catalog::channels(aws, &name).await?,
                    Err(_) => BTreeMap::new(),
                };
                channels_of.insert(role.clone(), channels);
            }
        }
        images.insert(image_id.clone(), image);
    }
    let known = Known {
        region: aws.region.clone(),
        images,
        released,
        channels_of,
    };
    Ok(assess(by_image, &known, max_age, SystemTime::now()))
}

/// What AWS said of the images fleets run: each image (None: gone), when its release
/// was baked, and the channels of each role.
#[derive(Debug, Default)]
pub struct Known {
    /// The region asked.
    pub region: String,
    /// Each image fleets run, by id: None when DescribeImages no longer finds it.
    pub images: BTreeMap<String, Option<ImageInfo>>,
    /// Image id -> when its release was baked (its record's start); only the bakery
    /// images whose record was found.
    pub released: BTreeMap<String, String>,
    /// Role -> its channel keys here (`stable`, `stable/arm64`) -> image id; empty for
    /// a `bakery:role` tag that is no role name.
    pub channels_of: BTreeMap<String, BTreeMap<String, String>>,
}

/// When the release of a bakery image was baked, from its record in the region.
async fn release_time(aws: &Aws, image: Option<&ImageInfo>) -> Result<Option<String>> {
    let tag = |key| image.and_then(|i| i.tags.get(key));
    let (Some(role), Some(version)) = (tag(TAG_ROLE), tag(TAG_VERSION)) else {
        return Ok(None);
    };
    let Ok(release) = Release::parse(role, version) else {
        return Ok(None);
    };
    Ok(claim::read(aws, &release).await?.map(|r| r.started_at))
}

/// The channels of `roles` that name different releases in different `regions`.
pub async fn channel_splits(regions: &[Aws], roles: &[String]) -> Result<Vec<(String, Split)>> {
    let mut found = Vec::new();
    for role in roles {
        let Ok(name) = RoleName::parse(role) else {
            continue;
        };
        let releases = catalog::list_everywhere(regions, &name).await?;
        found.extend(
            channels::splits(&releases)
                .into_iter()
                .map(|split| (role.clone(), split)),
        );
    }
    Ok(found)
}

/// The fleets with their violations, given what AWS said.
pub fn assess(
    by_image: BTreeMap<String, Vec<String>>,
    known: &Known,
    max_age: Duration,
    now: SystemTime,
) -> Vec<Fleet> {
    let mut fleets: Vec<Fleet> = by_image
        .into_iter()
        .map(|(image_id, instances)| fleet_of(image_id, instances, known, max_age, now))
        .collect();
    fleets.sort_by(|a, b| {
        (b.violations.len(), &a.role, &a.version).cmp(&(a.violations.len(), &b.role, &b.version))
    });
    fleets
}

/// The fleet of `instances` on `image_id`: its release, its age (its release's, else
/// the image's own), the channels that name the image, and why it breaks the policy.
fn fleet_of(
    image_id: String,
    instances: Vec<String>,
    known: &Known,
    max_age: Duration,
    now: SystemTime,
) -> Fleet {
    let image = known.images.get(&image_id).cloned().flatten();
    let tag = |key| image.as_ref().and_then(|i| i.tags.get(key).cloned());
    let (role, version) = (tag(TAG_ROLE), tag(TAG_VERSION));
    let created = image.as_ref().and_then(|i| i.creation_date.clone());
    let released_at = known.released.get(&image_id).cloned();
    let age = released_at
        .as_deref()
        .or(created.as_deref())
        .and_then(|c| age_at(c, now));
    let channels: Vec<String> = role
        .as_ref()
        .and_then(|r| known.channels_of.get(r))
        .map(|c| catalog::channels_naming(c, &image_id))
        .unwrap_or_default();
    let mut violations = Vec::new();
    match (&image, &role) {
        (None, _) => violations.push("its image no longer exists".to_string()),
        (Some(_), None) => violations.push("not baked by bakery".to_string()),
        _ => {}
    }
    let retired = image.as_ref().and_then(|i| retired(i, now));
    violations.extend(retired.as_ref().map(Retired::describe));
    if let Some(age) = age.filter(|a| *a > max_age) {
        violations.push(format!(
            "image is {} old, the policy allows {}",
            describe_age(age),
            crate::model::time::human(max_age)
        ));
    }
    Fleet {
        region: known.region.clone(),
        role,
        version,
        image_name: image.as_ref().map(|i| i.name.clone()),
        image_created: created,
        released_at,
        age_days: age.map(|a| a.as_secs() / 86400),
        channels,
        instances,
        violations,
        retired,
        image_id,
    }
}

/// How an image no fleet should run any more is retired: disabled (no new instance can
/// launch from it), or deprecated since a time now past.
fn retired(image: &ImageInfo, now: SystemTime) -> Option<Retired> {
    if image.state == ImageState::Disabled {
        return Some(Retired::Disabled);
    }
    let since = image.deprecation_time.as_deref()?;
    age_at(since, now).map(|_| Retired::Deprecated {
        since: since.to_string(),
    })
}

fn describe_age(age: Duration) -> String {
    let seconds = age.as_secs();
    let whole_days = if seconds >= 86_400 {
        seconds - seconds % 86_400
    } else {
        seconds
    };
    crate::model::time::human(Duration::from_secs(whole_days))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, created: &str, role: Option<(&str, &str)>) -> ImageInfo {
        ImageInfo {
            id: id.into(),
            name: format!("name-{id}"),
            state: crate::aws::state::ImageState::Available,
            state_reason: None,
            architecture: Some("x86_64".into()),
            windows: false,
            root_device_name: None,
            root_volume_gib: None,
            creation_date: Some(created.into()),
            deprecation_time: None,
            snapshot_ids: vec![],
            tags: role
                .map(|(r, v)| {
                    BTreeMap::from([
                        (TAG_ROLE.to_string(), r.to_string()),
                        (TAG_VERSION.to_string(), v.to_string()),
                    ])
                })
                .unwrap_or_default(),
        }
    }

    #[test]
    fn old_foreign_and_vanished_images_break_the_policy() {
        let now = humantime::parse_rfc3339("2026-11-22T00:00:00Z").unwrap();
        let by_image = BTreeMap::from([
            (
                "ami-new".to_string(),
                vec!["i-1".to_string(), "i-2".to_string()],
            ),
            ("ami-old".to_string(), vec!["i-3".to_string()]),
            ("ami-foreign".to_string(), vec!["i-4".to_string()]),
            ("ami-gone".to_string(), vec!["i-5".to_string()]),
        ]);
        let images = BTreeMap::from([
            (
                "ami-new".to_string(),
                Some(image(
                    "ami-new",
                    "2026-11-01T00:00:00.000Z",
                    Some(("base", "2.4.0")),
                )),
            ),
            (
                "ami-old".to_string(),
                Some(image(
                    "ami-old",
                    "2026-05-01T00:00:00.000Z",
                    Some(("base", "2.1.0")),
                )),
            ),
            (
                "ami-foreign".to_string(),
                Some(image("ami-foreign", "2026-11-20T00:00:00.000Z", None)),
            ),
            ("ami-gone".to_string(), None),
        ]);
        let channels_of = BTreeMap::from([(
            "base".to_string(),
            BTreeMap::from([("stable".to_string(), "ami-new".to_string())]),
        )]);
        let known = Known {
            region: "eu-west-1".to_string(),
            images,
            released: BTreeMap::new(),
            channels_of,
        };
        let fleets = assess(by_image, &known, DEFAULT_MAX_AGE, now);
        let by_id: BTreeMap<&str, &Fleet> =
            fleets.iter().map(|f| (f.image_id.as_str(), f)).collect();
        assert!(by_id["ami-new"].violations.is_empty());
        assert_eq!(by_id["ami-new"].channels, ["stable"]);
        assert_eq!(by_id["ami-new"].age_days, Some(21));
        assert!(
            by_id["ami-old"].violations[0].contains("old, the policy allows"),
            "{:?}",
            by_id["ami-old"]
        );
        assert_eq!(by_id["ami-foreign"].violations, ["not baked by bakery"]);
        assert_eq!(by_id["ami-gone"].violations, ["its image no longer exists"]);
        assert!(
            fleets.last().unwrap().violations.is_empty(),
            "violations come first"
        );
        assert!(fleets.iter().all(|f| f.region == "eu-west-1"));
    }

    #[test]
    fn a_fleet_on_a_disabled_or_long_deprecated_image_is_flagged() {
        let now = humantime::parse_rfc3339("2026-11-22T00:00:00Z").unwrap();
        let recent = "2026-11-01T00:00:00.000Z";
        let mut disabled = image("ami-disabled", recent, Some(("base", "2.4.0")));
        disabled.state = ImageState::Disabled;
        let mut deprecated = image("ami-deprecated", recent, Some(("base", "2.3.0")));
        deprecated.deprecation_time = Some("2024-01-01T00:00:00.000Z".into());
        let mut to_come = image("ami-fine", recent, Some(("base", "2.5.0")));
        to_come.deprecation_time = Some("2027-02-01T00:00:00.000Z".into());
        let images = [disabled, deprecated, to_come];
        let by_image = images
            .iter()
            .map(|i| (i.id.clone(), vec![format!("i-{}", i.id)]))
            .collect();
        let known = Known {
            region: "eu-west-1".to_string(),
            images: images
                .into_iter()
                .map(|i| (i.id.clone(), Some(i)))
                .collect(),
            ..Known::default()
        };
        let fleets = assess(by_image, &known, DEFAULT_MAX_AGE, now);
        let by_id: BTreeMap<&str, &Fleet> =
            fleets.iter().map(|f| (f.image_id.as_str(), f)).collect();
        assert_eq!(
            by_id["ami-disabled"].violations,
            ["its image is disabled: no new instance can launch from it"]
        );
        assert_eq!(
            by_id["ami-deprecated"].violations,
            ["its image is deprecated since 2024-01-01T00:00:00.000Z"]
        );
        assert!(by_id["ami-fine"].violations.is_empty());
        assert_eq!(by_id["ami-disabled"].retired, Some(Retired::Disabled));
        assert_eq!(by_id["ami-fine"].retired, None);
    }

    #[test]
    fn a_late_copy_is_as_old_as_its_release() {
        let now = humantime::parse_rfc3339("2026-11-22T00:00:00Z").unwrap();
        let copy = image(
            "ami-copy",
            "2026-11-20T00:00:00.000Z",
            Some(("base", "2.0.0")),
        );
        let known = Known {
            region: "eu-west-1".to_string(),
            images: BTreeMap::from([("ami-copy".to_string(), Some(copy))]),
            released: BTreeMap::from([(
                "ami-copy".to_string(),
                "2026-05-01T00:00:00Z".to_string(),
            )]),
            channels_of: BTreeMap::new(),
        };
        let by_image = BTreeMap::from([("ami-copy".to_string(), vec!["i-1".to_string()])]);
        let fleets = assess(by_image, &known, DEFAULT_MAX_AGE, now);
        assert_eq!(
            fleets[0].age_days,
            Some(205),
            "from the release, not the copy"
        );
        assert!(
            fleets[0].violations[0].contains("old, the policy allows"),
            "{:?}",
            fleets[0]
        );
    }
}
