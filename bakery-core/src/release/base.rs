//! Where a recipe's base points now: an image id, an SSM parameter (such as AWS's
//! public Amazon Linux ones), the newest image of an owner matching a name, or another
//! role's release. A bake's `resolve-base` and `bakery outdated` ask the same.

use crate::aws::ec2::ImageInfo;
use crate::aws::Aws;
use crate::config::BaseImage;
use crate::error::{Error, Result};
use crate::model::{Arch, Release};
use crate::release::catalog;

/// The image the base resolves to in `aws`'s region, and the release it is when the
/// base is another role's.
pub async fn resolve(
    aws: &Aws,
    base: &BaseImage,
    arch: Arch,
) -> Result<(ImageInfo, Option<Release>)> {
    let region = &aws.region;
    let mut release = None;
    let image = match base {
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
            .latest_image(owner, name, arch.as_str())
            .await?
            .ok_or_else(|| {
                Error::input(format!(
                    "no available {arch} image of owner {owner} named like `{name}` in {region}"
                ))
                .with_hint("check `base.owner` and `base.name` in the recipe")
            })?,
        BaseImage::Release { role, selector } => {
            let (base_release, image) = catalog::resolve(aws, role, selector, arch).await?;
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
    Ok((image, release))
}
