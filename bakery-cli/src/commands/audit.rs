//! `bakery audit [--max-age 90d]`: the fleets of the region by role and release;
//! exit 4 when any breaks the policy, so a scheduled job can fail on it.

use std::time::Duration;

use bakery_core::fleet::audit::{self, Fleet, DEFAULT_MAX_AGE};
use bakery_core::model::names::parse_duration;
use bakery_core::Error;

use crate::context::Context;
use crate::exit::Exit;
use crate::output::{fail, outln, print_json, warn_split, Output};
use crate::table;

#[derive(clap::Args)]
pub struct Args {
    /// The oldest an image may be (default: a quarter, 91d).
    #[arg(long, value_name = "AGE")]
    max_age: Option<String>,
    /// Regions to look in (default: the environment's, else the current region).
    #[arg(long, value_name = "REGIONS")]
    regions: Vec<String>,
}

/// `--max-age`, or a quarter (also `outdated`'s).
pub fn max_age(flag: Option<&str>) -> Result<Duration, Error> {
    match flag {
        Some(text) => parse_duration(text).map_err(|e| Error::input(format!("--max-age: {e}"))),
        None => Ok(DEFAULT_MAX_AGE),
    }
}

pub async fn run(args: &Args, context: &Context) -> Exit {
    let output = context.output;
    let regions = context.regions(&args.regions);
    let audited = async {
        let max_age = max_age(args.max_age.as_deref())?;
        let aws = context.reach(&regions).await?;
        let mut fleets = Vec::new();
        let mut searched = Vec::new();
        let regional = aws.in_regions(&regions);
        for aws in &regional {
            fleets.extend(audit::audit(aws, max_age).await?);
            searched.push(aws.region.clone());
        }
        let mut roles: Vec<String> = fleets.iter().filter_map(|f| f.role.clone()).collect();
        roles.sort();
        roles.dedup();
        let splits = audit::channel_splits(&regional, &roles).await?;
        Ok::<_, Error>((fleets, searched, splits))
    };
    let (fleets, searched, splits) = match audited.await {
        Ok(done) => done,
        Err(error) => return fail(output, &error),
    };
    let violations = fleets.iter().filter(|f| !f.violations.is_empty()).count();
    for (role, split) in &splits {
        warn_split(role, split);
    }
    match output {
        Output::Json => print_fleets_json(&fleets, &searched, &splits, violations),
        Output::Text if fleets.is_empty() => {
            outln!("no running instances in {}", searched.join(", "))
        }
        Output::Text => print_fleets(&fleets),
    }
    if violations > 0 {
        Exit::PolicyBroken
    } else {
        Exit::Success
    }
}

type Splits = [(String, bakery_core::release::channels::Split)];

fn print_fleets_json(fleets: &[Fleet], searched: &[String], splits: &Splits, violations: usize) {
    let splits: Vec<serde_json::Value> = splits
        .iter()
        .map(|(role, split)| {
            serde_json::json!({"role": role, "channel": split.channel, "regions": split.regions})
        })
        .collect();
    print_json(&serde_json::json!({
        "region": searched[0], "regions": searched, "fleets": fleets,
        "violations": violations, "channel_splits": splits,
    }));
}

/// One row per fleet (region, release, image); the least important columns stack on a
/// narrow terminal.
fn print_fleets(fleets: &[Fleet]) {
    let or_dash = |items: &[String], separator: &str| match items.is_empty() {
        true => "-".to_string(),
        false => items.join(separator),
    };
    let mut listing = table::new(&[
        "REGION", "RELEASE", "IMAGE", "AGE/DAYS", "COUNT", "CHANNELS", "PROBLEMS",
    ])
    .stacking(&["CHANNELS", "AGE/DAYS", "COUNT"]);
    for fleet in fleets {
        let release = match (&fleet.role, &fleet.version) {
            (Some(role), Some(version)) => format!("{role}@{version}"),
            _ => "(not bakery)".to_string(),
        };
        listing.add_row(vec![
            fleet.region.clone(),
            release,
            fleet.image_id.clone(),
            fleet.age_days.map_or("-".to_string(), |d| d.to_string()),
            fleet.instances.len().to_string(),
            or_dash(&fleet.channels, ","),
            or_dash(&fleet.violations, "; "),
        ]);
    }
    table::print(listing);
}
