//! The command line's grammar: global flags, the commands, and what `--region` means
//! to each; `bakery completions` and `bakery man` are written from it.

use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::commands::*;
use crate::exit::Exit;
use crate::output::{Color, Output};
use crate::render::Progress;

/// The heading of the flags every command takes, apart from each command's own.
const GLOBAL: &str = "Global options";

#[derive(Parser)]
#[command(
    name = "bakery",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BAKERY_COMMIT"), ")"),
    about = "Bake Amazon Machine Images like software releases"
)]
pub struct Cli {
    /// AWS region (default: the environment's first region, else the standard AWS
    /// chain, e.g. AWS_REGION).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub region: Option<String>,
    /// AWS credentials profile (default: the standard AWS chain, e.g. AWS_PROFILE).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub profile: Option<String>,
    /// The bakery.toml environment to use (its regions, network, keys, sharing, tags).
    #[arg(long = "env", global = true, env = "BAKERY_ENV", value_name = "NAME", help_heading = GLOBAL)]
    pub environment: Option<String>,
    /// The bakery.toml to read (default: found from the working directory upward).
    #[arg(long, global = true, env = "BAKERY_CONFIG", value_name = "FILE", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,
    /// How the result is written on stdout: text, or one JSON object.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text, help_heading = GLOBAL)]
    pub output: Output,
    /// How progress is written on stderr, whatever --output is: auto (live lines where
    /// stderr is a terminal that can draw them, else plain), bar, plain (one timestamped
    /// line per event), json (one JSON object per event).
    #[arg(long, global = true, value_enum, env = "BAKERY_PROGRESS", default_value_t = Progress::Auto, help_heading = GLOBAL)]
    pub progress: Progress,
    /// Colour on stderr: auto (a terminal, unless NO_COLOR or TERM=dumb), always, never.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto, help_heading = GLOBAL)]
    pub color: Color,
    /// Only failures, warnings and the result: no progress lines.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,
    /// Errors in full (the AWS SDK's own form) and bakery's debug traces on stderr;
    /// twice (-vv) adds the SDK's traces. RUST_LOG, when set, chooses the traces instead.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Bake a release of a role: launch a builder, apply the recipe, create the AMI.
    Bake(Box<bake::Args>),
    /// Every decision of a bake, and the AWS calls it would make, without making any.
    Plan(Box<args::ReleaseArgs>),
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
    /// older than the policy, missing in a region, never released, fleets on a disabled
    /// or deprecated image; with the releases their fleets run. Exit 4 when any is.
    Outdated(outdated::Args),
    /// Shell completions on stdout: `bakery completions bash > /etc/bash_completion.d/bakery`.
    Completions(CompletionsArgs),
    /// Manual pages (roff): bakery's on stdout, a command's (`bakery man bake`), or every
    /// page into a folder (`bakery man --dir ~/.local/share/man/man1`).
    Man(ManArgs),
}

#[derive(clap::Args)]
pub struct ManArgs {
    /// The command whose page to write (e.g. bake); without one, bakery's own page.
    command: Option<String>,
    /// Write every page (bakery.1 and bakery-<command>.1 for each command) into DIR.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    dir: Option<PathBuf>,
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
    ("config show", "The region whose settings are shown (a region's table in bakery.toml applies)"),
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
    for (path, help) in REGION_HELP {
        let own = global
            .clone()
            .global(false)
            .help(*help)
            .help_heading(None::<&str>);
        // `config show`: the command that takes it is below `config`.
        command = match path.split_once(' ') {
            Some((name, below)) => {
                command.mut_subcommand(name, |sub| sub.mut_subcommand(below, |sub| sub.arg(own)))
            }
            None => command.mut_subcommand(path, |sub| sub.arg(own)),
        };
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

/// `bakery man`: one page on stdout, or every page into a folder.
pub fn man(args: &ManArgs) -> Exit {
    let mut command = command();
    command.build();
    let written = match (&args.dir, &args.command) {
        (Some(dir), _) => write_pages(&command, dir),
        (None, Some(name)) => match command.find_subcommand(name) {
            Some(sub) => page(sub).map(|page| print_page(&page)),
            None => {
                let mut names: Vec<&str> =
                    command.get_subcommands().map(|c| c.get_name()).collect();
                names.retain(|name| *name != "help");
                names.sort();
                crate::output::errln!(
                    "error: bakery has no command `{name}`; its commands: {}",
                    names.join(", ")
                );
                return Exit::InvalidInput;
            }
        },
        (None, None) => page(&command).map(|page| print_page(&page)),
    };
    match written {
        Ok(()) => Exit::Success,
        Err(error) => {
            crate::output::errln!("error: could not write the manual pages: {error}");
            Exit::Failed
        }
    }
}

fn print_page(page: &[u8]) {
    let _ = std::io::stdout().lock().write_all(page);
}

/// bakery.1, and bakery-<command>.1 for each command, into `dir` (made when missing).
fn write_pages(command: &clap::Command, dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    // clap's own `help` command has no page: `bakery man` is the help.
    let commands = command.get_subcommands().filter(|c| c.get_name() != "help");
    let commands = std::iter::once(command).chain(commands);
    for command in commands {
        let name = command.get_display_name().unwrap_or(command.get_name());
        std::fs::write(dir.join(format!("{name}.1")), page(command)?)?;
    }
    Ok(())
}

/// A command's page: clap's sections, then the exit codes, the environment and files.
fn page(command: &clap::Command) -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    page.extend_from_slice(b".SH \"EXIT STATUS\"\n");
    for exit in Exit::ALL {
        let (code, meaning) = (exit.code(), exit.meaning());
        page.extend_from_slice(format!(".TP\n{code}\n{meaning}\n").as_bytes());
    }
    page.extend_from_slice(b".SH ENVIRONMENT\n");
    for (name, meaning) in ENVIRONMENT {
        page.extend_from_slice(format!(".TP\n\\fB{name}\\fR\n{meaning}\n").as_bytes());
    }
    page.extend_from_slice(FILES.as_bytes());
    Ok(page)
}

/// The environment variables bakery reads, for the manual pages.
const ENVIRONMENT: &[(&str, &str)] = &[
    ("BAKERY_ENV", "The bakery.toml environment to use (as --env)."),
    ("BAKERY_CONFIG", "The bakery.toml to read (as --config)."),
    ("BAKERY_PROGRESS", "How progress is written on stderr (as --progress)."),
    ("BAKERY_SNS_TOPIC", "Where a bake's alerts go (as --sns-topic)."),
    ("BAKERY_TIMINGS", "The file that keeps how long AWS's transitions took, so that waits look when a change can have happened; none keeps nothing."),
    ("GIT_COMMIT, BUILD_URL", "Recorded on the image as bakery:source-commit and bakery:build-url (Jenkins sets them)."),
    ("AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL", "The standard AWS configuration chain, as the AWS CLI reads it."),
    ("COLUMNS", "The width tables fit (default: the terminal's; none in a pipe)."),
    ("NO_COLOR, TERM", "No colour when NO_COLOR is set or TERM=dumb (with --color auto)."),
    ("RUST_LOG", "Chooses the traces written on stderr (instead of -v, -vv)."),
];

const FILES: &str = ".SH FILES\n.TP\n\\fBbakery.toml\\fR\n\
The environments (regions, network, keys, sharing, tags, variables): --config, else the \
first found from the working directory upward.\n.TP\n\\fB<role>/recipe.toml\\fR\n\
A role's recipe: its base, steps, tests, firstboot agent and settings.\n";

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
    fn every_command_has_a_page_with_its_options_exit_codes_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let man1 = dir.path().join("man1");
        let args = ManArgs {
            command: None,
            dir: Some(man1.clone()),
        };
        assert_eq!(man(&args), Exit::Success);
        let pages = std::fs::read_dir(&man1).unwrap().count();
        assert_eq!(pages, command().get_subcommands().count() + 1);
        let bake = std::fs::read_to_string(man1.join("bakery-bake.1")).unwrap();
        for wanted in [
            "bakery bake",
            "\\-\\-bump",
            "\\-\\-profile",
            "EXIT STATUS",
            "130",
        ] {
            assert!(bake.contains(wanted), "{wanted} missing:\n{bake}");
        }
        assert!(bake.contains("BAKERY_PROGRESS") && bake.contains("bakery.toml"));
        let own = std::fs::read_to_string(man1.join("bakery.1")).unwrap();
        assert!(own.contains("bakery\\-bake(1)"), "the pages it names exist");
    }

    #[test]
    fn a_commands_help_shows_its_own_options_then_the_global_ones() {
        let help = command()
            .try_get_matches_from(["bakery", "bake", "--help"])
            .unwrap_err()
            .render()
            .to_string();
        let global = help.find("Global options:").expect(&help);
        assert!(help.find("--bump").unwrap() < global, "{help}");
        assert!(help.find("--profile").unwrap() > global, "{help}");
        // A command's own --region is its own option.
        assert!(help.find("--region").unwrap() < global, "{help}");
        // `plan` takes what decides a bake, not what only a bake does.
        let plan = super::command()
            .try_get_matches_from(["bakery", "plan", "--help"])
            .unwrap_err()
            .render()
            .to_string();
        for bake_only in [
            "--keep-on-failure",
            "--manifest",
            "--dry-run",
            "--all",
            "--jobs",
        ] {
            let offered = plan.lines().any(|l| l.trim_start().starts_with(bake_only));
            assert!(!offered, "{bake_only}: {plan}");
        }
        assert!(plan.contains("--bump") && plan.contains("--notify-success"));
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
        let show = super::command()
            .try_get_matches_from([
                "bakery",
                "config",
                "show",
                "recipes/base",
                "--region",
                "eu-west-2",
            ])
            .map(|matches| Cli::from_arg_matches(&matches).unwrap().region);
        assert_eq!(
            show.unwrap().as_deref(),
            Some("eu-west-2"),
            "config show takes --region"
        );
        command.debug_assert();
    }
}
