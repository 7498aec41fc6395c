//! Channels: `/bakery/<role>/channels/<name>` points at a release's image in each
//! region (data type `aws:ec2:image`). A rollback is a promote of an older version;
//! SSM keeps every value in the parameter's history.

use std::collections::BTreeMap;

use serde::Serialize;

use super::catalog::release_images;
use super::claim;
use crate::aws::Aws;
use crate::error::{Error, Result};
use crate::model::names::check_channel;
use crate::model::Release;

#[derive(Debug, Clone, Serialize)]
pub struct Promotion {
    pub release: String,
    pub channel: String,
    pub region: String,
    pub parameter: String,
    pub image_id: String,
    /// The image the channel pointed at before, if any.
    pub previous: Option<String>,
    /// Region -> image, for the other regions the release exists in.
    pub other_regions: BTreeMap<String, String>,
}

/// Points `channel` at the release's image in the region, and in every other region
/// the release's record lists.
pub async fn promote(aws: &Aws, release: &Release, channel: &str) -> Result<Promotion> {
    check_channel(channel)?;
    let images = release_images(aws, release).await?;
    let image = images.iter().find(|i| i.is_available()).ok_or_else(|| {
        Error::input(format!(
            "{release} has no available image in {}: nothing to promote",
            aws.region
        ))
        .with_hint(format!("see `bakery releases {}`", release.role))
    })?;
    let parameter = Release::channel_parameter(&release.role, channel);
    let description = format!("bakery: channel {channel} of {}", release.role);
    let previous = aws
        .ssm
        .put_image_parameter(&parameter, &image.id, &description)
        .await?;
    let mut copies = BTreeMap::new();
    if let Some(record) = claim::read(aws, release).await? {
        for (region, image_id) in record.images {
            if region == aws.region {
                continue;
            }
            aws.in_region(&region)
                .ssm
                .put_image_parameter(&parameter, &image_id, &description)
                .await?;
            copies.insert(region, image_id);
        }
    }
    Ok(Promotion {
        release: release.to_string(),
        channel: channel.to_string(),
        region: aws.region.clone(),
        parameter,
        image_id: image.id.clone(),
        previous,
        other_regions: copies,
    })
}
