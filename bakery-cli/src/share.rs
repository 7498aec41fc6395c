//! `bakery share` / `bakery unshare`: who may launch an existing release.

use bakery_core::aws::{Aws, AwsSettings};
use bakery_core::environment::{Environment, Sharing};
use bakery_core::release::Release;
use bakery_core::sharing::{self, ShareOutcome};
use bakery_core::Error;

use crate::output::{fail, print_json};
use crate::{Output, ShareArgs};

pub async fn run(
    args: &ShareArgs,
    add: bool,
    environment: Option<Environment>,
    aws: &AwsSettings,
) -> u8 {
    let settings = environment.as_ref().map(Environment::settings);
    let split = bakery_core::environment::split_list;
    let flags = Sharing {
        accounts: split(&args.accounts),
        organizations: split(&args.organizations),
        organizational_units: split(&args.organizational_units),
    };
    // Flags replace the environment's list, as everywhere else.
    let with = match settings {
        Some(settings) if flags.is_empty() => settings.share.clone(),
        _ => flags,
    };
    let shared = async {
        let release = Release::parse(&args.role, &args.version)?;
        sharing::check_grantees(&with)?;
        bakery_core::environment::check_sharing(&with).map_err(|(key, message)| {
            Error::input(format!(
                "{key} (--account, --organization, --ou or bakery.toml): {message}"
            ))
        })?;
        let aws = Aws::connect(aws).await?;
        let mut regions = crate::output::regions(&args.regions, environment.as_ref());
        if regions.is_empty() {
            regions.push(aws.region.clone());
        }
        Ok::<_, Error>(sharing::share(&aws, &release, &regions, &with, add).await)
    };
    let outcomes = match shared.await {
        Ok(outcomes) => outcomes,
        Err(error) => return fail(args.output, &error),
    };
    if args.output == Output::Json {
        print_json(&outcomes);
    } else {
        print_outcomes(&outcomes);
    }
    if outcomes.iter().all(ShareOutcome::complete) {
        0
    } else {
        1
    }
}

fn print_outcomes(outcomes: &[ShareOutcome]) {
    for outcome in outcomes {
        println!(
            "  {:<16} {:<9} {}",
            outcome.region,
            outcome.status,
            outcome
                .error
                .clone()
                .unwrap_or_else(|| outcome.image_ids.join(", "))
        );
        for problem in &outcome.key_problems {
            println!("  {:<16} KMS       {problem}", "");
        }
    }
}
