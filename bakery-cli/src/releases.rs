//! `bakery releases <role>`, `bakery promote`, `bakery deprecate`: a role's releases
//! and their channels in the region.

use bakery_core::aws::{Aws, AwsSettings};
use bakery_core::recipe::RoleName;
use bakery_core::release::Release;
use bakery_core::{channels, distribute, releases, Error};

use crate::render::{Renderer, Style};

use crate::output::{fail, print_json};
use crate::Output;

pub async fn list(role: &str, output: Output, aws: &AwsSettings) -> u8 {
    let listed = async {
        let role = RoleName::parse(role).map_err(Error::input)?;
        let aws = Aws::connect(aws).await?;
        releases::list(&aws, &role).await
    };
    let releases = match listed.await {
        Ok(releases) => releases,
        Err(error) => return fail(output, &error),
    };
    if output == Output::Json {
        print_json(&releases);
        return 0;
    }
    if releases.is_empty() {
        println!("no releases of {role}");
        return 0;
    }
    println!(
        "{:<16} {:<14} {:<22} {:<12} {:<22} {:<12} CHANNELS",
        "VERSION", "REGION", "IMAGE", "STATE", "CREATED", "BASE"
    );
    for r in releases {
        println!(
            "{:<16} {:<14} {:<22} {:<12} {:<22} {:<12} {}",
            r.version,
            r.region,
            r.image_id,
            r.state,
            r.created
                .as_deref()
                .unwrap_or("-")
                .chars()
                .take(19)
                .collect::<String>(),
            r.base_image.as_deref().unwrap_or("-"),
            r.channels.join(",")
        );
    }
    0
}

pub async fn promote(
    role: &str,
    version: &str,
    channel: &str,
    output: Output,
    aws: &AwsSettings,
) -> u8 {
    let promoted = async {
        let release = Release::parse(role, version)?;
        channels::check_channel(channel)?;
        let aws = Aws::connect(aws).await?;
        channels::promote(&aws, &release, channel).await
    };
    match promoted.await {
        Ok(promotion) if output == Output::Json => {
            print_json(&promotion);
            0
        }
        Ok(p) => {
            let before = p
                .previous
                .as_deref()
                .map(|id| format!(" (was {id})"))
                .unwrap_or_default();
            println!(
                "{}: channel {} -> {} in {}{before}",
                p.release, p.channel, p.image_id, p.region
            );
            0
        }
        Err(error) => fail(output, &error),
    }
}

pub async fn deprecate(
    role: &str,
    version: &str,
    at: &str,
    output: Output,
    aws: &AwsSettings,
) -> u8 {
    let deprecated = async {
        let release = Release::parse(role, version)?;
        let when = releases::parse_when(at)?;
        let aws = Aws::connect(aws).await?;
        let images = releases::deprecate(&aws, &release, when).await?;
        Ok::<_, Error>((release, when, images, aws.region))
    };
    match deprecated.await {
        Ok((release, when, images, region)) => {
            let when = humantime::format_rfc3339_seconds(when).to_string();
            if output == Output::Json {
                print_json(&serde_json::json!({
                    "release": release.to_string(), "region": region, "images": images, "deprecate_at": when
                }));
            } else {
                println!(
                    "{release}: {} deprecated from {when} in {region}",
                    images.join(", ")
                );
            }
            0
        }
        Err(error) => fail(output, &error),
    }
}

pub async fn distribute(
    role: &str,
    version: &str,
    (copy_to, kms_keys): (&[String], &[String]),
    environment: Option<&bakery_core::environment::Environment>,
    output: Output,
    aws: &AwsSettings,
) -> u8 {
    let renderer = Renderer::new(if output == Output::Json {
        Style::Json
    } else {
        Style::Plain
    });
    let distributed = async {
        let release = Release::parse(role, version)?;
        let destinations = distribute::Destination::for_release(copy_to, kms_keys, environment)?;
        let aws = Aws::connect(aws).await?;
        distribute::complete(&aws, &release, &destinations, 4, &renderer).await
    };
    let outcomes = match distributed.await {
        Ok(outcomes) => outcomes,
        Err(error) => return fail(output, &error),
    };
    renderer.finish();
    if output == Output::Json {
        print_json(&outcomes);
    } else {
        print_regions(&outcomes);
    }
    if outcomes.iter().any(|o| o.error.is_some()) {
        1
    } else {
        0
    }
}

/// One line per region: what distribution did there.
pub fn print_regions(outcomes: &[distribute::RegionOutcome]) {
    for outcome in outcomes {
        println!(
            "  {:<16} {:<8} {}",
            outcome.region,
            outcome.status,
            outcome
                .image_id
                .as_deref()
                .or(outcome.error.as_deref())
                .unwrap_or("-")
        );
    }
}
