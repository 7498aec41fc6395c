//! The release gate: `test-launch` starts a test instance from the new image with the
//! builder's hardening, `test-ready` waits for it and its SSM agent, `test-firstboot`
//! reads how the firstboot agent ended on it, each `test/<name>` runs a test over Run
//! Command, and `test-terminate` removes the instance (and the group it used).

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::super::context::Bake;
use super::builder::{self, Network};
use super::command;
use crate::aws::ec2::{BuilderLaunch, ImageInfo};
use crate::error::{Error, FirstbootFailure, Result};
use crate::model::release::test_instance_tags;
use crate::model::time::rfc3339;
use crate::model::{Launch, Release, Resource, Step};
use crate::ops::idempotent::{created_or_found, Looking};
use crate::plan::{CommandStep, TestPlan};
use crate::script::firstboot::FirstbootOutcome;
use crate::script::user_data::builder_user_data;

/// A launched test instance, and the security group made for it (only when it has
/// none to share: `bakery test`, without the builder's).
pub struct TestInstance {
    pub instance_id: String,
    pub security_group: Option<String>,
}

/// Where the test instance runs: the builder's network, or (for `bakery test`) the
/// same decision made again.
pub enum Placement<'n> {
    /// The builder's subnet and security groups.
    Builder {
        network: &'n Network,
        security_groups: Vec<String>,
    },
    /// Decided now, with a group of its own unless the recipe names groups.
    Own,
}

pub fn test_plan<'p>(bake: &Bake<'p>) -> Result<&'p TestPlan> {
    bake.plan
        .test
        .as_ref()
        .ok_or_else(|| Error::input("the recipe has no release gate (`[[tests]]` or `[test]`)"))
}

/// RunInstances for the test instance: the builder's hardening (IMDSv2 only, no key
/// pair, encrypted root, its network and groups), the gate's type and lifetime, and
/// its tags readable from instance metadata. Also the dry run's check.
pub fn request(
    bake: &Bake<'_>,
    release: &Release,
    image: &ImageInfo,
    network: &Network,
    security_groups: Vec<String>,
) -> Result<(BuilderLaunch, SystemTime)> {
    let test = test_plan(bake)?;
    let deadline = SystemTime::now() + test.lifetime;
    let tags = test_instance_tags(
        release,
        &bake.plan.bake_id,
        &rfc3339(deadline),
        test.runlist.override_tag(),
        &with_recipe_tags(bake, &test.tags),
    );
    let mut request = builder::launch_request(bake, image, network, security_groups, tags)?;
    let build = bake.build();
    request.instance_type = build
        .test_instance_type
        .clone()
        .unwrap_or(request.instance_type);
    // The agent reads the runlist override and placeholders from the instance's tags.
    request.metadata_tags = true;
    request.user_data = builder_user_data(
        bake.plan.platform,
        &bake.plan.bake_id,
        test.lifetime,
        build.builder.installs_ssm_agent(),
    );
    request.client_token = build.id.client_token(Launch::TestInstance);
    Ok((request, deadline))
}

pub async fn launch(
    bake: &Bake<'_>,
    release: &Release,
    image: &ImageInfo,
    placement: Placement<'_>,
) -> Result<TestInstance> {
    let test = test_plan(bake)?;
    let decided;
    let (network, security_groups, made_group) = match placement {
        Placement::Builder {
            network,
            security_groups,
        } => (network, security_groups, None),
        Placement::Own => {
            decided = builder::network(bake).await?;
            let mut groups = bake.build().builder.security_groups.clone();
            let mut made = None;
            if groups.is_empty() {
                let group = own_group(bake, release, &decided.vpc).await?;
                groups.push(group.clone());
                made = Some(group);
            }
            (&decided, groups, made)
        }
    };
    let (request, deadline) = request(bake, release, image, network, security_groups)?;
    let instance_id = bake.aws.ec2.run_builder(&request).await?;
    bake.launched_test_instance(&instance_id);
    bake.created(
        Step::TestLaunch,
        Resource::Instance {
            id: instance_id.clone(),
            region: bake.region().to_string(),
        },
    );
    bake.info(
        Step::TestLaunch,
        format!(
            "test instance {instance_id} ({}) from {}; firstboot runlist: {}; it terminates \
             itself by {} if bakery is gone",
            request.instance_type,
            image.id,
            test.runlist.as_str(),
            rfc3339(deadline)
        ),
    );
    Ok(TestInstance {
        instance_id,
        security_group: made_group,
    })
}

/// `bakery test` launches without a builder: a group with no inbound rules of its own.
async fn own_group(bake: &Bake<'_>, release: &Release, vpc: &str) -> Result<String> {
    // Tagged as the instance is, so that `bakery cleanup` finds it with it.
    let deadline = SystemTime::now() + test_plan(bake)?.lifetime;
    let tags = test_instance_tags(
        release,
        &bake.plan.bake_id,
        &rfc3339(deadline),
        None,
        &with_recipe_tags(bake, &BTreeMap::new()),
    );
    let name = bake.build().id.test_group_name();
    let description = format!("bakery test instance of {release}: no inbound rules");
    let ec2 = &bake.aws.ec2;
    let created = ec2
        .create_security_group(&name, &description, vpc, &tags)
        .await;
    let looking = Looking {
        target: bake.target(&Step::TestLaunch, "security group", &name),
        sink: bake.sink,
        cancel: &bake.cancel,
    };
    let id = created_or_found(created, "InvalidGroup.Duplicate", looking, || {
        ec2.security_group_named(&name, vpc)
    })
    .await?;
    bake.created(
        Step::TestLaunch,
        Resource::SecurityGroup {
            id: id.clone(),
            region: bake.region().to_string(),
        },
    );
    Ok(id)
}

/// The recipe's and environment's tags, then the gate's own (`[test] tags`) over them:
/// what an account's tag policy may require of every instance and group.
fn with_recipe_tags(bake: &Bake<'_>, own: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut tags = bake.plan.recipe_tags.clone();
    tags.extend(own.clone());
    tags
}

pub async fn wait_ready(bake: &Bake<'_>, instance: &TestInstance) -> Result<()> {
    builder::wait_online(bake, &Step::TestReady, &instance.instance_id).await
}

/// One Run Command on the test instance: the firstboot outcome, or a test. A
/// firstboot failure is named by the phase the agent says it failed in.
pub async fn run(
    bake: &Bake<'_>,
    command: &CommandStep,
    release: &Release,
    instance: &TestInstance,
) -> Result<()> {
    let ran = command::run(bake, command, release, &instance.instance_id).await;
    let (Step::TestFirstboot, Err(Error::StepFailed(failed))) = (&command.step, &ran) else {
        return ran;
    };
    let Some(outcome) = FirstbootOutcome::find(&failed.output_tail) else {
        return ran;
    };
    Err(Error::FirstbootFailed(Box::new(FirstbootFailure {
        instance_id: instance.instance_id.clone(),
        region: bake.region().to_string(),
        phase: outcome.phase,
        exit_code: outcome.command_exit_code.unwrap_or(outcome.exit_code),
        error: outcome.error,
        output_tail: failed.output_tail.clone(),
    })))
}

/// The stage ran past `[test] timeout` during `step`.
pub fn stage_timed_out(bake: &Bake<'_>, release: &Release, step: &Step) -> Error {
    let timeout = bake
        .plan
        .test
        .as_ref()
        .map(|t| t.timeout)
        .unwrap_or_default();
    Error::Timeout {
        what: "the release gate of",
        resource: release.to_string(),
        region: bake.region().to_string(),
        after: timeout,
        last_state: step.to_string(),
        hint: Some("raise `[test] timeout` in recipe.toml, or make the tests faster"),
    }
}

/// Terminates the test instance, then the group it used when the gate owns it (the
/// builder's, or its own).
pub async fn terminate(
    bake: &Bake<'_>,
    instance: &TestInstance,
    group: Option<&str>,
) -> Result<()> {
    let region = bake.region().to_string();
    let test = Resource::Instance {
        id: instance.instance_id.clone(),
        region: region.clone(),
    };
    super::super::cleanup::remove(bake, &Step::TestTerminate, &test, &bake.cancel).await?;
    if let Some(group) = group.or(instance.security_group.as_deref()) {
        let group = Resource::SecurityGroup {
            id: group.to_string(),
            region,
        };
        super::super::cleanup::remove(bake, &Step::TestTerminate, &group, &bake.cancel).await?;
    }
    Ok(())
}
