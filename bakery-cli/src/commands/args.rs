//! The flags commands share: what a bake of a release is (`bake` and `plan`), the
//! settings that win over the environment and the recipe (`bake`, `plan`, `config
//! show`), and where instances run (`bake`, `plan`, `test`).

use std::path::PathBuf;

use bakery_core::config::SettingsFlags;
use bakery_core::model::Bump;
use bakery_core::plan::BakeRequest;
use clap::ValueEnum;

use crate::context::Context;

/// A release of a role and how it is made: what `bake` and `plan` share.
#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("release_version").required(true).multiple(false))]
pub struct ReleaseArgs {
    /// The recipe folder, e.g. recipes/base (with --all: the folder of recipe folders).
    pub recipe: PathBuf,
    /// The release version, semver X.Y.Z or X.Y.Z-pre (e.g. 2.4.0, 2.5.0-rc.1).
    #[arg(long, group = "release_version")]
    pub version: Option<String>,
    /// Release the next version after the role's newest release in the region.
    #[arg(long, value_enum, group = "release_version")]
    bump: Option<BumpArg>,
    /// With --bump: a pre-release NAME.N (`--bump minor --pre rc` after 1.4.2 gives 1.5.0-rc.1).
    #[arg(long, value_name = "NAME", requires = "bump")]
    pre: Option<String>,
    /// After a successful bake, point this channel at the new release (e.g. stable).
    #[arg(long, value_name = "CHANNEL")]
    promote: Option<String>,
    /// Do not move the `latest` channel (it follows every final release otherwise).
    #[arg(long)]
    no_latest: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Also send a message to the topic (--sns-topic, else the environment's) when the
    /// bake succeeds.
    #[arg(long)]
    notify_success: bool,
    /// Make the release without running the recipe's tests; the release record and
    /// the image's `bakery:tests` tag say `skipped`, and `bakery promote` then needs
    /// --force.
    #[arg(long)]
    skip_tests: bool,
    /// Bake only when the inputs (recipe, settings, base image, firstboot agent) differ
    /// from the role's newest release's; otherwise exit 0 with status `unchanged`, and
    /// the manifest points at that release.
    #[arg(long)]
    if_changed: bool,
    /// Bake on another base than the recipe's: ami-…, /ssm/parameter/path,
    /// OWNER:NAME-PATTERN, or ROLE@CHANNEL / ROLE@VERSION (pinned) / ROLE@RANGE
    /// (^2.3, ~2.3).
    #[arg(long, value_name = "BASE")]
    base: Option<String>,
}

impl ReleaseArgs {
    /// The core's request for this release (a plan's; `bake` adds its own flags).
    pub fn request(&self, context: &Context) -> BakeRequest {
        BakeRequest {
            recipe_dir: self.recipe.clone(),
            version: self.version.clone(),
            bump: self.bump.map(|b| match b {
                BumpArg::Major => Bump::Major,
                BumpArg::Minor => Bump::Minor,
                BumpArg::Patch => Bump::Patch,
            }),
            pre: self.pre.clone(),
            flags: self.settings.flags(),
            promote: self.promote.clone(),
            no_latest: self.no_latest,
            notify_success: self.notify_success,
            environment: context.environment.clone(),
            base: self.base.clone(),
            skip_tests: self.skip_tests,
            if_changed: self.if_changed,
            ..BakeRequest::default()
        }
    }
}

/// Flags that win over the environment and the recipe.
#[derive(clap::Args)]
pub struct SettingsArgs {
    /// Other regions to copy the release to (comma-separated or repeated), concurrently.
    #[arg(long = "copy-to", value_name = "REGIONS")]
    copy_to: Vec<String>,
    /// KMS key for the copy in a region: REGION=KEY (repeat per region).
    #[arg(long = "kms-key", value_name = "REGION=KEY")]
    kms_keys: Vec<String>,
    /// SNS topic ARN that gets one message when the bake fails or is interrupted.
    #[arg(long, env = "BAKERY_SNS_TOPIC", value_name = "ARN")]
    sns_topic: Option<String>,
    /// Builder instance type (overrides the recipe).
    #[arg(long)]
    instance_type: Option<String>,
    #[command(flatten)]
    instances: InstanceArgs,
}

/// Where the builder and the test instance run, and the recipe's variables: the flags
/// `bake` and `test` share.
#[derive(clap::Args)]
pub struct InstanceArgs {
    /// The builder's (and test instance's) instance profile, a name or an ARN
    /// (overrides the recipe).
    #[arg(long)]
    instance_profile: Option<String>,
    /// The builder's (and test instance's) subnet (overrides the recipe).
    #[arg(long)]
    subnet: Option<String>,
    /// The builder's (and test instance's) security group; repeat for several
    /// (overrides the recipe).
    #[arg(long = "security-group", value_name = "SG")]
    security_groups: Vec<String>,
    /// A value for a variable the recipe declares in [vars] (repeat for more); wins
    /// over the environment's vars and the recipe's default (`bakery test`: over the
    /// value the release was baked with).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
}

impl InstanceArgs {
    /// These flags alone, as settings flags.
    pub fn flags(&self) -> SettingsFlags {
        SettingsFlags {
            instance_profile: self.instance_profile.clone(),
            subnet: self.subnet.clone(),
            security_groups: self.security_groups.clone(),
            vars: self.vars.clone(),
            ..SettingsFlags::default()
        }
    }
}

impl SettingsArgs {
    pub fn flags(&self) -> SettingsFlags {
        SettingsFlags {
            instance_type: self.instance_type.clone(),
            sns_topic: self.sns_topic.clone(),
            copy_to: self.copy_to.clone(),
            kms_keys: self.kms_keys.clone(),
            ..self.instances.flags()
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BumpArg {
    Major,
    Minor,
    Patch,
}
