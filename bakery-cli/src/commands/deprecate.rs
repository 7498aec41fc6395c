//! `bakery deprecate <role> <version> [--at DATE]`: mark a release's images deprecated.

use bakery_core::model::time::{parse_when, rfc3339};
use bakery_core::model::Release;
use bakery_core::release::catalog;
use bakery_core::Error;

use crate::context::Context;
use crate::exit::Exit;
use crate::output::outln;
use crate::output::{fail, print_json, Output};

#[derive(clap::Args)]
pub struct Args {
    role: String,
    version: String,
    /// YYYY-MM-DD, an RFC 3339 time, or `now`.
    #[arg(long, default_value = "now")]
    at: String,
}

pub async fn run(args: &Args, context: &Context) -> Exit {
    let deprecated = async {
        let release = Release::parse(&args.role, &args.version)?;
        let when = parse_when(&args.at)?;
        let aws = context.connect().await?;
        let images = catalog::deprecate(&aws, &release, when).await?;
        Ok::<_, Error>((release, when, images, aws.region))
    };
    match deprecated.await {
        Ok((release, when, images, region)) => {
            let when = rfc3339(when);
            if context.output == Output::Json {
                print_json(&serde_json::json!({
                    "release": release.to_string(), "region": region, "images": images, "deprecate_at": when
                }));
            } else {
                outln!(
                    "{release}: {} deprecated from {when} in {region}",
                    images.join(", ")
                );
            }
            Exit::Success
        }
        Err(error) => fail(context.output, &error),
    }
}
