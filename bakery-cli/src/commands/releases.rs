//! `bakery releases <role>`: a role's releases in every region of the environment,
//! with their channels; a channel that names different releases in different regions
//! is reported.

use bakery_core::aws::Aws;
use bakery_core::fleet::outdated;
use bakery_core::model::time::utc_seconds;
use bakery_core::model::RoleName;
use bakery_core::release::{catalog, channels};
use bakery_core::Error;

use crate::context::Context;
use crate::exit::Exit;
use crate::output::{fail, print_json, warn_split, Output};
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

/// The error for a role without releases where it was looked for: the roles that have.
async fn no_such_role(aws: &Aws, role: &RoleName, searched: &[Aws]) -> Error {
    let regions: Vec<&str> = searched.iter().map(|a| a.region.as_str()).collect();
    let error = Error::input(format!("{role} has no release in {}", regions.join(", ")));
    match outdated::roles_in(aws).await {
        Ok(roles) if !roles.is_empty() => {
            let roles: Vec<String> = roles.iter().map(ToString::to_string).collect();
            error.with_hint(format!("roles with releases here: {}", roles.join(", ")))
        }
        _ => error.with_hint("no role has a release here yet: bake one (bakery bake)"),
    }
}

pub async fn run(args: &Args, context: &Context) -> Exit {
    let listed = async {
        let role = RoleName::parse(&args.role).map_err(Error::input)?;
        let regions = context.regions(&args.regions);
        let aws = context.reach(&regions).await?;
        let everywhere = catalog::everywhere(&aws, &role, &regions).await?;
        let releases = catalog::list_everywhere(&everywhere, &role).await?;
        if releases.is_empty() {
            return Err(no_such_role(&aws, &role, &everywhere).await);
        }
        Ok(releases)
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
    let mut listing = table::new(&[
        "VERSION", "ARCH", "REGION", "IMAGE", "STATE", "TESTS", "CREATED", "BASE", "CHANNELS",
    ])
    .stacking(&["BASE", "CREATED", "STATE", "TESTS"]);
    for r in releases {
        let or_dash = |text: Option<String>| text.unwrap_or_else(|| "-".to_string());
        listing.add_row(vec![
            r.version,
            or_dash(r.arch.map(|arch| arch.to_string())),
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
