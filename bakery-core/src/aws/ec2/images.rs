//! Images: finding, registering, copying, tagging, deprecating and deregistering them.

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_sdk_ec2::types::{Image, ResourceType};

use super::{filter, tag_filter, tag_map, tag_specification, tags_of, Ec2};
use crate::aws::batch::Answer;
use crate::aws::error::{dry_run_outcome, Call, Context, OrAbsent};
use crate::aws::state::ImageState;
use crate::error::Result;
use crate::model::ClientToken;

/// Each image of `ids` that EC2 knows, in one DescribeImages (None when EC2 refuses
/// the list for an id it does not know, or a malformed one: [`crate::aws::batch`] asks
/// again).
pub(super) async fn by_id(
    client: aws_sdk_ec2::Client,
    region: String,
    ids: Vec<String>,
) -> Answer<ImageInfo> {
    let found = client
        .describe_images()
        .set_image_ids(Some(ids.clone()))
        .send()
        .await
        .context(Call::new("DescribeImages", &region).on_the_one(&ids));
    match found {
        Err(error) if error.aws_code() == Some("InvalidAMIID.Malformed") => Ok(None),
        found => found
            .map(|out| {
                out.images()
                    .iter()
                    .map(|i| (i.image_id().unwrap_or_default().to_string(), image_info(i)))
                    .collect()
            })
            .or_absent(),
    }
}

/// What bakery needs to know about an image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    pub id: String,
    pub name: String,
    pub state: ImageState,
    pub state_reason: Option<String>,
    pub architecture: Option<String>,
    pub windows: bool,
    pub root_device_name: Option<String>,
    /// Size of the root volume's snapshot, GiB.
    pub root_volume_gib: Option<i32>,
    pub creation_date: Option<String>,
    pub deprecation_time: Option<String>,
    pub snapshot_ids: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

impl ImageInfo {
    pub fn is_available(&self) -> bool {
        self.state == ImageState::Available
    }
}

fn image_info(image: &Image) -> ImageInfo {
    ImageInfo {
        id: image.image_id().unwrap_or_default().to_string(),
        name: image.name().unwrap_or_default().to_string(),
        state: ImageState::parse(image.state().map(|s| s.as_str()).unwrap_or_default()),
        state_reason: image
            .state_reason()
            .and_then(|r| r.message())
            .map(str::to_string),
        architecture: image.architecture().map(|a| a.as_str().to_string()),
        windows: image
            .platform()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("windows")),
        root_device_name: image.root_device_name().map(str::to_string),
        root_volume_gib: image
            .block_device_mappings()
            .iter()
            .find(|m| m.device_name() == image.root_device_name())
            .and_then(|m| m.ebs())
            .and_then(|e| e.volume_size()),
        creation_date: image.creation_date().map(str::to_string),
        deprecation_time: image.deprecation_time().map(str::to_string),
        snapshot_ids: image
            .block_device_mappings()
            .iter()
            .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()).map(str::to_string))
            .collect(),
        tags: tag_map(image.tags()),
    }
}

/// What a CopyImage makes: the source, the copy's name and description, the key it is
/// encrypted with (the region's default when none), and the tags it is created with.
#[derive(Debug, Clone, Copy)]
pub struct CopyOf<'a> {
    pub source_region: &'a str,
    pub source_image_id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub kms_key: Option<&'a str>,
    pub tags: &'a BTreeMap<String, String>,
}

impl Ec2 {
    /// The image, or None when the region has no such image (or the id is malformed).
    pub async fn describe_image(&self, image_id: &str) -> Result<Option<ImageInfo>> {
        let found = self
            .client
            .describe_images()
            .image_ids(image_id)
            // What the image is, whatever its state: a disabled one too.
            .include_disabled(true)
            .send()
            .await
            .context(self.call("DescribeImages").on(image_id));
        match found {
            Err(error) if error.aws_code() == Some("InvalidAMIID.Malformed") => Ok(None),
            found => Ok(found
                .or_absent()?
                .and_then(|out| out.images().first().map(image_info))),
        }
    }

    /// The newest available image of `owner` whose name matches `name_pattern`.
    pub async fn latest_image(
        &self,
        owner: &str,
        name_pattern: &str,
        arch: &str,
    ) -> Result<Option<ImageInfo>> {
        let out = self
            .client
            .describe_images()
            .owners(owner)
            .filters(filter("name", name_pattern))
            .filters(filter("state", "available"))
            .filters(filter("architecture", arch))
            .send()
            .await
            .context(self.call("DescribeImages").on(name_pattern))?;
        let mut images: Vec<ImageInfo> = out.images().iter().map(image_info).collect();
        images.sort_by(|a, b| a.creation_date.cmp(&b.creation_date));
        Ok(images.pop())
    }

    /// Images of this account that carry `key=value`, or whose name is `name`.
    pub async fn own_images(
        &self,
        tag: Option<(&str, &str)>,
        name: Option<&str>,
    ) -> Result<Vec<ImageInfo>> {
        // Disabled images are the account's too (a release someone disabled): listed.
        let mut request = self
            .client
            .describe_images()
            .owners("self")
            .include_disabled(true);
        if let Some((key, value)) = tag {
            request = request.filters(tag_filter(key, value));
        }
        if let Some(name) = name {
            request = request.filters(filter("name", name));
        }
        let mut call = self.call("DescribeImages");
        if let Some(name) = name {
            call = call.on(name);
        }
        let out = request.send().await.context(call)?;
        Ok(out.images().iter().map(image_info).collect())
    }

    /// What uses the image (instances, launch templates...), as ARNs; None where the
    /// endpoint does not offer DescribeImageReferences.
    pub async fn image_references(&self, image_id: &str) -> Result<Option<Vec<String>>> {
        let result = self
            .client
            .describe_image_references()
            .image_ids(image_id)
            .include_all_resource_types(true)
            .send()
            .await
            .context(self.call("DescribeImageReferences").on(image_id));
        match result {
            Ok(out) => Ok(Some(
                out.image_references()
                    .iter()
                    .filter_map(|r| r.arn().map(str::to_string))
                    .collect(),
            )),
            Err(error)
                if matches!(
                    error.aws_code(),
                    Some("InvalidAction" | "UnsupportedOperation" | "NotImplemented")
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Registers the AMI, with the same tags on the image and on its snapshots.
    pub async fn create_image(
        &self,
        instance_id: &str,
        name: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        let out = self
            .client
            .create_image()
            .instance_id(instance_id)
            .name(name)
            .description(description)
            .tag_specifications(tag_specification(ResourceType::Image, tags))
            .tag_specifications(tag_specification(ResourceType::Snapshot, tags))
            .send()
            .await
            .context(self.call("CreateImage").on(instance_id))?;
        Ok(out.image_id().unwrap_or_default().to_string())
    }

    fn copy_image_request(
        &self,
        source_region: &str,
        source_image_id: &str,
        name: &str,
        kms_key: Option<&str>,
    ) -> aws_sdk_ec2::operation::copy_image::builders::CopyImageFluentBuilder {
        self.client
            .copy_image()
            .source_region(source_region)
            .source_image_id(source_image_id)
            .name(name)
            .encrypted(true)
            .set_kms_key_id(kms_key.map(str::to_string))
    }

    /// Copies an image from another region into this one, encrypted (with its key when
    /// given), the copy and its snapshots tagged as they are created (CopyImage copies
    /// no tags; an account whose policy wants tags on create refuses an untagged copy).
    pub async fn copy_image(
        &self,
        copy: &CopyOf<'_>,
        client_token: &ClientToken,
    ) -> Result<String> {
        let out = self
            .copy_image_request(
                copy.source_region,
                copy.source_image_id,
                copy.name,
                copy.kms_key,
            )
            .description(copy.description)
            .tag_specifications(tag_specification(ResourceType::Image, copy.tags))
            .tag_specifications(tag_specification(ResourceType::Snapshot, copy.tags))
            .client_token(client_token.as_str())
            .send()
            .await
            .context(self.call("CopyImage").on(copy.source_image_id))?;
        Ok(out.image_id().unwrap_or_default().to_string())
    }

    /// CopyImage into this region with DryRun.
    pub async fn check_copy_image(
        &self,
        source_region: &str,
        source_image_id: &str,
        kms_key: Option<&str>,
    ) -> Result<()> {
        let result = self
            .copy_image_request(source_region, source_image_id, "bakery-dry-run", kms_key)
            .dry_run(true)
            .send()
            .await
            .context(self.call("CopyImage").on(source_image_id));
        dry_run_outcome(result)
    }

    /// Puts `tags` on the resources (images, snapshots...).
    pub async fn tag(
        &self,
        resource_ids: &[String],
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        let mut call = self.call("CreateTags");
        if let Some(first) = resource_ids.first() {
            call = call.on(first);
        }
        self.client
            .create_tags()
            .set_resources(Some(resource_ids.to_vec()))
            .set_tags(Some(tags_of(tags)))
            .send()
            .await
            .context(call)?;
        Ok(())
    }

    pub async fn enable_deprecation(&self, image_id: &str, at: SystemTime) -> Result<()> {
        self.client
            .enable_image_deprecation()
            .image_id(image_id)
            .deprecate_at(aws_smithy_types::DateTime::from(at))
            .send()
            .await
            .context(self.call("EnableImageDeprecation").on(image_id))?;
        Ok(())
    }

    pub async fn deregister_image(&self, image_id: &str) -> Result<()> {
        self.client
            .deregister_image()
            .image_id(image_id)
            .send()
            .await
            .context(self.call("DeregisterImage").on(image_id))?;
        Ok(())
    }
}
