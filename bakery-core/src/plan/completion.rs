//! What completes a release whose bake stopped after the release was recorded: one
//! command per step of the chain that did not run, as a person would type it.

use super::BakePlan;
use crate::model::{Release, Step};

impl BakePlan {
    /// The steps of the chain after `record-release` that did not succeed, given the
    /// ones that did.
    pub fn unfinished(&self, succeeded: &[Step]) -> Vec<Step> {
        if !succeeded.contains(&Step::RecordRelease) {
            return Vec::new();
        }
        self.chain
            .iter()
            .skip_while(|step| **step != Step::RecordRelease)
            .skip(1)
            .filter(|step| !succeeded.contains(step))
            .cloned()
            .collect()
    }

    /// The commands that do what `unfinished` left undone for `release`.
    pub fn completion(&self, release: &Release, unfinished: &[Step]) -> Vec<String> {
        let (role, version) = (&release.role, &release.version);
        let regions = self.settings.settings.regions.join(",");
        let mut commands = Vec::new();
        for step in unfinished {
            match step {
                Step::Distribute => {
                    let copies: Vec<&str> =
                        self.copy_to.iter().map(|d| d.region.as_str()).collect();
                    let mut command = format!(
                        "bakery distribute {role} {version} --regions {}",
                        copies.join(",")
                    );
                    for copy in &self.copy_to {
                        if let Some(key) = &copy.kms_key {
                            command.push_str(&format!(" --kms-key {}={key}", copy.region));
                        }
                    }
                    commands.push(command);
                }
                Step::Cleanup => {
                    commands.push(format!("bakery cleanup --regions {regions} --yes"));
                }
                Step::Share => {
                    let mut command = format!("bakery share {role} {version}");
                    for (flag, values) in [
                        ("--account", &self.share.accounts),
                        ("--organization", &self.share.organizations),
                        ("--ou", &self.share.organizational_units),
                    ] {
                        if !values.is_empty() {
                            command.push_str(&format!(" {flag} {}", values.join(",")));
                        }
                    }
                    commands.push(format!("{command} --regions {regions}"));
                }
                Step::Promote => {
                    for channel in self.channels_to_move() {
                        commands.push(format!(
                            "bakery promote {role} {version} --channel {channel} --regions {regions}"
                        ));
                    }
                }
                _ => {}
            }
        }
        commands
    }
}
