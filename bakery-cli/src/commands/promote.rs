//! `bakery promote <role> <version> --channel <name>`: point a channel at a release in
//! every region of the environment that has it; refuse to leave a region where the
//! channel exists on another release, unless told to copy the release there first
//! (`--distribute`) or to accept the gap (`--allow-gap`).

use bakery_core::config::Destination;
use bakery_core::model::names::check_channel;
use bakery_core::model::Release;
use bakery_core::release::catalog::Scope;
use bakery_core::release::channels::{self, Gap, Promotion};
use bakery_core::release::distribute;
use bakery_core::Error;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::context::Context;
use crate::exit::Exit;
use crate::output::{fail, outln, print_json, Output};
use crate::render::Renderer;

#[derive(clap::Args)]
pub struct Args {
    /// The role, e.g. base (its recipe folder's name).
    role: String,
    /// The release's version, e.g. 2.4.0 (an older one: a rollback).
    version: String,
    /// The channel to point at it, e.g. stable (/bakery/<role>/channels/<name>).
    #[arg(long)]
    channel: String,
    /// Only these regions (default: every region the role's releases are recorded in,
    /// found from the environment's regions, else the current one); refused where the
    /// channel would then name two releases.
    #[arg(long, value_name = "REGIONS")]
    regions: Vec<String>,
    /// Copy the release first into the regions where the channel exists and the
    /// release does not.
    #[arg(long, conflicts_with = "allow_gap")]
    distribute: bool,
    /// Leave the regions where the release is missing on their release, and say so.
    #[arg(long)]
    allow_gap: bool,
    /// KMS key for a copy made by --distribute: REGION=KEY (default: the environment's).
    #[arg(long = "kms-key", value_name = "REGION=KEY", requires = "distribute")]
    kms_keys: Vec<String>,
    /// Promote a release whose record does not say its tests passed (skipped or failed).
    #[arg(long)]
    force: bool,
    /// Make the channel even though its name is close to one the role has (`stabel`
    /// beside `stable` is refused without it).
    #[arg(long)]
    new_channel: bool,
}

/// How many regions `--distribute` copies to at once.
const COPY_JOBS: usize = 4;

pub async fn run(args: &Args, context: &Context) -> Exit {
    let output = context.output;
    let renderer = Arc::new(Renderer::new(context.progress.of_command()));
    // A signal during --distribute's copies removes those not yet available.
    let cancel = CancellationToken::new();
    let signals = crate::signals::watch(cancel.clone(), renderer.clone());
    let promoted = async {
        let release = Release::parse(&args.role, &args.version)?;
        check_channel(&args.channel)?;
        let regions = context.regions(&args.regions);
        let aws = context.reach(&regions).await?;
        let scope = match args.regions.is_empty() {
            true => Scope::Everywhere(regions),
            false => Scope::Only(regions),
        };
        if !args.force {
            channels::check_tested(&aws, &release).await?;
        }
        if !args.new_channel {
            channels::check_not_misspelt(&aws, &release.role, &args.channel).await?;
        }
        if args.distribute {
            let missing = channels::gaps(&aws, &release, &args.channel, &scope).await?;
            if !missing.is_empty() {
                let environment = context.environment.as_ref();
                let destinations = Destination::for_release(&missing, &args.kms_keys, environment)?;
                let sink = renderer.as_ref();
                let outcomes =
                    distribute::complete(&aws, &release, &destinations, COPY_JOBS, sink, &cancel)
                        .await?;
                if let Some(failed) = outcomes.iter().find(|o| o.error.is_some()) {
                    return Err(Error::distribution(format!(
                        "{release} could not be copied to {}: {}",
                        failed.region,
                        failed.error.as_deref().unwrap_or_default()
                    )));
                }
            }
        }
        let gap = if args.allow_gap {
            Gap::Accept
        } else {
            Gap::Refuse
        };
        channels::promote(&aws, &release, &args.channel, &scope, gap).await
    };
    let promoted = promoted.await;
    signals.abort();
    let promotion = match promoted {
        Ok(promotion) => promotion,
        Err(error) => return fail(output, &error),
    };
    renderer.finish();
    if output == Output::Json {
        print_json(&promotion);
    } else {
        print_promotion(&promotion);
    }
    Exit::Success
}

fn print_promotion(p: &Promotion) {
    for moved in &p.moved {
        let before = moved
            .previous
            .as_deref()
            .map(|id| format!(" (was {id})"))
            .unwrap_or_default();
        let keys: Vec<String> = moved
            .architectures
            .iter()
            .map(|(arch, image)| match *image == moved.image_id {
                true => format!("{}/{arch} too", p.channel),
                false => format!("{}/{arch} -> {image}", p.channel),
            })
            .collect();
        let keys = match keys.is_empty() {
            true => String::new(),
            false => format!("; {}", keys.join(", ")),
        };
        outln!(
            "{}: channel {} -> {} in {}{before}{keys}",
            p.release,
            p.channel,
            moved.image_id,
            moved.region
        );
    }
    for region in &p.gaps {
        outln!(
            "{}: channel {} left as it was in {region}, which lacks the release (--allow-gap)",
            p.release,
            p.channel
        );
    }
}
