//! `bake --all`, baked: the plans of [`crate::plan::world`] at most `jobs` at a time;
//! a role layered on another waits for it and is baked on the release just made.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::report::{BakeReport, BakeStatus};
use crate::aws::Aws;
use crate::config::{BaseImage, BaseSelector};
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::model::{Arch, Release};
use crate::plan::world::{base_role, Planned};
use crate::plan::{BakePlan, BuildPlan};
use crate::release::catalog;

/// The status of a role that was not baked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Skipped {
    /// Written `skipped`, in the place of a bake report's `status`.
    Skipped,
}

/// What happened to one role.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum WorldOutcome {
    /// The role was baked (or tried): its bake's report.
    Baked(Box<BakeReport>),
    /// The role was not baked (untagged in the JSON: just these fields).
    Skipped {
        /// The role's name.
        role: String,
        /// Always `skipped`.
        status: Skipped,
        /// Why it was not baked: a required variable without a value, or a base that
        /// was skipped or not baked.
        reason: String,
        /// The required variables it had no value for (a skip that is no failure: the
        /// role cannot be baked unattended); empty when its base was not baked.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        needs: Vec<String>,
    },
}

/// Bakes the plans (in [`crate::plan::world::plan_all`]'s order), at most `jobs` at a
/// time. A role layered on another of the run waits for it and is baked on the
/// release just made (after a dry run, checked against the image that release would
/// be built from); when the base fails, the role is skipped. A role layered on a role
/// outside the run takes its base from AWS as a single bake does: every such base is
/// resolved before anything starts, and a missing one refuses the whole run.
pub async fn bake_all(
    planned: Planned,
    aws: &Aws,
    sink_for: impl Fn(&str) -> Arc<dyn EventSink>,
    cancel: CancellationToken,
    jobs: usize,
) -> Result<Vec<WorldOutcome>> {
    let Planned { plans, skipped } = planned;
    let in_run: BTreeSet<String> = plans.iter().map(|p| p.role.to_string()).collect();
    check_bases_outside(&plans, &in_run, aws).await?;
    let mut waiting: Vec<BakePlan> = plans;
    let mut finished: BTreeMap<String, WorldOutcome> = BTreeMap::new();
    let mut order: Vec<String> = waiting.iter().map(|p| p.role.to_string()).collect();
    for skip in skipped {
        order.push(skip.role.clone());
        finished.insert(
            skip.role.clone(),
            WorldOutcome::Skipped {
                role: skip.role,
                status: Skipped::Skipped,
                reason: skip.reason,
                needs: skip.needs,
            },
        );
    }
    let mut running = JoinSet::new();
    loop {
        // Start what can start: no base in the run, or one baked in this run.
        let mut still_waiting = Vec::new();
        for plan in waiting {
            match ready(plan, &in_run, &finished) {
                Ready::Wait(plan) => still_waiting.push(plan),
                Ready::Start(plan) if running.len() >= jobs => still_waiting.push(plan),
                Ready::Start(plan) => start(&mut running, plan, aws, &sink_for, &cancel),
                Ready::Skip(role, outcome) => {
                    finished.insert(role, outcome);
                }
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
    Ok(order
        .into_iter()
        .filter_map(|role| finished.remove(&role))
        .collect())
}

/// What becomes of a waiting plan.
enum Ready {
    /// Its base in the run is not baked yet.
    Wait(BakePlan),
    /// No base in the run, or one this run baked (the plan then on it).
    Start(BakePlan),
    /// Its base in the run failed or was skipped.
    Skip(String, WorldOutcome),
}

fn ready(
    mut plan: BakePlan,
    in_run: &BTreeSet<String>,
    finished: &BTreeMap<String, WorldOutcome>,
) -> Ready {
    let base = base_role(&plan)
        .filter(|role| in_run.contains(*role))
        .map(str::to_string);
    let Some(base) = base else {
        return Ready::Start(plan);
    };
    match finished.get(&base) {
        None => Ready::Wait(plan),
        Some(WorldOutcome::Baked(report))
            if matches!(report.status, BakeStatus::Succeeded | BakeStatus::Unchanged) =>
        {
            // A base re-baked in this run is the layered role's base (the cascade); an
            // unchanged one leaves the role on its own selector.
            if report.status == BakeStatus::Succeeded {
                for build in &mut plan.builds {
                    build.base = base_made_by(report, &build.base, build.arch());
                }
            }
            Ready::Start(plan)
        }
        Some(_) => Ready::Skip(
            plan.role.to_string(),
            WorldOutcome::Skipped {
                role: plan.role.to_string(),
                status: Skipped::Skipped,
                reason: format!("its base {base} was not baked"),
                needs: Vec::new(),
            },
        ),
    }
}

/// The base of a role layered on `base`, which this run just baked: exactly that
/// release, or after a dry run the image its `arch` build would have been built from.
fn base_made_by(base: &BakeReport, layered_on: &BaseImage, arch: Arch) -> BaseImage {
    let version: semver::Version = base.version.parse().expect("a baked version");
    let built_from = base.base_images.get(&arch).or(base.base_image.as_ref());
    match (base.dry_run, built_from, layered_on) {
        (true, Some(built_from), BaseImage::Release { role, .. }) => BaseImage::DryRunRelease {
            release: Release {
                role: role.clone(),
                version,
            },
            built_from: built_from.clone(),
        },
        (_, _, BaseImage::Release { role, .. }) => BaseImage::Release {
            role: role.clone(),
            selector: BaseSelector::Version(
                semver::VersionReq::parse(&format!("={version}")).expect("valid"),
            ),
        },
        (_, _, other) => other.clone(),
    }
}

/// Resolves, before anything starts, every base that is a role outside the run.
async fn check_bases_outside(
    plans: &[BakePlan],
    in_run: &BTreeSet<String>,
    aws: &Aws,
) -> Result<()> {
    for plan in plans {
        if let BaseImage::Release { role, selector } = &plan.builds[0].base {
            if in_run.contains(role.as_str()) {
                continue;
            }
            for arch in plan.builds.iter().map(BuildPlan::arch) {
                catalog::resolve(aws, role, selector, arch)
                    .await
                    .map_err(|error| match error {
                        Error::Input { problem, hint } => Error::Input {
                            problem: format!(
                                "--all: role {}: {problem}; {role} has no recipe in this run",
                                plan.role
                            ),
                            hint,
                        },
                        other => other,
                    })?;
            }
        }
    }
    Ok(())
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
    running.spawn(async move { super::bake(&plan, &aws, sink.as_ref(), cancel).await });
}
