//! `bakery cleanup [--yes] [--kept]`: what crashed bakes left behind, in every region
//! asked for; removed only with --yes; what `--keep-on-failure` kept only with --kept.

use std::sync::Arc;

use bakery_core::fleet::janitor::{self, Leftover, Removal, Spared, Sweep};

use crate::context::Context;
use crate::exit::Exit;
use crate::output::{fail, outln, print_json, Output};
use crate::render::Renderer;
use crate::table;

#[derive(clap::Args)]
pub struct Args {
    /// Remove what was found.
    #[arg(long)]
    yes: bool,
    /// Also take what `--keep-on-failure` kept for debugging (instances and their
    /// security groups) before their deadline.
    #[arg(long)]
    kept: bool,
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
    let renderer = Arc::new(Renderer::new(context.progress.of_command()));
    let regional = aws.in_regions(&regions);
    let searched: Vec<String> = regional.iter().map(|r| r.region.clone()).collect();
    let sweep = match janitor::find(&regional).await {
        Ok(found) if args.kept => found.including_kept(),
        Ok(found) => found,
        Err(error) => return fail(output, &error),
    };
    let leftovers = &sweep.leftovers;
    let removal = match yes {
        true => janitor::remove(&regional, leftovers, renderer.as_ref()).await,
        false => Removal::default(),
    };
    if output == Output::Json {
        let failures: Vec<_> = removal
            .failed
            .iter()
            .map(|f| serde_json::json!({ "resource": f.leftover.resource, "error": f.why }))
            .collect();
        print_json(&serde_json::json!({
            "region": aws.region, "regions": searched, "leftovers": leftovers,
            "kept": sweep.kept, "removed": yes, "spared": removal.spared,
            "failed": failures
        }));
        return exit_of(&removal);
    }
    print_sweep(&sweep, &removal, yes);
    if !sweep.kept.is_empty() {
        outln!(
            "{} resource(s) kept with --keep-on-failure: run again with --kept --yes to \
             remove them before their deadline",
            sweep.kept.len()
        );
    }
    if leftovers.is_empty() && sweep.kept.is_empty() {
        outln!("nothing left behind in {}", searched.join(", "));
    } else if leftovers.is_empty() {
        outln!("nothing else left behind in {}", searched.join(", "));
    } else if !yes {
        outln!(
            "nothing removed yet: run again with --yes to remove {} resource(s)",
            leftovers.len()
        );
    }
    exit_of(&removal)
}

/// One row per resource: kept, or what became of it (removed, spared, not removed).
fn print_sweep(sweep: &Sweep, removal: &Removal, yes: bool) {
    let mut listing = table::new(&["ACTION", "RESOURCE", "WHY"]);
    for item in &sweep.kept {
        listing.add_row(vec![
            "kept".to_string(),
            item.resource.describe(),
            item.reason.clone(),
        ]);
    }
    let not_removed = |list: &[Spared], leftover: &Leftover| {
        list.iter()
            .find(|s| s.leftover.resource == leftover.resource)
            .map(|s| s.why.clone())
    };
    for leftover in &sweep.leftovers {
        let (action, why) = if !yes {
            ("would remove", leftover.reason.clone())
        } else if let Some(why) = not_removed(&removal.failed, leftover) {
            ("COULD NOT REMOVE", why)
        } else if let Some(why) = not_removed(&removal.spared, leftover) {
            ("spared", why)
        } else {
            ("removed", leftover.reason.clone())
        };
        listing.add_row(vec![action.to_string(), leftover.resource.describe(), why]);
    }
    if !sweep.kept.is_empty() || !sweep.leftovers.is_empty() {
        table::print(listing);
    }
}

fn exit_of(removal: &Removal) -> Exit {
    if removal.failed.is_empty() {
        Exit::Success
    } else {
        Exit::Leaked
    }
}
