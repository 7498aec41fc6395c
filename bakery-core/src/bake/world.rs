//! `bake --all`, baked: the plans of [`crate::plan::world`] at most `jobs` at a time;
//! a role layered on another waits for it and is baked on the release just made.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::report::{BakeReport, BakeStatus};
use crate::aws::Aws;
use crate::config::{BaseImage, BaseSelector};
use crate::events::EventSink;
use crate::plan::world::base_role;
use crate::plan::BakePlan;

/// The status of a role that was not baked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Skipped {
    Skipped,
}

/// What happened to one role.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum WorldOutcome {
    Baked(Box<BakeReport>),
    Skipped {
        role: String,
        status: Skipped,
        reason: String,
    },
}

/// Bakes the plans (in [`crate::plan::world::plan_all`]'s order), at most `jobs` at a time. A role
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
                            status: Skipped::Skipped,
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
    running.spawn(async move { super::bake(&plan, &aws, sink.as_ref(), cancel).await });
}
