//! `bakery prune`: retire old releases — deregister their images and delete their
//! snapshots — but never one a channel points to or an instance uses.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::catalog::{self, ReleaseSummary};
use crate::aws::Aws;
use crate::error::{Error, Result};
use crate::model::names::parse_duration;
use crate::model::release::claims_path;
use crate::model::time::{rfc3339, rfc3339_before};
use crate::model::RoleName;

/// Which releases `bakery prune` keeps: the newest few, and with `--older-than`, any
/// created more recently than that.
#[derive(Debug, Clone, Copy)]
pub struct PrunePolicy {
    /// The newest releases that always stay.
    pub keep: usize,
    /// Only releases created longer ago than this go.
    pub older_than: Option<Duration>,
}

impl PrunePolicy {
    /// From the command line: `--keep N [--older-than 180d]`.
    pub fn parse(keep: usize, older_than: Option<&str>) -> Result<PrunePolicy> {
        let older_than = match older_than {
            Some(text) => {
                Some(parse_duration(text).map_err(|e| Error::input(format!("--older-than: {e}")))?)
            }
            None => None,
        };
        Ok(PrunePolicy { keep, older_than })
    }
}

/// What prune does with a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// It stays; the item's reason says why.
    Keep,
    /// It goes: its image is deregistered, its snapshots and its record in the region
    /// deleted.
    Delete,
}

/// What prune does with one release in one region.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PruneItem {
    /// The release's version.
    pub version: String,
    /// The region of this image.
    pub region: String,
    /// The release's image in that region.
    pub image_id: String,
    /// Its snapshots, deleted with it.
    pub snapshot_ids: Vec<String>,
    /// Keep or delete: the same in every region of the version.
    pub action: Action,
    /// Why, in words: one of the newest, on a channel, in use, created after the
    /// cutoff, or older than the newest kept releases.
    pub reason: String,
}

/// What prune would do with each release in each of `regions` (newest first),
/// without doing it. A release is pruned everywhere or nowhere.
pub async fn plan(regions: &[Aws], role: &RoleName, policy: PrunePolicy) -> Result<Vec<PruneItem>> {
    let mut releases = catalog::list_everywhere(regions, role).await?;
    releases.sort_by(|a, b| newest_first(&a.version, &b.version));
    let mut in_use = BTreeMap::new();
    for aws in regions {
        for release in releases.iter().filter(|r| r.region == aws.region) {
            in_use.insert(
                release.image_id.clone(),
                users_of(aws, &release.image_id).await?,
            );
        }
    }
    Ok(decide(&releases, &in_use, policy, SystemTime::now()))
}

/// Instances, launch templates and other users of an image (where the endpoint can
/// tell of the others).
async fn users_of(aws: &Aws, image_id: &str) -> Result<Vec<String>> {
    let mut users = aws.ec2.instances_using(image_id).await?;
    // Instances are asked by their state above: DescribeImageReferences counts them in
    // every state, terminated ones included (EC2 User Guide, "Identify your resources
    // referencing specified AMIs"), so a gate's test instance would keep a release in
    // use for as long as EC2 still lists it.
    let references = aws
        .ec2
        .image_references(image_id)
        .await?
        .unwrap_or_default();
    for arn in references
        .into_iter()
        .filter(|arn| !arn.contains(":instance/"))
    {
        let id = arn.rsplit('/').next().unwrap_or(&arn).to_string();
        if !users.contains(&id) {
            users.push(id);
        }
    }
    Ok(users)
}

fn newest_first(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<semver::Version>(), b.parse::<semver::Version>()) {
        (Ok(a), Ok(b)) => b.cmp(&a),
        _ => b.cmp(a),
    }
}

/// The decision, given the releases of every region (newest first) and the users of
/// each image. A version is kept everywhere when any of its regions keeps it: one of
/// the newest, on a channel, in use, or younger than the policy (by its oldest image,
/// the bake's own).
pub fn decide(
    releases: &[ReleaseSummary],
    in_use: &BTreeMap<String, Vec<String>>,
    policy: PrunePolicy,
    now: SystemTime,
) -> Vec<PruneItem> {
    // Older than the epoch: nothing is (and the time would not print).
    let cutoff = policy.older_than.map(|age| {
        let at = now.checked_sub(age).unwrap_or(std::time::UNIX_EPOCH);
        rfc3339(at.max(std::time::UNIX_EPOCH))
    });
    let mut versions: Vec<&str> = Vec::new();
    for release in releases {
        if !versions.contains(&release.version.as_str()) {
            versions.push(&release.version);
        }
    }
    let mut verdicts: BTreeMap<&str, (Action, String)> = BTreeMap::new();
    for (index, version) in versions.iter().enumerate() {
        let everywhere: Vec<&ReleaseSummary> =
            releases.iter().filter(|r| r.version == *version).collect();
        let newest = index < policy.keep;
        let verdict = verdict(
            &everywhere,
            in_use,
            (newest, policy.keep),
            cutoff.as_deref(),
        );
        verdicts.insert(version, verdict);
    }
    releases
        .iter()
        .map(|release| {
            let (action, reason) = verdicts[release.version.as_str()].clone();
            PruneItem {
                version: release.version.clone(),
                region: release.region.clone(),
                image_id: release.image_id.clone(),
                snapshot_ids: release.snapshot_ids.clone(),
                action,
                reason,
            }
        })
        .collect()
}

/// Why one version (its images `everywhere`) is kept, or that it goes: one of the
/// `keep` newest, on a channel, in use, or created after `cutoff`.
fn verdict(
    everywhere: &[&ReleaseSummary],
    in_use: &BTreeMap<String, Vec<String>>,
    (newest, keep): (bool, usize),
    cutoff: Option<&str>,
) -> (Action, String) {
    // Each channel once per region, however many architectures' images it names.
    let mut channels: Vec<String> = Vec::new();
    for named in everywhere
        .iter()
        .flat_map(|r| r.channels.iter().map(|c| format!("{c} ({})", r.region)))
    {
        if !channels.contains(&named) {
            channels.push(named);
        }
    }
    let users: Vec<String> = everywhere
        .iter()
        .flat_map(|r| in_use.get(&r.image_id).cloned().unwrap_or_default())
        .collect();
    let created = everywhere.iter().filter_map(|r| r.created.as_deref()).min();
    let young = cutoff.filter(|cutoff| !created.is_some_and(|c| rfc3339_before(c, cutoff)));
    if newest {
        (Action::Keep, format!("one of the newest {keep}"))
    } else if !channels.is_empty() {
        let named = match everywhere.len() {
            1 => everywhere[0].channels.join(", "),
            _ => channels.join(", "),
        };
        (Action::Keep, format!("channel {named} points to it"))
    } else if !users.is_empty() {
        (Action::Keep, format!("used by {}", users.join(", ")))
    } else if let Some(cutoff) = young {
        (Action::Keep, format!("created after {cutoff}"))
    } else {
        let why = "older than the newest kept releases".to_string();
        (Action::Delete, why)
    }
}

/// Deletes what the plan says, in each item's region: image, then its snapshots, then
/// the release's record there.
pub async fn apply(aws: &Aws, role: &RoleName, items: &[PruneItem]) -> Result<()> {
    for item in items.iter().filter(|i| i.action == Action::Delete) {
        let regional = aws.in_region(&item.region);
        regional.ec2.deregister_image(&item.image_id).await?;
        for snapshot in &item.snapshot_ids {
            regional.ec2.delete_snapshot(snapshot).await?;
        }
        regional
            .ssm
            .delete_parameter(&format!("{}{}", claims_path(role), item.version))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(version: &str, created: &str, channels: &[&str]) -> ReleaseSummary {
        ReleaseSummary {
            tests: None,
            version: version.into(),
            region: "eu-west-1".into(),
            image_id: format!("ami-{version}"),
            name: format!("bakery/base/{version}/x86_64"),
            created: Some(created.into()),
            base_image: None,
            base_release: None,
            arch: Some(crate::model::Arch::X86_64),
            state: super::catalog::ReleaseState::Available,
            deprecation_time: None,
            channels: channels.iter().map(|c| c.to_string()).collect(),
            snapshot_ids: vec![format!("snap-{version}")],
        }
    }

    fn actions(items: &[PruneItem]) -> Vec<(&str, Action)> {
        items
            .iter()
            .map(|i| (i.version.as_str(), i.action))
            .collect()
    }

    #[test]
    fn prune_keeps_the_newest_channel_targets_and_images_in_use() {
        let releases = [
            release("1.4.0", "2026-11-01T00:00:00.000Z", &[]),
            release("1.3.0", "2026-10-01T00:00:00.000Z", &[]),
            release("1.2.0", "2026-09-01T00:00:00.000Z", &["stable"]),
            release("1.1.0", "2026-08-01T00:00:00.000Z", &[]),
            release("1.0.0", "2026-07-01T00:00:00.000Z", &[]),
        ];
        let in_use = BTreeMap::from([("ami-1.1.0".to_string(), vec!["i-123".to_string()])]);
        let items = decide(
            &releases,
            &in_use,
            PrunePolicy {
                keep: 2,
                older_than: None,
            },
            SystemTime::now(),
        );
        assert_eq!(
            actions(&items),
            [
                ("1.4.0", Action::Keep),
                ("1.3.0", Action::Keep),
                ("1.2.0", Action::Keep),
                ("1.1.0", Action::Keep),
                ("1.0.0", Action::Delete)
            ]
        );
        assert_eq!(items[2].reason, "channel stable points to it");
        assert_eq!(items[3].reason, "used by i-123");
    }

    #[test]
    fn a_channel_is_named_once_per_region_whatever_the_architectures() {
        let mut releases = Vec::new();
        for region in ["us-east-1", "eu-west-1"] {
            for arch in crate::model::Arch::ALL {
                let mut image = release("1.0.0", "2026-07-01T00:00:00Z", &["stable"]);
                image.region = region.into();
                image.arch = Some(arch);
                releases.push(image);
            }
        }
        let policy = PrunePolicy {
            keep: 0,
            older_than: None,
        };
        let items = decide(&releases, &BTreeMap::new(), policy, SystemTime::now());
        assert_eq!(
            items[0].reason,
            "channel stable (us-east-1), stable (eu-west-1) points to it"
        );
    }

    #[test]
    fn older_than_spares_recent_releases() {
        let releases = [
            release("2.0.0", "2026-11-20T00:00:00Z", &[]),
            release("1.9.0", "2026-11-10T00:00:00Z", &[]),
            release("1.8.0", "2026-01-01T00:00:00Z", &[]),
        ];
        let now = humantime::parse_rfc3339("2026-11-22T00:00:00Z").unwrap();
        let policy = PrunePolicy {
            keep: 1,
            older_than: Some(Duration::from_secs(30 * 86400)),
        };
        let items = decide(&releases, &BTreeMap::new(), policy, now);
        assert_eq!(
            actions(&items),
            [
                ("2.0.0", Action::Keep),
                ("1.9.0", Action::Keep),
                ("1.8.0", Action::Delete)
            ]
        );
        assert!(
            items[1].reason.starts_with("created after 2026-10-23"),
            "{}",
            items[1].reason
        );
    }
}
