//! The recipe's `[firstboot]` section, checked: what the firstboot agent does on an
//! instance's first boot. `script::firstboot` turns it into the files a bake installs.

use std::time::Duration;

use serde::Serialize;

use crate::model::names::seconds;

pub const DEFAULT_FETCH_ATTEMPTS: u32 = 5;
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirstbootSettings {
    /// `s3://bucket/key`, with `{placeholders}` filled at boot.
    pub runlist: Option<String>,
    /// The command run with the runlist; `{runlist}` is replaced by its local path.
    pub runner: Option<String>,
    /// Region of the runlist bucket; the instance's own region when absent.
    pub region: Option<String>,
    pub sns_topic: Option<String>,
    /// Keep the marker after a failure so that the next boot tries again.
    pub retry: bool,
    pub fetch_attempts: u32,
    #[serde(with = "seconds")]
    pub fetch_timeout: Duration,
}

impl FirstbootSettings {
    /// What the agent is given: first-boot failures go to the recipe's topic, else the
    /// bake's (the team's: `--sns-topic`, the environment's `sns_topic`).
    pub fn with_bake_topic(&self, bake_topic: Option<&str>) -> FirstbootSettings {
        FirstbootSettings {
            sns_topic: self
                .sns_topic
                .clone()
                .or_else(|| bake_topic.map(str::to_string)),
            ..self.clone()
        }
    }
}

impl Default for FirstbootSettings {
    fn default() -> Self {
        FirstbootSettings {
            runlist: None,
            runner: None,
            region: None,
            sns_topic: None,
            retry: true,
            fetch_attempts: DEFAULT_FETCH_ATTEMPTS,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
        }
    }
}
