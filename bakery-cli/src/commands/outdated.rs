//! `bakery outdated [RECIPES]`: every role of a recipes folder (and, with `--aws`, every
//! role with releases in AWS), its newest release and why it is out of date, with the
//! releases its fleets run; exit 4 when anything is out of date, for a scheduled job.

use std::path::PathBuf;
use std::time::SystemTime;

use bakery_core::bake::rebuild;
use bakery_core::fleet::outdated::{self, RoleState};
use bakery_core::model::Bump;
use bakery_core::plan::world::{Planned, Selection};
use bakery_core::plan::BakeRequest;
use bakery_core::Error;

use crate::context::Context;
use crate::exit::Exit;
use crate::output::{fail, outln, print_json, Output};
use crate::table;

#[derive(clap::Args)]
pub struct Args {
    /// The folder of recipe folders (default: ./recipes when it exists).
    recipes: Option<PathBuf>,
    /// Also every role that has releases in AWS but no recipe in the folder.
    #[arg(long)]
    aws: bool,
    /// The oldest a newest release may be (default: a quarter, 91d).
    #[arg(long, value_name = "AGE")]
    max_age: Option<String>,
    /// Regions a release must be in (default: the environment's, else the current region).
    #[arg(long, value_name = "REGIONS")]
    regions: Vec<String>,
    /// A value for a variable a recipe declares in [vars] (repeat for more), as `bake
    /// --all --var` would give it.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
}

pub async fn run(args: &Args, context: &Context) -> Exit {
    let output = context.output;
    let regions = context.regions(&args.regions);
    let found = async {
        let max_age = super::audit::max_age(args.max_age.as_deref())?;
        let folder = args
            .recipes
            .clone()
            .or_else(|| Some(PathBuf::from("recipes")).filter(|p| p.is_dir()));
        if folder.is_none() && !args.aws {
            return Err(
                Error::input("no recipes folder: give one (bakery outdated recipes/)")
                    .with_hint("or --aws for the roles that have releases in AWS"),
            );
        }
        let aws = context.reach(&regions).await?;
        let mut request = BakeRequest {
            bump: Some(Bump::Patch),
            environment: context.environment.clone(),
            ..BakeRequest::default()
        };
        request.flags.vars = args.vars.clone();
        let planned = match &folder {
            Some(folder) => {
                let now = SystemTime::now();
                rebuild::plan_all(folder, &request, &Selection::All, &aws, now).await?
            }
            None => Planned {
                plans: Vec::new(),
                skipped: Vec::new(),
            },
        };
        let regional = aws.in_regions(&regions);
        let aws_roles = match args.aws {
            true => outdated::roles_in(&regional[0]).await?,
            false => Vec::new(),
        };
        outdated::outdated(&regional, &planned, &aws_roles, max_age).await
    };
    let states = match found.await {
        Ok(states) => states,
        Err(error) => return fail(output, &error),
    };
    let stale = states.iter().filter(|s| s.is_outdated()).count();
    if output == Output::Json {
        print_json(&serde_json::json!({ "roles": states, "outdated": stale }));
    } else {
        print_states(&states);
        outln!("{stale} of {} roles out of date", states.len());
    }
    if stale > 0 {
        Exit::PolicyBroken
    } else {
        Exit::Success
    }
}

fn print_states(states: &[RoleState]) {
    let mut listing =
        table::new(&["ROLE", "NEWEST", "FLEETS RUN", "WHY"]).stacking(&["FLEETS RUN"]);
    for state in states {
        let mut running: Vec<String> = state
            .fleets
            .iter()
            .map(|f| {
                format!(
                    "{} x{}",
                    f.version.as_deref().unwrap_or("?"),
                    f.instances.len()
                )
            })
            .collect();
        running.dedup();
        let why: Vec<String> = state.reasons.iter().map(|r| r.describe()).collect();
        listing.add_row(vec![
            state.role.clone(),
            state.newest.clone().unwrap_or_else(|| "-".to_string()),
            if running.is_empty() {
                "-".to_string()
            } else {
                running.join(", ")
            },
            if why.is_empty() {
                "up to date".to_string()
            } else {
                why.join("; ")
            },
        ]);
    }
    table::print(listing);
}
