//! The builder instance: `launch` (its security group, then the instance with its
//! hardening and dead-man's switch), `wait-ready`, `stop`, and `terminate`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::super::context::Bake;
use crate::aws::ec2::{BuilderLaunch, ImageInfo};
use crate::aws::state::InstanceState;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::model::release::builder_tags;
use crate::model::time::rfc3339;
use crate::model::{Launch, PublicAddress, Release, Resource, SsmPath, Step};
use crate::ops::idempotent::{created_or_found, Looking};
use crate::script::user_data::builder_user_data;
use crate::wait::{self, Poll, Transition, WaitPolicy};

/// A launched builder, and the security group made for it (none when the recipe
/// names its own groups).
pub struct Builder {
    pub instance_id: String,
    pub security_group: Option<String>,
    /// Where it runs; a test instance runs there too.
    pub network: Network,
}

impl Builder {
    /// The groups the builder has, which a test instance shares.
    pub fn security_groups(&self, bake: &Bake<'_>) -> Vec<String> {
        let named = &bake.plan.shared_builder().security_groups;
        match &self.security_group {
            Some(made) if named.is_empty() => vec![made.clone()],
            _ => named.clone(),
        }
    }
}

/// The builder's tags, with the deadline after which the janitor may remove it.
fn tags(bake: &Bake<'_>, release: &Release) -> (BTreeMap<String, String>, SystemTime) {
    let deadline = SystemTime::now() + bake.plan.builder_lifetime;
    let tags = builder_tags(
        release,
        &bake.plan.bake_id,
        &rfc3339(deadline),
        &bake.plan.recipe_tags,
    );
    (tags, deadline)
}

/// Where the builder runs and how it reaches SSM.
#[derive(Clone)]
pub struct Network {
    pub vpc: String,
    pub subnet: String,
    pub path: SsmPath,
    pub public_address: bool,
}

/// The builder's network, decided before anything is made: its subnet (the recipe's,
/// or a default subnet of the default VPC), how that subnet reaches SSM, and so
/// whether the builder needs a public address. A builder that could not reach SSM is
/// refused here, not after a launch and a quarter of an hour of waiting.
pub async fn network(bake: &Bake<'_>) -> Result<Network> {
    let ec2 = &bake.aws.ec2;
    let region = bake.region();
    let (vpc, subnet) = match &bake.plan.shared_builder().subnet {
        Some(subnet) => {
            let vpc = ec2
                .vpc_of_subnet(subnet)
                .await?
                .ok_or_else(|| Error::input(format!("subnet {subnet} not found in {region}")))?;
            (vpc, subnet.clone())
        }
        None => {
            let vpc = ec2.default_vpc().await?.ok_or_else(|| {
                Error::input(format!("{region} has no default VPC")).with_hint(
                    "set `builder.subnet` in the recipe or the environment, or pass --subnet",
                )
            })?;
            let subnet = ec2.default_subnet(&vpc).await?.ok_or_else(|| {
                Error::input(format!(
                    "the default VPC {vpc} of {region} has no default subnet"
                ))
                .with_hint(
                    "set `builder.subnet` in the recipe or the environment, or pass --subnet",
                )
            })?;
            (vpc, subnet)
        }
    };
    check_named(bake, &vpc).await?;
    let path = ec2.ssm_path(&vpc, &subnet).await?;
    let unreachable = |why: String| {
        Error::input(format!(
            "the builder could not reach SSM from subnet {subnet}: {why}"
        ))
        .with_hint(
            "give the VPC interface endpoints for ssm, ssmmessages and ec2messages, or a \
                 NAT gateway, or bake in a subnet that has them (--subnet)",
        )
    };
    let public_address = match (bake.plan.shared_builder().public_address, path) {
        (_, SsmPath::Nowhere) => {
            return Err(unreachable(
                "its route table has no default route, and the VPC no SSM endpoints".into(),
            ))
        }
        (Some(PublicAddress::Never), SsmPath::InternetGateway) => return Err(unreachable(
            "`builder.public_address = \"never\"`, but its only way out is the internet gateway"
                .into(),
        )),
        (Some(PublicAddress::Always), _) => true,
        (Some(PublicAddress::Never), _) => false,
        (None, path) => path.needs_public_address(),
    };
    Ok(Network {
        vpc,
        subnet,
        path,
        public_address,
    })
}

/// The security groups and instance types the recipe names exist, the groups in the
/// builder's VPC: refused before the claim, not at launch.
async fn check_named(bake: &Bake<'_>, vpc: &str) -> Result<()> {
    let ec2 = &bake.aws.ec2;
    let region = bake.region();
    let named = &bake.plan.shared_builder().security_groups;
    if !named.is_empty() {
        let found = ec2.security_group_vpcs(named).await?;
        for group in named {
            match found.get(group) {
                None => {
                    return Err(Error::input(format!(
                        "builder.security_groups: {group} does not exist in {region}"
                    )))
                }
                Some(other) if other != vpc => {
                    return Err(Error::input(format!(
                        "builder.security_groups: {group} is in {other}, and the builder's \
                         subnet in {vpc}"
                    )))
                }
                Some(_) => {}
            }
        }
    }
    // Each architecture's builder and test instance, each type asked once.
    let mut types = std::collections::BTreeMap::new();
    for build in &bake.plan.builds {
        let test = build.test_instance_type.as_deref();
        for (key, instance_type) in [
            ("[test] instance_type", test),
            ("builder.instance_type", Some(build.builder.instance_type())),
        ] {
            if let Some(instance_type) = instance_type {
                types.insert(instance_type, key);
            }
        }
    }
    for (instance_type, key) in types {
        if !ec2.instance_type_exists(instance_type).await? {
            return Err(Error::input(format!(
                "{key}: EC2 has no instance type {instance_type} (asked in {region})"
            ))
            .with_hint("see `aws ec2 describe-instance-types`, e.g. t3.small, m7i.large"));
        }
    }
    Ok(())
}

impl Network {
    /// How the builder reaches SSM, for the launch's info line.
    pub fn describe(&self) -> String {
        let address = if self.public_address {
            "a public address (its security group lets nothing in)"
        } else {
            "no public address"
        };
        format!(
            "subnet {} ({}); reaches SSM through {}; {address}",
            self.subnet, self.vpc, self.path
        )
    }
}

/// What RunInstances gets, for the launch and for its dry run.
pub fn launch_request(
    bake: &Bake<'_>,
    base: &ImageInfo,
    network: &Network,
    security_groups: Vec<String>,
    tags: BTreeMap<String, String>,
) -> Result<BuilderLaunch> {
    let (plan, build) = (bake.plan, bake.build());
    let builder = &build.builder;
    Ok(BuilderLaunch {
        image_id: base.id.clone(),
        instance_type: builder.instance_type().to_string(),
        root_device_name: base
            .root_device_name
            .clone()
            .unwrap_or_else(|| "/dev/xvda".into()),
        volume_size_gib: root_volume_size(builder.volume_size, base)?,
        volume_type: builder.volume_type().to_string(),
        volume_iops: builder.volume_iops,
        volume_throughput: builder.volume_throughput,
        kms_key: builder.kms_key.clone(),
        subnet: network.subnet.clone(),
        security_groups,
        associate_public_address: network.public_address,
        metadata_hop_limit: builder.metadata_hop_limit(),
        metadata_tags: false,
        instance_profile: builder.instance_profile.clone(),
        user_data: builder_user_data(
            plan.platform,
            &plan.bake_id,
            plan.builder_lifetime,
            builder.installs_ssm_agent(),
        ),
        client_token: build.id.client_token(Launch::Builder),
        tags,
    })
}

/// The builder's tags for a dry run's launch check.
pub fn dry_run_tags(bake: &Bake<'_>, release: &Release) -> BTreeMap<String, String> {
    tags(bake, release).0
}

/// The builder's root volume: the recipe's size, or the base image's; never smaller
/// than the base image's snapshot, which EC2 would refuse after the launch call.
fn root_volume_size(wanted: Option<i32>, base: &ImageInfo) -> Result<i32> {
    match (wanted, base.root_volume_gib) {
        (Some(wanted), Some(base_size)) if wanted < base_size => Err(Error::input(format!(
            "builder volume_size {wanted} GiB is smaller than the root volume of base image {} ({base_size} GiB)",
            base.id
        ))),
        (Some(wanted), _) => Ok(wanted),
        (None, Some(base_size)) => Ok(base_size),
        (None, None) => Ok(8),
    }
}

/// Launches the builder into the network decided before the claim ([`network`]).
pub async fn launch(
    bake: &Bake<'_>,
    release: &Release,
    base: &ImageInfo,
    network: Network,
) -> Result<Builder> {
    // The group, the instance and its volumes carry the same deadline.
    let (tags, deadline) = tags(bake, release);
    warn_without_profile(bake, Step::Launch);
    let mut security_groups = bake.build().builder.security_groups.clone();
    let mut made_group = None;
    if security_groups.is_empty() {
        let group = create_security_group(bake, release, &network.vpc, &tags).await?;
        security_groups.push(group.clone());
        made_group = Some(group);
    }
    let launch = launch_request(bake, base, &network, security_groups, tags)?;
    let instance_id = bake.aws.ec2.run_builder(&launch).await?;
    bake.created(
        Step::Launch,
        Resource::Instance {
            id: instance_id.clone(),
            region: bake.region().to_string(),
        },
    );
    bake.info(
        Step::Launch,
        format!(
            "builder {instance_id} ({}) from {}; it terminates itself by {} if bakery is gone",
            launch.instance_type,
            base.id,
            rfc3339(deadline)
        ),
    );
    bake.info(Step::Launch, network.describe());
    Ok(Builder {
        instance_id,
        security_group: made_group,
        network,
    })
}

/// Without an instance profile the builder's SSM agent cannot register (unless the
/// account's Default Host Management Configuration gives it a role): say so first.
pub fn warn_without_profile(bake: &Bake<'_>, step: Step) {
    if bake.plan.shared_builder().instance_profile.is_none() {
        bake.sink.emit(Event::Warning {
            message: format!(
                "[{step}] no instance profile (`builder.instance_profile`): the builder's SSM \
                 agent can register only if the account's Default Host Management \
                 Configuration gives it a role; otherwise the bake waits for it until `wait-ready` \
                 gives up"
            ),
        });
    }
}

async fn create_security_group(
    bake: &Bake<'_>,
    release: &Release,
    vpc: &str,
    tags: &BTreeMap<String, String>,
) -> Result<String> {
    let vpc = vpc.to_string();
    let name = bake.build().id.builder_group_name();
    let description = format!("bakery builder of {release}: no inbound rules");
    let ec2 = &bake.aws.ec2;
    let created = ec2
        .create_security_group(&name, &description, &vpc, tags)
        .await;
    // The name is the bake's own: a duplicate is this bake's first call.
    let looking = Looking {
        target: bake.target(&Step::Launch, "security group", &name),
        sink: bake.sink,
        cancel: &bake.cancel,
    };
    let id = created_or_found(created, "InvalidGroup.Duplicate", looking, || {
        ec2.security_group_named(&name, &vpc)
    })
    .await?;
    bake.created(
        Step::Launch,
        Resource::SecurityGroup {
            id: id.clone(),
            region: bake.region().to_string(),
        },
    );
    Ok(id)
}

/// The instance is running and its SSM agent online.
pub async fn wait_ready(bake: &Bake<'_>, builder: &Builder) -> Result<()> {
    wait_online(bake, &Step::WaitReady, &builder.instance_id).await
}

/// An instance of the bake (builder or test instance) is running and its SSM agent online.
pub async fn wait_online(bake: &Bake<'_>, step: &Step, instance_id: &str) -> Result<()> {
    let remover = bake.remover(&bake.cancel);
    remover
        .wait_for_instance(
            step,
            instance_id,
            InstanceState::Running,
            &[InstanceState::Pending],
            bake.deadlines.instance_running,
        )
        .await?;
    let ssm = &bake.aws.ssm;
    let mut target = bake.target(step, "SSM agent of", instance_id);
    target.hint = Some(
        "the instance's SSM agent never came online: check that its instance profile allows SSM \
         (AmazonSSMManagedInstanceCore) and that its subnet reaches the SSM endpoints",
    );
    // An agent may have registered while the instance was reported pending: look at once.
    let policy = WaitPolicy::new(bake.deadlines.ssm_online)
        .learning(remover.learning(Transition::AgentOnline))
        .looking_at_once();
    wait::until(target, &policy, bake.sink, &bake.cancel, || async {
        Ok(match ssm.watched_ping_status(instance_id).await? {
            Some(status) if status == "Online" => Poll::Ready(()),
            Some(status) => Poll::Pending(format!("SSM {status}")),
            None => Poll::Pending("SSM agent not registered".into()),
        })
    })
    .await
}

pub async fn stop(bake: &Bake<'_>, builder: &Builder) -> Result<()> {
    bake.aws.ec2.stop_instance(&builder.instance_id).await?;
    let passing = [
        InstanceState::Pending,
        InstanceState::Running,
        InstanceState::Stopping,
    ];
    bake.remover(&bake.cancel)
        .wait_for_instance(
            &Step::Stop,
            &builder.instance_id,
            InstanceState::Stopped,
            &passing,
            bake.deadlines.instance_stopped,
        )
        .await
}

/// Terminates the builder, waits until it is gone, then removes its security group —
/// unless a test instance still uses it (`keep_group`).
pub async fn terminate(bake: &Bake<'_>, builder: &Builder, keep_group: bool) -> Result<()> {
    let region = bake.region().to_string();
    let instance = Resource::Instance {
        id: builder.instance_id.clone(),
        region: region.clone(),
    };
    super::super::cleanup::remove(bake, &Step::Terminate, &instance, &bake.cancel).await?;
    if let Some(group) = builder.security_group.as_ref().filter(|_| !keep_group) {
        let group = Resource::SecurityGroup {
            id: group.clone(),
            region,
        };
        super::super::cleanup::remove(bake, &Step::Terminate, &group, &bake.cancel).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::aws::state::ImageState;

    fn base(root_gib: Option<i32>) -> ImageInfo {
        ImageInfo {
            id: "ami-base".into(),
            name: "al2023".into(),
            state: ImageState::Available,
            state_reason: None,
            architecture: Some("x86_64".into()),
            windows: false,
            root_device_name: Some("/dev/xvda".into()),
            root_volume_gib: root_gib,
            creation_date: None,
            deprecation_time: None,
            snapshot_ids: vec![],
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn the_root_volume_is_the_recipes_size_but_never_smaller_than_the_base() {
        assert_eq!(root_volume_size(Some(30), &base(Some(8))).unwrap(), 30);
        assert_eq!(root_volume_size(None, &base(Some(20))).unwrap(), 20);
        assert_eq!(root_volume_size(None, &base(None)).unwrap(), 8);
        let small = root_volume_size(Some(4), &base(Some(8))).unwrap_err();
        assert!(
            small.to_string().contains("smaller than the root volume"),
            "{small}"
        );
    }
}
