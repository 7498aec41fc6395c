//! The `bakery` command line: clap in, rendered events and a result out. It never
//! talks to AWS itself; bakery-core does.

mod audit;
mod bake;
mod check;
mod cleanup;
mod output;
mod prune;
mod releases;
mod render;
mod share;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "bakery",
    version,
    about = "Bake Amazon Machine Images like software releases"
)]
struct Cli {
    /// AWS region to bake in (default: the environment's first region, else the
    /// standard AWS chain, e.g. AWS_REGION).
    #[arg(long, global = true)]
    region: Option<String>,
    /// AWS credentials profile (default: the standard AWS chain, e.g. AWS_PROFILE).
    #[arg(long, global = true)]
    profile: Option<String>,
    /// The bakery.toml environment to use (its regions, network, keys, sharing, tags).
    #[arg(long = "env", global = true, env = "BAKERY_ENV", value_name = "NAME")]
    environment: Option<String>,
    /// The bakery.toml to read (default: found from the working directory upward).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bake a release of a role: launch a builder, apply the recipe, create the AMI.
    Bake(Box<BakeArgs>),
    /// Find what crashed bakes left behind (builders, half-made images, snapshots,
    /// security groups, stale claims) in every region of the environment; remove it
    /// with --yes.
    Cleanup {
        #[arg(long)]
        yes: bool,
        /// Regions to look in (default: the environment's, else the current region).
        #[arg(long, value_name = "REGIONS")]
        regions: Vec<String>,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// The running fleets by role and release in every region of the environment, with
    /// the age of their image and whether a channel points at it; exit 4 when any
    /// breaks the policy.
    Audit {
        /// The oldest an image may be (default: a quarter, 91d).
        #[arg(long, value_name = "AGE")]
        max_age: Option<String>,
        /// Regions to look in (default: the environment's, else the current region).
        #[arg(long, value_name = "REGIONS")]
        regions: Vec<String>,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Check recipes without AWS: schema (file, line, key), scripts, shellcheck.
    Validate {
        #[arg(required = true)]
        recipes: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Every decision of a bake, and the AWS calls it would make, without making any.
    Plan(Box<BakeArgs>),
    /// List a role's releases in the region: images, state, channels.
    Releases {
        role: String,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Point a channel (/bakery/<role>/channels/<name>) at a release; a rollback is a
    /// promote of an older version.
    Promote {
        role: String,
        version: String,
        #[arg(long)]
        channel: String,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Retire old releases: deregister their images and delete their snapshots, never
    /// one a channel points to or an instance uses. Shows the plan; acts with --yes.
    Prune {
        role: String,
        /// The newest releases that always stay.
        #[arg(long)]
        keep: usize,
        /// Only releases created longer ago than this (e.g. 180d).
        #[arg(long, value_name = "AGE")]
        older_than: Option<String>,
        /// Delete for real.
        #[arg(long)]
        yes: bool,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Copy an existing release to more regions (those that have it are left alone),
    /// by default to every region of the environment.
    Distribute {
        role: String,
        version: String,
        /// Regions to copy to (default: the environment's regions other than this one).
        #[arg(long = "copy-to", visible_alias = "regions", value_name = "REGIONS")]
        copy_to: Vec<String>,
        /// KMS key for a region: REGION=KEY (default: the environment's `kms_keys`).
        #[arg(long = "kms-key", value_name = "REGION=KEY")]
        kms_keys: Vec<String>,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Let accounts, organizations or OUs launch an existing release: launch
    /// permissions on its images, create-volume permissions on its snapshots, and a
    /// check that they can use its KMS key (default: the environment's `share`).
    Share(Box<ShareArgs>),
    /// Take those permissions away again.
    Unshare(Box<ShareArgs>),
    /// The firstboot agent a bake installs.
    #[command(subcommand)]
    Firstboot(FirstbootCommand),
    /// Settings as a bake would use them.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Mark a release's images deprecated (now, or from --at).
    Deprecate {
        role: String,
        version: String,
        /// YYYY-MM-DD, an RFC 3339 time, or `now`.
        #[arg(long, default_value = "now")]
        at: String,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// The merged settings for a recipe (defaults, environment, recipe, flags), each
    /// with where it came from.
    Show(Box<ConfigShowArgs>),
}

#[derive(Subcommand)]
enum FirstbootCommand {
    /// Print exactly what a bake of the recipe installs for the first boot: every
    /// file with its path, mode and content, and the config filled from the recipe.
    Render {
        recipe: PathBuf,
        /// The release the config names (a bake fills in the version it claims).
        #[arg(long, default_value = "0.0.0-render")]
        version: String,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

/// Flags that win over the environment and the recipe.
#[derive(Args)]
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
    /// Builder instance profile, a name or an ARN (overrides the recipe).
    #[arg(long)]
    instance_profile: Option<String>,
    /// Builder subnet (overrides the recipe).
    #[arg(long)]
    subnet: Option<String>,
    /// Builder security group; repeat for several (overrides the recipe).
    #[arg(long = "security-group", value_name = "SG")]
    security_groups: Vec<String>,
}

/// `bakery share` / `bakery unshare`.
#[derive(Args)]
pub struct ShareArgs {
    role: String,
    version: String,
    /// An AWS account id (comma-separated or repeated).
    #[arg(long = "account", value_name = "ID")]
    accounts: Vec<String>,
    /// An organization ARN (arn:aws:organizations::…:organization/o-…).
    #[arg(long = "organization", value_name = "ARN")]
    organizations: Vec<String>,
    /// An organizational unit ARN (arn:aws:organizations::…:ou/o-…/ou-…).
    #[arg(long = "ou", value_name = "ARN")]
    organizational_units: Vec<String>,
    /// Regions to act in (default: the environment's, else the current region).
    #[arg(long, value_name = "REGIONS")]
    regions: Vec<String>,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// `bakery config show`: a recipe and the flags that change its settings.
#[derive(Args)]
pub struct ConfigShowArgs {
    recipe: PathBuf,
    #[command(flatten)]
    settings: SettingsArgs,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Args)]
pub struct BakeArgs {
    /// The recipe folder, e.g. recipes/base (with --all: the folder of recipe folders).
    recipe: PathBuf,
    /// Bake every recipe below RECIPE: bases before the roles layered on them, each
    /// on the base just baked; the same version flags apply to every role.
    #[arg(long)]
    all: bool,
    /// With --all: how many bakes run at once.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// The release version, semver X.Y.Z or X.Y.Z-pre (e.g. 2.4.0, 2.5.0-rc.1).
    #[arg(long, required_unless_present = "bump", conflicts_with = "bump")]
    version: Option<String>,
    /// Release the next version after the role's newest release in the region.
    #[arg(long, value_enum)]
    bump: Option<BumpArg>,
    /// With --bump: a pre-release NAME.N (`--bump minor --pre rc` after 1.4.2 gives 1.5.0-rc.1).
    #[arg(long, value_name = "NAME", requires = "bump")]
    pre: Option<String>,
    /// How the result and events are written.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// How progress looks with text output (auto: a spinner on a terminal, plain lines otherwise).
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    progress: Progress,
    /// Write a Packer-style manifest (builds[].artifact_id = region:ami-id) to this file after a successful bake.
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// After a successful bake, point this channel at the new release (e.g. stable).
    #[arg(long, value_name = "CHANNEL")]
    promote: Option<String>,
    /// Do not move the `latest` channel (it follows every final release otherwise).
    #[arg(long)]
    no_latest: bool,
    #[command(flatten)]
    settings: SettingsArgs,
    /// Also send a message to --sns-topic when the bake succeeds.
    #[arg(long, requires = "sns_topic")]
    notify_success: bool,
    /// Keep the builder instance when the bake fails, for debugging.
    #[arg(long)]
    keep_on_failure: bool,
    /// Bake on another base than the recipe's: ami-…, /ssm/parameter/path,
    /// OWNER:NAME-PATTERN, or ROLE@CHANNEL / ROLE@VERSION.
    #[arg(long, value_name = "BASE")]
    base: Option<String>,
    /// Check the bake without making it: the reads it starts with, then the launch
    /// (and the copies) with EC2 DryRun, so that permission problems show in seconds.
    #[arg(long)]
    dry_run: bool,
    /// Source commit recorded on the image (Jenkins sets GIT_COMMIT).
    #[arg(long, env = "GIT_COMMIT")]
    source_commit: Option<String>,
    /// Build URL recorded on the image (Jenkins sets BUILD_URL).
    #[arg(long, env = "BUILD_URL")]
    build_url: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BumpArg {
    Major,
    Minor,
    Patch,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    Auto,
    Bar,
    Plain,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Debug logs only when asked for: RUST_LOG=bakery_core=debug,aws_smithy_runtime=debug
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Every command that reaches AWS takes its default region from the environment.
    let uses_environment = !matches!(cli.command, Command::Firstboot(_));
    let environment = if uses_environment {
        let cwd = std::env::current_dir().unwrap_or_default();
        match bakery_core::environment::select(
            cli.config.as_deref(),
            cli.environment.as_deref(),
            &cwd,
        ) {
            Ok(environment) => environment,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let aws = bakery_core::aws::AwsSettings {
        region: cli
            .region
            .or_else(|| environment.as_ref().and_then(|e| e.build_region())),
        profile: cli.profile,
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Bake(args) => bake::run(*args, environment, aws).await,
            Command::Audit {
                max_age,
                regions,
                output,
            } => {
                let regions = output::regions(&regions, environment.as_ref());
                audit::run(max_age.as_deref(), &regions, output, &aws).await
            }
            Command::Cleanup {
                yes,
                regions,
                output,
            } => {
                let regions = output::regions(&regions, environment.as_ref());
                cleanup::run(yes, &regions, output, &aws).await
            }
            Command::Validate { recipes, output } => check::validate(&recipes, output),
            Command::Plan(args) => check::plan(&args, environment, &aws).await,
            Command::Share(args) => share::run(&args, true, environment, &aws).await,
            Command::Unshare(args) => share::run(&args, false, environment, &aws).await,
            Command::Config(ConfigCommand::Show(args)) => {
                check::show_config(&args, environment, &aws).await
            }
            Command::Releases { role, output } => releases::list(&role, output, &aws).await,
            Command::Promote {
                role,
                version,
                channel,
                output,
            } => releases::promote(&role, &version, &channel, output, &aws).await,
            Command::Distribute {
                role,
                version,
                copy_to,
                kms_keys,
                output,
            } => {
                releases::distribute(
                    &role,
                    &version,
                    (&copy_to, &kms_keys),
                    environment.as_ref(),
                    output,
                    &aws,
                )
                .await
            }
            Command::Prune {
                role,
                keep,
                older_than,
                yes,
                output,
            } => prune::run(&role, keep, older_than.as_deref(), yes, output, &aws).await,
            Command::Firstboot(FirstbootCommand::Render {
                recipe,
                version,
                output,
            }) => check::render_firstboot(&recipe, &version, output),
            Command::Deprecate {
                role,
                version,
                at,
                output,
            } => releases::deprecate(&role, &version, &at, output, &aws).await,
        }
    });
    ExitCode::from(code)
}
