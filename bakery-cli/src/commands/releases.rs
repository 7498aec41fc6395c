//! `bakery releases <role>`: a role's releases in every region of the environment,
//! with their channels; a channel that names different releases in different regions
//! is reported.

use bakery_core::model::RoleName;
use bakery_core::release::{catalog, channels};
use bakery_core::Error;

use crate::context::Context;
use crate::exit::Exit;
use crate::output::{fail, outln, print_json, warn_split, Output};

#[derive(clap::Args)]
pub struct Args {
    role: String,
    /// Regions to look in (default: the environment's, else the current region).
    #[arg(long, value_name = "REGIONS")]
    regions: Vec<String>,
}

pub async fn run(args: &Args, context: &Context) -> Exit {
    let listed = async {
        let role = RoleName::parse(&args.role).map_err(Error::input)?;
        let regions = context.regions(&args.regions);
        let aws = context.reach(&regions).await?;
        let regions = aws.in_regions(&regions);
        catalog::list_everywhere(&regions, &role).await
    };
    let releases = match listed.await {
        Ok(releases) => releases,
        Err(error) => return fail(context.output, &error),
    };
    let splits = channels::splits(&releases);
    for split in &splits {
        warn_split(&args.role, split);
    }
    if context.output == Output::Json {
        print_json(&releases);
        return Exit::Success;
    }
    if releases.is_empty() {
        outln!("no releases of {}", args.role);
        return Exit::Success;
    }
    outln!(
        "{:<16} {:<14} {:<22} {:<12} {:<8} {:<22} {:<12} CHANNELS",
        "VERSION",
        "REGION",
        "IMAGE",
        "STATE",
        "TESTS",
        "CREATED",
        "BASE"
    );
    for r in releases {
        outln!(
            "{:<16} {:<14} {:<22} {:<12} {:<8} {:<22} {:<12} {}",
            r.version,
            r.region,
            r.image_id,
            r.state.to_string(),
            r.tests.map_or("-".to_string(), |t| t.to_string()),
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
    Exit::Success
}
