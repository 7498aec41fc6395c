//! What a dry run does in place of creating: the launch and the copies checked with
//! EC2 DryRun; and the check of the steps' secrets, which bakes make too.

use super::super::context::Bake;
use super::{builder, gate};
use crate::aws::ec2::ImageInfo;
use crate::error::{Error, Result};
use crate::model::{Release, Step};

/// The steps' secret parameters exist and are SecureString, before anything is
/// launched (their values are read on the builder, never here).
pub async fn secrets(bake: &Bake<'_>) -> Result<()> {
    let region = bake.region();
    for name in &bake.plan.secret_parameters {
        match bake.aws.ssm.parameter_type(name).await?.as_deref() {
            Some("SecureString") => {}
            Some(other) => {
                return Err(Error::input(format!(
                    "SSM parameter {name} in {region} is a {other}: a step's `secrets` must be \
                     SecureString parameters"
                ))
                .with_hint("put it again with --type SecureString"))
            }
            None => {
                return Err(Error::input(format!(
                    "SSM parameter {name}, named in a step's `secrets`, does not exist in {region}"
                )))
            }
        }
    }
    bake.info(
        Step::CheckSecrets,
        format!(
            "{} SecureString parameter(s) present; the builder reads them itself",
            bake.plan.secret_parameters.len()
        ),
    );
    Ok(())
}

/// CreateSecurityGroup (when the bake would make one) and RunInstances with DryRun.
pub async fn launch(bake: &Bake<'_>, release: &Release, base: &ImageInfo) -> Result<()> {
    let ec2 = &bake.aws.ec2;
    let network = builder::network(bake).await?;
    bake.info(Step::CheckLaunch, network.describe());
    builder::warn_without_profile(bake, Step::CheckLaunch);
    let security_groups = bake.build().builder.security_groups.clone();
    if security_groups.is_empty() {
        ec2.check_create_security_group(&network.vpc).await?;
        bake.info(
            Step::CheckLaunch,
            format!("ec2:CreateSecurityGroup in {} would succeed", network.vpc),
        );
        // The group does not exist: the launch is checked with the VPC's default.
    }
    let tags = builder::dry_run_tags(bake, release);
    let launch = builder::launch_request(bake, base, &network, security_groups.clone(), tags)?;
    ec2.check_run_builder(&launch).await?;
    bake.info(
        Step::CheckLaunch,
        format!(
            "ec2:RunInstances {} from {} would succeed",
            launch.instance_type, base.id
        ),
    );
    if bake.plan.test.is_some() {
        // The new image does not exist yet: its base stands in for it.
        let (test, _) = gate::request(bake, release, base, &network, security_groups)?;
        ec2.check_run_builder(&test).await?;
        bake.info(
            Step::CheckLaunch,
            format!(
                "ec2:RunInstances {} for the test instance would succeed (checked from {})",
                test.instance_type, base.id
            ),
        );
    }
    Ok(())
}

/// CopyImage into every region of the release with DryRun.
pub async fn distribute(bake: &Bake<'_>, base: &ImageInfo) -> Result<()> {
    for destination in &bake.plan.copy_to {
        bake.aws
            .in_region(&destination.region)
            .ec2
            .check_copy_image(bake.region(), &base.id, destination.kms_key.as_deref())
            .await?;
        bake.info(
            Step::CheckDistribute,
            format!("ec2:CopyImage to {} would succeed", destination.region),
        );
    }
    Ok(())
}
