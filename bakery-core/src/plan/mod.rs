//! L2, pure: a request -> a complete [`BakePlan`], every decision of a bake made before
//! any AWS call, so that bad input is refused before anything exists. The plan also
//! lists the steps the bake will run ([`BakePlan::chain`]) and the AWS calls each makes
//! ([`BakePlan::aws_calls`]), derived from that one list.

pub(crate) mod build;
mod calls;
mod chain;
pub mod command;
mod completion;
pub(crate) mod inputs;
mod request;
pub mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::Serialize;

pub use crate::model::inputs::{Inputs, ReleaseInputs};
pub use build::{BuildId, BuildPlan};
pub use command::{BakeValues, CommandStep, StepCommand};
pub use request::BakeRequest;

use crate::config::checks;
use crate::config::digest::recipe_digest;
use crate::config::recipe::RecipeStep;
use crate::config::settings::StepOutput;
use crate::config::settings::Waits;
use crate::config::test::TestRunlist;
use crate::config::{layering, BaseImage, BuilderSettings, Destination, Merged, Recipe};
use crate::error::{Error, Result};
use crate::model::names::{check_channel, seconds};
use crate::model::time::DEFAULT_IMAGE_WAIT;
use crate::model::{
    Arch, Document, GateState, Platform, Reboots, Release, RoleName, Run, Sharing, Step,
    VersionRequest,
};
use crate::script::firstboot;
use crate::script::user_data::generalize_script;

/// A release's bake: what every build of it shares, and its [`builds`](BakePlan::builds),
/// one per architecture, each with its own identity.
#[derive(Debug, Clone, Serialize)]
pub struct BakePlan {
    /// The bake's id (its `bakery:bake-id` tag), e.g. `20261122t022438-3f9a1c`: the UTC
    /// time and a random part.
    pub bake_id: String,
    /// The recipe's role.
    pub role: RoleName,
    /// The `bakery.toml` environment it was planned in (`--env`), if any.
    pub environment: Option<String>,
    /// Resolved into a [`Release`] by the bake's first step.
    pub version: VersionRequest,
    /// Where the bake runs: the first of the merged `regions`.
    pub region: String,
    /// The recipe's `platform`.
    pub platform: Platform,
    /// The recipe's `description`, which the AMI's description carries; None when it has none.
    pub description: Option<String>,
    /// The recipe folder the plan was read from.
    pub recipe_dir: PathBuf,
    /// `sha256:` over every file of the recipe folder (the `bakery:recipe-digest` tag).
    pub recipe_digest: String,
    /// The merged `tags` (the environment's and the recipe's), for the AMI and its snapshots.
    pub recipe_tags: BTreeMap<String, String>,
    /// The Run Commands, in order: the recipe's steps, firstboot, generalize.
    pub steps: Vec<CommandStep>,
    /// The release gate: the test instances' Run Commands; None when the recipe has no
    /// tests or the bake skips them.
    pub test: Option<TestPlan>,
    /// `--if-changed`: bake nothing when the role's newest release has the same inputs.
    pub if_changed: bool,
    /// The names of the recipe's `[[tests]]`, run or skipped.
    pub test_names: Vec<String>,
    /// What the image's `bakery:tests` tag says when it is made: `pending` when the
    /// gate runs, `skipped` or `none` when it does not.
    pub gate: GateState,
    /// After this long the builder powers itself off and is terminated (dead-man's switch).
    #[serde(with = "seconds")]
    pub builder_lifetime: Duration,
    /// How long after the bake the AMI is marked deprecated (`deprecate_after`); seconds in JSON.
    #[serde(with = "seconds")]
    pub deprecate_after: Duration,
    /// `--source-commit` (or GIT_COMMIT), recorded as `bakery:source-commit`; None when not given.
    pub source_commit: Option<String>,
    /// `--build-url` (or BUILD_URL), recorded as `bakery:build-url`; None when not given.
    pub build_url: Option<String>,
    /// `--keep-on-failure`: leave the builder (or a failed test's instance) running, for debugging.
    pub keep_on_failure: bool,
    /// Channels to move after success besides `latest`.
    pub promote: Vec<String>,
    /// `latest` follows every final release unless `--no-latest`.
    pub update_latest: bool,
    /// Where the alert of a failed bake goes (and of a successful one with notify_success).
    pub sns_topic: Option<String>,
    /// `--notify-success`: also publish to `sns_topic` when the bake succeeds.
    pub notify_success: bool,
    /// The regions the release is copied to (every merged region after the first), each
    /// with its KMS key.
    pub copy_to: Vec<Destination>,
    /// How many regions are copied to at once.
    pub copy_jobs: usize,
    /// Accounts, organizations and OUs the release is shared with.
    pub share: Sharing,
    /// `step_output`: where each step's whole output is kept besides the bake's events.
    pub step_output: StepOutput,
    /// The settings as merged, with where each came from (each build's instance type is
    /// its own [`BuildPlan::builder`]'s).
    pub settings: Merged,
    /// `--dry-run`: check everything with read calls and EC2 DryRun; create nothing.
    pub dry_run: bool,
    /// The SSM SecureString parameters the steps read on the builder.
    pub secret_parameters: Vec<String>,
    /// A bake, or `bakery test`'s run of a release's gate.
    pub run: Run,
    /// `[deadlines]`: the image wait, the instance waits and the whole bake's, where
    /// the recipe or the environment set them.
    pub waits: Waits,
    /// Every step the bake runs, in order (see [`BakePlan::chain`]).
    pub chain: Vec<Step>,
    /// The run this bake belongs to (a UUID; the bakes of one `bake --all` share it):
    /// the manifest's `packer_run_uuid`.
    pub run_uuid: String,
    /// The values of the recipe's variables, which every recipe step gets and the
    /// release record keeps.
    pub vars: BTreeMap<String, String>,
    /// One build per architecture of the recipe, in its order.
    pub builds: Vec<BuildPlan>,
}

/// The release gate of a bake: a test instance from the new image, then Run Commands.
#[derive(Debug, Clone, Serialize)]
pub struct TestPlan {
    /// What the firstboot agent fetches on the test instance.
    pub runlist: TestRunlist,
    /// The whole stage, from the launch to the last test.
    #[serde(with = "seconds")]
    pub timeout: Duration,
    /// After this long the test instance powers itself off (its dead-man's switch).
    #[serde(with = "seconds")]
    pub lifetime: Duration,
    /// `[test] tags`: tags on the test instance, which its firstboot agent can read.
    pub tags: BTreeMap<String, String>,
    /// Waiting for the firstboot agent's outcome (when the image has one), then the
    /// recipe's tests.
    pub commands: Vec<CommandStep>,
}

const GENERALIZE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// A builder lives at most a week, whatever its steps' timeouts.
pub const MAX_BUILDER_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// The most text one Run Command carries (the script, its wrapper and its values).
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;

/// The longest AMI name CreateImage and CopyImage take (EC2 API Reference, CreateImage,
/// `Name`: 3 to 128 characters).
pub const MAX_IMAGE_NAME: usize = 128;
/// Time for launch, boot, SSM registration and stop, on top of the steps' own timeouts.
const BUILDER_OVERHEAD: Duration = Duration::from_secs(30 * 60);
/// Time for a test instance's launch, boot and termination, on top of the stage's.
const TEST_INSTANCE_OVERHEAD: Duration = Duration::from_secs(15 * 60);
/// How many regions a bake copies to at once.
const COPY_JOBS: usize = 4;

impl BakePlan {
    /// Reads the recipe and decides everything; `region` is where the bake runs.
    pub fn new(request: &BakeRequest, region: &str, now: SystemTime) -> Result<BakePlan> {
        BakePlan::for_recipe(Recipe::load(&request.recipe_dir)?, request, region, now)
    }

    /// Decides everything about a bake of a recipe already read.
    pub fn for_recipe(
        mut recipe: Recipe,
        request: &BakeRequest,
        region: &str,
        now: SystemTime,
    ) -> Result<BakePlan> {
        let version = VersionRequest::parse(
            request.version.as_deref(),
            request.bump,
            request.pre.as_deref(),
        )?;
        check_request(&mut recipe, request)?;
        let digest = recipe_digest(&recipe.dir)?;
        let merges = settings_per_arch(&recipe, request, region)?;
        let plan =
            BakePlan::from_recipe(recipe, version, digest, request, merges, new_bake_id(now));
        plan.check_limits()?;
        Ok(plan)
    }

    /// `bakery test <recipe> <version>`: the recipe's release gate, run again against
    /// the release `request.version` names. Refused when the recipe has no gate.
    pub fn for_retest(request: &BakeRequest, region: &str, now: SystemTime) -> Result<BakePlan> {
        if request.version.is_none() || request.bump.is_some() {
            return Err(Error::input(
                "`bakery test` needs the release's version, e.g. 1.4.0",
            ));
        }
        let request = BakeRequest {
            skip_tests: false,
            ..request.clone()
        };
        let mut plan = BakePlan::new(&request, region, now)?;
        if plan.test.is_none() {
            return Err(Error::input(format!(
                "{} has no release gate: its recipe.toml has no [[tests]] and no [test] table",
                plan.recipe_dir.display()
            ))
            .with_hint("add a [[tests]] entry (name, script) to the recipe"));
        }
        plan.chain = plan.retest_steps();
        plan.run = Run::Test;
        Ok(plan)
    }

    /// What AWS and the bake's own safety nets take: a builder that lives at most
    /// [`MAX_BUILDER_LIFETIME`], commands of at most [`MAX_COMMAND_BYTES`].
    fn check_limits(&self) -> Result<()> {
        if self.notify_success && self.sns_topic.is_none() {
            return Err(
                Error::input("--notify-success needs a topic to send to, and none is set")
                    .with_hint(
                        "give --sns-topic ARN, BAKERY_SNS_TOPIC, or the environment's sns_topic",
                    ),
            );
        }
        if self.builder_lifetime > MAX_BUILDER_LIFETIME {
            return Err(Error::input(format!(
                "the steps' timeouts add up to a builder lifetime of {}; bakery lets a builder \
                 live {} at most (its dead-man's switch and `bakery cleanup` rely on that)",
                crate::model::time::human(self.builder_lifetime),
                crate::model::time::human(MAX_BUILDER_LIFETIME)
            ))
            .with_hint("shorten the steps' `timeout`s"));
        }
        self.builds
            .iter()
            .try_for_each(|build| self.check_build_limits(build))
    }

    /// A build's image name, at the longest version the request can give, and its Run
    /// Commands, at the longest any release can have.
    fn check_build_limits(&self, build: &BuildPlan) -> Result<()> {
        let name = self
            .release(self.version.longest())
            .image_name(build.arch());
        if name.len() > MAX_IMAGE_NAME {
            return Err(Error::input(format!(
                "the image name `{name}` would be {} characters; AWS takes at most {MAX_IMAGE_NAME} \
                 (CreateImage, Name)",
                name.len()
            ))
            .with_hint("a shorter version (its pre-release name) or role name"));
        }
        let longest = semver::Version::parse("999999.999999.999999-rc.999999").expect("valid");
        let release = self.release(longest);
        let tests = self.test.iter().flat_map(|test| &test.commands);
        for step in self.steps.iter().chain(tests) {
            let bytes = step.command_for(&self.values(build, &release)).len();
            if bytes > MAX_COMMAND_BYTES {
                return Err(Error::input(format!(
                    "step `{}`: its Run Command would be {} KiB; bakery sends at most {} KiB",
                    step.step,
                    bytes.div_ceil(1024),
                    MAX_COMMAND_BYTES / 1024
                ))
                .with_hint(
                    "keep big content out of the script: install a package, or let the step \
                     fetch a file (e.g. from S3)",
                ));
            }
        }
        Ok(())
    }

    /// The bake of `recipe`, one build per architecture of `merges` (the settings as
    /// merged for it, in the recipe's order); the release-wide settings are the first's.
    // Long on purpose: one line per field of the plan, each decided here once.
    pub fn from_recipe(
        recipe: Recipe,
        version: VersionRequest,
        recipe_digest: String,
        request: &BakeRequest,
        merges: Vec<(Arch, Merged)>,
        bake_id: String,
    ) -> BakePlan {
        let merged = merges[0].1.clone();
        let settings = &merged.settings;
        let steps = command_steps(&recipe, settings.sns_topic.as_deref(), &settings.vars);
        let gate = match (&recipe.test, request.skip_tests) {
            (None, _) => GateState::None,
            (Some(_), true) => GateState::Skipped,
            (Some(_), false) => GateState::Pending,
        };
        let test = match gate {
            GateState::Pending => test_plan(&recipe, &settings.vars),
            _ => None,
        };
        let waits = settings.deadlines.waits();
        // A builder waits out its image's creation too: a longer image wait than the
        // default lengthens its life by as much.
        let longer_image_wait = waits
            .image
            .map_or(Duration::ZERO, |w| w.saturating_sub(DEFAULT_IMAGE_WAIT));
        let builder_lifetime = BUILDER_OVERHEAD
            + longer_image_wait
            + steps.iter().map(CommandStep::longest).sum::<Duration>();
        let mut plan = BakePlan {
            waits,
            description: recipe.description.clone(),
            bake_id,
            region: settings.regions[0].clone(),
            platform: recipe.platform,
            recipe_dir: recipe.dir.clone(),
            recipe_digest,
            recipe_tags: settings.tags.clone(),
            steps,
            test,
            gate,
            test_names: recipe.tests.iter().map(|t| t.name.clone()).collect(),
            if_changed: request.if_changed,
            builder_lifetime,
            deprecate_after: recipe.deprecate_after,
            source_commit: request.source_commit.clone(),
            build_url: request.build_url.clone(),
            keep_on_failure: request.keep_on_failure,
            promote: request.promote.iter().cloned().collect(),
            update_latest: !request.no_latest,
            sns_topic: settings.sns_topic.clone(),
            notify_success: request.notify_success,
            copy_to: Destination::of_settings(settings),
            copy_jobs: COPY_JOBS,
            share: settings.share.clone(),
            step_output: settings.step_output.clone(),
            role: recipe.name.clone(),
            environment: request.environment.as_ref().map(|e| e.name.clone()),
            version,
            dry_run: request.dry_run,
            secret_parameters: recipe
                .steps
                .iter()
                .chain(&recipe.tests)
                .flat_map(|step| step.secrets.values().cloned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            vars: settings.vars.clone(),
            settings: merged.clone(),
            run: Run::Bake,
            chain: Vec::new(),
            run_uuid: new_run_uuid(),
            builds: Vec::new(),
        };
        for (arch, merged) in merges {
            let build = plan.build_of(&recipe, arch, &merged);
            plan.builds.push(build);
        }
        plan.chain = plan.steps_in_order();
        plan
    }

    /// The build of `arch`: its base, its builder (the image's key is the build
    /// region's), its test instance's type, and its inputs.
    fn build_of(&self, recipe: &Recipe, arch: Arch, merged: &Merged) -> BuildPlan {
        let mut builder = merged.settings.builder.clone();
        if builder.kms_key.is_none() {
            builder.kms_key = merged.settings.kms_keys.get(&self.region).cloned();
        }
        let test_instance_type = self.test.as_ref().map(|_| {
            recipe
                .test
                .as_ref()
                .and_then(|test| test.instance_type.clone())
                .unwrap_or_else(|| builder.instance_type().to_string())
        });
        BuildPlan {
            id: BuildId::new(&self.bake_id, arch),
            base: recipe.base.for_arch(arch),
            inputs: inputs::inputs_of(self, arch, &builder),
            builder,
            test_instance_type,
        }
    }

    /// The build of `arch`, when the bake makes one.
    pub fn build(&self, arch: Arch) -> Option<&BuildPlan> {
        self.builds.iter().find(|build| build.arch() == arch)
    }

    /// The builder settings every build shares: all but the instance type, which is
    /// each build's own (the network, the disk, the profile, the key).
    pub fn shared_builder(&self) -> &BuilderSettings {
        &self.builds[0].builder
    }

    /// True when the bake makes more than one architecture.
    pub fn makes_several(&self) -> bool {
        self.builds.len() > 1
    }

    /// The release of this bake's role at `version`.
    pub fn release(&self, version: semver::Version) -> Release {
        Release {
            role: self.role.clone(),
            version,
        }
    }

    /// The AMI description: the release and the recipe's description.
    pub fn image_description(&self, release: &Release) -> String {
        match &self.description {
            Some(description) => format!("{release}: {description}"),
            None => format!("{release}, baked by bakery"),
        }
        .chars()
        .take(255)
        .collect()
    }

    /// What a build's steps are told about it, once its release is known.
    pub fn values<'a>(&'a self, build: &'a BuildPlan, release: &'a Release) -> BakeValues<'a> {
        BakeValues {
            release,
            arch: build.arch(),
            region: &self.region,
            bake_id: &self.bake_id,
        }
    }

    /// How long the bake may run at most: its builder's life, then its test instance's.
    pub fn bake_lifetime(&self) -> Duration {
        self.builder_lifetime + self.test.as_ref().map_or(Duration::ZERO, |t| t.lifetime)
    }

    /// The Run Command of a command step (on the builder or the test instance).
    pub fn command(&self, step: &Step) -> Result<&CommandStep> {
        self.steps
            .iter()
            .chain(self.test.iter().flat_map(|test| &test.commands))
            .find(|c| &c.step == step)
            .ok_or_else(|| Error::input(format!("the plan has no command step `{step}`")))
    }
}

/// `bakery validate`: everything the plan of a bake of the recipe in `dir` checks
/// without AWS (settings, instance types per architecture, variables' patterns, image
/// name and command sizes), in `environment` when given and `region`. A required
/// variable without a value is the bake's to give (`--var`), not a mistake here.
pub fn check_offline(
    dir: &std::path::Path,
    environment: Option<&crate::config::Environment>,
    region: &str,
) -> Result<()> {
    let mut recipe = Recipe::load(dir)?;
    for variable in recipe.vars.values_mut() {
        variable.required = false;
    }
    let request = BakeRequest {
        recipe_dir: dir.to_path_buf(),
        environment: environment.cloned(),
        ..BakeRequest::default()
    };
    check_request(&mut recipe, &request)?;
    let merges = settings_per_arch(&recipe, &request, region)?;
    // The folder's digest is `validate`'s to read (once): the plan needs none here.
    let version = VersionRequest::Exact(semver::Version::new(0, 0, 0));
    let bake_id = new_bake_id(SystemTime::now());
    let plan = BakePlan::from_recipe(recipe, version, String::new(), &request, merges, bake_id);
    plan.check_limits()
}

/// What the request changes in the recipe (`--base`), and what it may not ask for:
/// `--promote` past a skipped gate, tag values AWS refuses.
fn check_request(recipe: &mut Recipe, request: &BakeRequest) -> Result<()> {
    if let Some(channel) = &request.promote {
        check_channel(channel)?;
        if request.skip_tests && !recipe.tests.is_empty() {
            return Err(Error::input(format!(
                "--promote {channel} with --skip-tests: a channel moves only to a release \
                 that passed its recipe's tests"
            ))
            .with_hint(format!(
                "bake without --promote, run `bakery test {} <version>`, then `bakery \
                 promote` (or `bakery promote --force` to send fleets an untested image)",
                recipe.name
            )));
        }
    }
    if let Some(base) = &request.base {
        recipe.base = BaseImage::parse_flag(base, &recipe.name)?;
        recipe
            .base
            .check_architectures(&recipe.architectures)
            .map_err(|m| Error::input(format!("--base {base}: {m}")))?;
    }
    for (flag, value) in [
        ("--source-commit (or GIT_COMMIT)", &request.source_commit),
        ("--build-url (or BUILD_URL)", &request.build_url),
    ] {
        if let Some(value) = value {
            checks::check_tag_value(value)
                .map_err(|m| Error::input(format!("{flag}: {m}; it is recorded as a tag")))?;
        }
    }
    Ok(())
}

/// The settings of each of the recipe's architectures, merged for a bake in `region`.
pub fn settings_per_arch(
    recipe: &Recipe,
    request: &BakeRequest,
    region: &str,
) -> Result<Vec<(Arch, Merged)>> {
    let environment = request.environment.as_ref();
    let kept = request.kept.get(recipe.name.as_str());
    recipe
        .architectures
        .iter()
        .map(|&arch| {
            let merged =
                layering::for_bake(recipe, environment, &request.flags, kept, region, arch)?;
            Ok((arch, merged))
        })
        .collect()
}

/// The release gate, when the recipe has one: its commands wait for the firstboot
/// agent's outcome, then run the recipe's tests (each build's test instance is its
/// builder's type unless `[test]` says otherwise: [`BuildPlan::test_instance_type`]).
fn test_plan(recipe: &Recipe, vars: &BTreeMap<String, String>) -> Option<TestPlan> {
    let settings = recipe.test.as_ref()?;
    let document = Document::for_platform(recipe.platform);
    let mut commands = Vec::new();
    if recipe.firstboot.is_some() {
        commands.push(CommandStep {
            step: Step::TestFirstboot,
            document,
            command: StepCommand::Script {
                platform: recipe.platform,
                script: firstboot::outcome_script(recipe.platform, settings.timeout),
                env: BTreeMap::new(),
                secrets: BTreeMap::new(),
            },
            timeout: settings.timeout,
            retries: 0,
            retry_delay: Duration::ZERO,
            reboots: Reboots::default(),
        });
    }
    commands.extend(recipe_commands(recipe, &recipe.tests, Step::Test, vars));
    Some(TestPlan {
        runlist: settings.runlist.clone(),
        timeout: settings.timeout,
        lifetime: settings.timeout + TEST_INSTANCE_OVERHEAD,
        tags: settings.tags.clone(),
        commands,
    })
}

/// The Run Commands of `[[steps]]` or `[[tests]]`: each script with the recipe's
/// variables and its own env.
fn recipe_commands(
    recipe: &Recipe,
    steps: &[RecipeStep],
    name: fn(String) -> Step,
    vars: &BTreeMap<String, String>,
) -> Vec<CommandStep> {
    let document = Document::for_platform(recipe.platform);
    steps
        .iter()
        .map(|step| CommandStep {
            step: name(step.name.clone()),
            document,
            command: StepCommand::Script {
                platform: recipe.platform,
                script: step.script_text.clone(),
                env: vars
                    .iter()
                    .chain(&step.env)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                secrets: step.secrets.clone(),
            },
            timeout: step.timeout,
            retries: step.retries,
            retry_delay: step.retry_delay,
            reboots: step.reboots,
        })
        .collect()
}

/// The Run Commands of the recipe (each with its env and the variables' values),
/// then firstboot and generalize.
fn command_steps(
    recipe: &Recipe,
    bake_topic: Option<&str>,
    vars: &BTreeMap<String, String>,
) -> Vec<CommandStep> {
    let document = Document::for_platform(recipe.platform);
    let mut steps = recipe_commands(recipe, &recipe.steps, Step::Recipe, vars);
    if let Some(firstboot) = &recipe.firstboot {
        let firstboot = firstboot.with_bake_topic(bake_topic);
        steps.push(CommandStep {
            step: Step::Firstboot,
            document,
            command: StepCommand::Firstboot {
                platform: recipe.platform,
                settings: firstboot,
            },
            timeout: firstboot::INSTALL_TIMEOUT,
            retries: 0,
            retry_delay: Duration::ZERO,
            reboots: Reboots::default(),
        });
    }
    if recipe.generalize {
        steps.push(CommandStep {
            step: Step::Generalize,
            document,
            command: StepCommand::Script {
                platform: recipe.platform,
                script: generalize_script(recipe.platform).to_string(),
                env: BTreeMap::new(),
                secrets: BTreeMap::new(),
            },
            timeout: GENERALIZE_TIMEOUT,
            retries: 0,
            retry_delay: Duration::ZERO,
            reboots: Reboots::default(),
        });
    }
    steps
}

/// A random (version 4) UUID.
pub fn new_run_uuid() -> String {
    let mut bytes = [0u8; 16];
    bytes.iter_mut().for_each(|b| *b = fastrand::u8(..));
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

pub use crate::model::token::new_run_id as new_bake_id;

#[cfg(test)]
mod tests;
