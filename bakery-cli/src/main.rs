//! The `bakery` command line: clap in, rendered events and a result out. It never
//! talks to AWS itself; bakery-core does. One module per command in `commands/`, each
//! with its `Args` and its `run`; this file is the dispatch table.

mod commands;
mod context;
mod exit;
mod output;
mod render;
mod signals;

use std::path::PathBuf;
use std::process::ExitCode;

use bakery_core::aws::AwsSettings;
use bakery_core::model::PermissionChange;
use clap::{Parser, Subcommand};

use crate::commands::*;
use crate::context::Context;
use crate::exit::Exit;
use crate::output::{print_error, Output};

#[derive(Parser)]
#[command(
    name = "bakery",
    version,
    about = "Bake Amazon Machine Images like software releases"
)]
struct Cli {
    /// AWS region (default: the environment's first region, else the standard AWS
    /// chain, e.g. AWS_REGION).
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
    /// How the result is written on stdout (and a bake's events on stderr).
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bake a release of a role: launch a builder, apply the recipe, create the AMI.
    Bake(Box<bake::Args>),
    /// Every decision of a bake, and the AWS calls it would make, without making any.
    Plan(Box<bake::Args>),
    /// Check recipes without AWS: schema (file, line, key), scripts, shellcheck.
    Validate(validate::Args),
    /// Settings as a bake would use them.
    #[command(subcommand)]
    Config(config::Command),
    /// The firstboot agent a bake installs.
    #[command(subcommand)]
    Firstboot(firstboot::Command),
    /// List a role's releases in the region: images, state, channels.
    Releases(releases::Args),
    /// Point a channel (/bakery/<role>/channels/<name>) at a release; a rollback is a
    /// promote of an older version.
    Promote(promote::Args),
    /// Mark a release's images deprecated (now, or from --at).
    Deprecate(deprecate::Args),
    /// Retire old releases: deregister their images and delete their snapshots, never
    /// one a channel points to or an instance uses. Shows the plan; acts with --yes.
    Prune(prune::Args),
    /// Copy an existing release to more regions (those that have it are left alone),
    /// by default to every region of the environment.
    Distribute(distribute::Args),
    /// Let accounts, organizations or OUs launch an existing release: launch
    /// permissions on its images, create-volume permissions on its snapshots, and a
    /// check that they can use its KMS key (default: the environment's `share`).
    Share(share::Args),
    /// Take those permissions away again.
    Unshare(share::Args),
    /// Find what crashed bakes left behind (builders, half-made images, snapshots,
    /// security groups, stale claims) in every region of the environment; remove it
    /// with --yes.
    Cleanup(cleanup::Args),
    /// The running fleets by role and release in every region of the environment, with
    /// the age of their image and whether a channel points at it; exit 4 when any
    /// breaks the policy.
    Audit(audit::Args),
    /// Run a release's tests again (its recipe's [[tests]] on a test instance from its
    /// image) and record the outcome on the release.
    Test(test::Args),
    /// Which roles are out of date and why: base moved, recipe or settings changed,
    /// older than the policy, missing in a region, never released; with the releases
    /// their fleets run. Exit 4 when any is.
    Outdated(outdated::Args),
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
    // Every command that reaches AWS takes its default region from the environment.
    let environment = match cli.command {
        Command::Firstboot(_) => Ok(None),
        _ => bakery_core::config::environment::select(
            cli.config.as_deref(),
            cli.environment.as_deref(),
            &std::env::current_dir().unwrap_or_default(),
        ),
    };
    let environment = match environment {
        Ok(environment) => environment,
        Err(error) => {
            print_error(&error);
            return Exit::InvalidInput.into();
        }
    };
    let context = Context {
        aws: AwsSettings {
            region: cli
                .region
                .clone()
                .or_else(|| environment.as_ref().and_then(|e| e.build_region())),
            profile: cli.profile.clone(),
        },
        environment,
        output: cli.output,
    };
    // `bake --all` runs bakes on worker threads; a bake's chain of awaits (the SDK's
    // included) needs more than tokio's 2 MiB there, as much as on the main thread.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(8 * 1024 * 1024)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let exit = runtime.block_on(async {
        match cli.command {
            Command::Bake(args) => bake::run(*args, &context).await,
            Command::Plan(args) => plan::run(&args, &context).await,
            Command::Validate(args) => validate::run(&args, &context),
            Command::Config(command) => config::run(&command, &context).await,
            Command::Firstboot(command) => firstboot::run(&command, &context),
            Command::Releases(args) => releases::run(&args, &context).await,
            Command::Promote(args) => promote::run(&args, &context).await,
            Command::Deprecate(args) => deprecate::run(&args, &context).await,
            Command::Prune(args) => prune::run(&args, &context).await,
            Command::Distribute(args) => distribute::run(&args, &context).await,
            Command::Share(args) => share::run(&args, PermissionChange::Grant, &context).await,
            Command::Unshare(args) => share::run(&args, PermissionChange::Revoke, &context).await,
            Command::Cleanup(args) => cleanup::run(&args, &context).await,
            Command::Audit(args) => audit::run(&args, &context).await,
            Command::Test(args) => test::run(&args, &context).await,
            Command::Outdated(args) => outdated::run(&args, &context).await,
        }
    });
    exit.into()
}
