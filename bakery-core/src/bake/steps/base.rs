//! `resolve-base`: the image the builder starts from, checked against the recipe's
//! architecture and platform.

use super::super::context::Bake;
use crate::aws::ec2::ImageInfo;
use crate::config::BaseImage;
use crate::error::{Error, Result};
use crate::model::{Platform, Release, Step};
use crate::release::catalog;

/// The base image, and the release it is when the recipe is layered on another role.
pub struct Base {
    pub image: ImageInfo,
    pub release: Option<Release>,
}

pub async fn resolve(bake: &Bake<'_>) -> Result<Base> {
    let (aws, plan) = (bake.aws, bake.plan);
    let region = bake.region();
    let arch = plan.arch.as_str();
    let mut release = None;
    let image = match &plan.base {
        BaseImage::Image(id) => aws.ec2.describe_image(id).await?.ok_or_else(|| {
            Error::input(format!("base image {id} not found in {region}"))
                .with_hint("check `base.image` in the recipe")
        })?,
        BaseImage::SsmParameter(path) => {
            let id = aws.ssm.parameter(path).await?.ok_or_else(|| {
                Error::input(format!(
                    "SSM parameter {path} (the recipe's `base.ssm_parameter`) not found in {region}"
                ))
            })?;
            aws.ec2.describe_image(&id).await?.ok_or_else(|| {
                Error::input(format!(
                    "SSM parameter {path} points to {id}, which does not exist in {region}"
                ))
            })?
        }
        BaseImage::Filter { owner, name } => aws
            .ec2
            .latest_image(owner, name, arch)
            .await?
            .ok_or_else(|| {
                Error::input(format!(
                    "no available {arch} image of owner {owner} named like `{name}` in {region}"
                ))
                .with_hint("check `base.owner` and `base.name` in the recipe")
            })?,
        BaseImage::Release { role, selector } => {
            let (base_release, image) = catalog::resolve(aws, role, selector).await?;
            release = Some(base_release);
            image
        }
        BaseImage::DryRunRelease {
            release: planned,
            built_from,
        } => {
            release = Some(planned.clone());
            aws.ec2.describe_image(built_from).await?.ok_or_else(|| {
                Error::input(format!(
                    "base image {built_from} (that {planned} would be built from) not found in {region}"
                ))
            })?
        }
    };
    if !image.is_available() {
        return Err(Error::input(format!(
            "base image {} is `{}` in {region}, not available",
            image.id, image.state
        )));
    }
    if let Some(image_arch) = &image.architecture {
        if image_arch != arch {
            return Err(Error::input(format!(
                "base image {} is {image_arch} but the recipe's arch is {arch}",
                image.id
            )));
        }
    }
    if image.windows != (plan.platform == Platform::Windows) {
        return Err(Error::input(format!(
            "base image {} is {} but the recipe's platform is {}",
            image.id,
            if image.windows { "windows" } else { "linux" },
            plan.platform
        )));
    }
    let stands_in = match &plan.base {
        BaseImage::DryRunRelease { release, .. } => {
            format!(", standing in for {release}, which the dry run did not make")
        }
        _ => String::new(),
    };
    bake.info(
        Step::ResolveBase,
        format!("base image {} ({}){stands_in}", image.id, image.name),
    );
    Ok(Base { image, release })
}
