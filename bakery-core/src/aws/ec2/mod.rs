//! EC2: images, builder instances, networks and security groups, snapshots, and the
//! permissions that share a release. One file per kind of resource.

mod images;
mod instances;
mod network;
mod permissions;
mod regions;
mod snapshots;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use aws_sdk_ec2::Client;

use super::batch::Batch;

pub use images::{CopyOf, ImageInfo};
pub use instances::{BuilderLaunch, InstanceInfo};

use super::error::Call;

#[derive(Clone)]
pub struct Ec2 {
    client: Client,
    region: String,
    /// The looks of every wait in this region, one DescribeInstances at a time.
    watched_instances: Arc<Batch<InstanceInfo>>,
    /// The same for DescribeImages.
    watched_images: Arc<Batch<ImageInfo>>,
}

/// Ids per batched Describe call: EC2 takes up to 1,000 instance ids in one request;
/// 100 keeps each answer small.
const IDS_PER_CALL: usize = 100;

impl Ec2 {
    pub fn new(client: Client, region: &str) -> Self {
        let (for_instances, for_images) = (client.clone(), client.clone());
        let (instance_region, image_region) = (region.to_string(), region.to_string());
        Ec2 {
            watched_instances: Batch::new(IDS_PER_CALL, move |ids| {
                instances::by_id(for_instances.clone(), instance_region.clone(), ids)
            }),
            watched_images: Batch::new(IDS_PER_CALL, move |ids| {
                images::by_id(for_images.clone(), image_region.clone(), ids)
            }),
            client,
            region: region.to_string(),
        }
    }

    /// The instance as the process's next batched DescribeInstances in this region sees
    /// it (what the waits look with); None when EC2 does not know it.
    pub async fn watched_instance(
        &self,
        instance_id: &str,
    ) -> crate::error::Result<Option<InstanceInfo>> {
        self.watched_instances.get(instance_id).await
    }

    /// The image as the next batched DescribeImages in this region sees it.
    pub async fn watched_image(&self, image_id: &str) -> crate::error::Result<Option<ImageInfo>> {
        self.watched_images.get(image_id).await
    }

    /// The call `operation` in this client's region, for its error.
    fn call(&self, operation: &'static str) -> Call<'_> {
        Call::new(operation, &self.region)
    }
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn filter_values(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

fn tag_filter(key: &str, value: &str) -> Filter {
    filter(&format!("tag:{key}"), value)
}

fn tags_of(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn tag_specification(
    resource_type: ResourceType,
    tags: &BTreeMap<String, String>,
) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(tags_of(tags)))
        .build()
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}
