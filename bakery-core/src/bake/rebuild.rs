//! The plan of a rebuild (`bake --if-changed`, `bake --all`): a variable the role's
//! newest release was given with `--var` keeps that value, unless `--var` gives
//! another or the environment (or the recipe's default) changed what it overrode. A
//! nightly job never undoes what a post-deploy job baked.

use std::path::Path;
use std::time::SystemTime;

use crate::aws::Aws;
use crate::config::Recipe;
use crate::error::Result;
use crate::plan::world::{self, Planned, Selection};
use crate::plan::{BakePlan, BakeRequest};
use crate::release::claim;

/// The plan of one bake; a rebuild's keeps its newest release's `--var` values.
pub async fn plan(request: &BakeRequest, aws: &Aws, now: SystemTime) -> Result<BakePlan> {
    let recipe = Recipe::load(&request.recipe_dir)?;
    let mut request = request.clone();
    if request.if_changed {
        if let Some(kept) = claim::kept_vars(aws, &recipe.name).await? {
            request.kept.insert(recipe.name.to_string(), kept);
        }
    }
    BakePlan::for_recipe(recipe, &request, &aws.region, now)
}

/// The plans of `bake --all`, each role keeping its newest release's `--var` values
/// (a role skipped for want of a value may have one kept).
pub async fn plan_all(
    dir: &Path,
    request: &BakeRequest,
    selection: &Selection,
    aws: &Aws,
    now: SystemTime,
) -> Result<Planned> {
    // One listing of every role's records, not one per role; each plan takes its own.
    let mut request = request.clone();
    request.kept = claim::kept_vars_of_every_role(aws).await?;
    world::plan_all(dir, &request, selection, &aws.region, now)
}
