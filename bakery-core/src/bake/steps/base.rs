//! `resolve-base`: the image the builder starts from, checked against the recipe's
//! architecture and platform.

use super::super::context::Bake;
use crate::aws::ec2::ImageInfo;
use crate::config::BaseImage;
use crate::error::{Error, Result};
use crate::model::{Platform, Release, Step};
use crate::release::base;

/// The base image, and the release it is when the recipe is layered on another role.
pub struct Base {
    pub image: ImageInfo,
    pub release: Option<Release>,
}

/// The base, resolved and checked during `step` (`resolve-base`, or `check-changed`).
pub async fn resolve(bake: &Bake<'_>, step: Step) -> Result<Base> {
    let (aws, plan, build) = (bake.aws, bake.plan, bake.build());
    let region = bake.region();
    let arch = build.arch().as_str();
    let (image, release) = base::resolve(aws, &build.base, build.arch()).await?;
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
    let stands_in = match &build.base {
        BaseImage::DryRunRelease { release, .. } => {
            format!(", standing in for {release}, which the dry run did not make")
        }
        _ => String::new(),
    };
    bake.info(
        step,
        format!("base image {} ({}){stands_in}", image.id, image.name),
    );
    Ok(Base { image, release })
}
