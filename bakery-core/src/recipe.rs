//! `recipes/<role>/recipe.toml`: reading it, and refusing it at the place it is wrong.
//!
//! Values are checked while they are read, so that the `toml` crate can attach the
//! position of the offending value to the error; checks that involve several keys use
//! the spans kept by [`Spanned`].

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use toml::Spanned;

use crate::error::{Error, Result};
use crate::firstboot::{self, FirstbootSettings};

pub const RECIPE_FILE: &str = "recipe.toml";

/// A role's recipe, read and checked: everything a bake needs to know about the role.
#[derive(Debug, Clone, Serialize)]
pub struct Recipe {
    /// The folder the recipe was read from.
    pub dir: PathBuf,
    pub name: RoleName,
    pub description: Option<String>,
    pub platform: Platform,
    pub arch: Arch,
    pub base: BaseImage,
    pub builder: BuilderSettings,
    pub steps: Vec<RecipeStep>,
    /// Run the built-in generalize step (remove host keys, machine-id, logs...).
    pub generalize: bool,
    /// Extra tags for the AMI and its snapshots.
    pub tags: BTreeMap<String, String>,
    /// How long after baking the AMI is marked deprecated.
    #[serde(with = "duration_text")]
    pub deprecate_after: Duration,
    /// What the firstboot agent does on an instance's first boot; `None` when the
    /// recipe opts out (`firstboot = false`) and nothing is installed.
    pub firstboot: Option<FirstbootSettings>,
}

/// Where the builder's image comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseImage {
    /// A fixed AMI id.
    Image(String),
    /// An SSM parameter holding an AMI id, such as AWS's public
    /// `/aws/service/ami-amazon-linux-latest/...` parameters.
    SsmParameter(String),
    /// The most recent available image of an owner whose name matches a pattern.
    Filter { owner: String, name: String },
    /// Another role's release: the one a channel points to, or the newest matching a
    /// version requirement.
    Release {
        role: RoleName,
        selector: BaseSelector,
    },
}

impl BaseImage {
    /// `--base`: `ami-…`, an SSM parameter path `/…`, `OWNER:NAME-PATTERN`, or another
    /// role's release `ROLE@CHANNEL` / `ROLE@VERSION-REQUIREMENT`.
    pub fn parse_flag(text: &str, own_role: &RoleName) -> std::result::Result<BaseImage, String> {
        let raw = if text.starts_with("ami-") {
            RawBase {
                image: Some(text.into()),
                ..RawBase::default()
            }
        } else if text.starts_with('/') {
            RawBase {
                ssm_parameter: Some(text.into()),
                ..RawBase::default()
            }
        } else if let Some((role, which)) = text.split_once('@') {
            let channel = RoleName::parse(which).is_ok();
            RawBase {
                role: Some(role.into()),
                channel: channel.then(|| which.to_string()),
                version: (!channel).then(|| which.to_string()),
                ..RawBase::default()
            }
        } else if let Some((owner, name)) = text.split_once(':') {
            RawBase {
                owner: Some(owner.into()),
                name: Some(name.into()),
                ..RawBase::default()
            }
        } else {
            return Err(format!(
                "--base `{text}`: give ami-…, an SSM parameter path (/aws/service/…), \
                 OWNER:NAME-PATTERN, or ROLE@CHANNEL / ROLE@VERSION (e.g. base@stable, base@^2.3)"
            ));
        };
        base_image(raw, own_role).map_err(|m| format!("--base `{text}`: {m}"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseSelector {
    Channel(String),
    #[serde(serialize_with = "requirement_text")]
    Version(semver::VersionReq),
}

fn requirement_text<S: serde::Serializer>(
    req: &semver::VersionReq,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&req.to_string())
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BuilderSettings {
    pub instance_type: Option<String>,
    pub volume_size_gib: Option<i32>,
    pub volume_type: Option<String>,
    pub subnet: Option<String>,
    pub security_groups: Vec<String>,
    pub instance_profile: Option<String>,
    pub kms_key: Option<String>,
    /// Install the SSM agent at launch (from AWS's regional bucket) when the base
    /// image lacks it, as Debian's images do.
    pub install_ssm_agent: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecipeStep {
    pub name: String,
    /// The script's path, relative to the recipe folder.
    pub script: PathBuf,
    /// The script's text, read at load time so a bake never sees a half-edited file.
    #[serde(skip)]
    pub script_text: String,
    #[serde(with = "duration_text")]
    pub timeout: Duration,
    pub env: BTreeMap<String, String>,
    /// Variables read from SSM SecureString parameters on the builder (variable ->
    /// parameter name); bakery never sees their values.
    pub secrets: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Linux,
    Windows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Arch {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::Linux => "linux",
            Platform::Windows => "windows",
        })
    }
}

/// A role name: lower-case letters, digits and dashes, starting with a letter. It is
/// part of AMI names and SSM parameter paths, so it is kept to what both accept.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RoleName(String);

impl RoleName {
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let valid = text.len() <= 64
            && text.starts_with(|c: char| c.is_ascii_lowercase())
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid {
            Ok(RoleName(text.to_string()))
        } else {
            Err(format!(
                "invalid role name `{text}`: use 1-64 lower-case letters, digits and dashes, \
                 starting with a letter (e.g. `base`, `zookeeper`)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RoleName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        RoleName::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A step timeout or a lifetime written as `90s`, `20m`, `1h 30m`.
#[derive(Debug, Clone, Copy)]
struct DurationText(Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text)
            .map(DurationText)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses `90s`, `20m`, `1h 30m`, `90d`; refuses zero and bare numbers.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(format!(
            "invalid duration `{text}`: write a number with a unit, e.g. `90s`, `20m`, `1h 30m`, `90d`"
        )),
    }
}

mod duration_text {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}

/// An environment variable name for a step: `[A-Za-z_][A-Za-z0-9_]*`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct EnvName(String);

impl<'de> Deserialize<'de> for EnvName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let valid = text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            Ok(EnvName(text))
        } else {
            Err(serde::de::Error::custom(format!(
                "invalid environment variable name `{text}`: use letters, digits and `_`, not starting with a digit"
            )))
        }
    }
}

// ------------------------------------------------------------------ the file as written

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipe {
    name: RoleName,
    description: Option<String>,
    platform: Platform,
    arch: Arch,
    base: Spanned<RawBase>,
    #[serde(default)]
    builder: RawBuilder,
    #[serde(default)]
    steps: Vec<RawStep>,
    #[serde(default = "yes")]
    generalize: bool,
    #[serde(default)]
    tags: BTreeMap<Spanned<String>, String>,
    deprecate_after: Option<DurationText>,
    firstboot: Option<RawFirstboot>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBase {
    image: Option<String>,
    ssm_parameter: Option<String>,
    owner: Option<String>,
    name: Option<String>,
    role: Option<String>,
    channel: Option<String>,
    version: Option<String>,
}

const BASE_FORMS: &str = "table `base`: give exactly one of `image = \"ami-...\"`, \
    `ssm_parameter = \"/path\"`, `owner` together with `name` (a name pattern), or `role` \
    together with `channel` or `version` (another role's release, e.g. \
    `{ role = \"base\", channel = \"stable\" }`, `{ role = \"base\", version = \"^2.3\" }`)";

fn base_image(raw: RawBase, own_role: &RoleName) -> std::result::Result<BaseImage, String> {
    let RawBase {
        image,
        ssm_parameter,
        owner,
        name,
        role,
        channel,
        version,
    } = raw;
    match (image, ssm_parameter, owner, name, role, channel, version) {
        (Some(image), None, None, None, None, None, None) => {
            if image.starts_with("ami-") {
                Ok(BaseImage::Image(image))
            } else {
                Err(format!(
                    "key `base.image`: `{image}` is not an AMI id (ami-...)"
                ))
            }
        }
        (None, Some(path), None, None, None, None, None) => {
            if path.starts_with('/') {
                Ok(BaseImage::SsmParameter(path))
            } else {
                Err(format!("key `base.ssm_parameter`: `{path}` is not a parameter path; it starts with `/`"))
            }
        }
        (None, None, Some(owner), Some(name), None, None, None) => {
            Ok(BaseImage::Filter { owner, name })
        }
        (None, None, None, None, Some(role), channel, version)
            if channel.is_some() != version.is_some() =>
        {
            let role = RoleName::parse(&role).map_err(|e| format!("key `base.role`: {e}"))?;
            if &role == own_role {
                return Err(format!(
                    "key `base.role`: role `{role}` cannot be layered on itself"
                ));
            }
            let selector = match (channel, version) {
                (Some(channel), _) => {
                    RoleName::parse(&channel)
                        .map_err(|_| format!("key `base.channel`: invalid channel `{channel}`"))?;
                    BaseSelector::Channel(channel)
                }
                (_, Some(version)) => BaseSelector::Version(semver::VersionReq::parse(&version).map_err(|e| {
                    format!("key `base.version`: `{version}` is not a version requirement ({e}); e.g. `^2.3`, `=2.4.0`")
                })?),
                _ => unreachable!("one of the two is set"),
            };
            Ok(BaseImage::Release { role, selector })
        }
        _ => Err(BASE_FORMS.to_string()),
    }
}

/// `firstboot = false`, or a `[firstboot]` table.
enum RawFirstboot {
    Off,
    On(Box<RawFirstbootSettings>),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFirstbootSettings {
    runlist: Option<Spanned<String>>,
    runner: Option<Spanned<String>>,
    region: Option<String>,
    sns_topic: Option<Spanned<String>>,
    retry: Option<bool>,
    fetch_attempts: Option<FetchAttempts>,
    fetch_timeout: Option<DurationText>,
}

struct FetchAttempts(u32);

impl<'de> Deserialize<'de> for FetchAttempts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let attempts = i64::deserialize(deserializer)?;
        if (1..=20).contains(&attempts) {
            Ok(FetchAttempts(attempts as u32))
        } else {
            Err(serde::de::Error::custom(format!(
                "fetch_attempts {attempts} is out of range: give 1 to 20"
            )))
        }
    }
}

impl<'de> Deserialize<'de> for RawFirstboot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = RawFirstboot;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "`firstboot = false`, or a [firstboot] table with runlist, runner, region, \
                     sns_topic, retry, fetch_attempts, fetch_timeout",
                )
            }
            fn visit_bool<E: serde::de::Error>(
                self,
                on: bool,
            ) -> std::result::Result<RawFirstboot, E> {
                Ok(if on {
                    RawFirstboot::On(Box::default())
                } else {
                    RawFirstboot::Off
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<RawFirstboot, A::Error> {
                RawFirstbootSettings::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|settings| RawFirstboot::On(Box::new(settings)))
            }
        }
        deserializer.deserialize_any(Either)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBuilder {
    instance_type: Option<String>,
    volume_size: Option<VolumeSize>,
    volume_type: Option<VolumeType>,
    subnet: Option<String>,
    #[serde(default)]
    security_groups: Vec<String>,
    instance_profile: Option<String>,
    kms_key: Option<String>,
    #[serde(default)]
    install_ssm_agent: bool,
}

struct VolumeSize(i32);

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum VolumeType {
    Gp2,
    Gp3,
    Io1,
    Io2,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: Spanned<String>,
    script: Spanned<String>,
    timeout: Option<DurationText>,
    #[serde(default)]
    env: BTreeMap<EnvName, String>,
    #[serde(default)]
    secrets: BTreeMap<EnvName, Spanned<String>>,
}

pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A quarter: the default time from baking to deprecation.
pub const DEFAULT_DEPRECATE_AFTER: Duration = Duration::from_secs(91 * 24 * 3600);

impl Recipe {
    /// Reads `<dir>/recipe.toml` and the scripts it names.
    pub fn load(dir: &Path) -> Result<Recipe> {
        let file = dir.join(RECIPE_FILE);
        if !dir.is_dir() {
            return Err(Error::input(format!(
                "recipe folder `{}` not found: give the folder that holds {RECIPE_FILE}, e.g. recipes/base",
                dir.display()
            )));
        }
        let source = std::fs::read_to_string(&file).map_err(|e| {
            Error::input(format!(
                "cannot read {}: {e}; a recipe folder holds a {RECIPE_FILE}",
                file.display()
            ))
        })?;
        Recipe::parse(dir, &file, &source)
    }

    /// Parses recipe text; `file` is only used in error messages, `dir` to find scripts.
    pub fn parse(dir: &Path, file: &Path, source: &str) -> Result<Recipe> {
        let at = |span: Range<usize>, message: String| located_error(file, source, span, &message);
        let raw: RawRecipe = toml::from_str(source)
            .map_err(|e| at(e.span().unwrap_or(0..0), e.message().trim_end().to_string()))?;

        let base_span = raw.base.span();
        let base = base_image(raw.base.into_inner(), &raw.name).map_err(|m| at(base_span, m))?;

        let mut steps: Vec<RecipeStep> = Vec::new();
        for raw_step in raw.steps {
            let name = raw_step.name.get_ref().clone();
            if RoleName::parse(&name).is_err() {
                return Err(at(raw_step.name.span(), format!(
                    "key `steps.name`: invalid step name `{name}`: use lower-case letters, digits and dashes, starting with a letter"
                )));
            }
            if steps.iter().any(|s| s.name == name) {
                return Err(at(
                    raw_step.name.span(),
                    format!(
                        "key `steps.name`: step `{name}` appears twice; step names must be unique"
                    ),
                ));
            }
            let script = PathBuf::from(raw_step.script.get_ref());
            if script.is_absolute()
                || script
                    .components()
                    .any(|c| c == std::path::Component::ParentDir)
            {
                return Err(at(raw_step.script.span(), format!(
                    "key `steps.script`: `{}` must be a path inside the recipe folder, relative to it",
                    script.display()
                )));
            }
            let script_text = std::fs::read_to_string(dir.join(&script)).map_err(|e| {
                at(
                    raw_step.script.span(),
                    format!(
                        "key `steps.script`: cannot read `{}`: {e}",
                        dir.join(&script).display()
                    ),
                )
            })?;
            let mut secrets = BTreeMap::new();
            for (variable, parameter) in raw_step.secrets {
                check_parameter_name(parameter.get_ref()).map_err(|m| {
                    at(
                        parameter.span(),
                        format!("key `steps.secrets.{}`: {m}", variable.0),
                    )
                })?;
                if raw_step.env.contains_key(&variable) {
                    return Err(at(
                        parameter.span(),
                        format!(
                            "key `steps.secrets.{}`: {} is also in `env`; a variable comes from one of them",
                            variable.0, variable.0
                        ),
                    ));
                }
                secrets.insert(variable.0, parameter.into_inner());
            }
            steps.push(RecipeStep {
                name,
                script,
                script_text,
                timeout: raw_step.timeout.map_or(DEFAULT_STEP_TIMEOUT, |t| t.0),
                env: raw_step.env.into_iter().map(|(k, v)| (k.0, v)).collect(),
                secrets,
            });
        }

        let mut tags = BTreeMap::new();
        for (key, value) in raw.tags {
            check_tag(key.get_ref(), &value)
                .map_err(|m| at(key.span(), format!("key `tags.{}`: {m}", key.get_ref())))?;
            tags.insert(key.into_inner(), value);
        }

        let firstboot = match raw.firstboot {
            Some(RawFirstboot::Off) => None,
            Some(RawFirstboot::On(settings)) => Some(firstboot_settings(*settings, &at)?),
            None => Some(FirstbootSettings::default()),
        };

        let builder = raw.builder;
        Ok(Recipe {
            dir: dir.to_path_buf(),
            name: raw.name,
            description: raw.description,
            platform: raw.platform,
            arch: raw.arch,
            base,
            builder: BuilderSettings {
                instance_type: builder.instance_type,
                volume_size_gib: builder.volume_size.map(|v| v.0),
                volume_type: builder.volume_type.map(|t| {
                    match t {
                        VolumeType::Gp2 => "gp2",
                        VolumeType::Gp3 => "gp3",
                        VolumeType::Io1 => "io1",
                        VolumeType::Io2 => "io2",
                    }
                    .to_string()
                }),
                subnet: builder.subnet,
                security_groups: builder.security_groups,
                instance_profile: builder.instance_profile,
                kms_key: builder.kms_key,
                install_ssm_agent: builder.install_ssm_agent,
            },
            steps,
            generalize: raw.generalize,
            tags,
            deprecate_after: raw.deprecate_after.map_or(DEFAULT_DEPRECATE_AFTER, |d| d.0),
            firstboot,
        })
    }
}

fn firstboot_settings(
    raw: RawFirstbootSettings,
    at: &impl Fn(Range<usize>, String) -> Error,
) -> Result<FirstbootSettings> {
    if let Some(runlist) = &raw.runlist {
        firstboot::check_runlist(runlist.get_ref())
            .map_err(|m| at(runlist.span(), format!("key `firstboot.runlist`: {m}")))?;
        if raw.runner.is_none() {
            return Err(at(
                runlist.span(),
                "key `firstboot.runlist`: a runlist needs a `runner`, the command that applies \
                 it, e.g. runner = \"chef-client -z -j {runlist}\""
                    .to_string(),
            ));
        }
    }
    if let Some(runner) = &raw.runner {
        if runner.get_ref().trim().is_empty() {
            return Err(at(
                runner.span(),
                "key `firstboot.runner`: the runner is a command; it cannot be empty".to_string(),
            ));
        }
        if raw.runlist.is_none() && runner.get_ref().contains("{runlist}") {
            return Err(at(
                runner.span(),
                "key `firstboot.runner`: `{runlist}` is used but no `runlist` is set".to_string(),
            ));
        }
    }
    if let Some(topic) = &raw.sns_topic {
        crate::alerts::check_topic_arn(topic.get_ref())
            .map_err(|m| at(topic.span(), format!("key `firstboot.sns_topic`: {m}")))?;
    }
    let defaults = FirstbootSettings::default();
    Ok(FirstbootSettings {
        runlist: raw.runlist.map(Spanned::into_inner),
        runner: raw.runner.map(Spanned::into_inner),
        region: raw.region,
        sns_topic: raw.sns_topic.map(Spanned::into_inner),
        retry: raw.retry.unwrap_or(defaults.retry),
        fetch_attempts: raw.fetch_attempts.map_or(defaults.fetch_attempts, |a| a.0),
        fetch_timeout: raw.fetch_timeout.map_or(defaults.fetch_timeout, |t| t.0),
    })
}

/// An SSM parameter name: `/a/path` or `name`, of letters, digits and `_.-/`.
fn check_parameter_name(name: &str) -> std::result::Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 1011
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
        && !name.to_ascii_lowercase().starts_with("/aws")
        && !name.to_ascii_lowercase().starts_with("aws");
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not an SSM parameter name: write its name or path, e.g. \
             /zookeeper/jaas-password (letters, digits, `_.-/`)"
        ))
    }
}

/// AWS tag rules, plus the `bakery:` prefix that belongs to bakery's own schema.
pub(crate) fn check_tag(key: &str, value: &str) -> std::result::Result<(), String> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err("tag keys are 1 to 128 characters".into());
    }
    if value.chars().count() > 256 {
        return Err("tag values are at most 256 characters".into());
    }
    let lower = key.to_ascii_lowercase();
    if lower.starts_with("aws:") || lower.starts_with("bakery:") {
        return Err("the `aws:` and `bakery:` prefixes are reserved; choose another key".into());
    }
    Ok(())
}

impl<'de> Deserialize<'de> for VolumeSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let gib = i64::deserialize(deserializer)?;
        if (1..=16384).contains(&gib) {
            Ok(VolumeSize(gib as i32))
        } else {
            Err(serde::de::Error::custom(format!(
                "volume_size {gib} is out of range: give GiB from 1 to 16384"
            )))
        }
    }
}

/// `file:line:column: message`, then the line itself with a marker under the place.
pub(crate) fn located_error(file: &Path, source: &str, span: Range<usize>, message: &str) -> Error {
    let start = span.start.min(source.len());
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let line_number = source[..start].matches('\n').count() + 1;
    let column = source[line_start..start].chars().count() + 1;
    let line_text = &source[line_start..line_end];
    let width = source[start..span.end.min(line_end).max(start)]
        .chars()
        .count()
        .max(1);
    let gutter = " ".repeat(line_number.to_string().len());
    Error::input(format!(
        "{}:{line_number}:{column}: {message}\n{gutter} |\n{line_number} | {line_text}\n{gutter} | {}{}",
        file.display(),
        " ".repeat(column - 1),
        "^".repeat(width)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe_dir(recipe: &str, scripts: &[(&str, &str)]) -> (tempfile::TempDir, Result<Recipe>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(RECIPE_FILE), recipe).unwrap();
        for (path, text) in scripts {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let loaded = Recipe::load(dir.path());
        (dir, loaded)
    }

    fn error_of(recipe: &str) -> String {
        let (_dir, loaded) = recipe_dir(recipe, &[("steps/a.sh", "echo a\n")]);
        loaded
            .expect_err("the recipe should be refused")
            .to_string()
    }

    const MINIMAL: &str = r#"
name = "base"
platform = "linux"
arch = "x86_64"
base = { ssm_parameter = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64" }
"#;

    #[test]
    fn a_complete_recipe_is_read_with_its_scripts() {
        let (_dir, recipe) = recipe_dir(
            &format!(
                "{MINIMAL}
[builder]
instance_type = \"t3.small\"
volume_size = 16
volume_type = \"gp3\"
instance_profile = \"bakery-builder\"

[[steps]]
name = \"packages\"
script = \"steps/a.sh\"
timeout = \"20m\"
env = {{ GREETING = \"hello world\" }}

[tags]
team = \"platform\"
"
            ),
            &[("steps/a.sh", "#!/bin/sh\necho a\n")],
        );
        let recipe = recipe.unwrap();
        assert_eq!(recipe.name.as_str(), "base");
        assert_eq!(recipe.arch, Arch::X86_64);
        assert_eq!(recipe.builder.volume_size_gib, Some(16));
        assert_eq!(recipe.steps[0].timeout, Duration::from_secs(1200));
        assert_eq!(recipe.steps[0].script_text, "#!/bin/sh\necho a\n");
        assert_eq!(recipe.steps[0].env["GREETING"], "hello world");
        assert_eq!(recipe.tags["team"], "platform");
        assert!(recipe.generalize);
        assert_eq!(recipe.deprecate_after, DEFAULT_DEPRECATE_AFTER);
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_line_and_the_accepted_keys() {
        let message = error_of(&format!("{MINIMAL}colour = \"blue\"\n"));
        assert!(message.contains("recipe.toml:6:1"), "{message}");
        assert!(message.contains("unknown field `colour`"), "{message}");
        assert!(message.contains("`platform`"), "{message}");
    }

    #[test]
    fn a_bad_platform_names_the_accepted_values() {
        let message = error_of(&MINIMAL.replace("\"linux\"", "\"beos\""));
        assert!(message.contains("recipe.toml:3:"), "{message}");
        assert!(
            message.contains("`linux`") && message.contains("`windows`"),
            "{message}"
        );
    }

    #[test]
    fn a_base_with_two_sources_is_refused() {
        let message = error_of(&MINIMAL.replace("base = {", "base = { image = \"ami-1\","));
        assert!(message.contains("recipe.toml:5:"), "{message}");
        assert!(message.contains("exactly one of"), "{message}");
    }

    #[test]
    fn a_base_can_be_another_roles_release() {
        let layered = |base: &str| {
            let text = MINIMAL.replace("name = \"base\"", "name = \"zookeeper\"");
            let text = text.replace(
                "base = { ssm_parameter = \"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64\" }",
                base,
            );
            Recipe::parse(Path::new("/x"), Path::new("recipe.toml"), &text)
        };
        let by_channel = layered("base = { role = \"base\", channel = \"stable\" }").unwrap();
        assert_eq!(
            by_channel.base,
            BaseImage::Release {
                role: RoleName::parse("base").unwrap(),
                selector: BaseSelector::Channel("stable".into())
            }
        );
        let by_version = layered("base = { role = \"base\", version = \"^2.3\" }").unwrap();
        assert!(matches!(
            by_version.base,
            BaseImage::Release {
                selector: BaseSelector::Version(_),
                ..
            }
        ));
        let both = layered("base = { role = \"base\", channel = \"stable\", version = \"^2\" }")
            .unwrap_err();
        assert!(both.to_string().contains("recipe.toml:5:"), "{both}");
        let bad_req = layered("base = { role = \"base\", version = \"two\" }").unwrap_err();
        assert!(
            bad_req.to_string().contains("not a version requirement"),
            "{bad_req}"
        );
        let itself = layered("base = { role = \"zookeeper\", channel = \"stable\" }").unwrap_err();
        assert!(
            itself.to_string().contains("cannot be layered on itself"),
            "{itself}"
        );
    }

    #[test]
    fn the_base_flag_takes_every_form_of_base() {
        let role = RoleName::parse("zookeeper").unwrap();
        let parse = |text: &str| BaseImage::parse_flag(text, &role);
        assert_eq!(
            parse("ami-0abc").unwrap(),
            BaseImage::Image("ami-0abc".into())
        );
        assert_eq!(
            parse("/aws/service/debian/release/12/latest/amd64").unwrap(),
            BaseImage::SsmParameter("/aws/service/debian/release/12/latest/amd64".into())
        );
        assert!(matches!(
            parse("base@stable").unwrap(),
            BaseImage::Release {
                selector: BaseSelector::Channel(_),
                ..
            }
        ));
        assert!(matches!(
            parse("base@^2.3").unwrap(),
            BaseImage::Release {
                selector: BaseSelector::Version(_),
                ..
            }
        ));
        assert_eq!(
            parse("136693071363:debian-12-amd64-*").unwrap(),
            BaseImage::Filter {
                owner: "136693071363".into(),
                name: "debian-12-amd64-*".into()
            }
        );
        assert!(parse("debian").unwrap_err().contains("--base `debian`"));
        assert!(parse("zookeeper@stable")
            .unwrap_err()
            .contains("cannot be layered on itself"));
    }

    #[test]
    fn a_bad_timeout_is_refused_at_its_value() {
        let message = error_of(&format!(
            "{MINIMAL}[[steps]]\nname = \"a\"\nscript = \"steps/a.sh\"\ntimeout = \"soon\"\n"
        ));
        assert!(message.contains("recipe.toml:9:11"), "{message}");
        assert!(message.contains("invalid duration `soon`"), "{message}");
    }

    #[test]
    fn a_missing_script_is_refused_at_its_key() {
        let message = error_of(&format!(
            "{MINIMAL}[[steps]]\nname = \"a\"\nscript = \"steps/missing.sh\"\n"
        ));
        assert!(message.contains("recipe.toml:8:"), "{message}");
        assert!(message.contains("steps/missing.sh"), "{message}");
    }

    #[test]
    fn a_script_outside_the_recipe_is_refused() {
        let message = error_of(&format!(
            "{MINIMAL}[[steps]]\nname = \"a\"\nscript = \"../x.sh\"\n"
        ));
        assert!(message.contains("inside the recipe folder"), "{message}");
    }

    #[test]
    fn duplicate_step_names_are_refused() {
        let step = "[[steps]]\nname = \"a\"\nscript = \"steps/a.sh\"\n";
        let message = error_of(&format!("{MINIMAL}{step}{step}"));
        assert!(message.contains("recipe.toml:10:"), "{message}");
        assert!(message.contains("appears twice"), "{message}");
    }

    #[test]
    fn reserved_tag_prefixes_are_refused() {
        let message = error_of(&format!("{MINIMAL}[tags]\n\"bakery:role\" = \"x\"\n"));
        assert!(message.contains("recipe.toml:7:"), "{message}");
        assert!(message.contains("reserved"), "{message}");
    }

    #[test]
    fn bad_env_names_and_role_names_are_refused() {
        let message = error_of(&format!(
            "{MINIMAL}[[steps]]\nname = \"a\"\nscript = \"steps/a.sh\"\nenv = {{ \"1X\" = \"v\" }}\n"
        ));
        assert!(
            message.contains("invalid environment variable name `1X`"),
            "{message}"
        );
        let message = error_of(&MINIMAL.replace("\"base\"", "\"Base Image\""));
        assert!(message.contains("invalid role name"), "{message}");
    }

    #[test]
    fn firstboot_is_on_by_default_configurable_and_can_be_turned_off() {
        let (_dir, recipe) = recipe_dir(MINIMAL, &[]);
        assert_eq!(
            recipe.unwrap().firstboot,
            Some(FirstbootSettings::default())
        );
        let (_dir, recipe) = recipe_dir(&format!("{MINIMAL}firstboot = false\n"), &[]);
        assert_eq!(recipe.unwrap().firstboot, None);
        let (_dir, recipe) = recipe_dir(
            &format!(
                "{MINIMAL}[firstboot]\nrunlist = \"s3://runlists/{{environment}}/base.json\"\n\
                 runner = \"chef-client -z -j {{runlist}}\"\nretry = false\nfetch_timeout = \"2m\"\n"
            ),
            &[],
        );
        let settings = recipe.unwrap().firstboot.unwrap();
        assert_eq!(
            settings.runner.as_deref(),
            Some("chef-client -z -j {runlist}")
        );
        assert!(!settings.retry);
        assert_eq!(settings.fetch_timeout, Duration::from_secs(120));
    }

    #[test]
    fn firstboot_mistakes_are_refused_at_their_key() {
        for (section, line, says) in [
            ("runlist = \"s3://b/k\"\n", 7, "a runlist needs a `runner`"),
            ("runlist = \"b/k\"\nrunner = \"x\"\n", 7, "is not an S3 URI"),
            ("runner = \"x {runlist}\"\n", 7, "no `runlist` is set"),
            ("sns_topic = \"alerts\"\n", 7, "is not an SNS topic ARN"),
            ("fetch_attempts = 0\n", 7, "give 1 to 20"),
            ("colour = \"blue\"\n", 7, "unknown field `colour`"),
        ] {
            let message = error_of(&format!("{MINIMAL}[firstboot]\n{section}"));
            assert!(
                message.contains(&format!("recipe.toml:{line}:")),
                "{section}: {message}"
            );
            assert!(message.contains(says), "{section}: {message}");
        }
        let message = error_of(&format!("{MINIMAL}firstboot = \"yes\"\n"));
        assert!(
            message.contains("`firstboot = false`, or a [firstboot] table"),
            "{message}"
        );
    }

    /// One test per kind of mistake: each is refused with the line (and column) of the
    /// place it was made, and says what is accepted.
    macro_rules! refused_at {
        ($($test:ident: $extra:expr => $place:expr, $says:expr;)*) => {$(
            #[test]
            fn $test() {
                let message = error_of(&$extra);
                assert!(message.contains($place), "expected {} in:\n{message}", $place);
                assert!(message.contains($says), "expected {:?} in:\n{message}", $says);
            }
        )*};
    }

    const STEP: &str = "[[steps]]\nname = \"a\"\nscript = \"steps/a.sh\"\n";

    refused_at! {
        refuses_a_toml_syntax_error: format!("{MINIMAL}name = \n") => "recipe.toml:6:", "string values must be quoted";
        refuses_a_missing_required_key: MINIMAL.replace("arch = \"x86_64\"\n", "") => "recipe.toml:1:", "missing field `arch`";
        refuses_a_bad_arch: MINIMAL.replace("\"x86_64\"", "\"amd64\"") => "recipe.toml:4:8", "`x86_64`";
        refuses_an_image_that_is_not_an_ami: MINIMAL.replace("base = {", "base = { image = \"debian\" } #") => "recipe.toml:5:", "is not an AMI id";
        refuses_a_parameter_that_is_not_a_path: MINIMAL.replace("\"/aws/service", "\"aws/service") => "recipe.toml:5:", "starts with `/`";
        refuses_a_volume_size_out_of_range: format!("{MINIMAL}[builder]\nvolume_size = 0\n") => "recipe.toml:7:15", "give GiB from 1 to 16384";
        refuses_an_unknown_volume_type: format!("{MINIMAL}[builder]\nvolume_type = \"st1\"\n") => "recipe.toml:7:15", "`gp3`";
        refuses_an_unknown_builder_key: format!("{MINIMAL}[builder]\nami = \"x\"\n") => "recipe.toml:7:1", "unknown field `ami`";
        refuses_an_invalid_step_name: format!("{MINIMAL}[[steps]]\nname = \"Install Java\"\nscript = \"steps/a.sh\"\n") => "recipe.toml:7:8", "invalid step name";
        refuses_a_step_without_a_script: format!("{MINIMAL}[[steps]]\nname = \"a\"\n") => "recipe.toml:6:", "missing field `script`";
        refuses_an_unknown_step_key: format!("{MINIMAL}{STEP}retries = 3\n") => "recipe.toml:9:1", "unknown field `retries`";
        refuses_a_secret_with_a_bad_parameter_name: format!("{MINIMAL}{STEP}secrets = {{ TOKEN = \"my token\" }}\n") => "recipe.toml:9:", "is not an SSM parameter name";
        refuses_a_secret_that_is_also_an_env_value: format!("{MINIMAL}{STEP}env = {{ TOKEN = \"x\" }}\nsecrets = {{ TOKEN = \"/t\" }}\n") => "recipe.toml:10:", "also in `env`";
        refuses_a_tag_value_that_is_too_long: format!("{MINIMAL}[tags]\nteam = \"{}\"\n", "x".repeat(300)) => "recipe.toml:7:", "at most 256 characters";
        refuses_a_bad_deprecation_time: format!("{MINIMAL}deprecate_after = \"later\"\n") => "recipe.toml:6:19", "invalid duration `later`";
    }

    #[test]
    fn a_missing_folder_says_what_a_recipe_folder_is() {
        let error = Recipe::load(Path::new("/nonexistent/recipe")).unwrap_err();
        assert!(error
            .to_string()
            .contains("recipe folder `/nonexistent/recipe` not found"));
    }
}
