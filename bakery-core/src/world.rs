//! `bakery bake --all recipes/`: rebuild the world — every recipe of a folder, a base
//! before the roles layered on it (each picking up the base just baked), independent
//! roles concurrently up to a bound.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::aws::Aws;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::pipeline;
use crate::plan::{BakePlan, BakeRequest};
use crate::recipe::{BaseImage, BaseSelector, RECIPE_FILE};
use crate::report::{BakeReport, BakeStatus};

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
fn base_role(plan: &BakePlan) -> Option<&str> {
    match &plan.base {
        BaseImage::Release { role, .. } => Some(role.as_str()),
        _ => None,
    }
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

/// What happened to one role.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum WorldOutcome {
    Baked(Box<BakeReport>),
    Skipped {
        role: String,
        status: &'static str,
        reason: String,
    },
}

/// Bakes the plans (in [`plan_all`]'s order), at most `jobs` at a time. A role
/// layered on another waits for it and is baked on the release just made; when the
/// base fails, the role is skipped.
pub async fn bake_all(
    plans: Vec<BakePlan>,
    aws: &Aws,
    sink_for: impl Fn(&str) -> Arc<dyn EventSink>,
    cancel: CancellationToken,
    jobs: usize,
) -> Vec<WorldOutcome> {
    let mut waiting: Vec<BakePlan> = plans;
    let mut finished: BTreeMap<String, WorldOutcome> = BTreeMap::new();
    let mut order: Vec<String> = waiting.iter().map(|p| p.role.to_string()).collect();
    let mut running = JoinSet::new();
    loop {
        // Start what can start: no base, or a base baked in this run.
        let mut still_waiting = Vec::new();
        for mut plan in waiting {
            let base = base_role(&plan).map(str::to_string);
            let base_outcome = base.as_ref().map(|b| finished.get(b));
            match base_outcome {
                Some(None) => still_waiting.push(plan),
                Some(Some(WorldOutcome::Baked(report)))
                    if report.status == BakeStatus::Succeeded =>
                {
                    if running.len() >= jobs {
                        still_waiting.push(plan);
                        continue;
                    }
                    let version: semver::Version = report.version.parse().expect("a baked version");
                    if let BaseImage::Release { selector, .. } = &mut plan.base {
                        let exact =
                            semver::VersionReq::parse(&format!("={version}")).expect("valid");
                        *selector = BaseSelector::Version(exact);
                    }
                    start(&mut running, plan, aws, &sink_for, &cancel);
                }
                Some(Some(_)) => {
                    let base = base.expect("has a base");
                    finished.insert(
                        plan.role.to_string(),
                        WorldOutcome::Skipped {
                            role: plan.role.to_string(),
                            status: "skipped",
                            reason: format!("its base {base} was not baked"),
                        },
                    );
                }
                None if running.len() < jobs => start(&mut running, plan, aws, &sink_for, &cancel),
                None => still_waiting.push(plan),
            }
        }
        waiting = still_waiting;
        let Some(joined) = running.join_next().await else {
            break;
        };
        let report = joined.expect("a bake task does not panic");
        finished.insert(report.role.clone(), WorldOutcome::Baked(Box::new(report)));
    }
    order.retain(|role| finished.contains_key(role));
    order
        .into_iter()
        .filter_map(|role| finished.remove(&role))
        .collect()
}

fn start(
    running: &mut JoinSet<BakeReport>,
    plan: BakePlan,
    aws: &Aws,
    sink_for: &impl Fn(&str) -> Arc<dyn EventSink>,
    cancel: &CancellationToken,
) {
    let sink = sink_for(plan.role.as_str());
    let aws = aws.clone();
    let cancel = cancel.clone();
    running.spawn(async move { pipeline::bake(&plan, &aws, sink.as_ref(), cancel).await });
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::recipe::Recipe;
    use crate::version::VersionRequest;

    fn plan(role: &str, base: &str) -> BakePlan {
        let text = format!(
            "name = \"{role}\"\nplatform = \"linux\"\narch = \"x86_64\"\nbase = {{ {base} }}\n"
        );
        let recipe = Recipe::parse(Path::new("/x"), Path::new("recipe.toml"), &text).unwrap();
        let version = VersionRequest::Exact("1.0.0".parse().unwrap());
        let request = BakeRequest::default();
        let settings = crate::plan::merged_settings(&recipe, &request, "eu-west-1").unwrap();
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
