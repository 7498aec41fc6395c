//! `bakery cleanup [--yes]`: what crashed bakes left behind, in every region asked
//! for; removed only with --yes.

use std::sync::Arc;

use bakery_core::fleet::janitor::{self, Leftover};
use bakery_core::model::Resource;

use crate::context::Context;
use crate::exit::Exit;
use crate::output::{fail, outln, print_json, Output};
use crate::render::{Renderer, Style};
use crate::table;

#[derive(clap::Args)]
pub struct Args {
    /// Remove what was found.
    #[arg(long)]
    yes: bool,
    /// Regions to look in (default: the environment's, else the current region).
    #[arg(long, value_name = "REGIONS")]
    regions: Vec<String>,
}

pub async fn run(args: &Args, context: &Context) -> Exit {
    let (yes, output) = (args.yes, context.output);
    let regions = context.regions(&args.regions);
    let aws = match context.reach(&regions).await {
        Ok(aws) => aws,
        Err(error) => return fail(output, &error),
    };
    let renderer = Arc::new(Renderer::new(Style::of_command(output)));
    let regional = aws.in_regions(&regions);
    let searched: Vec<String> = regional.iter().map(|r| r.region.clone()).collect();
    let sweep = match janitor::find(&regional).await {
        Ok(found) => found,
        Err(error) => return fail(output, &error),
    };
    let leftovers = &sweep.leftovers;
    let mut failed: Vec<(Leftover, String)> = Vec::new();
    if yes {
        // Claims last, everywhere: while anything of a bake is left, its claim is what
        // lets the next cleanup find it.
        for claims in [false, true] {
            for aws in &regional {
                let here: Vec<Leftover> = leftovers
                    .iter()
                    .filter(|l| l.resource.region() == aws.region)
                    .filter(|l| matches!(l.resource, Resource::Claim { .. }) == claims)
                    .filter(|l| !failed.iter().any(|(f, _)| f.bake_id == l.bake_id))
                    .cloned()
                    .collect();
                if !here.is_empty() {
                    failed.extend(janitor::remove(aws, &here, renderer.as_ref()).await);
                }
            }
        }
    }
    if output == Output::Json {
        let failures: Vec<_> = failed
            .iter()
            .map(|(l, why)| serde_json::json!({ "resource": l.resource, "error": why }))
            .collect();
        print_json(&serde_json::json!({
            "region": aws.region, "regions": searched, "leftovers": leftovers,
            "kept": sweep.kept, "removed": yes, "failed": failures
        }));
        return exit_of(&failed);
    }
    let mut listing = table::new(&["ACTION", "RESOURCE", "WHY"]);
    for item in &sweep.kept {
        listing.add_row(vec![
            "kept".to_string(),
            item.resource.describe(),
            item.reason.clone(),
        ]);
    }
    for leftover in leftovers {
        let action = if !yes {
            "would remove"
        } else if failed.iter().any(|(f, _)| f.resource == leftover.resource) {
            "COULD NOT REMOVE"
        } else {
            "removed"
        };
        listing.add_row(vec![
            action.to_string(),
            leftover.resource.describe(),
            leftover.reason.clone(),
        ]);
    }
    if !sweep.kept.is_empty() || !leftovers.is_empty() {
        table::print(listing);
    }
    if leftovers.is_empty() {
        outln!("nothing left behind in {}", searched.join(", "));
    } else if !yes {
        outln!(
            "nothing removed yet: run again with --yes to remove {} resource(s)",
            leftovers.len()
        );
    }
    for (leftover, why) in &failed {
        outln!("could not remove {}: {why}", leftover.resource.describe());
    }
    exit_of(&failed)
}

fn exit_of(failed: &[(Leftover, String)]) -> Exit {
    if failed.is_empty() {
        Exit::Success
    } else {
        Exit::Leaked
    }
}
