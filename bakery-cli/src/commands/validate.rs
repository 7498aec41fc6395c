//! `bakery validate`: recipes checked without AWS — the schema (file, line, key), the
//! scripts, and shellcheck where it is installed.

use std::path::PathBuf;

use bakery_core::config::validate::validate;

use crate::context::Context;
use crate::exit::Exit;
use crate::output::{outln, print_error, print_json, Output};

#[derive(clap::Args)]
pub struct Args {
    /// Recipe folders to check, e.g. recipes/base recipes/zookeeper.
    #[arg(required = true)]
    recipes: Vec<PathBuf>,
}

pub fn run(args: &Args, context: &Context) -> Exit {
    let output = context.output;
    let mut exit = Exit::Success;
    let mut results = Vec::new();
    for dir in &args.recipes {
        match validate(dir) {
            Ok(validation) => {
                if !validation.findings.is_empty() {
                    exit = Exit::InvalidInput;
                }
                if output == Output::Text {
                    let lint = if validation.shellchecked {
                        "shellcheck clean"
                    } else if validation.platform == "windows" {
                        "PowerShell scripts: not linted here"
                    } else {
                        "shellcheck not run"
                    };
                    if validation.findings.is_empty() {
                        outln!(
                            "{}: ok ({} steps, {} tests, {lint})",
                            dir.display(),
                            validation.steps,
                            validation.tests
                        );
                    } else {
                        outln!("{}: shellcheck found problems:", dir.display());
                        for finding in &validation.findings {
                            outln!("  {}", finding.message);
                        }
                    }
                }
                results.push(serde_json::to_value(&validation).expect("serializes"));
            }
            Err(error) => {
                exit = Exit::InvalidInput;
                print_error(&error);
                results.push(serde_json::json!({ "recipe": dir.display().to_string(), "error": error.to_string() }));
            }
        }
    }
    if output == Output::Json {
        print_json(&serde_json::json!({ "recipes": results }));
    }
    exit
}
