//! The steps that are one Run Command on the builder: the recipe's steps, then the
//! built-in firstboot and generalize steps. Their text is made when the step runs, for
//! it names the release, known only once the bake has claimed its version.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::config::firstboot::FirstbootSettings;
use crate::model::names::seconds;
use crate::model::{Arch, Document, Platform, Reboots, Release, Step};
use crate::script::firstboot::{FirstbootConfig, Installation};
use crate::script::step::{step_command, StepInputs};

/// One Run Command on the builder or the test instance: a recipe step or test, or a built-in step.
#[derive(Debug, Clone, Serialize)]
pub struct CommandStep {
    /// Which step; `name` in the plan's JSON.
    #[serde(rename = "name")]
    pub step: Step,
    /// The SSM document it runs with: `AWS-RunShellScript` or `AWS-RunPowerShellScript`.
    pub document: Document,
    /// What it runs; its text is made when the step runs ([`CommandStep::command_for`]).
    #[serde(skip)]
    pub command: StepCommand,
    /// How long one attempt may run; seconds in the plan's JSON.
    #[serde(with = "seconds")]
    pub timeout: Duration,
    /// Attempts after the first when it fails (a recipe step's or test's `retries`).
    pub retries: u32,
    /// The wait before each of them.
    #[serde(with = "seconds")]
    pub retry_delay: Duration,
    /// Whether the instance reboots after the step, and how many reboots its script
    /// may ask for (`reboot` and `max_reboots` in the plan's JSON).
    #[serde(flatten)]
    pub reboots: Reboots,
}

/// What a step runs.
#[derive(Debug, Clone)]
pub enum StepCommand {
    /// A script with its own environment (the step's `env` and the recipe's variables)
    /// and secrets.
    Script {
        /// Whose shell runs it: Linux's, or Windows' PowerShell.
        platform: Platform,
        /// The script's text.
        script: String,
        /// The recipe's variables and the step's `env`, exported by name.
        env: BTreeMap<String, String>,
        /// Variables the instance reads from SSM SecureString parameters (variable ->
        /// parameter name).
        secrets: BTreeMap<String, String>,
    },
    /// The firstboot agent's installation, its config naming the release.
    Firstboot {
        /// The platform the agent is installed for.
        platform: Platform,
        /// The agent's config; its topic is the bake's when the recipe names none.
        settings: FirstbootSettings,
    },
}

/// What every command step is told about the bake it runs in, as `BAKERY_*`
/// environment variables.
#[derive(Debug, Clone, Copy)]
pub struct BakeValues<'a> {
    /// The release the bake makes (`BAKERY_ROLE`, `BAKERY_VERSION`).
    pub release: &'a Release,
    /// The build's architecture (`BAKERY_ARCH`).
    pub arch: Arch,
    /// Where the bake runs (and the builder's secrets are read).
    pub region: &'a str,
    /// The bake's id (`BAKERY_BAKE_ID`), as in its tags and claim.
    pub bake_id: &'a str,
}

/// The names of [`BakeValues::env`], in its order.
pub const BAKE_VARIABLES: [&str; 5] = [
    "BAKERY_ROLE",
    "BAKERY_VERSION",
    "BAKERY_ARCH",
    "BAKERY_REGION",
    "BAKERY_BAKE_ID",
];

impl BakeValues<'_> {
    /// The `BAKERY_*` variables and their values, by name.
    pub fn env(&self) -> BTreeMap<String, String> {
        let values = [
            self.release.role.to_string(),
            self.release.version.to_string(),
            self.arch.to_string(),
            self.region.to_string(),
            self.bake_id.to_string(),
        ];
        BAKE_VARIABLES
            .iter()
            .map(|name| name.to_string())
            .zip(values)
            .collect()
    }
}

impl CommandStep {
    /// The longest it may take: every attempt to its timeout, and the waits between.
    pub fn longest(&self) -> Duration {
        self.timeout * (self.retries + 1) + self.retry_delay * self.retries
    }

    /// The Run Command text of this step in the bake `bake`.
    pub fn command_for(&self, bake: &BakeValues) -> String {
        let mut env = bake.env();
        match &self.command {
            StepCommand::Script {
                platform,
                script,
                env: own,
                secrets,
            } => {
                env.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
                let inputs = StepInputs {
                    env: &env,
                    secrets,
                    region: bake.region,
                    step: &self.step,
                    reboots: self.reboots,
                };
                step_command(*platform, script, inputs)
            }
            StepCommand::Firstboot { platform, settings } => {
                let release = bake.release;
                let config =
                    FirstbootConfig::new(&release.role, &release.version.to_string(), settings);
                let script = Installation::new(*platform, &config).script();
                let inputs = StepInputs {
                    env: &env,
                    step: &self.step,
                    ..StepInputs::none()
                };
                step_command(*platform, &script, inputs)
            }
        }
    }
}
