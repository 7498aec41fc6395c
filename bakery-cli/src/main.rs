//! The `bakery` command line: clap in, rendered events and a result out. It never
//! talks to AWS itself; bakery-core does. One module per command in `commands/`, each
//! with its `Args` and its `run`; this file is the dispatch table.

mod cli;
mod commands;
mod context;
mod exit;
mod output;
mod render;
mod signals;
mod table;
mod terminal;

use std::process::ExitCode;

use bakery_core::aws::AwsSettings;
use bakery_core::model::PermissionChange;

use crate::cli::Command;
use crate::commands::*;
use crate::context::Context;
use crate::output::{fail, set_verbosity, Verbosity};

// Long on purpose: the global flags read once, then one arm per command.
fn main() -> ExitCode {
    let cli = cli::parse();
    cli.color.apply();
    let verbosity = match (cli.quiet, cli.verbose) {
        (true, _) => Verbosity::Quiet,
        (false, 0) => Verbosity::Normal,
        (false, 1) => Verbosity::Verbose,
        (false, _) => Verbosity::Traces,
    };
    set_verbosity(verbosity);
    traces(verbosity);
    // Every command that reaches AWS takes its default region from the environment.
    let environment = match cli.command {
        Command::Completions(_) | Command::Man(_) => Ok(None),
        _ => bakery_core::config::environment::select(
            cli.config.as_deref(),
            cli.environment.as_deref(),
            &std::env::current_dir().unwrap_or_default(),
        ),
    };
    let environment = match environment {
        Ok(environment) => environment,
        // As every refusal: on stderr, and with `--output json` the one JSON object.
        Err(error) => return fail(cli.output, &error).into(),
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
        progress: cli.progress,
    };
    bakery_core::wait::timings::keep_in(context::timings_file());
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
            Command::Completions(args) => cli::completions(&args),
            Command::Man(args) => cli::man(&args),
        }
    });
    // A cache: what this run saw helps the next one; losing it costs nothing.
    if let Err(error) = bakery_core::wait::timings::save() {
        tracing::debug!(%error, "timings not kept");
    }
    exit.into()
}

/// Traces on stderr only when asked for: RUST_LOG (e.g.
/// `bakery_core=debug,aws_smithy_runtime=debug`), else `-v` (bakery's) or `-vv` (the
/// SDK's too).
fn traces(verbosity: Verbosity) {
    let filter = match (std::env::var("RUST_LOG"), verbosity) {
        (Ok(filter), _) => filter,
        (Err(_), Verbosity::Verbose) => "bakery_core=debug".to_string(),
        (Err(_), Verbosity::Traces) => "bakery_core=debug,aws_smithy_runtime=debug".to_string(),
        (Err(_), _) => return,
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
}
