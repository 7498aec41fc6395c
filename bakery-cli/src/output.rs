//! What every command does with its result: JSON or text on stdout, errors on stderr
//! (what happened, then what to do about it), and the exit code of an error.

use std::sync::OnceLock;

use bakery_core::release::channels::Split;
use bakery_core::Error;
use clap::ValueEnum;
use serde::Serialize;

use crate::exit::Exit;

/// `println!` that never panics: when stdout is a closed pipe (`bakery … | head`) the
/// rest of the output is dropped, and the command goes on to its own end and exit code.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` that never panics (see [`outln!`]).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that never panics (see [`outln!`]).
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

pub(crate) use {errln, out, outln};

/// How much goes to stderr: `-q` keeps failures and warnings only, `-v` adds each
/// error's full form (the SDK's own) and bakery's debug traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
    /// `-vv`: the SDK's traces too.
    Traces,
}

static VERBOSITY: OnceLock<Verbosity> = OnceLock::new();

/// Set once, from the global flags, before any command runs.
pub fn set_verbosity(verbosity: Verbosity) {
    let _ = VERBOSITY.set(verbosity);
}

pub fn verbosity() -> Verbosity {
    VERBOSITY.get().copied().unwrap_or(Verbosity::Normal)
}

/// `--color`: `auto` colours stderr when it is a terminal and neither `NO_COLOR` nor
/// `TERM=dumb` is set; stdout (results, tables) is never coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

impl Color {
    pub fn apply(self) {
        match self {
            // console's own rule: NO_COLOR, CLICOLOR(_FORCE), a terminal, TERM.
            Color::Auto => {}
            Color::Always => console::set_colors_enabled_stderr(true),
            Color::Never => console::set_colors_enabled_stderr(false),
        }
        console::set_colors_enabled(false);
    }
}

/// How the result (and a bake's events) are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

pub fn print_json(value: &impl Serialize) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).expect("results serialize")
    );
}

/// An error on stderr: `error: <what happened>`, then `  hint: <what to do>`; with
/// `-v`, the error's full form as well (the SDK's, for an AWS call).
pub fn print_error(error: &Error) {
    errln!(
        "{} {}",
        console::style("error:").for_stderr().red().bold(),
        error.problem()
    );
    if let Some(hint) = error.hint() {
        errln!("  {} {hint}", console::style("hint:").for_stderr().cyan());
    }
    if verbosity() >= Verbosity::Verbose {
        errln!("  debug: {error:?}");
    }
}

/// A channel whose regions disagree, and how to make them agree.
pub fn warn_split(role: &str, split: &Split) {
    let named: Vec<String> = split
        .regions
        .iter()
        .map(|(region, version)| format!("{region} {version}"))
        .collect();
    errln!(
        "warning: channel {} of {role} names different releases across regions: {}; promote \
         one release everywhere (bakery promote {role} <version> --channel {})",
        split.channel,
        named.join(", "),
        split.channel
    );
}

/// Reports an error (and, with JSON output, a result that says so) and returns the
/// exit code for it.
pub fn fail(output: Output, error: &Error) -> Exit {
    print_error(error);
    if output == Output::Json {
        print_json(&serde_json::json!({
            "status": "failed",
            "error": error.to_string(),
            "hint": error.hint(),
            "error_kind": error.kind(),
        }));
    }
    Exit::of_error(error)
}
