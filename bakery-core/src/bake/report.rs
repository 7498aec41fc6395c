//! The result of a bake.

use serde::Serialize;

use super::context::Failure;
use crate::error::{Error, ErrorKind};
use crate::model::time::rfc3339;
use crate::model::{Arch, GateState, Resource, Step};
use crate::release::distribute::RegionOutcome;
use crate::release::sharing::ShareOutcome;

/// How a bake, or one step of it, ended (`status`, in lowercase, in the JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum BakeStatus {
    /// It ran to the end without an error.
    Succeeded,
    /// `--if-changed`: the role's newest release has the same inputs; nothing baked.
    Unchanged,
    /// It stopped on an error.
    Failed,
    /// It was cut short: by a signal, the bake's deadline, or a sibling build's failure.
    Interrupted,
}

impl BakeStatus {
    /// The status as the report writes it: `succeeded`, `unchanged`, `failed` or
    /// `interrupted`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// How a step or a run that stopped with `error` ended.
    pub fn of_error(error: &Error) -> BakeStatus {
        match error.kind() {
            ErrorKind::Interrupted => BakeStatus::Interrupted,
            _ => BakeStatus::Failed,
        }
    }
}

/// One image the bake made or copied, in one region for one architecture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageRecord {
    /// The AWS region the image is in.
    pub region: String,
    /// The architecture it was built for.
    pub arch: Arch,
    /// The AMI id (`ami-...`).
    pub image_id: String,
    /// The AMI's name, the same in every region.
    pub name: String,
    /// The EBS snapshots behind the image, in that region.
    pub snapshot_ids: Vec<String>,
}

/// How one step of the bake went, in the report's `steps`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    /// Which step it was.
    pub name: Step,
    /// The architecture whose build ran it, when the bake makes several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<Arch>,
    /// How long it ran, in seconds (to the millisecond).
    pub seconds: f64,
    /// How it ended.
    pub status: BakeStatus,
    /// A step cut short (`interrupted`): why — a signal, the bake's deadline, or a
    /// sibling build's failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_because: Option<String>,
    /// How many times the instance rebooted during the step (`reboot = true`, or its
    /// script asking with exit code 194 or 3010), as the step's wrapper said.
    #[serde(skip_serializing_if = "is_zero")]
    pub reboots: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Everything a caller needs to know about a finished bake.
#[derive(Debug, Clone, Serialize)]
pub struct BakeReport {
    /// How the bake ended.
    pub status: BakeStatus,
    /// `--dry-run`: checks only, nothing created.
    pub dry_run: bool,
    /// The role baked; empty when the bake was refused before one was known.
    pub role: String,
    /// The release's version once resolved (the version already released, when
    /// `unchanged`); else the version asked for.
    pub version: String,
    /// The bake's id (`20261122t022438-3f9a1c`), tagged on what it made
    /// (`bakery:bake-id`); empty when the bake was refused.
    pub bake_id: String,
    /// The run the bake belongs to (the manifest's `packer_run_uuid`).
    pub run_uuid: String,
    /// The values of the recipe's variables.
    pub vars: std::collections::BTreeMap<String, String>,
    /// When the bake stopped after its release was recorded: the steps that did not
    /// run, and the commands that do them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unfinished: Vec<Step>,
    /// The commands that do the `unfinished` steps for the release.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to_complete: Vec<String>,
    /// The region the bake ran in, where the builders ran; empty when refused.
    pub region: String,
    /// The first architecture's builder (see `builders` for each).
    pub builder_instance_id: Option<String>,
    /// Each architecture's builder, once launched.
    pub builders: std::collections::BTreeMap<Arch, String>,
    /// The first architecture's base image (see `base_images` for each), once resolved.
    pub base_image: Option<String>,
    /// Each architecture's base image, once resolved.
    pub base_images: std::collections::BTreeMap<Arch, String>,
    /// `role@version` of the base release, for layered roles.
    pub base_release: Option<String>,
    /// The release's images, the build region's first: those made or copied, or, when
    /// `unchanged`, those the release already has.
    pub images: Vec<ImageRecord>,
    /// The fingerprint of the release's inputs (`bakery:inputs`), once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inputs: Option<String>,
    /// What the release gate said: `passed`, `failed`, `pending` (it did not end),
    /// `skipped` (`--skip-tests`) or `none` (the recipe has no tests).
    pub tests: GateState,
    /// The recipe's tests, run or skipped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test_names: Vec<String>,
    /// What distribution did in each other region.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionOutcome>,
    /// The steps run, in the order they started.
    pub steps: Vec<StepRecord>,
    /// When the bake started, in RFC 3339 UTC to the second.
    pub started_at: String,
    /// How long the bake ran, in seconds (to the millisecond).
    pub seconds: f64,
    /// Channels now pointing at the new release.
    pub channels: Vec<String>,
    /// Where the release was shared, region by region.
    pub shared: Vec<ShareOutcome>,
    /// How it ended: the error, if any, and what is left.
    #[serde(flatten)]
    pub ending: Ending,
}

/// How a bake or a `bakery test` run ended, as both reports say it (flattened into
/// each): the error and where it happened, and what cleanup kept and left.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ending {
    /// The error that ended the run, its hint included; None when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What to do about the error, when bakery can tell (also at the end of `error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// What kind of error it was; None when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// The architecture whose build failed, when the run makes several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_arch: Option<Arch>,
    /// The step the error happened in (`plan` for a run refused before it started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<Step>,
    /// Resources cleanup could not remove: they need a person (or `bakery cleanup`).
    pub leaked: Vec<Resource>,
    /// Resources left in place on purpose (`--keep-on-failure`).
    pub kept: Vec<Resource>,
}

impl Ending {
    /// After `failure` (none: it succeeded) and cleanup's `(kept, leaked)`.
    pub fn after(
        failure: Option<Failure>,
        (kept, leaked): (Vec<Resource>, Vec<Resource>),
    ) -> Ending {
        let Some(failure) = failure else {
            return Ending {
                leaked,
                kept,
                ..Ending::default()
            };
        };
        Ending {
            error: Some(failure.error.to_string()),
            hint: failure.error.hint().map(str::to_string),
            error_kind: Some(failure.error.kind()),
            failed_arch: failure.arch,
            failed_step: Some(failure.step),
            leaked,
            kept,
        }
    }

    /// A run refused before it started: nothing was made.
    pub fn refused(error: &Error) -> Ending {
        Ending {
            error: Some(error.to_string()),
            hint: error.hint().map(str::to_string),
            error_kind: Some(error.kind()),
            failed_step: Some(Step::Plan),
            ..Ending::default()
        }
    }
}

impl BakeReport {
    /// A report for a bake that never started, because its input was refused.
    pub fn refused(role: Option<&str>, version: &str, error: &Error) -> BakeReport {
        BakeReport {
            status: BakeStatus::Failed,
            dry_run: false,
            shared: Vec::new(),
            role: role.unwrap_or_default().to_string(),
            version: version.to_string(),
            bake_id: String::new(),
            run_uuid: String::new(),
            vars: Default::default(),
            unfinished: Vec::new(),
            to_complete: Vec::new(),
            region: String::new(),
            builder_instance_id: None,
            builders: Default::default(),
            base_image: None,
            base_images: Default::default(),
            base_release: None,
            images: Vec::new(),
            inputs: None,
            tests: GateState::None,
            test_names: Vec::new(),
            regions: Vec::new(),
            steps: Vec::new(),
            started_at: rfc3339(std::time::SystemTime::now()),
            seconds: 0.0,
            channels: Vec::new(),
            ending: Ending::refused(error),
        }
    }

    /// When the bake finished, from its start and duration.
    pub fn finished_at(&self) -> Option<std::time::SystemTime> {
        let started = humantime::parse_rfc3339(&self.started_at).ok()?;
        Some(started + std::time::Duration::from_secs_f64(self.seconds.max(0.0)))
    }
}
