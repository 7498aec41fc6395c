//! A bake's settings, merged in layers: built-in defaults → environment (its
//! `extends` chain, base first) → recipe → flags. Tables merge key by key; any other
//! value (lists included) replaces. Every value remembers where it came from, for
//! `bakery config show`, and a bad merged value names who set it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use super::checks;
use crate::error::{Error, Result};
use crate::model::{Arch, PublicAddress, Sharing};

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Source {
    /// bakery's built-in default.
    Default,
    /// An environment of `bakery.toml` (one of the `extends` chain).
    Environment {
        /// The environment's name.
        name: String,
        /// The `bakery.toml` it is in.
        file: PathBuf,
        /// The 1-based line its `[environments.NAME]` table starts at.
        line: usize,
    },
    /// The recipe: its `[builder]`, `tags`, `[deadlines]` or a variable's default.
    Recipe {
        /// Its `recipe.toml`.
        file: PathBuf,
    },
    /// Kept from the release a bake rebuilds (`--if-changed`, `bake --all`): the
    /// value given with `--var` then, while what it overrode has not changed since.
    Kept {
        /// The release rebuilt, as `role@version`.
        release: String,
    },
    /// A command-line flag.
    Flag {
        /// The flag, e.g. `--subnet`.
        flag: String,
    },
}

impl Source {
    /// Where the layer stands in the merge: a later one wins.
    pub fn layer(&self) -> u8 {
        match self {
            Source::Default => 0,
            Source::Environment { .. } => 1,
            Source::Recipe { .. } => 2,
            Source::Kept { .. } => 3,
            Source::Flag { .. } => 4,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("built-in default"),
            Source::Environment { name, file, line } => {
                write!(f, "environment {name} ({}:{line})", file.display())
            }
            Source::Recipe { file } => write!(f, "recipe ({})", file.display()),
            Source::Flag { flag } => write!(f, "flag {flag}"),
            Source::Kept { release } => write!(f, "{release}, given with --var then"),
        }
    }
}

/// The effective settings of a bake, after the merge.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The first is where the bake runs; the release is copied to the others.
    pub regions: Vec<String>,
    /// `[builder]`: the builder's instance, volume and network.
    pub builder: BuilderSettings,
    /// KMS key per region, for the image (build region) and its copies.
    pub kms_keys: BTreeMap<String, String>,
    /// `share`: the accounts, organizations and organizational units the release is
    /// shared with.
    pub share: Sharing,
    /// `sns_topic`: the topic ARN alerted when a bake fails or is interrupted (and, with
    /// `--notify-success`, when it succeeds); None: no alert.
    pub sns_topic: Option<String>,
    /// `tags`: extra tags on the AMI and its snapshots, the environment's and the
    /// recipe's merged.
    pub tags: BTreeMap<String, String>,
    /// `step_output`: where each step's whole output is kept too; unset, only what SSM
    /// returns inline.
    pub step_output: StepOutput,
    /// `[deadlines]`, merged key by key: the recipe's over the environment's.
    #[serde(skip_serializing_if = "DeadlineSettings::is_empty")]
    pub deadlines: DeadlineSettings,
    /// The values of the recipe's variables (see `vars`).
    pub vars: BTreeMap<String, String>,
}

/// The builder: the one type every layer fills (defaults, environment, recipe, flags)
/// and the plan uses once merged.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BuilderSettings {
    /// `instance_type`: the builder's instance type (a built-in default per architecture).
    pub instance_type: Option<String>,
    /// `[builder.instance_types]`: the type for each architecture of a recipe baked for
    /// several, where one `instance_type` cannot serve (t3 runs x86_64, t4g arm64).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub instance_types: BTreeMap<Arch, String>,
    /// GiB; the base image's root volume size when unset.
    pub volume_size: Option<i32>,
    /// `volume_type`: gp2, gp3 (the built-in default), io1 or io2.
    pub volume_type: Option<String>,
    /// Provisioned IOPS of the root volume (io1 and io2 need them; gp3 may have them).
    pub volume_iops: Option<i32>,
    /// gp3's throughput, MiB/s.
    pub volume_throughput: Option<i32>,
    /// `subnet`: where the builder runs; unset, the default VPC.
    pub subnet: Option<String>,
    /// Empty: bakery creates a security group with no inbound rules for the bake.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// `instance_profile`: the builder's instance profile, a name or an ARN.
    pub instance_profile: Option<String>,
    /// The image's key; the build region's `kms_keys` entry when unset.
    pub kms_key: Option<String>,
    /// Install the SSM agent at launch (from AWS's regional bucket) when the base
    /// image lacks it, as Debian's images do.
    pub install_ssm_agent: Option<bool>,
    /// Unset: a public address only when the subnet reaches SSM through nothing but
    /// its internet gateway.
    pub public_address: Option<PublicAddress>,
    /// IMDSv2's hop limit: 1 (the default) keeps the metadata service, and the
    /// instance profile's credentials, away from containers on the builder.
    pub metadata_hop_limit: Option<i64>,
}

impl BuilderSettings {
    /// Set by the built-in defaults, so present once merged.
    pub fn instance_type(&self) -> &str {
        self.instance_type.as_deref().expect("a built-in default")
    }

    /// Set by the built-in defaults, so present once merged.
    pub fn volume_type(&self) -> &str {
        self.volume_type.as_deref().expect("a built-in default")
    }

    /// Whether the builder installs the SSM agent at launch (`install_ssm_agent`;
    /// false when unset).
    pub fn installs_ssm_agent(&self) -> bool {
        self.install_ssm_agent.unwrap_or(false)
    }

    /// Set by the built-in defaults, so present once merged.
    pub fn metadata_hop_limit(&self) -> i32 {
        self.metadata_hop_limit
            .and_then(|limit| i32::try_from(limit).ok())
            .expect("a built-in default, checked")
    }
}

/// Where step output goes besides the bake's events, so that output beyond SSM's
/// inline limit (24,000 characters) is kept.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct StepOutput {
    pub s3_bucket: Option<String>,
    pub s3_prefix: Option<String>,
    pub cloudwatch_log_group: Option<String>,
}

impl StepOutput {
    pub fn is_set(&self) -> bool {
        self.s3_bucket.is_some() || self.cloudwatch_log_group.is_some()
    }
}

/// `[deadlines]`: how long bakery waits for the new image, for an instance (to run,
/// to reach SSM, to stop, to terminate), and for the whole bake, as duration texts
/// (`"90m"`); unset, its defaults.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlineSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bake: Option<String>,
}

/// The most each deadline may be, and why.
pub const DEADLINE_LIMITS: [(&str, Duration, &str); 3] = [
    (
        "image",
        Duration::from_secs(24 * 3600),
        "bakery waits at most a day for an image",
    ),
    (
        "instance",
        Duration::from_secs(3600),
        "an instance that is not running, stopped or reachable within an hour will not be",
    ),
    (
        "bake",
        Duration::from_secs(7 * 24 * 3600),
        "a builder lives at most a week",
    ),
];

impl DeadlineSettings {
    pub fn is_empty(&self) -> bool {
        *self == DeadlineSettings::default()
    }

    /// Each set deadline as (key, text).
    fn set(&self) -> Vec<(&'static str, &str)> {
        [
            ("image", &self.image),
            ("instance", &self.instance),
            ("bake", &self.bake),
        ]
        .into_iter()
        .filter_map(|(key, text)| Some((key, text.as_deref()?)))
        .collect()
    }

    /// The deadlines as durations (checked by the merge: a bad one is None).
    pub fn waits(&self) -> Waits {
        let parse = |text: &Option<String>| {
            text.as_deref()
                .and_then(|t| crate::model::names::parse_duration(t).ok())
        };
        Waits {
            image: parse(&self.image),
            instance: parse(&self.instance),
            bake: parse(&self.bake),
        }
    }
}

/// `[deadlines]` as durations; None keeps bakery's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Waits {
    #[serde(
        rename = "image_seconds",
        with = "crate::model::names::optional_seconds"
    )]
    pub image: Option<Duration>,
    #[serde(
        rename = "instance_seconds",
        with = "crate::model::names::optional_seconds"
    )]
    pub instance: Option<Duration>,
    #[serde(
        rename = "bake_seconds",
        with = "crate::model::names::optional_seconds"
    )]
    pub bake: Option<Duration>,
}

/// One source's settings, in the shape of [`Settings`].
#[derive(Debug, Clone)]
pub struct Layer {
    pub source: Source,
    pub table: Table,
}

impl Layer {
    /// A layer from dotted keys, e.g. `[("builder.subnet", "subnet-1")]`.
    pub fn of(source: Source, values: Vec<(&str, Value)>) -> Layer {
        let mut table = Table::new();
        for (key, value) in values {
            let mut parts: Vec<&str> = key.split('.').collect();
            let last = parts.pop().expect("a key");
            let mut current = &mut table;
            for part in parts {
                current = current
                    .entry(part)
                    .or_insert_with(|| Value::Table(Table::new()))
                    .as_table_mut()
                    .expect("tables on the way");
            }
            current.insert(last.to_string(), value);
        }
        Layer { source, table }
    }
}

/// The merged settings and where each value (by dotted key) came from.
#[derive(Debug, Clone, Serialize)]
pub struct Merged {
    /// The merged values.
    pub settings: Settings,
    /// Where each value came from, by dotted key (`builder.subnet`).
    pub sources: BTreeMap<String, Source>,
    /// The variables given with `--var` (or kept from the release rebuilt), each with
    /// the value the environment or the recipe would have given it (none: no value).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<String, Option<String>>,
}

impl Merged {
    /// Every set value as `(dotted key, value, source)`, for `config show`.
    pub fn entries(&self) -> Vec<(String, Value, Source)> {
        let value = Value::try_from(&self.settings).expect("settings serialize");
        let mut entries = Vec::new();
        flatten("", &value, &mut entries);
        entries
            .into_iter()
            .filter_map(|(key, value)| {
                let source = self.source_of(&key)?;
                Some((key, value, source))
            })
            .collect()
    }

    /// Where the value at a dotted key came from: its own entry, else its nearest table's.
    pub fn source_of(&self, key: &str) -> Option<Source> {
        let mut path = key;
        loop {
            if let Some(source) = self.sources.get(path) {
                return Some(source.clone());
            }
            path = &path[..path.rfind('.')?];
        }
    }

    /// ` (from <source>)` for the value at `key`, for error messages.
    fn from(&self, key: &str) -> String {
        self.source_of(key)
            .map_or_else(String::new, |s| format!(" (from {s})"))
    }

    /// Every KMS key names one of the regions, once the regions are final (an
    /// environment's own, or a bake's after `--region` and `--copy-to`).
    pub fn check_kms_regions(&self) -> Result<()> {
        let regions = &self.settings.regions;
        let Some(stray) = self.settings.kms_keys.keys().find(|r| !regions.contains(r)) else {
            return Ok(());
        };
        Err(Error::input(format!(
            "kms_keys.{stray}{}: {stray} is not one of the regions ({})",
            self.from(&format!("kms_keys.{stray}")),
            regions.join(", ")
        ))
        .with_hint("add it to the environment's regions (or a bake's --copy-to)"))
    }

    /// Checks that need the merged values; every bad value is reported, each naming
    /// where it came from.
    fn check(&self) -> Result<()> {
        let settings = &self.settings;
        let mut problems: Vec<String> = Vec::new();
        let mut note = |key: &str, checked: std::result::Result<(), String>| {
            if let Err(message) = checked {
                problems.push(format!("{key}{}: {message}", self.from(key)));
            }
        };
        self.check_regions(&mut note);
        check_builder(&settings.builder, &mut note);
        for (region, key) in &settings.kms_keys {
            note(&format!("kms_keys.{region}"), checks::check_kms_key(key));
        }
        if let Err((key, message)) = checks::check_sharing(&settings.share) {
            note(key, Err(message));
        }
        if let Some(topic) = &settings.sns_topic {
            note("sns_topic", checks::check_topic_arn(topic));
        }
        if let Some(bucket) = &settings.step_output.s3_bucket {
            note("step_output.s3_bucket", checks::check_bucket(bucket));
        }
        if let Some(group) = &settings.step_output.cloudwatch_log_group {
            note(
                "step_output.cloudwatch_log_group",
                checks::check_log_group(group),
            );
        }
        for (key, value) in &settings.tags {
            note(&format!("tags.{key}"), checks::check_tag(key, value));
        }
        for (key, text) in settings.deadlines.set() {
            let (_, limit, why) = DEADLINE_LIMITS
                .into_iter()
                .find(|(name, ..)| *name == key)
                .expect("a limit for every deadline");
            let checked = crate::model::names::parse_duration_up_to(text, limit, why);
            note(&format!("deadlines.{key}"), checked.map(|_| ()));
        }
        for name in settings.vars.keys() {
            note(&format!("vars.{name}"), checks::check_env_name(name));
        }
        Error::refusing_all("in the settings", problems)
    }

    /// `regions`: each a region, at least one when given, none twice.
    fn check_regions(&self, note: &mut Note<'_>) {
        let regions = &self.settings.regions;
        for region in regions {
            note("regions", checks::check_region(region));
        }
        if self.sources.contains_key("regions") && regions.is_empty() {
            note("regions", Err("give at least one region".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(twice) = regions.iter().find(|r| !seen.insert(*r)) {
            note("regions", Err(format!("{twice} is named twice")));
        }
    }
}

/// Where a merged value's problem is noted: its key and the check's answer.
type Note<'a> = dyn FnMut(&str, std::result::Result<(), String>) + 'a;

/// `[builder]`'s merged values, each checked.
fn check_builder(builder: &BuilderSettings, note: &mut Note<'_>) {
    if let Some(instance_type) = &builder.instance_type {
        note(
            "builder.instance_type",
            checks::check_instance_type(instance_type),
        );
    }
    for (arch, instance_type) in &builder.instance_types {
        note(
            &format!("builder.instance_types.{arch}"),
            checks::check_instance_type(instance_type),
        );
    }
    if let Some(subnet) = &builder.subnet {
        note("builder.subnet", checks::check_ec2_id("subnet", subnet));
    }
    for group in &builder.security_groups {
        note("builder.security_groups", checks::check_ec2_id("sg", group));
    }
    if let Some(profile) = &builder.instance_profile {
        note(
            "builder.instance_profile",
            checks::check_instance_profile(profile),
        );
    }
    if let Some(key) = &builder.kms_key {
        note("builder.kms_key", checks::check_kms_key(key));
    }
    if let Some(limit) = builder.metadata_hop_limit.filter(|l| !(1..=64).contains(l)) {
        note(
            "builder.metadata_hop_limit",
            Err(format!(
                "{limit} is out of range: give 1 to 64 (1 unless containers on the builder \
                 need IMDS)"
            )),
        );
    }
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Table(table) => {
            for (key, value) in table {
                let key = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&key, value, out);
            }
        }
        Value::Array(items) if items.is_empty() => {}
        _ => out.push((prefix.to_string(), value.clone())),
    }
}

/// Merges the layers in order and checks the result.
pub fn merge(layers: &[Layer]) -> Result<Merged> {
    let mut table = Table::new();
    let mut sources = BTreeMap::new();
    for layer in layers {
        merge_table(&mut table, &mut sources, &layer.table, &layer.source, "");
    }
    let settings: Settings = Value::Table(table).try_into().map_err(|e| {
        Error::input(format!("the merged settings are invalid: {e}"))
            .with_hint("check `bakery config show`")
    })?;
    let merged = Merged {
        settings,
        sources,
        overrides: BTreeMap::new(),
    };
    merged.check()?;
    Ok(merged)
}

fn merge_table(
    into: &mut Table,
    sources: &mut BTreeMap<String, Source>,
    layer: &Table,
    source: &Source,
    prefix: &str,
) {
    for (key, value) in layer {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (into.get_mut(key), value) {
            (Some(Value::Table(existing)), Value::Table(more)) => {
                merge_table(existing, sources, more, source, &path);
            }
            (_, Value::Table(more)) => {
                let mut fresh = Table::new();
                merge_table(&mut fresh, sources, more, source, &path);
                into.insert(key.clone(), Value::Table(fresh));
            }
            _ => {
                into.insert(key.clone(), value.clone());
                sources.insert(path, source.clone());
            }
        }
    }
}
