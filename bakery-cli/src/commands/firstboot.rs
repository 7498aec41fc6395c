//! `bakery firstboot render`: exactly what a bake of a recipe installs for the first
//! boot.

use std::path::PathBuf;

use bakery_core::script::firstboot::render;

use crate::context::Context;
use crate::exit::Exit;
use crate::output::{fail, out, outln, print_json, Output};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Print exactly what a bake of the recipe installs for the first boot: every
    /// file with its path, mode and content, and the config filled from the recipe.
    Render {
        /// The recipe folder, e.g. recipes/base.
        recipe: PathBuf,
        /// The release the config names (a bake fills in the version it claims).
        #[arg(long, default_value = "0.0.0-render")]
        version: String,
        /// The bake's alert topic, which the agent takes when the recipe names none
        /// (default: the environment's `sns_topic`, as a bake's).
        #[arg(long, env = "BAKERY_SNS_TOPIC", value_name = "ARN")]
        sns_topic: Option<String>,
    },
}

pub fn run(command: &Command, context: &Context) -> Exit {
    let Command::Render {
        recipe,
        version,
        sns_topic,
    } = command;
    let output = context.output;
    let bake_topic = sns_topic.clone().or_else(|| {
        context
            .environment
            .as_ref()
            .and_then(|e| e.settings().sns_topic.clone())
    });
    let installation = match render(recipe, version, bake_topic.as_deref()) {
        Ok(installation) => installation,
        Err(error) => return fail(output, &error),
    };
    match (installation, output) {
        (None, Output::Json) => print_json(&serde_json::json!({ "firstboot": false })),
        (None, Output::Text) => outln!(
            "{}: firstboot = false: a bake installs nothing for the first boot",
            recipe.display()
        ),
        (Some(installation), Output::Json) => print_json(&installation),
        (Some(installation), Output::Text) => {
            outln!(
                "{} firstboot agent; started by {}",
                installation.platform,
                installation.activation
            );
            for file in &installation.files {
                let when = file.when.map_or_else(String::new, |init| {
                    format!(" (only with {})", init.as_str())
                });
                outln!("\n==> {} [{}]{when}", file.path, file.access);
                out!("{}", file.content);
                if !file.content.ends_with('\n') {
                    outln!();
                }
            }
        }
    }
    Exit::Success
}
