//! Distribution: copies of a release's image in other regions, with the same name,
//! tags (on the image and its snapshots as CopyImage creates them: it copies none),
//! deprecation time, and per-region KMS key. Regions run concurrently up to a
//! bound; every region's outcome is reported; a region that already has the release
//! (same name) is left alone, so a re-run completes a partial distribution.

use std::time::{Duration, SystemTime};

use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::catalog::{self, release_images};
use super::claim::{self, ReleaseRecord, RunLease};
use super::lock::RunLock;
use crate::aws::ec2::{CopyOf, ImageInfo};
use crate::aws::{signal, Aws};
use crate::config::recipe::DEFAULT_DEPRECATE_AFTER;
use crate::config::Destination;
use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::model::token::new_run_id;
use crate::model::{Arch, ClientToken, Release, Resource, Step};
use crate::ops::removal::Remover;
use crate::wait::{Deadlines, Transition};

/// What distribution did in one region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum CopyStatus {
    /// A new copy was made.
    Copied,
    /// The region already had the release; its tags and deprecation were completed.
    Present,
    /// The copy failed or was stopped; the outcome's `error` says why.
    Failed,
}

impl CopyStatus {
    /// The status as the report and the JSON give it: `copied`, `present`, `failed`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What distribution did in one region, for one image of the release.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionOutcome {
    /// The destination region.
    pub region: String,
    /// The architecture of the image copied (`x86_64`, `arm64`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<Arch>,
    /// Whether a copy was made, was there already, or failed.
    pub status: CopyStatus,
    /// The copy there (new or already present); None when the region failed.
    pub image_id: Option<String>,
    /// The copy's snapshots; empty when the region failed.
    pub snapshot_ids: Vec<String>,
    /// Why the region failed; None unless `status` is `failed`.
    pub error: Option<String>,
    /// The channels that name this copy here now (`bakery distribute` points the
    /// channels that name the release at its new copies).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
}

/// How a distribution runs: whose requests its copies are (a bake's, or a `bakery
/// distribute`'s: their client tokens), when the copies are deprecated, and how many
/// regions are copied to at once.
#[derive(Debug, Clone, Copy)]
pub struct Distribution<'a> {
    /// The run whose client tokens the copies use: a bake's id, or a `bakery
    /// distribute` run's.
    pub run: &'a str,
    /// When the copies are deprecated (also set on a copy already there without one).
    pub deprecate_at: SystemTime,
    /// How many regions are copied to at once (at least one).
    pub jobs: usize,
}

/// Copies `source` (in `aws`'s region) to each destination, `jobs` at a time.
pub async fn distribute(
    aws: &Aws,
    source: &ImageInfo,
    destinations: &[Destination],
    how: Distribution<'_>,
    sink: &dyn EventSink,
    cancel: &CancellationToken,
) -> Vec<RegionOutcome> {
    let source_arch = source.architecture.as_deref().and_then(Arch::of_ec2);
    let tasks: Vec<_> = destinations
        .iter()
        .map(|destination| {
            Box::pin(async move {
                let copied = copy_to(aws, how, source, destination, sink, cancel).await;
                RegionOutcome::of(&destination.region, source_arch, copied)
            })
        })
        .collect();
    stream::iter(tasks)
        .buffer_unordered(how.jobs.max(1))
        .collect()
        .await
}

impl RegionOutcome {
    fn of(
        region: &str,
        arch: Option<Arch>,
        copied: Result<(CopyStatus, ImageInfo)>,
    ) -> RegionOutcome {
        let (status, image, error) = match copied {
            Ok((status, image)) => (status, Some(image), None),
            Err(error) => (CopyStatus::Failed, None, Some(error.to_string())),
        };
        RegionOutcome {
            region: region.to_string(),
            arch,
            status,
            image_id: image.as_ref().map(|i| i.id.clone()),
            snapshot_ids: image.map(|i| i.snapshot_ids).unwrap_or_default(),
            error,
            channels: Vec::new(),
        }
    }
}

/// What a region needs: a copy, or only completing the copy it has.
#[derive(Debug, Clone, PartialEq)]
pub enum RegionWork {
    /// The region has no available image of the release's name: copy it.
    Copy,
    /// The region has the release's image already (a re-run, or a bake killed after
    /// CopyImage): its tags and deprecation time are completed when missing.
    Complete {
        /// The available image of the release's name the region has.
        image: Box<ImageInfo>,
        /// A tag of the source's is missing or differs on it: the source's tags go on
        /// it and its snapshots.
        retag: bool,
        /// It has no deprecation time: it gets the distribution's.
        deprecate: bool,
    },
}

/// Decides a region's work from the images of the release's name it already has.
pub fn region_work(source: &ImageInfo, present: Vec<ImageInfo>) -> RegionWork {
    let Some(existing) = present.into_iter().find(ImageInfo::is_available) else {
        return RegionWork::Copy;
    };
    RegionWork::Complete {
        retag: source
            .tags
            .iter()
            .any(|(key, value)| existing.tags.get(key) != Some(value)),
        deprecate: existing.deprecation_time.is_none(),
        image: Box::new(existing),
    }
}

/// Copies `source` from `source_aws`'s region into the destination, or completes the
/// copy that region has.
async fn copy_to(
    source_aws: &Aws,
    how: Distribution<'_>,
    source: &ImageInfo,
    destination: &Destination,
    sink: &dyn EventSink,
    cancel: &CancellationToken,
) -> Result<(CopyStatus, ImageInfo)> {
    let aws = &source_aws.in_region(&destination.region);
    let present = aws.ec2.own_images(None, Some(&source.name)).await?;
    if let RegionWork::Complete {
        image,
        retag,
        deprecate,
    } = region_work(source, present)
    {
        let work = (retag, deprecate.then_some(how.deprecate_at));
        let image = complete_present(aws, source, *image, work, sink).await?;
        return Ok((CopyStatus::Present, image));
    }
    let image_id = start_copy(source_aws, aws, how.run, source, destination, sink).await?;
    let copied = async {
        let image = Remover {
            aws,
            sink,
            cancel,
            deadlines: &Deadlines::default(),
        }
        .wait_for_image(&Step::Distribute, &image_id, Transition::ImageCopied)
        .await?;
        aws.ec2
            .enable_deprecation(&image_id, how.deprecate_at)
            .await?;
        Ok::<_, Error>(image)
    };
    match copied.await {
        Ok(image) => Ok((CopyStatus::Copied, image)),
        Err(error) => {
            remove_copy(aws, &image_id, sink).await;
            Err(error)
        }
    }
}

/// The copy `aws`'s region has already: its tags completed from the source's when
/// `retag`, its deprecation set when it has none.
async fn complete_present(
    aws: &Aws,
    source: &ImageInfo,
    existing: ImageInfo,
    (retag, deprecate_at): (bool, Option<SystemTime>),
    sink: &dyn EventSink,
) -> Result<ImageInfo> {
    let region = &aws.region;
    sink.emit(Event::Info {
        step: Step::Distribute,
        message: format!("{region} already has {} ({})", source.name, existing.id),
    });
    if retag {
        aws.ec2
            .tag(std::slice::from_ref(&existing.id), &source.tags)
            .await?;
        if !existing.snapshot_ids.is_empty() {
            aws.ec2.tag(&existing.snapshot_ids, &source.tags).await?;
        }
        sink.emit(Event::Info {
            step: Step::Distribute,
            message: format!("{region}: tags completed on {}", existing.id),
        });
    }
    if let Some(at) = deprecate_at {
        aws.ec2.enable_deprecation(&existing.id, at).await?;
    }
    Ok(existing)
}

/// CopyImage into `aws`'s region, tagged as created; the new image's id.
async fn start_copy(
    source_aws: &Aws,
    aws: &Aws,
    run: &str,
    source: &ImageInfo,
    destination: &Destination,
    sink: &dyn EventSink,
) -> Result<String> {
    let region = &aws.region;
    let description = format!("{} (copy from {})", source.name, source_aws.region);
    let kms_key = destination.kms_key.as_deref();
    let token = ClientToken::copy(run, &source.id, region, kms_key);
    let copy = CopyOf {
        source_region: &source_aws.region,
        source_image_id: &source.id,
        name: &source.name,
        description: &description,
        kms_key,
        tags: &source.tags,
    };
    let image_id = match aws.ec2.copy_image(&copy, &token).await {
        Ok(image_id) => image_id,
        Err(error) => {
            // A copy AWS made though its answer never came (the SDK gave up): the
            // release's name finds it; nothing available of that name was there before.
            let made = aws.ec2.own_images(None, Some(&source.name)).await;
            for image in made.unwrap_or_default() {
                if !image.is_available() {
                    remove_copy(aws, &image.id, sink).await;
                }
            }
            return Err(error);
        }
    };
    sink.emit(Event::ResourceCreated {
        step: Step::Distribute,
        resource: Resource::Image {
            id: image_id.clone(),
            region: region.clone(),
        },
    });
    Ok(image_id)
}

/// A half-made copy goes, with its snapshots, whatever interrupted the distribution.
async fn remove_copy(aws: &Aws, image_id: &str, sink: &dyn EventSink) {
    signal::always_sent(remove_copy_now(aws, image_id, sink)).await
}

async fn remove_copy_now(aws: &Aws, image_id: &str, sink: &dyn EventSink) {
    let never = CancellationToken::new();
    let deadlines = Deadlines::default();
    let remover = Remover {
        aws,
        sink,
        cancel: &never,
        deadlines: &deadlines,
    };
    let snapshots = aws
        .ec2
        .describe_image(image_id)
        .await
        .ok()
        .flatten()
        .map(|i| i.snapshot_ids)
        .unwrap_or_default();
    let image = Resource::Image {
        id: image_id.to_string(),
        region: aws.region.clone(),
    };
    let snapshots = snapshots.into_iter().map(|id| Resource::Snapshot {
        id,
        region: aws.region.clone(),
        image: image_id.to_string(),
    });
    for resource in std::iter::once(image).chain(snapshots) {
        if remover.remove(&Step::Distribute, &resource).await.is_ok() {
            sink.emit(Event::ResourceRemoved {
                step: Step::Distribute,
                resource,
            });
        }
    }
}

/// When a run that starts copying now has given up on its copies: their wait, and a
/// margin for the calls around it.
pub fn copies_done_by(now: SystemTime) -> SystemTime {
    now + Deadlines::default().image_available + Duration::from_secs(5 * 60)
}

/// `bakery distribute`: copies an existing release — each of its architectures, all
/// at once (each copy waits minutes on AWS) — from this region to the destinations
/// that do not have it yet, and adds the copies to the release's record. `cancel`
/// (a signal) stops the waits: a copy not yet available is removed, not left.
pub async fn complete(
    aws: &Aws,
    release: &Release,
    destinations: &[Destination],
    jobs: usize,
    sink: &dyn EventSink,
    cancel: &CancellationToken,
) -> Result<Vec<RegionOutcome>> {
    let run = new_run_id(SystemTime::now());
    let sources = available_sources(aws, release).await?;
    let channels = catalog::channels(aws, &release.role).await?;
    let lock = RunLock::take(&run);
    let mut record = leased_record(aws, release, &sources, &run, lock.as_ref()).await?;
    let copies = sources.iter().map(|source| {
        let how = Distribution {
            run: &run,
            deprecate_at: deprecation_of(source),
            jobs,
        };
        async move { distribute(aws, source, destinations, how, sink, cancel).await }
    });
    let copied = futures_util::future::join_all(copies).await;
    let mut all = Vec::new();
    for (source, mut outcomes) in sources.iter().zip(copied) {
        point_channels(aws, release, &channels, source, &mut outcomes).await?;
        if let Some(record) = &mut record {
            record_copies(record, source, &outcomes);
        }
        all.extend(outcomes);
    }
    if let Some(record) = &record {
        claim::write_everywhere(aws, release, record).await?;
    }
    Ok(all)
}

/// The release's available images in this region, one per architecture.
async fn available_sources(aws: &Aws, release: &Release) -> Result<Vec<ImageInfo>> {
    let sources: Vec<ImageInfo> = release_images(aws, release)
        .await?
        .into_iter()
        .filter(ImageInfo::is_available)
        .collect();
    if sources.is_empty() {
        return Err(Error::input(format!(
            "{release} has no available image in {}",
            aws.region
        ))
        .with_hint("distribute from the region it was baked in (--region)"));
    }
    Ok(sources)
}

/// Refuses to copy a release without each architecture its record names here: a
/// disabled (or gone) image of one would leave the copies a release of fewer.
async fn every_architecture(
    aws: &Aws,
    release: &Release,
    record: &ReleaseRecord,
    sources: &[ImageInfo],
) -> Result<()> {
    for (arch, regions) in &record.architectures {
        let Some(image_id) = regions.get(&aws.region) else {
            continue;
        };
        if !sources.iter().any(|s| &s.id == image_id) {
            let state = match aws.ec2.describe_image(image_id).await? {
                Some(image) => image.state.to_string(),
                None => "gone".to_string(),
            };
            return Err(Error::input(format!(
                "{release}'s {arch} image {image_id} in {} is {state}: distributing the others \
                 would make a release of fewer architectures there",
                aws.region
            ))
            .with_hint("enable it again (EnableImage), or distribute from another region"));
        }
    }
    Ok(())
}

/// The release's record (refused when `sources` lack an architecture it names here),
/// once it says who copies, until when, and by which lock:
/// `bakery cleanup` spares the copies while this run lives, and takes them once it is
/// gone. The record returned is the one to write back at the end, without that note.
async fn leased_record(
    aws: &Aws,
    release: &Release,
    sources: &[ImageInfo],
    run: &str,
    lock: Option<&RunLock>,
) -> Result<Option<ReleaseRecord>> {
    let mut record = claim::read(aws, release).await?;
    if let Some(record) = &mut record {
        every_architecture(aws, release, record, sources).await?;
        let until = copies_done_by(SystemTime::now());
        record.distributing = Some(RunLease::new(run, until, lock.map(RunLock::note)));
        claim::write_everywhere(aws, release, record).await?;
        record.distributing = None;
    }
    Ok(record)
}

/// When a source's copies are deprecated: as the source is.
fn deprecation_of(source: &ImageInfo) -> SystemTime {
    source
        .deprecation_time
        .as_deref()
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        .unwrap_or_else(|| SystemTime::now() + DEFAULT_DEPRECATE_AFTER)
}

/// The channels that name `source` here name its copies in the regions it now reaches;
/// each outcome says which channels (without their architecture keys) it moved.
async fn point_channels(
    aws: &Aws,
    release: &Release,
    channels: &std::collections::BTreeMap<String, String>,
    source: &ImageInfo,
    outcomes: &mut [RegionOutcome],
) -> Result<()> {
    let description = format!("bakery: channel of {}", release.role);
    for (channel, _) in channels.iter().filter(|(_, image)| **image == source.id) {
        let parameter = Release::channel_parameter(&release.role, channel);
        for outcome in outcomes.iter_mut() {
            let Some(copy) = &outcome.image_id else {
                continue;
            };
            // Each PutParameter is a version of the channel's history: none for a
            // channel that names the copy already.
            let ssm = &aws.in_region(&outcome.region).ssm;
            if ssm.parameter(&parameter).await?.as_ref() != Some(copy) {
                ssm.point_image_parameter(&parameter, copy, &description)
                    .await?;
                let name = channel.split('/').next().unwrap_or(channel).to_string();
                if !outcome.channels.contains(&name) {
                    outcome.channels.push(name);
                }
            }
        }
    }
    Ok(())
}

/// The copies of `source`, in the record: under its architecture, and in `images` when
/// the source is there (records made before releases had several architectures have
/// `images` only).
fn record_copies(record: &mut ReleaseRecord, source: &ImageInfo, outcomes: &[RegionOutcome]) {
    let arch = source.architecture.as_deref().and_then(Arch::of_ec2);
    for outcome in outcomes {
        let Some(image_id) = &outcome.image_id else {
            continue;
        };
        let region = outcome.region.clone();
        if record.images.values().any(|id| *id == source.id) {
            record.images.insert(region.clone(), image_id.clone());
        }
        if let Some(arch) = arch.filter(|_| !record.architectures.is_empty()) {
            let regions = record.architectures.entry(arch).or_default();
            regions.insert(region, image_id.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::aws::state::ImageState;

    fn image(id: &str, state: ImageState, tags: &[(&str, &str)], deprecated: bool) -> ImageInfo {
        ImageInfo {
            id: id.into(),
            name: "bakery/base/1.0.0/x86_64".into(),
            state,
            state_reason: None,
            architecture: Some("x86_64".into()),
            windows: false,
            root_device_name: None,
            root_volume_gib: None,
            creation_date: None,
            deprecation_time: deprecated.then(|| "2027-02-21T00:00:00.000Z".into()),
            snapshot_ids: vec![],
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn a_region_without_the_release_gets_a_copy() {
        let source = image(
            "ami-src",
            ImageState::Available,
            &[("bakery:role", "base")],
            true,
        );
        assert_eq!(region_work(&source, vec![]), RegionWork::Copy);
        let failed = image("ami-old", ImageState::Failed, &[], false);
        assert_eq!(
            region_work(&source, vec![failed]),
            RegionWork::Copy,
            "only an available image counts"
        );
    }

    #[test]
    fn a_region_with_the_release_only_completes_what_its_copy_lacks() {
        let tags = [("bakery:role", "base"), ("bakery:version", "1.0.0")];
        let source = image("ami-src", ImageState::Available, &tags, true);
        let complete = image("ami-copy", ImageState::Available, &tags, true);
        assert!(matches!(
            region_work(&source, vec![complete]),
            RegionWork::Complete {
                retag: false,
                deprecate: false,
                ..
            }
        ));
        // A bake killed right after CopyImage: no tags, no deprecation yet.
        let bare = image("ami-copy", ImageState::Available, &[], false);
        assert!(matches!(
            region_work(&source, vec![bare]),
            RegionWork::Complete {
                retag: true,
                deprecate: true,
                ..
            }
        ));
    }
}
