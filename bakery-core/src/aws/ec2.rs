//! EC2: images, builder instances, security groups, snapshots.

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState, IamInstanceProfileSpecification,
    Image, InstanceMetadataEndpointState, InstanceMetadataOptionsRequest, InstanceType,
    ResourceType, ShutdownBehavior, Tag, TagSpecification, VolumeType,
};
use aws_sdk_ec2::Client;
use base64::Engine;

use super::sdk_error;
use crate::environment::Sharing;
use crate::error::Result;

#[derive(Clone)]
pub struct Ec2 {
    client: Client,
    region: String,
}

/// What bakery needs to know about an image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    pub id: String,
    pub name: String,
    pub state: String,
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

/// Everything RunInstances needs for a builder.
#[derive(Debug, Clone)]
pub struct BuilderLaunch {
    pub image_id: String,
    pub instance_type: String,
    pub root_device_name: String,
    pub volume_size_gib: i32,
    pub volume_type: String,
    pub kms_key: Option<String>,
    pub subnet: Option<String>,
    pub security_groups: Vec<String>,
    pub instance_profile: Option<String>,
    pub user_data: String,
    /// Makes a retried RunInstances return the same instance instead of a second one.
    pub client_token: String,
    pub tags: BTreeMap<String, String>,
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn tag_specification(
    resource_type: ResourceType,
    tags: &BTreeMap<String, String>,
) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

fn image_info(image: &Image) -> ImageInfo {
    ImageInfo {
        id: image.image_id().unwrap_or_default().to_string(),
        name: image.name().unwrap_or_default().to_string(),
        state: image
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
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

impl Ec2 {
    pub fn new(client: Client, region: &str) -> Self {
        Ec2 {
            client,
            region: region.to_string(),
        }
    }

    pub async fn describe_image(&self, image_id: &str) -> Result<Option<ImageInfo>> {
        let result = self
            .client
            .describe_images()
            .image_ids(image_id)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.images().first().map(image_info)),
            Err(e) => {
                let error = sdk_error("DescribeImages", &self.region, Some(image_id), e);
                if super::is_not_found(&error) || error.aws_code() == Some("InvalidAMIID.Malformed")
                {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
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
            .map_err(|e| sdk_error("DescribeImages", &self.region, Some(name_pattern), e))?;
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
        let mut request = self.client.describe_images().owners("self");
        if let Some((key, value)) = tag {
            request = request.filters(filter(&format!("tag:{key}"), value));
        }
        if let Some(name) = name {
            request = request.filters(filter("name", name));
        }
        let out = request
            .send()
            .await
            .map_err(|e| sdk_error("DescribeImages", &self.region, name, e))?;
        Ok(out.images().iter().map(image_info).collect())
    }

    pub async fn default_vpc(&self) -> Result<Option<String>> {
        let out = self
            .client
            .describe_vpcs()
            .filters(filter("is-default", "true"))
            .send()
            .await
            .map_err(|e| sdk_error("DescribeVpcs", &self.region, None, e))?;
        Ok(out
            .vpcs()
            .first()
            .and_then(|v| v.vpc_id())
            .map(str::to_string))
    }

    pub async fn vpc_of_subnet(&self, subnet: &str) -> Result<Option<String>> {
        let result = self
            .client
            .describe_subnets()
            .subnet_ids(subnet)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .subnets()
                .first()
                .and_then(|s| s.vpc_id())
                .map(str::to_string)),
            Err(e) => {
                let error = sdk_error("DescribeSubnets", &self.region, Some(subnet), e);
                if super::is_not_found(&error) {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
    }

    /// A security group with no inbound rules (the default outbound rule stays, so
    /// steps can reach package mirrors and the SSM endpoints).
    pub async fn create_security_group(
        &self,
        name: &str,
        description: &str,
        vpc_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        let out = self
            .client
            .create_security_group()
            .group_name(name)
            .description(description)
            .vpc_id(vpc_id)
            .tag_specifications(tag_specification(ResourceType::SecurityGroup, tags))
            .send()
            .await
            .map_err(|e| sdk_error("CreateSecurityGroup", &self.region, Some(vpc_id), e))?;
        Ok(out.group_id().unwrap_or_default().to_string())
    }

    pub async fn delete_security_group(&self, group_id: &str) -> Result<()> {
        self.client
            .delete_security_group()
            .group_id(group_id)
            .send()
            .await
            .map_err(|e| sdk_error("DeleteSecurityGroup", &self.region, Some(group_id), e))?;
        Ok(())
    }

    fn run_builder_request(
        &self,
        launch: &BuilderLaunch,
    ) -> aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder {
        let volume = EbsBlockDevice::builder()
            .encrypted(true)
            .delete_on_termination(true)
            .volume_type(VolumeType::from(launch.volume_type.as_str()))
            .volume_size(launch.volume_size_gib)
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
            .client_token(&launch.client_token)
            .metadata_options(
                InstanceMetadataOptionsRequest::builder()
                    .http_tokens(HttpTokensState::Required)
                    .http_endpoint(InstanceMetadataEndpointState::Enabled)
                    .http_put_response_hop_limit(2)
                    .build(),
            )
            .block_device_mappings(
                BlockDeviceMapping::builder()
                    .device_name(&launch.root_device_name)
                    .ebs(volume)
                    .build(),
            )
            .set_iam_instance_profile(profile)
            .set_subnet_id(launch.subnet.clone())
            .set_security_group_ids(Some(launch.security_groups.clone()).filter(|g| !g.is_empty()))
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
            .map_err(|e| sdk_error("RunInstances", &self.region, Some(&launch.image_id), e))?;
        Ok(out
            .instances()
            .first()
            .and_then(|i| i.instance_id())
            .unwrap_or_default()
            .to_string())
    }

    /// RunInstances with DryRun: AWS checks permissions and parameters, launches nothing.
    pub async fn check_run_builder(&self, launch: &BuilderLaunch) -> Result<()> {
        let result = self.run_builder_request(launch).dry_run(true).send().await;
        dry_run_outcome(result, "RunInstances", &self.region, &launch.image_id)
    }

    /// CreateSecurityGroup with DryRun.
    pub async fn check_create_security_group(&self, vpc_id: &str) -> Result<()> {
        let result = self
            .client
            .create_security_group()
            .group_name("bakery-dry-run")
            .description("bakery dry run")
            .vpc_id(vpc_id)
            .dry_run(true)
            .send()
            .await;
        dry_run_outcome(result, "CreateSecurityGroup", &self.region, vpc_id)
    }

    /// CopyImage into this region with DryRun.
    pub async fn check_copy_image(
        &self,
        source_region: &str,
        source_image_id: &str,
        kms_key: Option<&str>,
    ) -> Result<()> {
        let result = self
            .client
            .copy_image()
            .source_region(source_region)
            .source_image_id(source_image_id)
            .name("bakery-dry-run")
            .encrypted(true)
            .set_kms_key_id(kms_key.map(str::to_string))
            .dry_run(true)
            .send()
            .await;
        dry_run_outcome(result, "CopyImage", &self.region, source_image_id)
    }

    /// The instance's state name (`pending`, `running`, `stopped`...) and the reason
    /// for its last state change, or None when AWS does not know the instance.
    pub async fn instance_state(
        &self,
        instance_id: &str,
    ) -> Result<Option<(String, Option<String>)>> {
        let result = self
            .client
            .describe_instances()
            .instance_ids(instance_id)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                let error = sdk_error("DescribeInstances", &self.region, Some(instance_id), e);
                return if super::is_not_found(&error) {
                    Ok(None)
                } else {
                    Err(error)
                };
            }
        };
        Ok(out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(instance_id))
            .map(|i| {
                (
                    i.state()
                        .and_then(|s| s.name())
                        .map(|n| n.as_str().to_string())
                        .unwrap_or_default(),
                    i.state_reason()
                        .and_then(|r| r.message())
                        .map(str::to_string),
                )
            }))
    }

    /// Instances (not terminated) that carry `key=value`, with their tags.
    pub async fn instances_tagged(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<(String, BTreeMap<String, String>)>> {
        let instances = self
            .live_instances(filter(&format!("tag:{key}"), value), value)
            .await?;
        Ok(instances
            .iter()
            .filter_map(|i| Some((i.instance_id()?.to_string(), tag_map(i.tags()))))
            .collect())
    }

    /// Instances that match `filter` and are not terminated (or on their way there).
    async fn live_instances(
        &self,
        filter: Filter,
        about: &str,
    ) -> Result<Vec<aws_sdk_ec2::types::Instance>> {
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
            .map_err(|e| sdk_error("DescribeInstances", &self.region, Some(about), e))?;
        Ok(out
            .reservations()
            .iter()
            .flat_map(|r| r.instances().to_vec())
            .collect())
    }

    /// Security groups that carry `key=value`, with their tags.
    pub async fn security_groups_tagged(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<(String, BTreeMap<String, String>)>> {
        let out = self
            .client
            .describe_security_groups()
            .filters(filter(&format!("tag:{key}"), value))
            .send()
            .await
            .map_err(|e| sdk_error("DescribeSecurityGroups", &self.region, Some(value), e))?;
        Ok(out
            .security_groups()
            .iter()
            .filter_map(|g| Some((g.group_id()?.to_string(), tag_map(g.tags()))))
            .collect())
    }

    /// Running instances: id, image id and tags.
    pub async fn running_instances(
        &self,
    ) -> Result<Vec<(String, String, BTreeMap<String, String>)>> {
        let mut found = Vec::new();
        let mut pages = self
            .client
            .describe_instances()
            .filters(filter("instance-state-name", "running"))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("DescribeInstances", &self.region, None, e))?;
            for instance in page.reservations().iter().flat_map(|r| r.instances()) {
                if let (Some(id), Some(image)) = (instance.instance_id(), instance.image_id()) {
                    found.push((id.to_string(), image.to_string(), tag_map(instance.tags())));
                }
            }
        }
        Ok(found)
    }

    /// Instances (not terminated) launched from the image.
    pub async fn instances_using(&self, image_id: &str) -> Result<Vec<String>> {
        let instances = self
            .live_instances(filter("image-id", image_id), image_id)
            .await?;
        Ok(instances
            .iter()
            .filter_map(|i| i.instance_id().map(str::to_string))
            .collect())
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
            .await;
        match result {
            Ok(out) => Ok(Some(
                out.image_references()
                    .iter()
                    .filter_map(|r| r.arn().map(str::to_string))
                    .collect(),
            )),
            Err(e) => {
                let error = sdk_error("DescribeImageReferences", &self.region, Some(image_id), e);
                match error.aws_code() {
                    Some("InvalidAction" | "UnsupportedOperation" | "NotImplemented") => Ok(None),
                    _ => Err(error),
                }
            }
        }
    }

    pub async fn stop_instance(&self, instance_id: &str) -> Result<()> {
        self.client
            .stop_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .map_err(|e| sdk_error("StopInstances", &self.region, Some(instance_id), e))?;
        Ok(())
    }

    pub async fn terminate_instance(&self, instance_id: &str) -> Result<()> {
        self.client
            .terminate_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .map_err(|e| sdk_error("TerminateInstances", &self.region, Some(instance_id), e))?;
        Ok(())
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
            .map_err(|e| sdk_error("CreateImage", &self.region, Some(instance_id), e))?;
        Ok(out.image_id().unwrap_or_default().to_string())
    }

    /// Copies an image from another region into this one, encrypted (with `kms_key`
    /// when given). Tags are not copied: the caller tags the copy.
    pub async fn copy_image(
        &self,
        source_region: &str,
        source_image_id: &str,
        name: &str,
        description: &str,
        kms_key: Option<&str>,
        client_token: &str,
    ) -> Result<String> {
        let out = self
            .client
            .copy_image()
            .source_region(source_region)
            .source_image_id(source_image_id)
            .name(name)
            .description(description)
            .encrypted(true)
            .set_kms_key_id(kms_key.map(str::to_string))
            .client_token(client_token)
            .send()
            .await
            .map_err(|e| sdk_error("CopyImage", &self.region, Some(source_image_id), e))?;
        Ok(out.image_id().unwrap_or_default().to_string())
    }

    /// Adds (or removes) launch permissions on an image.
    pub async fn modify_launch_permission(
        &self,
        image_id: &str,
        grantees: &Sharing,
        add: bool,
    ) -> Result<()> {
        use aws_sdk_ec2::types::{LaunchPermission, LaunchPermissionModifications};
        let mut permissions = Vec::new();
        for account in &grantees.accounts {
            permissions.push(LaunchPermission::builder().user_id(account).build());
        }
        for org in &grantees.organizations {
            permissions.push(LaunchPermission::builder().organization_arn(org).build());
        }
        for ou in &grantees.organizational_units {
            permissions.push(
                LaunchPermission::builder()
                    .organizational_unit_arn(ou)
                    .build(),
            );
        }
        let modifications = if add {
            LaunchPermissionModifications::builder().set_add(Some(permissions))
        } else {
            LaunchPermissionModifications::builder().set_remove(Some(permissions))
        };
        self.client
            .modify_image_attribute()
            .image_id(image_id)
            .launch_permission(modifications.build())
            .send()
            .await
            .map_err(|e| sdk_error("ModifyImageAttribute", &self.region, Some(image_id), e))?;
        Ok(())
    }

    /// Adds (or removes) create-volume permission on a snapshot for accounts.
    pub async fn modify_create_volume_permission(
        &self,
        snapshot_id: &str,
        accounts: &[String],
        add: bool,
    ) -> Result<()> {
        use aws_sdk_ec2::types::{OperationType, SnapshotAttributeName};
        self.client
            .modify_snapshot_attribute()
            .snapshot_id(snapshot_id)
            .attribute(SnapshotAttributeName::CreateVolumePermission)
            .operation_type(if add {
                OperationType::Add
            } else {
                OperationType::Remove
            })
            .set_user_ids(Some(accounts.to_vec()))
            .send()
            .await
            .map_err(|e| {
                sdk_error(
                    "ModifySnapshotAttribute",
                    &self.region,
                    Some(snapshot_id),
                    e,
                )
            })?;
        Ok(())
    }

    /// Whether the snapshot is encrypted, and with which key (None: not encrypted).
    pub async fn snapshot_key(&self, snapshot_id: &str) -> Result<Option<String>> {
        let out = self
            .client
            .describe_snapshots()
            .snapshot_ids(snapshot_id)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeSnapshots", &self.region, Some(snapshot_id), e))?;
        let Some(snapshot) = out.snapshots().first() else {
            return Ok(None);
        };
        if !snapshot.encrypted().unwrap_or(false) {
            return Ok(None);
        }
        // Encrypted without a key id: the account's default, the AWS managed aws/ebs.
        Ok(Some(
            snapshot.kms_key_id().unwrap_or("alias/aws/ebs").to_string(),
        ))
    }

    /// Puts `tags` on the resources (images, snapshots...).
    pub async fn tag(
        &self,
        resource_ids: &[String],
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.client
            .create_tags()
            .set_resources(Some(resource_ids.to_vec()))
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| {
                sdk_error(
                    "CreateTags",
                    &self.region,
                    resource_ids.first().map(String::as_str),
                    e,
                )
            })?;
        Ok(())
    }

    pub async fn enable_deprecation(&self, image_id: &str, at: SystemTime) -> Result<()> {
        self.client
            .enable_image_deprecation()
            .image_id(image_id)
            .deprecate_at(aws_smithy_types::DateTime::from(at))
            .send()
            .await
            .map_err(|e| sdk_error("EnableImageDeprecation", &self.region, Some(image_id), e))?;
        Ok(())
    }

    pub async fn deregister_image(&self, image_id: &str) -> Result<()> {
        self.client
            .deregister_image()
            .image_id(image_id)
            .send()
            .await
            .map_err(|e| sdk_error("DeregisterImage", &self.region, Some(image_id), e))?;
        Ok(())
    }

    /// Snapshots of this account that carry `key=value`.
    pub async fn snapshots_tagged(&self, key: &str, value: &str) -> Result<Vec<String>> {
        let out = self
            .client
            .describe_snapshots()
            .owner_ids("self")
            .filters(filter(&format!("tag:{key}"), value))
            .send()
            .await
            .map_err(|e| sdk_error("DescribeSnapshots", &self.region, Some(value), e))?;
        Ok(out
            .snapshots()
            .iter()
            .filter_map(|s| s.snapshot_id().map(str::to_string))
            .collect())
    }

    pub async fn delete_snapshot(&self, snapshot_id: &str) -> Result<()> {
        self.client
            .delete_snapshot()
            .snapshot_id(snapshot_id)
            .send()
            .await
            .map_err(|e| sdk_error("DeleteSnapshot", &self.region, Some(snapshot_id), e))?;
        Ok(())
    }
}

/// A DryRun call succeeds by failing with `DryRunOperation`; any other answer is the
/// problem the real call would meet.
fn dry_run_outcome<T, E>(
    result: std::result::Result<
        T,
        aws_smithy_runtime_api::client::result::SdkError<
            E,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    >,
    operation: &'static str,
    region: &str,
    resource: &str,
) -> Result<()>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) => {
            let error = sdk_error(operation, region, Some(resource), e);
            if error.aws_code() == Some("DryRunOperation") {
                Ok(())
            } else {
                Err(error)
            }
        }
    }
}
