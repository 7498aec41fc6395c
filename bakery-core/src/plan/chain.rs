//! The steps a bake runs, in order, as one list: `bake/` walks it, the dry run is the
//! same list with checks in place of creates, and the plan's AWS calls come from it.

use super::BakePlan;
use crate::model::Step;

impl BakePlan {
    /// Channels the bake points at the new release: `latest` for a final release
    /// (unless turned off), and `--promote`.
    pub fn channels_to_move(&self) -> Vec<String> {
        let mut channels = Vec::new();
        if self.update_latest && !self.version.is_prerelease() {
            channels.push("latest".to_string());
        }
        for channel in &self.promote {
            if !channels.contains(channel) {
                channels.push(channel.clone());
            }
        }
        channels
    }

    pub(super) fn steps_in_order(&self) -> Vec<Step> {
        let has_secrets = !self.secret_parameters.is_empty();
        let copies = !self.copy_to.is_empty();
        let mut chain = vec![Step::CheckRelease];
        if self.if_changed {
            chain.push(Step::CheckChanged);
        }
        if !self.dry_run {
            chain.extend([Step::Network, Step::Claim]);
        }
        chain.push(Step::ResolveBase);
        if has_secrets {
            chain.push(Step::CheckSecrets);
        }
        if self.dry_run {
            chain.push(Step::CheckLaunch);
            if copies {
                chain.push(Step::CheckDistribute);
            }
            return chain;
        }
        chain.extend([Step::Launch, Step::WaitReady]);
        chain.extend(self.steps.iter().map(|command| command.step.clone()));
        chain.extend([
            Step::Stop,
            Step::CreateImage,
            Step::WaitImage,
            Step::Terminate,
        ]);
        if let Some(test) = &self.test {
            // The builder's termination overlaps the gate: the test instance is
            // launched as the builder goes.
            chain.extend([Step::TestLaunch, Step::TestReady]);
            chain.extend(test.commands.iter().map(|command| command.step.clone()));
            chain.push(Step::TestTerminate);
        }
        chain.push(Step::RecordRelease);
        if copies {
            chain.push(Step::Distribute);
        }
        if !self.share.is_empty() {
            chain.push(Step::Share);
        }
        if !self.channels_to_move().is_empty() {
            chain.push(Step::Promote);
        }
        chain
    }

    /// `bakery test`: the release found, the gate, its outcome recorded.
    pub(super) fn retest_steps(&self) -> Vec<Step> {
        let mut chain = vec![Step::FindRelease, Step::TestLaunch, Step::TestReady];
        if let Some(test) = &self.test {
            chain.extend(test.commands.iter().map(|command| command.step.clone()));
        }
        chain.extend([Step::TestTerminate, Step::RecordTests]);
        chain
    }

    /// True when the bake runs `step` (optional steps: secrets, copies, sharing, channels).
    pub fn runs(&self, step: &Step) -> bool {
        self.chain.contains(step)
    }
}
