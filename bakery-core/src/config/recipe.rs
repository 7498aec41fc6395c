//! `recipes/<role>/recipe.toml`: reading it, and refusing it at the places it is wrong.
//!
//! The structure is checked while the file is read (`raw`); every value is then
//! checked at the place it was written, and all mistakes are reported together.

mod base;
mod raw;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use toml::Spanned;

use self::base::base_image;
pub use self::base::{pinned, version_requirement, BaseImage, BaseSelector};
use self::raw::{
    RawFirstboot, RawFirstbootSettings, RawRecipe, RawStep, RawTestSettings, RawVar, VolumeType,
};
use super::checks;
use super::confined;
use super::firstboot::FirstbootSettings;
use super::located::Problems;
use super::settings::{BuilderSettings, DeadlineSettings, DEADLINE_LIMITS};
use super::test::{TestRunlist, TestSettings};
use super::vars::{Pattern, Variable};
use crate::error::{Error, Result};
use crate::model::names::{duration_text, is_name, parse_duration_up_to};
use crate::model::{Arch, Platform, Reboots, RoleName};

/// The recipe's file name inside its role folder.
pub const RECIPE_FILE: &str = "recipe.toml";
/// A step's or test's timeout when it gives none: 30 minutes.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A quarter: the default time from baking to deprecation.
pub const DEFAULT_DEPRECATE_AFTER: Duration = Duration::from_secs(91 * 24 * 3600);
/// SSM Run Command stops a command after 48 hours, whatever it is told.
const MAX_STEP_TIMEOUT: (Duration, &str) = (
    Duration::from_secs(48 * 3600),
    "SSM Run Command stops any command after 48 hours",
);
/// How long a failed step waits before its next attempt, unless `retry_delay` says.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(10);
/// The most attempts after the first a step may ask for.
pub const MAX_RETRIES: i64 = 10;
/// How many reboots a step's script may ask for unless `max_reboots` says: enough for
/// Windows updates that need a few rounds, few enough to end a script that always asks.
pub const DEFAULT_MAX_REBOOTS: i64 = 5;
/// The most `max_reboots` accepts.
pub const MAX_REBOOTS: i64 = 20;
/// A retry waits at most an hour: longer belongs in the step's own logic.
const MAX_RETRY_DELAY: (Duration, &str) = (
    Duration::from_secs(3600),
    "a step waits at most an hour before trying again",
);
/// EC2 takes a deprecation time at most 10 years ahead.
const MAX_DEPRECATE_AFTER: (Duration, &str) = (
    Duration::from_secs(10 * 365 * 24 * 3600),
    "EC2 takes a deprecation time at most 10 years ahead",
);
/// The test stage bounds a test instance's life, which its dead-man's switch ends.
const MAX_TEST_TIMEOUT: (Duration, &str) = (
    Duration::from_secs(24 * 3600),
    "a test instance lives at most a day",
);
const MAX_FETCH_TIMEOUT: (Duration, &str) = (
    Duration::from_secs(24 * 3600),
    "an instance waiting longer for its runlist is better alerted about",
);

/// A role's recipe, read and checked: everything a bake needs to know about the role.
#[derive(Debug, Clone, Serialize)]
pub struct Recipe {
    /// The folder the recipe was read from.
    pub dir: PathBuf,
    /// `name`: the role.
    pub name: RoleName,
    /// `description`; None when the recipe has none.
    pub description: Option<String>,
    /// `platform`: Linux or Windows, which decides how the scripts are run and checked.
    pub platform: Platform,
    /// Every architecture the role is baked for, in the recipe's order: one release
    /// holds an image of each.
    pub architectures: Vec<Arch>,
    /// `base`: where the builder's image comes from.
    pub base: BaseImage,
    /// The recipe's layer of the builder settings.
    pub builder: BuilderSettings,
    /// `[[steps]]`, in the order they run on the builder.
    pub steps: Vec<RecipeStep>,
    /// `[[tests]]`: run on a test instance launched from the new image.
    pub tests: Vec<RecipeStep>,
    /// The release gate, when the recipe has `[[tests]]` or a `[test]` table.
    pub test: Option<TestSettings>,
    /// Run the built-in generalize step (remove host keys, machine-id, logs...).
    pub generalize: bool,
    /// Extra tags for the AMI and its snapshots.
    pub tags: BTreeMap<String, String>,
    /// How long after baking the AMI is marked deprecated.
    #[serde(with = "duration_text")]
    pub deprecate_after: Duration,
    /// `[deadlines]`: the image wait, the instance waits, the whole bake.
    pub deadlines: DeadlineSettings,
    /// What the firstboot agent does on an instance's first boot; `None` when the
    /// recipe opts out (`firstboot = false`) and nothing is installed.
    pub firstboot: Option<FirstbootSettings>,
    /// The variables a bake is given (`[vars]`), by name.
    pub vars: BTreeMap<String, Variable>,
}

/// One `[[steps]]` or `[[tests]]` entry, read and checked: a script and how it is run.
#[derive(Debug, Clone, Serialize)]
pub struct RecipeStep {
    /// `name`: lower-case letters, digits and dashes; unique in its table.
    pub name: String,
    /// The script's path, relative to the recipe folder.
    pub script: PathBuf,
    /// The script's text, read at load time so a bake never sees a half-edited file.
    #[serde(skip)]
    pub script_text: String,
    /// `timeout`: how long one attempt may run; 30 minutes by default, at most 48 hours.
    #[serde(with = "duration_text")]
    pub timeout: Duration,
    /// How many times the step runs again after a failure (`retries`, 0 by default).
    pub retries: u32,
    /// How long it waits before each attempt after the first (`retry_delay`).
    #[serde(with = "duration_text")]
    pub retry_delay: Duration,
    /// `reboot` and `max_reboots`: whether the builder reboots after the step, and how
    /// many reboots its script may ask for.
    #[serde(flatten)]
    pub reboots: Reboots,
    /// `env`: variables exported to the script, quoted so that their values never become code.
    pub env: BTreeMap<String, String>,
    /// Variables read from SSM SecureString parameters on the builder (variable ->
    /// parameter name); bakery never sees their values.
    pub secrets: BTreeMap<String, String>,
}

/// A recipe folder beside the missing `dir` whose name is a near miss of its name.
fn near_folder(dir: &Path) -> Option<std::path::PathBuf> {
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = dir.file_name()?.to_str()?;
    let siblings: Vec<String> = std::fs::read_dir(parent)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join(RECIPE_FILE).is_file())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    let near = crate::model::names::nearest(name, siblings.iter().map(String::as_str))?;
    Some(dir.with_file_name(near))
}

impl Recipe {
    /// Reads `<dir>/recipe.toml` and the scripts it names.
    pub fn load(dir: &Path) -> Result<Recipe> {
        let file = dir.join(RECIPE_FILE);
        if !dir.is_dir() {
            let error = Error::input(format!("recipe folder `{}` not found", dir.display()));
            return Err(match near_folder(dir) {
                Some(near) => error.with_hint(format!("did you mean {}?", near.display())),
                None => error.with_hint(format!(
                    "give the folder that holds {RECIPE_FILE}, e.g. recipes/base"
                )),
            });
        }
        if let Some(target) = confined::leads_outside(dir, &file) {
            return Err(Error::input(confined::outside(&file, &target)));
        }
        let source = confined::read_text(&file, &file).map_err(|m| {
            Error::input(m).with_hint(format!("a recipe folder holds a {RECIPE_FILE}"))
        })?;
        Recipe::parse(dir, &file, &source)
    }

    /// Parses recipe text; `file` is only used in error messages, `dir` to find scripts.
    // Long on purpose: one line per table of recipe.toml, read in the file's order.
    pub fn parse(dir: &Path, file: &Path, source: &str) -> Result<Recipe> {
        let mut problems = Problems::new(file, source);
        let raw: RawRecipe = toml::from_str(source)
            .map_err(|e| problems.fatal(e.span().unwrap_or(0..0), e.message().trim_end()))?;
        let name_span = raw.name.span();
        let name = problems.check(name_span, RoleName::parse(raw.name.get_ref()));
        let base_span = raw.base.span();
        let arch_span = raw.arch.span();
        let architectures = problems
            .check(
                arch_span.clone(),
                architectures(raw.arch.get_ref(), raw.platform),
            )
            .unwrap_or_default();
        let base = problems
            .check(
                base_span.clone(),
                base_image(raw.base.into_inner(), name.as_ref()),
            )
            .and_then(|base| {
                let checked = base.check_architectures(&architectures);
                problems.check(base_span, checked.map(|()| base))
            });
        let builder = builder_settings(raw.builder, &mut problems);
        let vars = read_vars(raw.vars, &mut problems);
        let steps = read_steps(dir, "steps", raw.steps, &vars, &mut problems);
        let gated = raw.test.is_some() || !raw.tests.is_empty();
        let tests = read_steps(dir, "tests", raw.tests, &vars, &mut problems);
        let test = gated.then(|| {
            let raw = raw.test.unwrap_or_default();
            test_settings(raw, architectures.len(), &mut problems)
        });
        let mut tags = BTreeMap::new();
        for (key, value) in raw.tags {
            let checked = checks::check_tag(key.get_ref(), &value)
                .map_err(|m| format!("key `tags.{}`: {m}", key.get_ref()));
            if problems.check(key.span(), checked).is_some() {
                tags.insert(key.into_inner(), value);
            }
        }
        let deprecate_after = duration(raw.deprecate_after, MAX_DEPRECATE_AFTER, &mut problems)
            .unwrap_or(DEFAULT_DEPRECATE_AFTER);
        let deadlines = deadlines(raw.deadlines.unwrap_or_default(), &mut problems);
        let firstboot = match raw.firstboot {
            Some(RawFirstboot::Off) => None,
            Some(RawFirstboot::On(settings)) => Some(firstboot_settings(*settings, &mut problems)),
            None => Some(FirstbootSettings::default()),
        };
        problems.finish()?;
        Ok(Recipe {
            dir: dir.to_path_buf(),
            name: name.expect("checked"),
            description: raw.description,
            platform: raw.platform,
            architectures,
            base: base.expect("checked"),
            builder,
            steps,
            tests,
            test,
            generalize: raw.generalize,
            tags,
            deprecate_after,
            deadlines,
            firstboot,
            vars,
        })
    }
}

/// `[deadlines]`, each checked at its place against its limit.
fn deadlines(raw: raw::RawDeadlines, problems: &mut Problems) -> DeadlineSettings {
    let mut checked = |key: &str, text: Option<Spanned<String>>| {
        let (_, limit, why) = DEADLINE_LIMITS
            .into_iter()
            .find(|(name, ..)| *name == key)
            .expect("a limit for every deadline");
        let text = text?;
        let parsed = parse_duration_up_to(text.get_ref(), limit, why)
            .map_err(|m| format!("key `deadlines.{key}`: {m}"));
        problems.check(text.span(), parsed)?;
        Some(text.into_inner())
    };
    DeadlineSettings {
        image: checked("image", raw.image),
        instance: checked("instance", raw.instance),
        bake: checked("bake", raw.bake),
    }
}

/// `arch`: one architecture, or a list of them without repeats.
fn architectures(
    value: &toml::Value,
    platform: Platform,
) -> std::result::Result<Vec<Arch>, String> {
    const FORMS: &str = "give `x86_64`, `arm64`, or both: [\"x86_64\", \"arm64\"]";
    let names: Vec<&toml::Value> = match value {
        toml::Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    let mut architectures = Vec::new();
    for name in names {
        let arch = name.as_str().and_then(Arch::of_ec2).ok_or_else(|| {
            format!("key `arch`: {name} is not an architecture bakery bakes; {FORMS}")
        })?;
        if architectures.contains(&arch) {
            return Err(format!("key `arch`: {arch} is listed twice"));
        }
        architectures.push(arch);
    }
    if architectures.is_empty() {
        return Err(format!("key `arch`: the list is empty; {FORMS}"));
    }
    if platform == Platform::Windows && architectures.contains(&Arch::Arm64) {
        return Err(
            "key `arch`: EC2 has no Windows images for arm64 (AWS publishes Windows Server for \
             x86_64 only)"
                .into(),
        );
    }
    Ok(architectures)
}

/// A duration written as text, checked at its place against its limit.
fn duration(
    text: Option<Spanned<String>>,
    limit: (Duration, &str),
    problems: &mut Problems,
) -> Option<Duration> {
    let text = text?;
    let (limit, why) = limit;
    problems.check(
        text.span(),
        parse_duration_up_to(text.get_ref(), limit, why),
    )
}

/// The root volume's IOPS and throughput, as its type takes them (gp3 by default),
/// each refused at its line.
fn volume_performance(
    volume_type: Option<&Spanned<VolumeType>>,
    iops: Option<Spanned<i64>>,
    throughput: Option<Spanned<i64>>,
    problems: &mut Problems,
) -> (Option<i32>, Option<i32>) {
    let kind = volume_type.map_or(VolumeType::Gp3, |t| *t.get_ref());
    let name = kind.as_str();
    if let (Some((range, true)), None, Some(at)) = (kind.iops(), &iops, volume_type) {
        let missing = Err::<(), _>(format!(
            "key `builder.volume_type`: {name} needs `volume_iops` ({} to {}), as EC2 \
             requires for {name} volumes",
            range.start(),
            range.end()
        ));
        problems.check(at.span(), missing);
    }
    let in_range =
        |key: &str, value: Spanned<i64>, range: Option<std::ops::RangeInclusive<i64>>| {
            let n = *value.get_ref();
            let checked = match range {
                Some(range) if range.contains(&n) => Ok(n as i32),
                Some(range) => Err(format!(
                    "key `builder.{key}`: {n} is out of range for {name}: give {} to {}",
                    range.start(),
                    range.end()
                )),
                None => Err(format!(
                    "key `builder.{key}`: {name} volumes take no {key} (io1, io2 and gp3 take \
                 IOPS; gp3 alone throughput)"
                )),
            };
            (value.span(), checked)
        };
    let iops = iops.map(|v| in_range("volume_iops", v, kind.iops().map(|(r, _)| r)));
    let throughput = throughput.map(|v| in_range("volume_throughput", v, kind.throughput()));
    (
        iops.and_then(|(span, checked)| problems.check(span, checked)),
        throughput.and_then(|(span, checked)| problems.check(span, checked)),
    )
}

/// A number of `[builder]` within `range`, or the problem at its place.
fn in_range(
    value: Option<Spanned<i64>>,
    range: std::ops::RangeInclusive<i64>,
    refusal: impl Fn(i64) -> String,
    problems: &mut Problems,
) -> Option<i64> {
    let value = value?;
    let n = *value.get_ref();
    let checked = match range.contains(&n) {
        true => Ok(n),
        false => Err(refusal(n)),
    };
    problems.check(value.span(), checked)
}

/// `[builder]`, each value checked at its place (the merge checks them again with the
/// others).
// Long on purpose: one line per key of the table.
fn builder_settings(raw: raw::RawBuilder, problems: &mut Problems) -> BuilderSettings {
    let volume_size = in_range(
        raw.volume_size,
        1..=16384,
        |gib| format!("volume_size {gib} is out of range: give GiB from 1 to 16384"),
        problems,
    )
    .map(|gib| gib as i32);
    let hop_limit = in_range(
        raw.metadata_hop_limit,
        1..=64,
        |n| {
            format!(
                "key `builder.metadata_hop_limit`: {n} is out of range: give 1 to 64 \
                 (1 unless containers on the builder need the metadata service)"
            )
        },
        problems,
    );
    let (volume_iops, volume_throughput) = volume_performance(
        raw.volume_type.as_ref(),
        raw.volume_iops,
        raw.volume_throughput,
        problems,
    );
    // Each value checked at its place; the merge checks them again with the others.
    let mut checked =
        |key: &str,
         value: Option<Spanned<String>>,
         check: &dyn Fn(&str) -> std::result::Result<(), String>| {
            let value = value?;
            let result = check(value.get_ref()).map_err(|m| format!("key `builder.{key}`: {m}"));
            problems.check(value.span(), result)?;
            Some(value.into_inner())
        };
    BuilderSettings {
        instance_types: raw
            .instance_types
            .into_iter()
            .filter_map(|(arch, instance_type)| {
                let key = format!("instance_types.{arch}");
                let checked = checked(&key, Some(instance_type), &checks::check_instance_type);
                Some((arch, checked?))
            })
            .collect(),
        instance_type: checked(
            "instance_type",
            raw.instance_type,
            &checks::check_instance_type,
        ),
        volume_size,
        volume_iops,
        volume_throughput,
        volume_type: raw.volume_type.map(|t| t.get_ref().as_str().to_string()),
        subnet: checked("subnet", raw.subnet, &|id| {
            checks::check_ec2_id("subnet", id)
        }),
        security_groups: raw
            .security_groups
            .into_iter()
            .filter_map(|group| {
                checked("security_groups", Some(group), &|id| {
                    checks::check_ec2_id("sg", id)
                })
            })
            .collect(),
        instance_profile: checked(
            "instance_profile",
            raw.instance_profile,
            &checks::check_instance_profile,
        ),
        kms_key: checked("kms_key", raw.kms_key, &checks::check_kms_key),
        install_ssm_agent: raw.install_ssm_agent.then_some(true),
        public_address: raw.public_address,
        metadata_hop_limit: hop_limit,
    }
}

fn read_vars(
    raw_vars: BTreeMap<Spanned<String>, Spanned<RawVar>>,
    problems: &mut Problems,
) -> BTreeMap<String, Variable> {
    let mut vars = BTreeMap::new();
    for (name, raw) in raw_vars {
        let key = format!("key `vars.{}`", name.get_ref());
        let span = raw.span();
        let RawVar(raw) = raw.into_inner();
        let named = checks::check_env_name(name.get_ref()).map_err(|m| format!("{key}: {m}"));
        problems.check(name.span(), named);
        let pattern = raw.pattern.and_then(|text| {
            let parsed = Pattern::parse(text.get_ref()).map_err(|m| format!("{key}: {m}"));
            problems.check(text.span(), parsed)
        });
        let required = raw.required.unwrap_or(false);
        match (&raw.default, required) {
            (Some(_), true) => problems.at(
                span.clone(),
                format!("{key}: give either a `default` or `required = true`, not both"),
            ),
            (None, false) => problems.at(
                span.clone(),
                format!(
                    "{key}: give a `default`, or `required = true` when every bake must set it"
                ),
            ),
            _ => {}
        }
        let variable = Variable {
            description: raw.description,
            default: raw.default,
            required,
            pattern,
        };
        if let Some(why) = variable
            .default
            .as_deref()
            .and_then(|d| variable.refuses(d))
        {
            problems.at(span, format!("{key}: its default {why}"));
        }
        vars.insert(name.into_inner(), variable);
    }
    vars
}

/// `[[steps]]` or `[[tests]]` (`table`): the same shape, the same checks.
fn read_steps(
    dir: &Path,
    table: &str,
    raw_steps: Vec<RawStep>,
    vars: &BTreeMap<String, Variable>,
    problems: &mut Problems,
) -> Vec<RecipeStep> {
    let noun = table.trim_end_matches('s');
    let mut steps: Vec<RecipeStep> = Vec::new();
    let mut names = BTreeSet::new();
    for raw in raw_steps {
        let name = raw.name.get_ref().clone();
        if !is_name(&name) {
            problems.at(raw.name.span(), format!(
                "key `{table}.name`: invalid {noun} name `{name}`: use lower-case letters, digits and dashes, starting with a letter"
            ));
        } else if !names.insert(name.clone()) {
            problems.at(
                raw.name.span(),
                format!("key `{table}.name`: {noun} `{name}` appears twice; {noun} names must be unique"),
            );
        }
        let script = PathBuf::from(raw.script.get_ref());
        let script_text = read_script(dir, table, &raw.script, problems);
        let env = step_env(raw.env, vars, problems);
        let secrets = step_secrets(table, raw.secrets, &env, vars, problems);
        steps.push(RecipeStep {
            name,
            script,
            script_text,
            timeout: duration(raw.timeout, MAX_STEP_TIMEOUT, problems)
                .unwrap_or(DEFAULT_STEP_TIMEOUT),
            retries: in_range(
                raw.retries,
                0..=MAX_RETRIES,
                |n| format!("key `{table}.retries`: {n} is out of range: give 0 to {MAX_RETRIES}"),
                problems,
            )
            .unwrap_or(0) as u32,
            retry_delay: duration(raw.retry_delay, MAX_RETRY_DELAY, problems)
                .unwrap_or(DEFAULT_RETRY_DELAY),
            reboots: Reboots {
                after: raw.reboot.unwrap_or(false),
                at_most: in_range(
                    raw.max_reboots,
                    0..=MAX_REBOOTS,
                    |n| format!("key `{table}.max_reboots`: {n} is out of range: give 0 to {MAX_REBOOTS}"),
                    problems,
                )
                .unwrap_or(DEFAULT_MAX_REBOOTS) as u32,
            },
            env,
            secrets,
        });
    }
    steps
}

/// A step's script, read from inside the recipe folder (empty, with the problem
/// noted, when it is outside or unreadable).
fn read_script(
    dir: &Path,
    table: &str,
    script: &Spanned<String>,
    problems: &mut Problems,
) -> String {
    let path = PathBuf::from(script.get_ref());
    let outside = path.is_absolute()
        || path
            .components()
            .any(|c| c == std::path::Component::ParentDir);
    if outside {
        problems.at(
            script.span(),
            format!(
                "key `{table}.script`: `{}` must be a path inside the recipe folder, relative to it",
                path.display()
            ),
        );
        return String::new();
    }
    confined::read_inside(dir, &path).unwrap_or_else(|message| {
        problems.at(script.span(), format!("key `{table}.script`: {message}"));
        String::new()
    })
}

/// A variable a step sets must not be one of the recipe's `[vars]`.
fn not_a_var(name: &str, vars: &BTreeMap<String, Variable>) -> std::result::Result<(), String> {
    match vars.contains_key(name) {
        true => Err(format!(
            "{name} is a variable of the recipe ([vars]); a variable comes from one place"
        )),
        false => Ok(()),
    }
}

/// A step's `env`, each name checked.
fn step_env(
    raw: BTreeMap<Spanned<String>, String>,
    vars: &BTreeMap<String, Variable>,
    problems: &mut Problems,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (variable, value) in raw {
        let name = variable.get_ref();
        let checked = checks::check_env_name(name).and_then(|()| not_a_var(name, vars));
        if problems.check(variable.span(), checked).is_some() {
            env.insert(variable.into_inner(), value);
        }
    }
    env
}

/// A step's `secrets` (variable -> SSM parameter), each checked, none also in `env`.
fn step_secrets(
    table: &str,
    raw: BTreeMap<Spanned<String>, Spanned<String>>,
    env: &BTreeMap<String, String>,
    vars: &BTreeMap<String, Variable>,
    problems: &mut Problems,
) -> BTreeMap<String, String> {
    let mut secrets = BTreeMap::new();
    for (variable, parameter) in raw {
        let key = variable.get_ref();
        let checked = checks::check_env_name(key).and_then(|()| not_a_var(key, vars));
        problems.check(variable.span(), checked);
        let checked = checks::check_parameter_name(parameter.get_ref())
            .map_err(|m| format!("key `{table}.secrets.{key}`: {m}"));
        problems.check(parameter.span(), checked);
        if env.contains_key(key) {
            problems.at(parameter.span(), format!("key `{table}.secrets.{key}`: {key} is also in `env`; a variable comes from one of them"),
            );
        }
        secrets.insert(variable.into_inner(), parameter.into_inner());
    }
    secrets
}

fn test_settings(
    raw: RawTestSettings,
    architectures: usize,
    problems: &mut Problems,
) -> TestSettings {
    let instance_type = raw.instance_type.and_then(|value| {
        let checked = checks::check_instance_type(value.get_ref())
            .and_then(|()| match architectures {
                1 => Ok(()),
                _ => Err(
                    "one type cannot run every architecture of the recipe; leave it \
                          out and each test instance is its builder's type"
                        .to_string(),
                ),
            })
            .map_err(|m| format!("key `test.instance_type`: {m}"));
        problems.check(value.span(), checked)?;
        Some(value.into_inner())
    });
    let runlist = match raw.runlist {
        None => TestRunlist::Image,
        Some(text) => match text.get_ref().as_str() {
            "image" => TestRunlist::Image,
            "none" => TestRunlist::Nothing,
            location => {
                let checked = checks::check_runlist(location).map_err(|m| {
                    format!(
                        "key `test.runlist`: {m}; or \"image\" (the image's own runlist) or \"none\""
                    )
                });
                problems.check(text.span(), checked);
                TestRunlist::Location(location.to_string())
            }
        },
    };
    let mut tags = BTreeMap::new();
    for (key, value) in raw.tags {
        let checked = checks::check_tag(key.get_ref(), &value)
            .map_err(|m| format!("key `test.tags.{}`: {m}", key.get_ref()));
        if problems.check(key.span(), checked).is_some() {
            tags.insert(key.into_inner(), value);
        }
    }
    let defaults = TestSettings::new();
    TestSettings {
        instance_type,
        runlist,
        timeout: duration(raw.timeout, MAX_TEST_TIMEOUT, problems).unwrap_or(defaults.timeout),
        tags,
    }
}

fn firstboot_settings(raw: RawFirstbootSettings, problems: &mut Problems) -> FirstbootSettings {
    if let Some(runlist) = &raw.runlist {
        let checked = checks::check_runlist(runlist.get_ref())
            .map_err(|m| format!("key `firstboot.runlist`: {m}"));
        problems.check(runlist.span(), checked);
        if raw.runner.is_none() {
            problems.at(
                runlist.span(),
                "key `firstboot.runlist`: a runlist needs a `runner`, the command that applies \
                 it, e.g. runner = \"chef-client -z -j {runlist}\"",
            );
        }
    }
    if let Some(runner) = &raw.runner {
        if runner.get_ref().trim().is_empty() {
            problems.at(
                runner.span(),
                "key `firstboot.runner`: the runner is a command; it cannot be empty",
            );
        }
        if raw.runlist.is_none() && runner.get_ref().contains("{runlist}") {
            problems.at(
                runner.span(),
                "key `firstboot.runner`: `{runlist}` is used but no `runlist` is set",
            );
        }
    }
    if let Some(topic) = &raw.sns_topic {
        let checked = checks::check_topic_arn(topic.get_ref())
            .map_err(|m| format!("key `firstboot.sns_topic`: {m}"));
        problems.check(topic.span(), checked);
    }
    let fetch_attempts = raw.fetch_attempts.and_then(|attempts| {
        let n = *attempts.get_ref();
        let checked = if (1..=20).contains(&n) {
            Ok(n as u32)
        } else {
            Err(format!("fetch_attempts {n} is out of range: give 1 to 20"))
        };
        problems.check(attempts.span(), checked)
    });
    let defaults = FirstbootSettings::default();
    FirstbootSettings {
        runlist: raw.runlist.map(Spanned::into_inner),
        runner: raw.runner.map(Spanned::into_inner),
        region: raw.region,
        sns_topic: raw.sns_topic.map(Spanned::into_inner),
        retry: raw.retry.unwrap_or(defaults.retry),
        fetch_attempts: fetch_attempts.unwrap_or(defaults.fetch_attempts),
        fetch_timeout: duration(raw.fetch_timeout, MAX_FETCH_TIMEOUT, problems)
            .unwrap_or(defaults.fetch_timeout),
    }
}

#[cfg(test)]
mod tests;
