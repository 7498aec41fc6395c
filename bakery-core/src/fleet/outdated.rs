//! `bakery outdated`: for every role, its newest release and why it is out of date —
//! its base moved, its recipe or settings changed since, it is older than the policy,
//! a region of the environment lacks it, or it was never released — with the releases
//! its fleets run beside it. A bounded number of reads per role: the role's images,
//! the newest release's record, the base's own reads, and one audit per region.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::audit::{self, Fleet};
use crate::aws::Aws;
use crate::error::Result;
use crate::model::inputs::ReleaseInputs;
use crate::model::time::age_at;
use crate::model::{Arch, Release, RoleName};
use crate::plan::world::Planned;
use crate::plan::BakePlan;
use crate::release::base;
use crate::release::catalog::{self, ReleaseState};
use crate::release::claim::{self, ReleaseRecord};

/// Why a role's newest release is out of date.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Reason {
    /// The role has no available or deprecated image in the home region.
    NeverReleased,
    /// The base (an SSM parameter, a channel, a name pattern) now points elsewhere.
    BaseMoved {
        /// The base image the release was baked on (its record's inputs, or its image's
        /// `bakery:base-image` tag).
        was: String,
        /// The image the base resolves to now, in the home region.
        now: String,
        /// The architecture whose base moved, when the release has several.
        #[serde(skip_serializing_if = "Option::is_none")]
        arch: Option<Arch>,
    },
    /// The recipe folder, the merged settings or the firstboot agent differ.
    Changed {
        /// What differs: `recipe`, `settings`, `firstboot agent`, or an architecture
        /// the release has no image of.
        what: Vec<String>,
    },
    /// Its image in the home region is older than the policy (`--max-age`).
    TooOld {
        /// Its age, in whole days since its image's creation.
        age_days: u64,
        /// The policy's maximum age, in whole days.
        max_age_days: u64,
    },
    /// Regions of the environment lack it or one of its architectures (every region,
    /// when it has no record).
    MissingIn {
        /// The regions that lack it.
        regions: Vec<String>,
    },
    /// Made before bakery recorded inputs: nothing to compare with.
    InputsUnknown,
    /// Fleets run an image of the role that is disabled or deprecated since a time now
    /// past (`audit`'s violation): they need the newest release.
    FleetsOnRetiredImages {
        /// The retired images the role's fleets run.
        image_ids: Vec<String>,
    },
    /// Its recipe needs values nothing gives (required variables): it cannot be
    /// planned, so nothing can be said of it; not a reason it is out of date.
    NeedsValues {
        /// The required variables that have no value.
        variables: Vec<String>,
    },
}

impl Reason {
    /// The reason in words, as `bakery outdated` prints it.
    pub fn describe(&self) -> String {
        match self {
            Reason::NeverReleased => "never released".into(),
            Reason::BaseMoved { was, now, arch } => {
                let of = arch.map(|a| format!("{a} ")).unwrap_or_default();
                format!("its {of}base moved: {was} then, {now} now")
            }
            Reason::Changed { what } => format!("changed since: {}", what.join(", ")),
            Reason::TooOld {
                age_days,
                max_age_days,
            } => format!("{age_days} days old, over the policy's {max_age_days}"),
            Reason::MissingIn { regions } => format!("missing in {}", regions.join(", ")),
            Reason::InputsUnknown => "its inputs were not recorded: rebake to know".into(),
            Reason::FleetsOnRetiredImages { image_ids } => format!(
                "fleets run retired (disabled or deprecated) images: {}",
                image_ids.join(", ")
            ),
            Reason::NeedsValues { variables } => format!(
                "cannot tell: variable {} is required and has no value (--var {}=VALUE)",
                variables.join(", "),
                variables[0]
            ),
        }
    }
}

/// One role's state.
#[derive(Debug, Clone, Serialize)]
pub struct RoleState {
    /// The role's name.
    pub role: String,
    /// Whether a recipe for it was read (else it was found in AWS only).
    pub recipe: bool,
    /// The version of its newest available or deprecated release in the home region;
    /// None when it has none.
    pub newest: Option<String>,
    /// When that release's image was created (its CreationDate, UTC); None when it has
    /// none.
    pub created: Option<String>,
    /// Why it is out of date (or cannot be told: `NeedsValues`); empty when it is up to
    /// date.
    pub reasons: Vec<Reason>,
    /// The fleets that run one of the role's releases (`audit`), in every region.
    pub fleets: Vec<Fleet>,
}

impl RoleState {
    /// Whether a reason says it is out of date (`NeedsValues` does not).
    pub fn is_outdated(&self) -> bool {
        self.reasons
            .iter()
            .any(|r| !matches!(r, Reason::NeedsValues { .. }))
    }
}

/// The roles of `plans` (their recipes) and `aws_roles` (found in AWS), in `regions`
/// (the first is home: where the newest release and the base are looked up).
pub async fn outdated(
    regions: &[Aws],
    planned: &Planned,
    aws_roles: &[RoleName],
    max_age: Duration,
) -> Result<Vec<RoleState>> {
    let plans = &planned.plans;
    let home = &regions[0];
    let mut fleets: Vec<Fleet> = Vec::new();
    for aws in regions {
        fleets.extend(audit::audit(aws, max_age).await?);
    }
    let mut states = Vec::new();
    for plan in plans {
        states.push(role_state(home, regions, &plan.role, Some(plan), max_age, &fleets).await?);
    }
    for skipped in &planned.skipped {
        let reason = match skipped.needs.is_empty() {
            true => continue, // layered on one that needs values: said there
            false => Reason::NeedsValues {
                variables: skipped.needs.clone(),
            },
        };
        states.push(RoleState {
            role: skipped.role.clone(),
            recipe: true,
            newest: None,
            created: None,
            reasons: vec![reason],
            fleets: Vec::new(),
        });
    }
    for role in aws_roles {
        if plans.iter().all(|p| &p.role != role) {
            states.push(role_state(home, regions, role, None, max_age, &fleets).await?);
        }
    }
    Ok(states)
}

async fn role_state(
    home: &Aws,
    regions: &[Aws],
    role: &RoleName,
    plan: Option<&BakePlan>,
    max_age: Duration,
    fleets: &[Fleet],
) -> Result<RoleState> {
    let fleets: Vec<Fleet> = fleets
        .iter()
        .filter(|f| f.role.as_deref() == Some(role.as_str()))
        .cloned()
        .collect();
    let listed: Vec<catalog::ReleaseSummary> = catalog::list(home, role)
        .await?
        .into_iter()
        .filter(|r| matches!(r.state, ReleaseState::Available | ReleaseState::Deprecated))
        .collect();
    let Some(newest) = listed.first().cloned() else {
        return Ok(RoleState {
            role: role.to_string(),
            recipe: plan.is_some(),
            newest: None,
            created: None,
            reasons: vec![Reason::NeverReleased],
            fleets,
        });
    };
    let release = Release::parse(role.as_str(), &newest.version)?;
    let record = claim::read(home, &release).await?;
    let mut reasons = Vec::new();
    if let Some(plan) = plan {
        reasons = input_reasons(home, plan, record.as_ref(), &listed, &newest).await?;
    }
    reasons.extend(age_reason(&newest, max_age));
    reasons.extend(missing_reason(regions, record.as_ref()));
    let retired: Vec<String> = fleets
        .iter()
        .filter(|f| f.retired.is_some())
        .map(|f| f.image_id.clone())
        .collect();
    if !retired.is_empty() {
        reasons.push(Reason::FleetsOnRetiredImages { image_ids: retired });
    }
    Ok(RoleState {
        role: role.to_string(),
        recipe: plan.is_some(),
        newest: Some(newest.version.clone()),
        created: newest.created.clone(),
        reasons,
        fleets,
    })
}

/// What differs between the recipe's bake now and the newest release: the record's
/// inputs are the first architecture's; each other one's base is on its image
/// (`bakery:base-image`).
async fn input_reasons(
    home: &Aws,
    plan: &BakePlan,
    record: Option<&ReleaseRecord>,
    listed: &[catalog::ReleaseSummary],
    newest: &catalog::ReleaseSummary,
) -> Result<Vec<Reason>> {
    let mut reasons = Vec::new();
    let first = &plan.builds[0];
    let (base_now, _) = base::resolve(home, &first.base, first.arch()).await?;
    let now = first.inputs.with_base(&base_now.id);
    match record.and_then(|r| r.inputs.as_ref()) {
        Some(before) => {
            if before.base_image != now.base_image {
                reasons.push(Reason::BaseMoved {
                    was: before.base_image.clone(),
                    now: now.base_image.clone(),
                    arch: plan.makes_several().then_some(first.arch()),
                });
            }
            let what = changed_parts(before, &now);
            if !what.is_empty() {
                reasons.push(Reason::Changed { what });
            }
        }
        None => reasons.push(Reason::InputsUnknown),
    }
    for other in &plan.builds[1..] {
        let arch = other.arch();
        let (base_now, _) = base::resolve(home, &other.base, arch).await?;
        let image = listed
            .iter()
            .find(|r| r.version == newest.version && r.arch == Some(arch));
        match image.map(|image| image.base_image.clone()) {
            None => reasons.push(Reason::Changed {
                what: vec![format!("{arch} (the release has no {arch} image)")],
            }),
            Some(Some(was)) if was != base_now.id => reasons.push(Reason::BaseMoved {
                was,
                now: base_now.id,
                arch: Some(arch),
            }),
            Some(_) => {}
        }
    }
    Ok(reasons)
}

/// Older than `max_age`, by its image's creation.
fn age_reason(newest: &catalog::ReleaseSummary, max_age: Duration) -> Option<Reason> {
    let created = newest.created.as_deref()?;
    let age = age_at(created, SystemTime::now())?;
    (age > max_age).then_some(Reason::TooOld {
        age_days: age.as_secs() / 86400,
        max_age_days: max_age.as_secs() / 86400,
    })
}

/// The environment's regions a release misses: a region missing one of its
/// architectures misses the release.
fn missing_reason(regions: &[Aws], record: Option<&ReleaseRecord>) -> Option<Reason> {
    let recorded: Vec<&BTreeMap<String, String>> = match record {
        Some(r) if !r.architectures.is_empty() => r.architectures.values().collect(),
        Some(r) => vec![&r.images],
        None => Vec::new(),
    };
    let missing: Vec<String> = regions
        .iter()
        .map(|aws| aws.region.clone())
        .filter(|region| {
            recorded.is_empty() || recorded.iter().any(|images| !images.contains_key(region))
        })
        .collect();
    (!missing.is_empty()).then_some(Reason::MissingIn { regions: missing })
}

/// The parts other than the base that differ.
fn changed_parts(before: &ReleaseInputs, now: &ReleaseInputs) -> Vec<String> {
    let (before, now) = (&before.inputs, &now.inputs);
    [
        (before.recipe_digest != now.recipe_digest, "recipe"),
        (before.settings != now.settings, "settings"),
        (before.agent != now.agent, "firstboot agent"),
    ]
    .into_iter()
    .filter(|(differs, _)| *differs)
    .map(|(_, part)| part.to_string())
    .collect()
}

/// The roles with a release record in the region.
pub async fn roles_in(aws: &Aws) -> Result<Vec<RoleName>> {
    let mut roles: Vec<RoleName> = aws
        .ssm
        .parameters_under("/bakery/")
        .await?
        .into_iter()
        .filter_map(|(name, _)| Release::of_claim_parameter(&name).map(|r| r.role))
        .collect();
    roles.sort();
    roles.dedup();
    Ok(roles)
}
