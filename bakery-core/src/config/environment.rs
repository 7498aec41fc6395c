//! `bakery.toml`: named environments, each a layer of settings (see `settings`)
//! that may `extends` another and state only its differences.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::{Spanned, Table, Value};

use super::located::{line_of, Problems};
use super::settings::{merge, DeadlineSettings, Layer, Settings, Source, StepOutput};
use crate::error::{Error, Result};
use crate::model::{Arch, PublicAddress, Sharing};

/// The environments file's name, looked for from the working directory upward.
pub const CONFIG_FILE: &str = "bakery.toml";

/// A selected environment: its layers, base-most first, and their merge.
#[derive(Debug, Clone)]
pub struct Environment {
    /// The environment's name: its `[environments.NAME]` table.
    pub name: String,
    /// The `bakery.toml` it was read from.
    pub file: PathBuf,
    layers: Vec<Layer>,
    settings: Settings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    default_environment: Option<Spanned<String>>,
    #[serde(default)]
    environments: BTreeMap<String, Spanned<RawEnvironment>>,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    #[serde(skip_serializing)]
    extends: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    regions: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_types: Option<BTreeMap<Arch, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subnet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    security_groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_address: Option<PublicAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_keys: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    share: Option<Sharing>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sns_topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    step_output: Option<StepOutput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deadlines: Option<DeadlineSettings>,
    /// Values of recipe variables; a recipe that does not declare one ignores it.
    #[serde(skip_serializing_if = "Option::is_none")]
    vars: Option<BTreeMap<String, String>>,
}

impl RawEnvironment {
    /// The environment's own settings in the shape of [`Settings`].
    fn table(&self) -> Table {
        let mut table = Table::new();
        let mut builder = Table::new();
        let own = Value::try_from(self).expect("environments serialize");
        for (key, value) in own.as_table().expect("a table") {
            match key.as_str() {
                "instance_type" | "instance_types" | "subnet" | "security_groups"
                | "instance_profile" | "public_address" => {
                    builder.insert(key.clone(), value.clone());
                }
                _ => {
                    table.insert(key.clone(), value.clone());
                }
            }
        }
        if !builder.is_empty() {
            table.insert("builder".into(), Value::Table(builder));
        }
        table
    }
}

/// `bakery.toml` in `start` or the nearest folder above it.
pub fn find_config(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(CONFIG_FILE))
        .find(|file| file.is_file())
}

/// The environment to use: `name` (from `--env` or BAKERY_ENV) or the file's
/// `default_environment`, from `explicit` (`--config`) or the `bakery.toml` found from
/// `cwd` upward. `None` when no environment is asked for and none is the default.
pub fn select(
    explicit: Option<&Path>,
    name: Option<&str>,
    cwd: &Path,
) -> Result<Option<Environment>> {
    let file = match explicit {
        Some(path) if !path.is_file() => {
            return Err(
                Error::input(format!("--config {}: no such file", path.display()))
                    .with_hint(format!("give the path of a {CONFIG_FILE}")),
            )
        }
        Some(path) => Some(path.to_path_buf()),
        None => find_config(cwd),
    };
    let Some(file) = file else {
        return match name {
            Some(name) => Err(Error::input(format!(
                "--env {name}: no {CONFIG_FILE} in {} or above it",
                cwd.display()
            ))
            .with_hint(format!(
                "create one with [environments.{name}], or name one with --config FILE or BAKERY_CONFIG"
            ))),
            None => Ok(None),
        };
    };
    let source = super::confined::read_text(&file, &file).map_err(Error::input)?;
    parse(&file, &source, name)
}

/// Parses a `bakery.toml` and selects an environment from it.
pub fn parse(file: &Path, source: &str, name: Option<&str>) -> Result<Option<Environment>> {
    let problems = Problems::new(file, source);
    let raw: RawConfig = toml::from_str(source).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        problems.fatal(span, e.message().trim_end())
    })?;
    let Some(name) = chosen_name(&raw, file, name, &problems)? else {
        return Ok(None);
    };
    let chain = extends_chain(&raw, &name, &problems)?;
    let layers = layers_of(&raw, &chain, file, source);
    // Each environment must be valid on its own too, so mistakes show where made.
    let merged = merge(&layers)?;
    if !merged.settings.regions.is_empty() {
        merged.check_kms_regions()?;
    }
    Ok(Some(Environment {
        name,
        file: file.to_path_buf(),
        layers,
        settings: merged.settings,
    }))
}

/// The environments of the file, for messages: `production, staging`.
fn known(raw: &RawConfig) -> String {
    raw.environments
        .keys()
        .cloned()
        .collect::<Vec<_>>()
        .join(", ")
}

/// The environment asked for (`--env`), else the file's `default_environment`; None
/// when neither names one. A name the file lacks is refused with the nearest it has.
fn chosen_name(
    raw: &RawConfig,
    file: &Path,
    name: Option<&str>,
    problems: &Problems,
) -> Result<Option<String>> {
    let name = match (name, &raw.default_environment) {
        (Some(name), _) => name.to_string(),
        (None, Some(default)) if raw.environments.contains_key(default.get_ref()) => {
            default.get_ref().clone()
        }
        (None, Some(default)) => {
            return Err(problems.fatal(
                default.span(),
                format!(
                    "key `default_environment`: no environment `{}` in this file (it has: {})",
                    default.get_ref(),
                    known(raw)
                ),
            ))
        }
        (None, None) => return Ok(None),
    };
    if raw.environments.contains_key(&name) {
        return Ok(Some(name));
    }
    let error = Error::input(format!(
        "--env {name}: {} has no [environments.{name}] (it has: {})",
        file.display(),
        known(raw)
    ));
    let near = crate::model::names::nearest(&name, raw.environments.keys().map(String::as_str));
    Err(match near {
        Some(near) => error.with_hint(format!("did you mean --env {near}?")),
        None => error,
    })
}

/// The chain, from the named environment to its base-most ancestor (`extends`); an
/// ancestor the file lacks, or a circle, is refused at its `extends`.
fn extends_chain<'r>(
    raw: &'r RawConfig,
    name: &'r str,
    problems: &Problems,
) -> Result<Vec<&'r str>> {
    let mut chain: Vec<&str> = vec![name];
    loop {
        let current = &raw.environments[*chain.last().expect("not empty")];
        let Some(parent) = &current.get_ref().extends else {
            return Ok(chain);
        };
        let parent_name = parent.get_ref().as_str();
        if !raw.environments.contains_key(parent_name) {
            return Err(problems.fatal(
                parent.span(),
                format!(
                    "key `extends`: no environment `{parent_name}` to extend (this file has: {})",
                    known(raw)
                ),
            ));
        }
        if chain.contains(&parent_name) {
            return Err(problems.fatal(
                parent.span(),
                format!(
                    "key `extends`: environments extend each other in a circle: {} -> {parent_name}",
                    chain.join(" -> ")
                ),
            ));
        }
        chain.push(parent_name);
    }
}

/// The settings layers of a chain, base-most first, each with the line it starts at.
fn layers_of(raw: &RawConfig, chain: &[&str], file: &Path, source: &str) -> Vec<Layer> {
    chain
        .iter()
        .rev()
        .map(|env| {
            let spanned = &raw.environments[*env];
            Layer {
                source: Source::Environment {
                    name: env.to_string(),
                    file: file.to_path_buf(),
                    line: line_of(source, spanned.span().start),
                },
                table: spanned.get_ref().table(),
            }
        })
        .collect()
}

impl Environment {
    /// The environment's settings layers, base-most first (its `extends` chain), each
    /// with the line it starts at.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The environment's merged settings (its `extends` chain applied).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Where bakes run: the first of the environment's regions.
    pub fn build_region(&self) -> Option<String> {
        self.settings.regions.first().cloned()
    }
}

#[cfg(test)]
mod tests;
