//! Distribution: copies of a release's image in other regions, with the same name,
//! tags (on the image and its snapshots, set explicitly: CopyImage does not copy
//! them), deprecation time, and per-region KMS key. Regions run concurrently up to a
//! bound; every region's outcome is reported; a region that already has the release
//! (same name) is left alone, so a re-run completes a partial distribution.

use std::collections::BTreeMap;
use std::time::SystemTime;

use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::aws::ec2::ImageInfo;
use crate::aws::Aws;
use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::ledger::Resource;
use crate::pipeline::Deadlines;
use crate::removal::Remover;

/// A region to copy to, and its KMS key (the account's default EBS key when None).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destination {
    pub region: String,
    pub kms_key: Option<String>,
}

impl Destination {
    /// `bakery distribute`'s targets: the flags, else the environment's regions other
    /// than its first; each with the flag's key, else the environment's.
    pub fn for_release(
        copy_to: &[String],
        kms_keys: &[String],
        environment: Option<&crate::environment::Environment>,
    ) -> Result<Vec<Destination>> {
        let settings = environment.map(|e| e.settings());
        let mut regions = crate::environment::split_list(copy_to);
        if regions.is_empty() {
            regions =
                settings.map_or_else(Vec::new, |s| s.regions.iter().skip(1).cloned().collect());
        }
        let mut destinations = Destination::parse(&regions, kms_keys)?;
        for destination in &mut destinations {
            if destination.kms_key.is_none() {
                destination.kms_key =
                    settings.and_then(|s| s.kms_keys.get(&destination.region).cloned());
            }
        }
        if destinations.is_empty() {
            return Err(Error::input(
                "no region to copy to: give --regions (or --copy-to), or set the environment's \
                 `regions` in bakery.toml (--env)",
            ));
        }
        Ok(destinations)
    }

    /// `--copy-to eu-west-1,us-west-2` with `--kms-key eu-west-1=alias/ebs`.
    pub fn parse(regions: &[String], kms_keys: &[String]) -> Result<Vec<Destination>> {
        let mut keys = parse_kms_keys(kms_keys)?;
        let destinations: Vec<Destination> = crate::environment::split_list(regions)
            .into_iter()
            .map(|region| Destination {
                kms_key: keys.remove(&region),
                region,
            })
            .collect();
        if let Some(region) = keys.keys().next() {
            return Err(Error::input(format!(
                "--kms-key for {region}, which is not in --copy-to"
            )));
        }
        Ok(destinations)
    }
}

/// `--kms-key REGION=KEY` values, by region.
pub fn parse_kms_keys(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut keys = BTreeMap::new();
    for pair in pairs {
        let (region, key) = pair
            .split_once('=')
            .filter(|(region, key)| !region.is_empty() && !key.is_empty())
            .ok_or_else(|| {
                Error::input(format!(
                    "--kms-key `{pair}`: write REGION=KEY, e.g. eu-west-1=alias/ebs"
                ))
            })?;
        keys.insert(region.to_string(), key.to_string());
    }
    Ok(keys)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionOutcome {
    pub region: String,
    /// `copied`, `present` (it was already there) or `failed`.
    pub status: &'static str,
    pub image_id: Option<String>,
    pub snapshot_ids: Vec<String>,
    pub error: Option<String>,
}

/// Copies `source` (in `aws`'s region) to each destination, `jobs` at a time.
pub async fn distribute(
    aws: &Aws,
    source: &ImageInfo,
    destinations: &[Destination],
    deprecate_at: SystemTime,
    jobs: usize,
    sink: &dyn EventSink,
    cancel: &CancellationToken,
) -> Vec<RegionOutcome> {
    let tasks: Vec<_> = destinations
        .iter()
        .map(|destination| {
            Box::pin(region_outcome(
                aws,
                source,
                destination,
                deprecate_at,
                sink,
                cancel,
            ))
        })
        .collect();
    stream::iter(tasks)
        .buffer_unordered(jobs.max(1))
        .collect()
        .await
}

async fn region_outcome(
    aws: &Aws,
    source: &ImageInfo,
    destination: &Destination,
    deprecate_at: SystemTime,
    sink: &dyn EventSink,
    cancel: &CancellationToken,
) -> RegionOutcome {
    let target = aws.in_region(&destination.region);
    let copied = copy_to(
        aws,
        &target,
        source,
        destination,
        deprecate_at,
        sink,
        cancel,
    )
    .await;
    let (status, image, error) = match copied {
        Ok((status, image)) => (status, Some(image), None),
        Err(error) => ("failed", None, Some(error.to_string())),
    };
    RegionOutcome {
        region: destination.region.clone(),
        status,
        image_id: image.as_ref().map(|i| i.id.clone()),
        snapshot_ids: image.map(|i| i.snapshot_ids).unwrap_or_default(),
        error,
    }
}

async fn copy_to(
    source_aws: &Aws,
    aws: &Aws,
    source: &ImageInfo,
    destination: &Destination,
    deprecate_at: SystemTime,
    sink: &dyn EventSink,
    cancel: &CancellationToken,
) -> Result<(&'static str, ImageInfo)> {
    let region = &destination.region;
    if let Some(existing) = aws
        .ec2
        .own_images(None, Some(&source.name))
        .await?
        .into_iter()
        .find(|i| i.state == "available")
    {
        sink.emit(Event::Info {
            step: "distribute".into(),
            message: format!("{region} already has {} ({})", source.name, existing.id),
        });
        // A copy whose bakery died after CopyImage may lack what is set afterwards.
        let untagged = source
            .tags
            .iter()
            .any(|(key, value)| existing.tags.get(key) != Some(value));
        if untagged {
            aws.ec2
                .tag(std::slice::from_ref(&existing.id), &source.tags)
                .await?;
            if !existing.snapshot_ids.is_empty() {
                aws.ec2.tag(&existing.snapshot_ids, &source.tags).await?;
            }
            sink.emit(Event::Info {
                step: "distribute".into(),
                message: format!("{region}: tags completed on {}", existing.id),
            });
        }
        if existing.deprecation_time.is_none() {
            aws.ec2
                .enable_deprecation(&existing.id, deprecate_at)
                .await?;
        }
        return Ok(("present", existing));
    }
    let description = format!("{} (copy from {})", source.name, source_aws.region);
    let token = format!("bakery-copy-{}", source.id);
    let image_id = aws
        .ec2
        .copy_image(
            &source_aws.region,
            &source.id,
            &source.name,
            &description,
            destination.kms_key.as_deref(),
            &token,
        )
        .await?;
    let resource = Resource::Image {
        id: image_id.clone(),
        region: region.clone(),
    };
    sink.emit(Event::ResourceCreated {
        resource: resource.clone(),
    });
    let copied = async {
        aws.ec2
            .tag(std::slice::from_ref(&image_id), &source.tags)
            .await?;
        let image = Remover {
            aws,
            sink,
            cancel,
            deadlines: &Deadlines::default(),
        }
        .wait_for_image("distribute", &image_id)
        .await?;
        if !image.snapshot_ids.is_empty() {
            aws.ec2.tag(&image.snapshot_ids, &source.tags).await?;
        }
        aws.ec2.enable_deprecation(&image_id, deprecate_at).await?;
        Ok::<_, Error>(image)
    };
    match copied.await {
        Ok(image) => Ok(("copied", image)),
        Err(error) => {
            // A half-made copy goes, with its snapshots.
            let deadlines = Deadlines::default();
            let never = CancellationToken::new();
            let remover = Remover {
                aws,
                sink,
                cancel: &never,
                deadlines: &deadlines,
            };
            let snapshots = aws
                .ec2
                .describe_image(&image_id)
                .await
                .ok()
                .flatten()
                .map(|i| i.snapshot_ids)
                .unwrap_or_default();
            if remover.remove(&resource).await.is_ok() {
                sink.emit(Event::ResourceRemoved { resource });
            }
            for snapshot in snapshots {
                let snapshot = Resource::Snapshot {
                    id: snapshot,
                    region: region.clone(),
                    image: image_id.clone(),
                };
                if remover.remove(&snapshot).await.is_ok() {
                    sink.emit(Event::ResourceRemoved { resource: snapshot });
                }
            }
            Err(error)
        }
    }
}

/// `bakery distribute`: copies an existing release from this region to the
/// destinations that do not have it yet, and adds the copies to the release's record.
pub async fn complete(
    aws: &Aws,
    release: &crate::release::Release,
    destinations: &[Destination],
    jobs: usize,
    sink: &dyn EventSink,
) -> Result<Vec<RegionOutcome>> {
    let images = crate::releases::release_images(aws, release).await?;
    let source = images.into_iter().find(|i| i.state == "available").ok_or_else(|| {
        Error::input(format!(
            "{release} has no available image in {}: distribute from the region it was baked in (--region)",
            aws.region
        ))
    })?;
    let deprecate_at = source
        .deprecation_time
        .as_deref()
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        .unwrap_or_else(|| SystemTime::now() + crate::recipe::DEFAULT_DEPRECATE_AFTER);
    let outcomes = distribute(
        aws,
        &source,
        destinations,
        deprecate_at,
        jobs,
        sink,
        &CancellationToken::new(),
    )
    .await;
    let claim = release.claim_parameter();
    if let Some(text) = aws.ssm.parameter(&claim).await? {
        let mut record: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({}));
        for outcome in &outcomes {
            if let Some(image_id) = &outcome.image_id {
                record["images"][&outcome.region] = serde_json::Value::String(image_id.clone());
            }
        }
        let regions: Vec<String> = record["images"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(r, _)| r.clone())
            .collect();
        for region in regions {
            let aws = if region == aws.region {
                aws.clone()
            } else {
                aws.in_region(&region)
            };
            aws.ssm
                .overwrite_parameter(&claim, &record.to_string())
                .await?;
        }
    }
    Ok(outcomes)
}
