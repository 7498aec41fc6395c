//! `bakery prune <role> --keep N [--older-than 180d] [--yes]`: shows what it would
//! retire, and retires it only with --yes.

use bakery_core::model::RoleName;
use bakery_core::release::catalog;
use bakery_core::release::prune::{self, Action, PrunePolicy};
use bakery_core::Error;

use crate::context::Context;
use crate::exit::Exit;
use crate::output::{fail, outln, print_json, Output};
use crate::table;

#[derive(clap::Args)]
pub struct Args {
    /// The role, e.g. base (its recipe folder's name).
    role: String,
    /// The newest releases that always stay.
    #[arg(long)]
    keep: usize,
    /// Only releases created longer ago than this (e.g. 180d).
    #[arg(long, value_name = "AGE")]
    older_than: Option<String>,
    /// Delete for real.
    #[arg(long)]
    yes: bool,
    /// Where to start looking (default: the environment's regions, else the current
    /// one); every region the role's releases are recorded in is pruned together: a
    /// release goes everywhere or nowhere.
    #[arg(long, value_name = "REGIONS")]
    regions: Vec<String>,
}

pub async fn run(args: &Args, context: &Context) -> Exit {
    let yes = args.yes;
    let pruned = async {
        let role = RoleName::parse(&args.role).map_err(Error::input)?;
        let policy = PrunePolicy::parse(args.keep, args.older_than.as_deref())?;
        let regions = context.regions(&args.regions);
        let aws = context.reach(&regions).await?;
        let regions = catalog::everywhere(&aws, &role, &regions).await?;
        let items = prune::plan(&regions, &role, policy).await?;
        if yes {
            prune::apply(&aws, &role, &items).await?;
        }
        Ok::<_, Error>((role, items))
    };
    let (role, items) = match pruned.await {
        Ok(done) => done,
        Err(error) => return fail(context.output, &error),
    };
    if context.output == Output::Json {
        print_json(&serde_json::json!({ "role": role, "applied": yes, "releases": items }));
        return Exit::Success;
    }
    let mut listing = table::new(&["ACTION", "VERSION", "REGION", "IMAGE", "WHY / SNAPSHOTS"])
        .stacking(&["REGION"]);
    for item in &items {
        let (action, detail) = match item.action {
            Action::Delete if yes => ("deleted", item.snapshot_ids.join(", ")),
            Action::Delete => ("would delete", item.snapshot_ids.join(", ")),
            Action::Keep => ("keep", item.reason.clone()),
        };
        listing.add_row(vec![
            action.to_string(),
            item.version.clone(),
            item.region.clone(),
            item.image_id.clone(),
            detail,
        ]);
    }
    if !items.is_empty() {
        table::print(listing);
    }
    let mut doomed: Vec<&str> = items
        .iter()
        .filter(|i| i.action == Action::Delete)
        .map(|i| i.version.as_str())
        .collect();
    doomed.dedup();
    let doomed = doomed.len();
    if !yes && doomed > 0 {
        outln!("nothing deleted yet: run again with --yes to delete {doomed} release(s)");
    }
    Exit::Success
}
