//! Channels: `/bakery/<role>/channels/<name>` points at a release's image in each
//! region (data type `aws:ec2:image`). A rollback is a promote of an older version;
//! SSM keeps every value in the parameter's history.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aws::Aws;
use crate::error::{Error, Result};
use crate::recipe::RoleName;
use crate::release::{channels_path, Release};
use crate::releases::release_images;

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

/// A channel name: lower-case letters, digits and dashes (`stable`, `latest`, `canary`).
pub fn check_channel(name: &str) -> Result<()> {
    RoleName::parse(name).map(|_| ()).map_err(|_| {
        Error::input(format!(
            "invalid channel `{name}`: use lower-case letters, digits and dashes, e.g. stable"
        ))
    })
}

/// Points `channel` at the release's image in the region.
pub async fn promote(aws: &Aws, release: &Release, channel: &str) -> Result<Promotion> {
    check_channel(channel)?;
    let images = release_images(aws, release).await?;
    let image = images
        .iter()
        .find(|i| i.state == "available")
        .ok_or_else(|| {
            Error::input(format!(
            "{release} has no available image in {}: nothing to promote (see `bakery releases {}`)",
            aws.region, release.role
        ))
        })?;
    let parameter = format!("{}{channel}", channels_path(&release.role));
    let previous = aws
        .ssm
        .put_image_parameter(
            &parameter,
            &image.id,
            &format!("bakery: channel {channel} of {}", release.role),
        )
        .await?;
    // The same channel in every other region the release record lists.
    let mut copies = BTreeMap::new();
    if let Some(record) = aws.ssm.parameter(&release.claim_parameter()).await? {
        let record: serde_json::Value = serde_json::from_str(&record).unwrap_or_default();
        for (region, image_id) in record["images"].as_object().into_iter().flatten() {
            let Some(image_id) = image_id.as_str() else {
                continue;
            };
            if *region == aws.region {
                continue;
            }
            let description = format!("bakery: channel {channel} of {}", release.role);
            aws.in_region(region)
                .ssm
                .put_image_parameter(&parameter, image_id, &description)
                .await?;
            copies.insert(region.clone(), image_id.to_string());
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
