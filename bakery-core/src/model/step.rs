//! The steps of a bake, as one type: the chain in `bake/`, the dry run, the plan's
//! list of AWS calls, the events and the report all name steps with it.

use serde::{Serialize, Serializer};

/// What a plan runs: a bake, or `bakery test` of a release (its gate's steps only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display)]
#[serde(rename_all = "lowercase")]
pub enum Run {
    /// A bake (`bake` in JSON and text).
    #[strum(to_string = "bake")]
    Bake,
    /// `bakery test` of a release (`test` in JSON, `test run` in text).
    #[strum(to_string = "test run")]
    Test,
}

/// How a command step may reboot its instance. SSM Agent reboots a node whose script
/// exits 194 (Linux) or 3010 (Windows) and runs the script again once it is back
/// (Systems Manager User Guide, "Handling reboots when running commands"); bakery's
/// wrapper uses the same exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Reboots {
    /// `reboot = true`: the builder reboots once the step has succeeded, and the next
    /// step runs after it is back.
    #[serde(rename = "reboot")]
    pub after: bool,
    /// `max_reboots`: how many reboots the script itself may ask for (its exit code
    /// 194 or 3010) before the step fails; each runs the step again.
    #[serde(rename = "max_reboots")]
    pub at_most: u32,
}

/// Each step prints as the events, the report and the docs name it: `check-release`,
/// `recipe/packages`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, strum::Display)]
#[strum(serialize_all = "kebab-case")]
pub enum Step {
    /// Reading the recipe and deciding everything: bad input is refused here, before
    /// anything exists.
    Plan,
    /// Who is baking, and which version; refuses a release that exists.
    CheckRelease,
    /// `--if-changed`: the inputs compared with the role's newest release (which is
    /// copied where the bake would put it and it is missing: a signal waits for that).
    CheckChanged,
    /// The builder's network, decided before anything is made: its subnet, how that
    /// reaches SSM, and so whether it needs a public address.
    Network,
    /// The SSM parameter that makes `role@version` this bake's.
    Claim,
    /// The base image of the build's architecture, resolved and checked.
    ResolveBase,
    /// The steps' SecureString parameters exist (dry run and bake alike).
    CheckSecrets,
    /// `--dry-run`: CreateSecurityGroup and RunInstances with EC2 DryRun.
    CheckLaunch,
    /// `--dry-run`: CopyImage into each region with EC2 DryRun.
    CheckDistribute,
    /// The builder launched (with its security group) into the network decided before.
    Launch,
    /// The builder is running and its SSM agent online.
    WaitReady,
    /// A step of the recipe, by its name in recipe.toml.
    #[strum(to_string = "recipe/{0}")]
    Recipe(String),
    /// The built-in step that installs the firstboot agent.
    Firstboot,
    /// The built-in step that removes what must not be cloned.
    Generalize,
    /// The builder stopped (StopInstances, then a wait until it is).
    Stop,
    /// CreateImage from the stopped builder, tagged with the release's tags.
    CreateImage,
    /// The new image is available (its snapshots are then known).
    WaitImage,
    /// The builder terminated; its security group removed unless a test instance uses it.
    Terminate,
    /// The release gate: a test instance launched from the new image.
    TestLaunch,
    /// The test instance is running and its SSM agent online.
    TestReady,
    /// The firstboot agent finished on the test instance, and how.
    TestFirstboot,
    /// A test of the recipe, by its name in recipe.toml.
    #[strum(to_string = "test/{0}")]
    Test(String),
    /// The test instance is terminated (and the group it shared with the builder removed).
    TestTerminate,
    /// `bakery test`: the release to test, and its record.
    FindRelease,
    /// `bakery test`: the outcome written to the release's record and tags.
    RecordTests,
    /// The claim becomes the release's record: its images, gate and inputs.
    RecordRelease,
    /// Copies of the images in the other regions of the plan (`copy_to`).
    Distribute,
    /// The release shared (`share`) in every region it exists in.
    Share,
    /// Channels (`latest`, `--promote`) pointed at the new release.
    Promote,
    /// What a failed or interrupted bake does last: remove what it created.
    Cleanup,
    /// After the chain: the alert.
    Report,
}

impl Step {
    /// True for the steps that are one SSM Run Command on the builder.
    pub fn is_command(&self) -> bool {
        matches!(
            self,
            Step::Recipe(_)
                | Step::Firstboot
                | Step::Generalize
                | Step::TestFirstboot
                | Step::Test(_)
        )
    }

    /// True for the release gate's steps whose failure is a verdict on the image: it
    /// did not boot to an online SSM agent, its firstboot agent failed, or a test did.
    pub fn judges_the_image(&self) -> bool {
        matches!(self, Step::TestReady | Step::TestFirstboot | Step::Test(_))
    }

    /// True for the steps each architecture's build runs for itself: from its base to
    /// its test instance's end. The others are the release's, run once.
    pub fn is_per_architecture(&self) -> bool {
        matches!(
            self,
            Step::ResolveBase
                | Step::CheckLaunch
                | Step::Launch
                | Step::WaitReady
                | Step::Recipe(_)
                | Step::Firstboot
                | Step::Generalize
                | Step::Stop
                | Step::CreateImage
                | Step::WaitImage
                | Step::Terminate
                | Step::TestLaunch
                | Step::TestReady
                | Step::TestFirstboot
                | Step::Test(_)
                | Step::TestTerminate
        )
    }

    /// True for the steps a signal may cut short in the middle of an AWS call: they
    /// read, wait, or act on a builder that cleanup terminates anyway. The others
    /// create or record something whose answer the cleanup needs (a claim, a builder,
    /// an image, a release, a copy): the request on the wire finishes (bounded by the
    /// attempt's deadline), and no other request or retry of the step is sent.
    pub fn may_be_cut(&self) -> bool {
        matches!(
            self,
            Step::Plan
                | Step::CheckRelease
                | Step::Network
                | Step::ResolveBase
                | Step::CheckSecrets
                | Step::CheckLaunch
                | Step::CheckDistribute
                | Step::WaitReady
                | Step::Recipe(_)
                | Step::Firstboot
                | Step::Generalize
                | Step::Stop
                | Step::WaitImage
                | Step::Terminate
                | Step::FindRelease
                | Step::TestReady
                | Step::TestFirstboot
                | Step::Test(_)
                | Step::TestTerminate
        )
    }
}

impl Serialize for Step {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_read_as_their_names_in_events_and_reports() {
        assert_eq!(Step::CheckRelease.to_string(), "check-release");
        assert_eq!(
            Step::Recipe("packages".into()).to_string(),
            "recipe/packages"
        );
        assert_eq!(
            serde_json::to_value(Step::WaitImage).unwrap(),
            serde_json::json!("wait-image")
        );
        assert!(Step::Generalize.is_command() && !Step::Stop.is_command());
        assert_eq!(Step::Test("sshd".into()).to_string(), "test/sshd");
        assert_eq!(Step::TestFirstboot.to_string(), "test-firstboot");
    }
}
