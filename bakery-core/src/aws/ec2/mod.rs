//! EC2: images, builder instances, networks and security groups, snapshots, and the
//! permissions that share a release. One file per kind of resource.

mod images;
mod instances;
mod network;
mod permissions;
mod regions;
mod snapshots;

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use aws_sdk_ec2::Client;

pub use images::ImageInfo;
pub use instances::{BuilderLaunch, InstanceInfo};
pub use regions::AccountRegion;

use super::error::Call;

#[derive(Clone)]
pub struct Ec2 {
    client: Client,
    region: String,
}

impl Ec2 {
    pub fn new(client: Client, region: &str) -> Self {
        Ec2 {
            client,
            region: region.to_string(),
        }
    }

    /// The call `operation` in this client's region, for its error.
    fn call(&self, operation: &'static str) -> Call<'_> {
        Call::new(operation, &self.region)
    }
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
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
