//! `bakery distribute <role> <version>`: copy an existing release to more regions.

use bakery_core::config::Destination;
use bakery_core::model::Release;
use bakery_core::release::distribute::{self, RegionOutcome};

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::context::Context;
use crate::exit::Exit;
use crate::output::{fail, print_json, Output};
use crate::render::Renderer;
use crate::table;

/// How many regions `bakery distribute` copies to at once.
const COPY_JOBS: usize = 4;

#[derive(clap::Args)]
pub struct Args {
    /// The role, e.g. base (its recipe folder's name).
    role: String,
    /// The release's version, e.g. 2.4.0.
    version: String,
    /// Regions to copy to (default: the environment's regions other than this one).
    #[arg(long = "copy-to", visible_alias = "regions", value_name = "REGIONS")]
    copy_to: Vec<String>,
    /// KMS key for a region: REGION=KEY (default: the environment's `kms_keys`).
    #[arg(long = "kms-key", value_name = "REGION=KEY")]
    kms_keys: Vec<String>,
}

pub async fn run(args: &Args, context: &Context) -> Exit {
    let output = context.output;
    let renderer = Arc::new(Renderer::new(context.progress.of_command()));
    // A signal stops the waits; the copies not yet available are removed.
    let cancel = CancellationToken::new();
    let signals = crate::signals::watch(cancel.clone(), renderer.clone());
    let distributed = async {
        let release = Release::parse(&args.role, &args.version)?;
        let destinations =
            Destination::for_release(&args.copy_to, &args.kms_keys, context.environment.as_ref())?;
        let regions: Vec<String> = destinations.iter().map(|d| d.region.clone()).collect();
        let aws = context.reach(&regions).await?;
        let sink = renderer.as_ref();
        distribute::complete(&aws, &release, &destinations, COPY_JOBS, sink, &cancel).await
    };
    let outcomes = distributed.await;
    signals.abort();
    renderer.finish();
    let outcomes = match outcomes {
        Ok(outcomes) => outcomes,
        Err(error) => return fail(output, &error),
    };
    if output == Output::Json {
        print_json(&serde_json::json!({
            "role": args.role,
            "version": args.version,
            "regions": outcomes,
        }));
    } else {
        print_regions(&outcomes);
    }
    match (
        cancel.is_cancelled(),
        outcomes.iter().any(|o| o.error.is_some()),
    ) {
        (true, _) => Exit::Interrupted,
        (false, true) => Exit::Failed,
        (false, false) => Exit::Success,
    }
}

/// One line per region (and architecture, when a release has several): what
/// distribution did there.
pub fn print_regions(outcomes: &[RegionOutcome]) {
    let mut architectures: Vec<_> = outcomes.iter().map(|o| o.arch).collect();
    architectures.sort();
    architectures.dedup();
    let several = architectures.len() > 1;
    let mut listing = table::rows();
    for outcome in outcomes {
        let mut row = vec![outcome.region.clone()];
        if several {
            row.push(
                outcome
                    .arch
                    .map(|arch| arch.to_string())
                    .unwrap_or_default(),
            );
        }
        row.push(outcome.status.as_str().to_string());
        row.push(
            outcome
                .image_id
                .as_deref()
                .or(outcome.error.as_deref())
                .unwrap_or("-")
                .to_string(),
        );
        if !outcome.channels.is_empty() {
            row.push(format!(
                "channels {} moved here",
                outcome.channels.join(", ")
            ));
        }
        listing.add_row(row);
    }
    table::print_indented(listing, 2);
}
