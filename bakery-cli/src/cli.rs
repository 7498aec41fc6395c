//! The command line's grammar: global flags, the commands, and what `--region` means
//! to each; `bakery completions` and `bakery man` are written from it.

use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::commands::*;
use crate::exit::Exit;
use crate::output::{Color, Output};
use crate::render::Progress;

#[derive(Parser)]
#[command(
    name = "bakery",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BAKERY_COMMIT"), ")"),
    about = "Bake Amazon Machine Images like software releases"
)]
pub struct Cli {
    /// AWS region (default: the environment's first region, else the standard AWS
    /// chain, e.g. AWS_REGION).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// AWS credentials profile (default: the standard AWS chain, e.g. AWS_PROFILE).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// The bakery.toml environment to use (its regions, network, keys, sharing, tags).
    #[arg(long = "env", global = true, env = "BAKERY_ENV", value_name = "NAME")]
    pub environment: Option<String>,
    /// The bakery.toml to read (default: found from the working directory upward).
    #[arg(long, global = true, env = "BAKERY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// How the result is written on stdout: text, or one JSON object.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// How progress is written on stderr, whatever --output is: auto (live lines where
    /// stderr is a terminal that can draw them, else plain), bar, plain (one timestamped
    /// line per event), json (one JSON object per event).
    #[arg(long, global = true, value_enum, env = "BAKERY_PROGRESS", default_value_t = Progress::Auto)]
    pub progress: Progress,
    /// Colour on stderr: auto (a terminal, unless NO_COLOR or TERM=dumb), always, never.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Only failures, warnings and the result: no progress lines.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Errors in full (the AWS SDK's own form) and bakery's debug traces on stderr;
    /// twice (-vv) adds the SDK's traces. RUST_LOG, when set, chooses the traces instead.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// Shell completions on stdout: `bakery completions bash > /etc/bash_completion.d/bakery`.
    Completions(CompletionsArgs),
    /// The manual page (roff) on stdout: `bakery man > ~/.local/share/man/man1/bakery.1`.
    Man,
}

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// What `--region` is to each command; the global flag's own text is the default.
const REGION_HELP: &[(&str, &str)] = &[
    ("bake", "The region to bake in: the builder runs and the image is made there, then copied to the environment's other regions and --copy-to (default: the environment's first region, else AWS_REGION or the profile's)"),
    ("plan", "The region the bake would run in (default: the environment's first region, else AWS_REGION or the profile's)"),
    ("config", "The region whose settings are shown (a region's table in bakery.toml applies)"),
    ("test", "The region whose image of the release is tested (default: the environment's first region, else AWS_REGION or the profile's)"),
    ("promote", "The region to move the channel in when neither --regions nor the environment names regions"),
    ("releases", "The region to list when neither --regions nor the environment names regions"),
    ("deprecate", "The region to deprecate in when neither --regions nor the environment names regions"),
    ("prune", "The region to prune in when neither --regions nor the environment names regions"),
    ("distribute", "The region that has the release, where copies are made from"),
    ("share", "The region to share in when neither --regions nor the environment names regions"),
    ("unshare", "The region to unshare in when neither --regions nor the environment names regions"),
    ("cleanup", "The region to search when neither --regions nor the environment names regions"),
    ("audit", "The region to audit when neither --regions nor the environment names regions"),
    ("outdated", "The region whose releases are compared when neither --regions nor the environment names regions"),
];

/// The grammar, with each command's own `--region` text.
pub fn command() -> clap::Command {
    let mut command = Cli::command();
    let global = command
        .get_arguments()
        .find(|arg| arg.get_id() == "region")
        .expect("a global --region")
        .clone();
    // A command's own `--region` takes the global one's place (clap propagates a
    // global flag only where the command has none of that name) and its value still
    // reaches `Cli::region`.
    for (name, help) in REGION_HELP {
        let own = global.clone().global(false).help(*help);
        command = command.mut_subcommand(name, |sub| sub.arg(own));
    }
    command
}

pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
}

pub fn completions(args: &CompletionsArgs) -> Exit {
    let mut command = command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "bakery", &mut script);
    let _ = std::io::stdout().lock().write_all(&script);
    Exit::Success
}

pub fn man() -> Exit {
    let mut page = Vec::new();
    match clap_mangen::Man::new(command()).render(&mut page) {
        Ok(()) => {
            let _ = std::io::stdout().lock().write_all(&page);
            Exit::Success
        }
        Err(error) => {
            crate::output::errln!("error: could not write the manual page: {error}");
            Exit::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag and argument of every command says what it is for.
    #[test]
    fn every_argument_has_help_text() {
        fn undocumented(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let builtin = matches!(
                    arg.get_action(),
                    clap::ArgAction::Help | clap::ArgAction::Version
                );
                if !builtin && arg.get_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {} (the command)", sub.get_name()));
                }
                undocumented(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        undocumented(&command(), "bakery", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }

    #[test]
    fn region_says_what_it_is_to_each_command() {
        let command = command();
        let help = |name: &str| {
            command
                .find_subcommand(name)
                .and_then(|sub| sub.get_arguments().find(|a| a.get_id() == "region"))
                .and_then(|arg| arg.get_help())
                .map(ToString::to_string)
                .unwrap()
        };
        assert!(help("bake").starts_with("The region to bake in"));
        assert!(help("cleanup").starts_with("The region to search"));
        command.debug_assert();
    }
}
