//! The image: `create-image` registers it from the stopped builder with the tag
//! schema on the image and its snapshots; `wait-image` waits until it is available
//! and sets its deprecation time.

use std::time::SystemTime;

use super::super::context::Bake;
use super::super::report::ImageRecord;
use super::builder::Builder;
use crate::aws::ec2::ImageInfo;
use crate::error::Result;
use crate::model::gate::TAG_TESTS;
use crate::model::release::{image_tags, TAG_BAKE_ID};
use crate::model::time::rfc3339;
use crate::model::{Provenance, Release, Resource, Step};
use crate::ops::idempotent::{created_or_found, Looking};
use crate::wait::Transition;

pub async fn create(
    bake: &Bake<'_>,
    release: &Release,
    builder: &Builder,
    provenance: &Provenance,
) -> Result<String> {
    let plan = bake.plan;
    let mut tags = image_tags(release, provenance, &plan.recipe_tags);
    // `pending` until the gate has passed; `none` or `skipped` when it does not run.
    tags.insert(TAG_TESTS.to_string(), plan.gate.tag_value(&[]));
    let name = release.image_name(bake.build().arch());
    let ec2 = &bake.aws.ec2;
    let created = ec2
        .create_image(
            &builder.instance_id,
            &name,
            &plan.image_description(release),
            &tags,
        )
        .await;
    // A duplicate name made by this bake is this bake's first call; one made by another
    // bake stays an error (the claim makes that impossible for a bakery release).
    let looking = Looking {
        target: bake.target(&Step::CreateImage, "image", &name),
        sink: bake.sink,
        cancel: &bake.cancel,
    };
    let image_id = created_or_found(created, "InvalidAMIName.Duplicate", looking, || async {
        let ours = ec2
            .own_images(Some((TAG_BAKE_ID, &plan.bake_id)), Some(&name))
            .await?;
        Ok(ours.into_iter().next().map(|image| image.id))
    })
    .await?;
    bake.created(
        Step::CreateImage,
        Resource::Image {
            id: image_id.clone(),
            region: bake.region().to_string(),
        },
    );
    bake.info(
        Step::CreateImage,
        format!("image {image_id} ({name}) registered"),
    );
    Ok(image_id)
}

/// Waits until the image is available; returns it as the report records it and as
/// EC2 describes it (a test instance is launched from it).
pub async fn wait(bake: &Bake<'_>, image_id: &str) -> Result<(ImageRecord, ImageInfo)> {
    let image = bake
        .remover(&bake.cancel)
        .wait_for_image(&Step::WaitImage, image_id, Transition::ImageAvailable)
        .await?;
    for snapshot in &image.snapshot_ids {
        bake.created(
            Step::WaitImage,
            Resource::Snapshot {
                id: snapshot.clone(),
                region: bake.region().to_string(),
                image: image_id.to_string(),
            },
        );
    }
    let deprecate_at = SystemTime::now() + bake.plan.deprecate_after;
    bake.aws
        .ec2
        .enable_deprecation(image_id, deprecate_at)
        .await?;
    bake.info(
        Step::WaitImage,
        format!(
            "image {image_id} available; deprecated from {}",
            rfc3339(deprecate_at)
        ),
    );
    let record = ImageRecord {
        region: bake.region().to_string(),
        arch: bake.build().arch(),
        image_id: image_id.to_string(),
        name: image.name.clone(),
        snapshot_ids: image.snapshot_ids.clone(),
    };
    Ok((record, image))
}
