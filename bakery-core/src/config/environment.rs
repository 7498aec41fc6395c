//! `bakery.toml`: named environments, each a layer of settings (see [`super::settings`])
//! that may `extends` another and state only its differences.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::{Spanned, Table, Value};

use super::located::{line_of, Problems};
use super::settings::{merge, Layer, Settings, Source, StepOutput};
use crate::error::{Error, Result};
use crate::model::Sharing;

pub const CONFIG_FILE: &str = "bakery.toml";

/// A selected environment: its layers, base-most first, and their merge.
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
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
    subnet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    security_groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_profile: Option<String>,
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
}

impl RawEnvironment {
    /// The environment's own settings in the shape of [`Settings`].
    fn table(&self) -> Table {
        let mut table = Table::new();
        let mut builder = Table::new();
        let own = Value::try_from(self).expect("environments serialize");
        for (key, value) in own.as_table().expect("a table") {
            match key.as_str() {
                "instance_type" | "subnet" | "security_groups" | "instance_profile" => {
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
            return Err(Error::input(format!(
                "--config {}: no such file; give the path of a {CONFIG_FILE}",
                path.display()
            )))
        }
        Some(path) => Some(path.to_path_buf()),
        None => find_config(cwd),
    };
    let Some(file) = file else {
        return match name {
            Some(name) => Err(Error::input(format!(
                "--env {name}: no {CONFIG_FILE} in {} or above it; create one with \
                 [environments.{name}] or pass --config FILE",
                cwd.display()
            ))),
            None => Ok(None),
        };
    };
    let source = std::fs::read_to_string(&file)
        .map_err(|e| Error::input(format!("cannot read {}: {e}", file.display())))?;
    parse(&file, &source, name)
}

/// Parses a `bakery.toml` and selects an environment from it.
pub fn parse(file: &Path, source: &str, name: Option<&str>) -> Result<Option<Environment>> {
    let problems = Problems::new(file, source);
    let at = |span: std::ops::Range<usize>, message: String| problems.fatal(span, message);
    let raw: RawConfig = toml::from_str(source)
        .map_err(|e| at(e.span().unwrap_or(0..0), e.message().trim_end().to_string()))?;
    let known = || {
        raw.environments
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    let name = match (name, &raw.default_environment) {
        (Some(name), _) => name.to_string(),
        (None, Some(default)) => {
            if !raw.environments.contains_key(default.get_ref()) {
                return Err(at(
                    default.span(),
                    format!(
                        "key `default_environment`: no environment `{}` in this file (it has: {})",
                        default.get_ref(),
                        known()
                    ),
                ));
            }
            default.get_ref().clone()
        }
        (None, None) => return Ok(None),
    };
    if !raw.environments.contains_key(&name) {
        return Err(Error::input(format!(
            "--env {name}: {} has no [environments.{name}] (it has: {})",
            file.display(),
            known()
        )));
    }
    // The chain, from the named environment to its base-most ancestor.
    let mut chain: Vec<&str> = vec![name.as_str()];
    loop {
        let current = &raw.environments[*chain.last().expect("not empty")];
        let Some(parent) = &current.get_ref().extends else {
            break;
        };
        let parent_name = parent.get_ref().as_str();
        if !raw.environments.contains_key(parent_name) {
            return Err(at(
                parent.span(),
                format!(
                    "key `extends`: no environment `{parent_name}` to extend (this file has: {})",
                    known()
                ),
            ));
        }
        if chain.contains(&parent_name) {
            return Err(at(
                parent.span(),
                format!(
                    "key `extends`: environments extend each other in a circle: {} -> {parent_name}",
                    chain.join(" -> ")
                ),
            ));
        }
        chain.push(parent_name);
    }
    let layers = chain
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
        .collect::<Vec<_>>();
    // Each environment must be valid on its own too, so mistakes show where made.
    let merged = merge(&layers)?;
    if !merged.settings.regions.is_empty() {
        merged.check_kms_regions()?;
    }
    let settings = merged.settings;
    Ok(Some(Environment {
        name,
        file: file.to_path_buf(),
        layers,
        settings,
    }))
}

impl Environment {
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
mod tests {
    use super::*;

    const FILE: &str = r#"
default_environment = "staging"

[environments.staging]
regions = ["eu-west-1", "eu-central-1"]
subnet = "subnet-staging"
instance_profile = "bakery-builder"
sns_topic = "arn:aws:sns:eu-west-1:123456789012:bakery"
tags = { cost-center = "platform", environment = "staging" }
kms_keys = { eu-central-1 = "alias/staging" }

[environments.production]
extends = "staging"
regions = ["eu-west-1", "eu-central-1", "us-east-1"]
subnet = "subnet-production"
kms_keys = { us-east-1 = "alias/production" }
tags = { environment = "production" }
share = { accounts = ["111122223333"] }
"#;

    fn production() -> Environment {
        parse(Path::new("bakery.toml"), FILE, Some("production"))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn an_environment_states_only_its_differences_from_the_one_it_extends() {
        let settings = production().settings().clone();
        assert_eq!(settings.regions, ["eu-west-1", "eu-central-1", "us-east-1"]);
        assert_eq!(
            settings.builder.subnet.as_deref(),
            Some("subnet-production")
        );
        assert_eq!(
            settings.builder.instance_profile.as_deref(),
            Some("bakery-builder"),
            "inherited from staging"
        );
        assert_eq!(settings.tags["cost-center"], "platform", "tables merge");
        assert_eq!(settings.tags["environment"], "production");
        assert_eq!(settings.kms_keys["eu-central-1"], "alias/staging");
        assert_eq!(settings.kms_keys["us-east-1"], "alias/production");
    }

    #[test]
    fn the_default_environment_applies_when_none_is_named() {
        let staging = parse(Path::new("bakery.toml"), FILE, None)
            .unwrap()
            .unwrap();
        assert_eq!(staging.name, "staging");
        let without_default = FILE.replace("default_environment = \"staging\"", "");
        assert!(parse(Path::new("bakery.toml"), &without_default, None)
            .unwrap()
            .is_none());
    }

    #[test]
    fn defaults_then_environment_then_recipe_then_flags() {
        let mut layers = vec![Layer::of(
            Source::Default,
            vec![
                ("builder.instance_type", "t3.small".into()),
                ("builder.volume_type", "gp3".into()),
            ],
        )];
        layers.extend(production().layers().iter().cloned());
        layers.push(Layer::of(
            Source::Recipe {
                file: "recipes/zookeeper/recipe.toml".into(),
            },
            vec![
                ("builder.instance_type", "m7i.large".into()),
                ("builder.subnet", "subnet-recipe".into()),
                ("tags.team", "data".into()),
            ],
        ));
        layers.push(Layer::of(
            Source::Flag {
                flag: "--subnet".into(),
            },
            vec![("builder.subnet", "subnet-flag".into())],
        ));
        let merged = merge(&layers).unwrap();
        let s = &merged.settings;
        assert_eq!(s.builder.volume_type.as_deref(), Some("gp3"));
        assert_eq!(s.builder.instance_type.as_deref(), Some("m7i.large"));
        assert_eq!(s.builder.subnet.as_deref(), Some("subnet-flag"));
        assert_eq!(s.tags.len(), 3);
        let sources: BTreeMap<String, String> = merged
            .entries()
            .into_iter()
            .map(|(key, _, source)| (key, source.to_string()))
            .collect();
        assert_eq!(sources["builder.volume_type"], "built-in default");
        assert_eq!(
            sources["builder.instance_profile"],
            "environment staging (bakery.toml:4)"
        );
        assert_eq!(sources["builder.subnet"], "flag --subnet");
        assert_eq!(
            sources["tags.team"],
            "recipe (recipes/zookeeper/recipe.toml)"
        );
        assert_eq!(
            sources["tags.environment"],
            "environment production (bakery.toml:12)"
        );
        assert_eq!(
            sources["regions"],
            "environment production (bakery.toml:12)"
        );
    }

    fn error_of(text: &str, name: Option<&str>) -> String {
        parse(Path::new("bakery.toml"), text, name)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn an_unknown_key_is_refused_at_its_line() {
        let message = error_of(
            &FILE.replace("subnet = \"subnet-staging\"", "subnett = \"x\""),
            None,
        );
        assert!(message.contains("bakery.toml:6:1"), "{message}");
        assert!(message.contains("unknown field `subnett`"), "{message}");
    }

    #[test]
    fn extends_must_name_an_environment_and_not_go_round_in_circles() {
        let message = error_of(
            &FILE.replace("extends = \"staging\"", "extends = \"stagin\""),
            Some("production"),
        );
        assert!(message.contains("bakery.toml:13:"), "{message}");
        assert!(
            message.contains("no environment `stagin` to extend"),
            "{message}"
        );
        let circle = FILE.replace(
            "[environments.staging]\n",
            "[environments.staging]\nextends = \"production\"\n",
        );
        let message = error_of(&circle, Some("production"));
        assert!(
            message.contains("in a circle: production -> staging -> production"),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_environment_lists_the_known_ones() {
        let message = error_of(FILE, Some("prod"));
        assert!(message.contains("--env prod"), "{message}");
        assert!(message.contains("production, staging"), "{message}");
    }

    /// One test per kind of mistake in an environment: each names the key, the
    /// environment (and file and line) that set it, and what is accepted.
    macro_rules! environment_refuses {
        ($($test:ident: $from:expr, $to:expr => $says:expr;)*) => {$(
            #[test]
            fn $test() {
                assert!(FILE.contains($from));
                let message = error_of(&FILE.replace($from, $to), Some("production"));
                assert!(message.contains("environment production (bakery.toml:12)"), "{message}");
                assert!(message.contains($says), "expected {:?} in:\n{message}", $says);
            }
        )*};
    }

    const PRODUCTION: &str = "[environments.production]\n";

    environment_refuses! {
        refuses_a_bucket_name_with_capitals: PRODUCTION, "[environments.production]\nstep_output = { s3_bucket = \"Bake-Logs\" }\n" => "step_output.s3_bucket";
        refuses_a_log_group_with_spaces: PRODUCTION, "[environments.production]\nstep_output = { cloudwatch_log_group = \"bake logs\" }\n" => "is not a log group name";
        refuses_a_topic_that_is_not_an_arn: PRODUCTION, "[environments.production]\nsns_topic = \"alerts\"\n" => "is not an SNS topic ARN";
        refuses_a_reserved_tag: "tags = { environment = \"production\" }", "tags = { \"bakery:role\" = \"x\" }" => "prefixes are reserved";
        refuses_an_organization_that_is_not_an_arn: "share = { accounts = [\"111122223333\"] }", "share = { organizations = [\"o-abc\"] }" => "is not an organization ARN";
        refuses_an_ou_that_is_not_an_arn: "share = { accounts = [\"111122223333\"] }", "share = { organizational_units = [\"ou-abc\"] }" => "is not an OU ARN";
    }

    #[test]
    fn an_unknown_default_environment_is_refused_at_its_line() {
        let message = error_of(
            &FILE.replace(
                "default_environment = \"staging\"",
                "default_environment = \"qa\"",
            ),
            None,
        );
        assert!(message.contains("bakery.toml:2:23"), "{message}");
        assert!(
            message.contains("no environment `qa` in this file (it has: production, staging)"),
            "{message}"
        );
    }

    #[test]
    fn bad_values_name_the_environment_that_set_them() {
        let message = error_of(&FILE.replace("111122223333", "1234"), Some("production"));
        assert!(
            message.contains("share.accounts (from environment production (bakery.toml:12))"),
            "{message}"
        );
        let message = error_of(&FILE.replace("\"eu-central-1\"]", "\"Frankfurt\"]"), None);
        assert!(
            message.contains("`Frankfurt` is not a region name"),
            "{message}"
        );
        let message = error_of(
            &FILE.replace("us-east-1 = \"alias", "us-west-2 = \"alias"),
            Some("production"),
        );
        assert!(message.contains("kms_keys.us-west-2"), "{message}");
    }
}
