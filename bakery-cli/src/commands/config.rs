//! `bakery config show`: the merged settings for a recipe (defaults, environment,
//! recipe, flags), each with where it came from.

use std::path::PathBuf;

use bakery_core::config::{layering, Recipe};

use super::args::SettingsArgs;
use crate::context::Context;
use crate::exit::Exit;
use crate::output::{fail, outln, print_json, Output};

#[derive(clap::Subcommand)]
pub enum Command {
    /// The merged settings for a recipe (defaults, environment, recipe, flags), each
    /// with where it came from.
    Show(Box<ShowArgs>),
}

/// A recipe and the flags that change its settings.
#[derive(clap::Args)]
pub struct ShowArgs {
    /// The recipe folder, e.g. recipes/base.
    recipe: PathBuf,
    #[command(flatten)]
    settings: SettingsArgs,
}

pub async fn run(command: &Command, context: &Context) -> Exit {
    let Command::Show(args) = command;
    let environment = context.environment.as_ref();
    let name = environment.map(|e| e.name.clone());
    let mut several = false;
    let merged = async {
        // Only the region is read from the AWS configuration: no call is made.
        let aws = context.connect().await?;
        let recipe = Recipe::load(&args.recipe)?;
        // A recipe of several architectures: the first one's builder.
        let arch = recipe.architectures[0];
        several = recipe.architectures.len() > 1;
        layering::for_bake(
            &recipe,
            environment,
            &args.settings.flags(),
            None,
            &aws.region,
            arch,
        )
    };
    let merged = match merged.await {
        Ok(merged) => merged,
        Err(error) => return fail(context.output, &error),
    };
    let mut entries = merged.entries();
    // With several architectures each has its own type (`builder.instance_types.*`):
    // the first one's, as `instance_type`, would be no layer's.
    if several {
        entries.retain(|(key, _, _)| key != "builder.instance_type");
    }
    if context.output == Output::Json {
        let values: Vec<serde_json::Value> = entries
            .iter()
            .map(|(key, value, source)| {
                serde_json::json!({ "key": key, "value": value, "source": source, "from": source.to_string() })
            })
            .collect();
        print_json(
            &serde_json::json!({ "environment": name, "settings": merged.settings, "values": values }),
        );
        return Exit::Success;
    }
    outln!(
        "# {} with environment {}",
        args.recipe.display(),
        name.as_deref().unwrap_or("(none)")
    );
    let width = entries
        .iter()
        .map(|(key, value, _)| key.len() + value.to_string().len())
        .max()
        .unwrap_or(0)
        + 3;
    for (key, value, source) in &entries {
        let line = format!("{key} = {value}");
        outln!("{line:<width$}  # {source}");
    }
    Exit::Success
}
