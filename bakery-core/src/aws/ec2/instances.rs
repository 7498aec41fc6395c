//! Instances: launching a builder (and checking the launch with DryRun), reading
//! states, finding instances by tag or image, stopping and terminating.

use std::collections::BTreeMap;

use aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState, IamInstanceProfileSpecification,
    Instance, InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceMetadataTagsState, InstanceNetworkInterfaceSpecification, InstanceType, ResourceType,
    ShutdownBehavior, VolumeType,
};
use base64::Engine;

use super::{filter, tag_filter, tag_map, tag_specification, Ec2};
use crate::aws::batch::Answer;
use crate::aws::error::{dry_run_outcome, Call, Context, OrAbsent};
use crate::aws::state::InstanceState;
use crate::error::Result;
use crate::model::ClientToken;

/// Each instance of `ids` that EC2 knows, in one DescribeInstances (None when EC2
/// refuses the list for an id it does not know: [`crate::aws::batch`] asks again).
pub(super) async fn by_id(
    client: aws_sdk_ec2::Client,
    region: String,
    ids: Vec<String>,
) -> Answer<InstanceInfo> {
    client
        .describe_instances()
        .set_instance_ids(Some(ids.clone()))
        .send()
        .await
        .context(Call::new("DescribeInstances", &region).on_the_one(&ids))
        .map(|out| {
            out.reservations()
                .iter()
                .flat_map(|r| r.instances())
                .map(|i| {
                    (
                        i.instance_id().unwrap_or_default().to_string(),
                        instance_info(i),
                    )
                })
                .collect()
        })
        .or_absent()
}

/// Everything RunInstances needs for a builder.
#[derive(Debug, Clone)]
pub struct BuilderLaunch {
    pub image_id: String,
    pub instance_type: String,
    pub root_device_name: String,
    pub volume_size_gib: i32,
    pub volume_type: String,
    pub volume_iops: Option<i32>,
    pub volume_throughput: Option<i32>,
    pub kms_key: Option<String>,
    pub subnet: String,
    /// Empty: the VPC's default group (a dry run's check, before bakery's exists).
    pub security_groups: Vec<String>,
    pub associate_public_address: bool,
    pub metadata_hop_limit: i32,
    /// The instance's tags readable from its metadata service.
    pub metadata_tags: bool,
    pub instance_profile: Option<String>,
    pub user_data: String,
    /// Makes a retried RunInstances return the same instance instead of a second one.
    pub client_token: ClientToken,
    pub tags: BTreeMap<String, String>,
}

/// What bakery needs to know about an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceInfo {
    pub id: String,
    pub image_id: String,
    pub state: InstanceState,
    /// Why it last changed state, as EC2 says it.
    pub state_reason: Option<String>,
    pub tags: BTreeMap<String, String>,
}

fn instance_info(instance: &Instance) -> InstanceInfo {
    InstanceInfo {
        id: instance.instance_id().unwrap_or_default().to_string(),
        image_id: instance.image_id().unwrap_or_default().to_string(),
        state: InstanceState::parse(
            instance
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str())
                .unwrap_or_default(),
        ),
        state_reason: instance
            .state_reason()
            .and_then(|r| r.message())
            .map(str::to_string),
        tags: tag_map(instance.tags()),
    }
}

impl Ec2 {
    fn run_builder_request(&self, launch: &BuilderLaunch) -> RunInstancesFluentBuilder {
        let volume = EbsBlockDevice::builder()
            .encrypted(true)
            .delete_on_termination(true)
            .volume_type(VolumeType::from(launch.volume_type.as_str()))
            .volume_size(launch.volume_size_gib)
            .set_iops(launch.volume_iops)
            .set_throughput(launch.volume_throughput)
            .set_kms_key_id(launch.kms_key.clone())
            .build();
        let profile = launch.instance_profile.as_ref().map(|p| {
            let spec = IamInstanceProfileSpecification::builder();
            if p.starts_with("arn:") {
                spec.arn(p)
            } else {
                spec.name(p)
            }
            .build()
        });
        self.client
            .run_instances()
            .image_id(&launch.image_id)
            .instance_type(InstanceType::from(launch.instance_type.as_str()))
            .min_count(1)
            .max_count(1)
            .client_token(launch.client_token.as_str())
            .metadata_options(
                InstanceMetadataOptionsRequest::builder()
                    .http_tokens(HttpTokensState::Required)
                    .http_endpoint(InstanceMetadataEndpointState::Enabled)
                    .http_put_response_hop_limit(launch.metadata_hop_limit)
                    .instance_metadata_tags(if launch.metadata_tags {
                        InstanceMetadataTagsState::Enabled
                    } else {
                        InstanceMetadataTagsState::Disabled
                    })
                    .build(),
            )
            .block_device_mappings(
                BlockDeviceMapping::builder()
                    .device_name(&launch.root_device_name)
                    .ebs(volume)
                    .build(),
            )
            .set_iam_instance_profile(profile)
            .network_interfaces(
                InstanceNetworkInterfaceSpecification::builder()
                    .device_index(0)
                    .subnet_id(&launch.subnet)
                    .set_groups(Some(launch.security_groups.clone()).filter(|g| !g.is_empty()))
                    .associate_public_ip_address(launch.associate_public_address)
                    .delete_on_termination(true)
                    .build(),
            )
            .instance_initiated_shutdown_behavior(ShutdownBehavior::Terminate)
            .user_data(base64::engine::general_purpose::STANDARD.encode(&launch.user_data))
            .tag_specifications(tag_specification(ResourceType::Instance, &launch.tags))
            .tag_specifications(tag_specification(ResourceType::Volume, &launch.tags))
    }

    pub async fn run_builder(&self, launch: &BuilderLaunch) -> Result<String> {
        let out = self
            .run_builder_request(launch)
            .send()
            .await
            .context(self.call("RunInstances").on(&launch.image_id))?;
        Ok(out
            .instances()
            .first()
            .and_then(|i| i.instance_id())
            .unwrap_or_default()
            .to_string())
    }

    /// RunInstances with DryRun: AWS checks permissions and parameters, launches nothing.
    pub async fn check_run_builder(&self, launch: &BuilderLaunch) -> Result<()> {
        let result = self
            .run_builder_request(launch)
            .dry_run(true)
            .send()
            .await
            .context(self.call("RunInstances").on(&launch.image_id));
        dry_run_outcome(result)
    }

    /// Instances (not terminated) that carry `key=value`.
    pub async fn instances_tagged(&self, key: &str, value: &str) -> Result<Vec<InstanceInfo>> {
        self.live_instances(tag_filter(key, value), value).await
    }

    /// Instances that match `filter` and are not terminated (or on their way there).
    async fn live_instances(&self, filter: Filter, about: &str) -> Result<Vec<InstanceInfo>> {
        let states = Filter::builder()
            .name("instance-state-name")
            .values("pending")
            .values("running")
            .values("stopping")
            .values("stopped")
            .build();
        let out = self
            .client
            .describe_instances()
            .filters(filter)
            .filters(states)
            .send()
            .await
            .context(self.call("DescribeInstances").on(about))?;
        Ok(out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .map(instance_info)
            .collect())
    }

    /// Running instances, every page of them.
    pub async fn running_instances(&self) -> Result<Vec<InstanceInfo>> {
        let mut found = Vec::new();
        let mut pages = self
            .client
            .describe_instances()
            .filters(filter("instance-state-name", "running"))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.context(self.call("DescribeInstances"))?;
            found.extend(
                page.reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .filter(|i| i.instance_id().is_some() && i.image_id().is_some())
                    .map(instance_info),
            );
        }
        Ok(found)
    }

    /// Instances (not terminated) launched from the image.
    pub async fn instances_using(&self, image_id: &str) -> Result<Vec<String>> {
        let instances = self
            .live_instances(filter("image-id", image_id), image_id)
            .await?;
        Ok(instances.into_iter().map(|i| i.id).collect())
    }

    /// Whether EC2 knows the instance type (DescribeInstanceTypes answers
    /// `InvalidInstanceType` for one it does not).
    pub async fn instance_type_exists(&self, instance_type: &str) -> Result<bool> {
        let result = self
            .client
            .describe_instance_types()
            .instance_types(aws_sdk_ec2::types::InstanceType::from(instance_type))
            .send()
            .await
            .context(self.call("DescribeInstanceTypes").on(instance_type));
        match result {
            Ok(out) => Ok(!out.instance_types().is_empty()),
            Err(error) if error.aws_code() == Some("InvalidInstanceType") => Ok(false),
            Err(error) => Err(error),
        }
    }

    pub async fn stop_instance(&self, instance_id: &str) -> Result<()> {
        self.client
            .stop_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .context(self.call("StopInstances").on(instance_id))?;
        Ok(())
    }

    pub async fn terminate_instance(&self, instance_id: &str) -> Result<()> {
        self.client
            .terminate_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .context(self.call("TerminateInstances").on(instance_id))?;
        Ok(())
    }
}
