//! `bakery deprecate <role> <version> [--at DATE]`: mark a release's images deprecated.

use std::time::SystemTime;

use bakery_core::model::time::{deprecation_time, rfc3339};
use bakery_core::model::Release;
use bakery_core::release::catalog;
use bakery_core::Error;

use crate::context::Context;
use crate::exit::Exit;
use crate::output::{fail, outln, print_json, Output};

#[derive(clap::Args)]
pub struct Args {
    /// The role, e.g. base (its recipe folder's name).
    role: String,
    /// The release's version, e.g. 2.4.0.
    version: String,
    /// YYYY-MM-DD or an RFC 3339 time, later than now and within 10 years (as AWS
    /// takes it), or `now` (the next whole minute).
    #[arg(long, default_value = "now")]
    at: String,
    /// Where to start looking (default: the environment's regions, else the current
    /// one); the release is deprecated in every region it is recorded in.
    #[arg(long, value_name = "REGIONS")]
    regions: Vec<String>,
}

pub async fn run(args: &Args, context: &Context) -> Exit {
    let deprecated = async {
        let release = Release::parse(&args.role, &args.version)?;
        let when = deprecation_time(&args.at, SystemTime::now())?;
        let regions = context.regions(&args.regions);
        let aws = context.reach(&regions).await?;
        let regions = catalog::everywhere(&aws, &release.role, &regions).await?;
        let images = catalog::deprecate(&regions, &release, when).await?;
        Ok::<_, Error>((release, when, images))
    };
    match deprecated.await {
        Ok((release, when, images)) => {
            let when = rfc3339(when);
            if context.output == Output::Json {
                let region = images.keys().next().cloned().unwrap_or_default();
                let all: Vec<&String> = images.values().flatten().collect();
                print_json(&serde_json::json!({
                    "release": release.to_string(), "region": region, "images": all,
                    "regions": images, "deprecate_at": when
                }));
            } else {
                for (region, ids) in &images {
                    outln!(
                        "{release}: {} deprecated from {when} in {region}",
                        ids.join(", ")
                    );
                }
            }
            Exit::Success
        }
        Err(error) => fail(context.output, &error),
    }
}
