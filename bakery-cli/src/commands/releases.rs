//! `bakery releases <role>`: a role's releases in every region of the environment,
//! with their channels; a channel that names different releases in different regions
//! is reported.

use bakery_core::model::time::utc_seconds;
use bakery_core::model::RoleName;
use bakery_core::release::{catalog, channels};
use bakery_core::Error;

use crate::context::Context;
use crate::exit::Exit;
use crate::output::{fail, outln, print_json, warn_split, Output};
use crate::table;

#[derive(clap::Args)]
pub struct Args {
    /// The role, e.g. base (its recipe folder's name).
    role: String,
    /// Where to start looking, comma-separated or repeated (default: the environment's
    /// regions, else the current one); every region the role's releases are recorded
    /// in is listed too.
    #[arg(long, value_name = "REGIONS")]
    regions: Vec<String>,
}

pub async fn run(args: &Args, context: &Context) -> Exit {
    let listed = async {
        let role = RoleName::parse(&args.role).map_err(Error::input)?;
        let regions = context.regions(&args.regions);
        let aws = context.reach(&regions).await?;
        let regions = catalog::everywhere(&aws, &role, &regions).await?;
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
        print_json(&serde_json::json!({
            "role": args.role,
            "releases": releases,
            "channel_splits": splits,
        }));
        return Exit::Success;
    }
    if releases.is_empty() {
        outln!("no releases of {}", args.role);
        return Exit::Success;
    }
    let mut listing = table::new(&[
        "VERSION", "ARCH", "REGION", "IMAGE", "STATE", "TESTS", "CREATED", "BASE", "CHANNELS",
    ]);
    for r in releases {
        let or_dash = |text: Option<String>| text.unwrap_or_else(|| "-".to_string());
        listing.add_row(vec![
            r.version,
            or_dash(r.architecture),
            r.region,
            r.image_id,
            r.state.to_string(),
            or_dash(r.tests.map(|t| t.to_string())),
            or_dash(r.created.as_deref().map(utc_seconds)),
            or_dash(r.base_release.or(r.base_image)),
            if r.channels.is_empty() {
                "-".to_string()
            } else {
                r.channels.join(",")
            },
        ]);
    }
    table::print(listing);
    Exit::Success
}
