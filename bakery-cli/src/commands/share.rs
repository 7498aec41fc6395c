//! `bakery share` / `bakery unshare`: who may launch an existing release.

use bakery_core::config::checks::check_sharing;
use bakery_core::config::flags::split_list;
use bakery_core::model::{PermissionChange, Release, Sharing};
use bakery_core::release::catalog;
use bakery_core::release::sharing::{self, ShareOutcome};
use bakery_core::Error;

use crate::context::Context;
use crate::exit::Exit;
use crate::output::{fail, print_json, Output};
use crate::table;

#[derive(clap::Args)]
pub struct Args {
    /// The role, e.g. base.
    role: String,
    /// The release's version, e.g. 2.4.0.
    version: String,
    /// An AWS account id (comma-separated or repeated).
    #[arg(long = "account", value_name = "ID")]
    accounts: Vec<String>,
    /// An organization ARN (arn:aws:organizations::…:organization/o-…).
    #[arg(long = "organization", value_name = "ARN")]
    organizations: Vec<String>,
    /// An organizational unit ARN (arn:aws:organizations::…:ou/o-…/ou-…).
    #[arg(long = "ou", value_name = "ARN")]
    organizational_units: Vec<String>,
    /// Only these regions, comma-separated or repeated (default: every region the
    /// release is recorded in, found from the environment's or the current region).
    #[arg(long, value_name = "REGIONS")]
    regions: Vec<String>,
}

pub async fn run(args: &Args, change: PermissionChange, context: &Context) -> Exit {
    let flags = Sharing {
        accounts: split_list(&args.accounts),
        organizations: split_list(&args.organizations),
        organizational_units: split_list(&args.organizational_units),
    };
    // Flags replace the environment's list, as everywhere else.
    let with = match &context.environment {
        Some(environment) if flags.is_empty() => environment.settings().share.clone(),
        _ => flags,
    };
    let shared = async {
        let release = Release::parse(&args.role, &args.version)?;
        sharing::check_grantees(&with)?;
        check_sharing(&with).map_err(|(key, message)| {
            Error::input(format!(
                "{key} (--account, --organization, --ou or bakery.toml): {message}"
            ))
        })?;
        let regions = context.regions(&args.regions);
        let aws = context.reach(&regions).await?;
        // A release is shared wherever it is, whatever --env says; --regions narrows.
        let regions = match args.regions.is_empty() {
            true => catalog::release_regions(&aws, &release, &regions).await?,
            false => regions,
        };
        Ok::<_, Error>(sharing::share(&aws, &release, &regions, &with, change).await)
    };
    let outcomes = match shared.await {
        Ok(outcomes) => outcomes,
        Err(error) => return fail(context.output, &error),
    };
    if context.output == Output::Json {
        print_json(&serde_json::json!({
            "role": args.role,
            "version": args.version,
            "change": change,
            "regions": outcomes,
        }));
    } else {
        print_outcomes(&outcomes);
    }
    if outcomes.iter().all(ShareOutcome::complete) {
        Exit::Success
    } else {
        Exit::Failed
    }
}

fn print_outcomes(outcomes: &[ShareOutcome]) {
    let mut listing = table::rows();
    for outcome in outcomes {
        listing.add_row(vec![
            outcome.region.clone(),
            outcome.status.as_str().to_string(),
            outcome
                .error
                .clone()
                .unwrap_or_else(|| outcome.image_ids.join(", ")),
        ]);
        for problem in &outcome.key_problems {
            listing.add_row(vec![String::new(), "KMS".to_string(), problem.clone()]);
        }
    }
    table::print_indented(listing, 2);
}
