//! The steps that are one Run Command on the builder: the recipe's steps, then the
//! built-in firstboot and generalize steps, each with its exact text.

use std::time::Duration;

use serde::Serialize;

use crate::config::firstboot::FirstbootSettings;
use crate::model::names::seconds;
use crate::model::{Document, Platform, Release, Step};
use crate::script::firstboot::{FirstbootConfig, Installation};
use crate::script::step::{step_command, StepInputs};

#[derive(Debug, Clone, Serialize)]
pub struct CommandStep {
    #[serde(rename = "name")]
    pub step: Step,
    pub document: Document,
    #[serde(skip)]
    pub command: StepCommand,
    #[serde(with = "seconds")]
    pub timeout: Duration,
}

/// The text a step sends; the firstboot config names the release, known only once
/// the bake has claimed its version.
#[derive(Debug, Clone)]
pub enum StepCommand {
    Fixed(String),
    Firstboot {
        platform: Platform,
        settings: FirstbootSettings,
    },
}

impl CommandStep {
    pub fn command_for(&self, release: &Release) -> String {
        match &self.command {
            StepCommand::Fixed(text) => text.clone(),
            StepCommand::Firstboot { platform, settings } => {
                let config =
                    FirstbootConfig::new(&release.role, &release.version.to_string(), settings);
                let script = Installation::new(*platform, &config).script();
                step_command(*platform, &script, StepInputs::none())
            }
        }
    }
}
