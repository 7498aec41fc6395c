//! `bake --all`, planned: one plan per recipe folder, in an order where every base
//! comes before the roles layered on it. Missing bases and cycles are refused before
//! anything is created.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::SystemTime;

use super::{BakePlan, BakeRequest};
use crate::config::recipe::RECIPE_FILE;
use crate::error::{Error, Result};

/// One plan per recipe folder below `dir`, in an order where every base comes before
/// the roles layered on it. Refuses a layered role whose base role is not among the
/// recipes, and cycles, before anything is created.
pub fn plan_all(
    dir: &Path,
    request: &BakeRequest,
    region: &str,
    now: SystemTime,
) -> Result<Vec<BakePlan>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Error::input(format!(
            "--all {}: cannot list the folder: {e}",
            dir.display()
        ))
    })?;
    let mut folders: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(RECIPE_FILE).is_file())
        .collect();
    folders.sort();
    if folders.is_empty() {
        return Err(Error::input(format!(
            "--all {}: no folder with a {RECIPE_FILE} in it",
            dir.display()
        )));
    }
    let mut plans = Vec::new();
    for folder in folders {
        let request = BakeRequest {
            recipe_dir: folder,
            ..request.clone()
        };
        plans.push(BakePlan::new(&request, region, now)?);
    }
    let order = bake_order(&plans)?;
    let mut by_index: Vec<Option<BakePlan>> = plans.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .map(|i| by_index[i].take().expect("each once"))
        .collect())
}

/// The role a plan is layered on, if any.
pub fn base_role(plan: &BakePlan) -> Option<&str> {
    plan.base.role().map(|role| role.as_str())
}

/// A topological order of the plans (indices), stable by role name.
pub fn bake_order(plans: &[BakePlan]) -> Result<Vec<usize>> {
    let index: BTreeMap<&str, usize> = plans
        .iter()
        .enumerate()
        .map(|(i, p)| (p.role.as_str(), i))
        .collect();
    if index.len() != plans.len() {
        return Err(Error::input(
            "--all: two recipes have the same role name".to_string(),
        ));
    }
    for plan in plans {
        if let Some(base) = base_role(plan) {
            if !index.contains_key(base) {
                return Err(Error::input(format!(
                    "--all: role {} is layered on role {base}, which has no recipe in the folder",
                    plan.role
                )));
            }
        }
    }
    let mut order = Vec::new();
    let mut placed = BTreeSet::new();
    while order.len() < plans.len() {
        let ready: Vec<usize> = index
            .values()
            .copied()
            .filter(|&i| !placed.contains(&i))
            .filter(|&i| base_role(&plans[i]).is_none_or(|b| placed.contains(&index[b])))
            .collect();
        if ready.is_empty() {
            let stuck: Vec<&str> = index
                .iter()
                .filter(|(_, i)| !placed.contains(*i))
                .map(|(r, _)| *r)
                .collect();
            return Err(Error::input(format!(
                "--all: the bases of {} form a cycle",
                stuck.join(", ")
            )));
        }
        for i in ready {
            placed.insert(i);
            order.push(i);
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{layering, Recipe};
    use crate::model::VersionRequest;

    fn plan(role: &str, base: &str) -> BakePlan {
        let text = format!(
            "name = \"{role}\"\nplatform = \"linux\"\narch = \"x86_64\"\nbase = {{ {base} }}\n"
        );
        let recipe = Recipe::parse(Path::new("/x"), Path::new("recipe.toml"), &text).unwrap();
        let version = VersionRequest::Exact("1.0.0".parse().unwrap());
        let request = BakeRequest::default();
        let settings = layering::for_bake(&recipe, None, &request.flags, "eu-west-1").unwrap();
        BakePlan::from_recipe(
            recipe,
            version,
            "sha256:0".into(),
            &request,
            settings,
            role.into(),
        )
    }

    fn roles(plans: &[BakePlan], order: &[usize]) -> Vec<String> {
        order.iter().map(|&i| plans[i].role.to_string()).collect()
    }

    #[test]
    fn bases_come_before_the_roles_layered_on_them() {
        let plans = [
            plan("zookeeper", "role = \"java\", channel = \"stable\""),
            plan("base", "image = \"ami-1\""),
            plan("java", "role = \"base\", version = \"^1\""),
            plan("metrics", "image = \"ami-2\""),
        ];
        let order = bake_order(&plans).unwrap();
        assert_eq!(
            roles(&plans, &order),
            ["base", "metrics", "java", "zookeeper"]
        );
    }

    #[test]
    fn a_missing_base_and_a_cycle_are_refused() {
        let missing = [plan("zookeeper", "role = \"base\", channel = \"stable\"")];
        let error = bake_order(&missing).unwrap_err().to_string();
        assert!(
            error.contains("layered on role base, which has no recipe"),
            "{error}"
        );
        let cycle = [
            plan("a", "role = \"b\", channel = \"stable\""),
            plan("b", "role = \"a\", channel = \"stable\""),
            plan("c", "image = \"ami-1\""),
        ];
        let error = bake_order(&cycle).unwrap_err().to_string();
        assert!(error.contains("the bases of a, b form a cycle"), "{error}");
    }
}
