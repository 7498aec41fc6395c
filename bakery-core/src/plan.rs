//! Inputs -> a complete [`BakePlan`]: every decision of a bake made before any AWS
//! call, so that bad input is refused before anything exists.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::commands::{self, StepInputs};
use crate::environment::{self, Environment, Merged, Sharing, Source, StepOutput};
use crate::error::Result;
use crate::firstboot::{self, FirstbootConfig, FirstbootSettings, Installation};
use crate::recipe::{Arch, BaseImage, Platform, Recipe, RoleName};
use crate::release::{recipe_digest, Release};
use crate::version::{Bump, VersionRequest};

/// What the caller asks for; the recipe supplies the rest.
#[derive(Debug, Clone, Default)]
pub struct BakeRequest {
    pub recipe_dir: PathBuf,
    /// `--version X.Y.Z[-pre]`.
    pub version: Option<String>,
    /// `--bump major|minor|patch`.
    pub bump: Option<Bump>,
    /// `--pre NAME` with `--bump`.
    pub pre: Option<String>,
    pub overrides: BuilderOverrides,
    /// Recorded as `bakery:source-commit` (Jenkins sets GIT_COMMIT).
    pub source_commit: Option<String>,
    /// Recorded as `bakery:build-url` (Jenkins sets BUILD_URL).
    pub build_url: Option<String>,
    /// Leave the builder running when the bake fails, for debugging.
    pub keep_on_failure: bool,
    /// A channel to point at the new release after a successful bake.
    pub promote: Option<String>,
    /// Do not move the `latest` channel (it follows every final release otherwise).
    pub no_latest: bool,
    /// An SNS topic ARN for the alert of a failed or interrupted bake.
    pub sns_topic: Option<String>,
    /// Also publish to the topic when the bake succeeds.
    pub notify_success: bool,
    /// `--copy-to`: other regions the release is copied to.
    pub copy_to: Vec<String>,
    /// `--kms-key REGION=KEY` for the copies.
    pub kms_keys: Vec<String>,
    /// The `bakery.toml` environment (`--env`), if any.
    pub environment: Option<Environment>,
    /// Check everything with read calls and EC2 DryRun; create nothing.
    pub dry_run: bool,
    /// `--base`: another base image than the recipe's (see [`BaseImage::parse_flag`]).
    pub base: Option<String>,
}

/// Command-line settings that win over the recipe's.
#[derive(Debug, Clone, Default)]
pub struct BuilderOverrides {
    pub instance_type: Option<String>,
    pub instance_profile: Option<String>,
    pub subnet: Option<String>,
    pub security_groups: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BakePlan {
    pub bake_id: String,
    pub role: RoleName,
    /// Resolved into a [`Release`] by the bake's first step.
    pub version: VersionRequest,
    pub region: String,
    pub platform: Platform,
    pub arch: Arch,
    pub base: BaseImage,
    pub description: Option<String>,
    pub recipe_dir: PathBuf,
    pub recipe_digest: String,
    pub recipe_tags: BTreeMap<String, String>,
    pub builder: BuilderPlan,
    pub steps: Vec<PlannedStep>,
    /// After this long the builder powers itself off and is terminated (dead-man's switch).
    #[serde(with = "seconds")]
    pub builder_lifetime: Duration,
    #[serde(with = "seconds")]
    pub deprecate_after: Duration,
    pub source_commit: Option<String>,
    pub build_url: Option<String>,
    pub keep_on_failure: bool,
    /// Channels to move after success; `latest` is added for final releases.
    pub promote: Vec<String>,
    pub update_latest: bool,
    /// Where the alert of a failed bake goes (and of a successful one with notify_success).
    pub sns_topic: Option<String>,
    pub notify_success: bool,
    pub copy_to: Vec<crate::distribute::Destination>,
    /// How many regions are copied to at once.
    pub copy_jobs: usize,
    /// Accounts, organizations and OUs the release is shared with.
    pub share: Sharing,
    pub step_output: StepOutput,
    /// The settings as merged, with where each came from.
    pub settings: Merged,
    pub dry_run: bool,
    /// The SSM SecureString parameters the steps read on the builder.
    pub secret_parameters: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BuilderPlan {
    pub instance_type: String,
    pub volume_size_gib: Option<i32>,
    pub volume_type: String,
    pub subnet: Option<String>,
    /// Empty: bakery creates a security group with no inbound rules for the bake.
    pub security_groups: Vec<String>,
    pub instance_profile: Option<String>,
    pub kms_key: Option<String>,
    pub install_ssm_agent: bool,
}

/// One Run Command of the bake: a recipe step or a built-in one (firstboot, generalize).
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    /// `recipe/<name>` for recipe steps, `firstboot` and `generalize` for built-in ones.
    pub name: String,
    pub document: &'static str,
    #[serde(skip)]
    pub command: StepCommand,
    #[serde(with = "seconds")]
    pub timeout: Duration,
}

/// The text a step sends; the firstboot config names the release, known only once
/// the bake has claimed its version.
#[derive(Debug, Clone)]
pub enum StepCommand {
    Fixed(String),
    Firstboot {
        platform: Platform,
        settings: FirstbootSettings,
    },
}

impl PlannedStep {
    pub fn command_for(&self, release: &Release) -> String {
        match &self.command {
            StepCommand::Fixed(text) => text.clone(),
            StepCommand::Firstboot { platform, settings } => {
                let config =
                    FirstbootConfig::new(&release.role, &release.version.to_string(), settings);
                let script = Installation::new(*platform, &config).script();
                commands::step_command(*platform, &script, StepInputs::none())
            }
        }
    }
}

pub(crate) mod seconds {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

const GENERALIZE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Time for launch, boot, SSM registration and stop, on top of the steps' own timeouts.
const BUILDER_OVERHEAD: Duration = Duration::from_secs(30 * 60);

impl BakePlan {
    /// Reads the recipe and decides everything; `region` is where the bake runs.
    pub fn new(request: &BakeRequest, region: &str, now: SystemTime) -> Result<BakePlan> {
        let version = VersionRequest::parse(
            request.version.as_deref(),
            request.bump,
            request.pre.as_deref(),
        )?;
        if let Some(channel) = &request.promote {
            crate::channels::check_channel(channel)?;
        }
        let mut recipe = Recipe::load(&request.recipe_dir)?;
        if let Some(base) = &request.base {
            recipe.base = BaseImage::parse_flag(base, &recipe.name).map_err(crate::Error::input)?;
        }
        let settings = merged_settings(&recipe, request, region)?;
        let digest = recipe_digest(&request.recipe_dir)?;
        Ok(BakePlan::from_recipe(
            recipe,
            version,
            digest,
            request,
            settings,
            new_bake_id(now),
        ))
    }

    pub fn from_recipe(
        recipe: Recipe,
        version: VersionRequest,
        recipe_digest: String,
        request: &BakeRequest,
        merged: Merged,
        bake_id: String,
    ) -> BakePlan {
        let settings = &merged.settings;
        let region = settings.regions[0].as_str();
        let chosen = &settings.builder;
        let builder = BuilderPlan {
            instance_type: chosen.instance_type.clone().expect("a built-in default"),
            volume_size_gib: chosen.volume_size,
            volume_type: chosen.volume_type.clone().expect("a built-in default"),
            subnet: chosen.subnet.clone(),
            security_groups: chosen.security_groups.clone(),
            instance_profile: chosen.instance_profile.clone(),
            kms_key: chosen
                .kms_key
                .clone()
                .or_else(|| settings.kms_keys.get(region).cloned()),
            install_ssm_agent: recipe.builder.install_ssm_agent,
        };
        let document = commands::document(recipe.platform);
        let mut steps: Vec<PlannedStep> = recipe
            .steps
            .iter()
            .map(|step| PlannedStep {
                name: format!("recipe/{}", step.name),
                document,
                command: StepCommand::Fixed(commands::step_command(
                    recipe.platform,
                    &step.script_text,
                    StepInputs {
                        env: &step.env,
                        secrets: &step.secrets,
                        region,
                    },
                )),
                timeout: step.timeout,
            })
            .collect();
        if let Some(firstboot) = &recipe.firstboot {
            // First-boot failures go to the recipe's topic, else the bake's (the team's).
            let mut firstboot = firstboot.clone();
            if firstboot.sns_topic.is_none() {
                firstboot.sns_topic = settings.sns_topic.clone();
            }
            steps.push(PlannedStep {
                name: "firstboot".into(),
                document,
                command: StepCommand::Firstboot {
                    platform: recipe.platform,
                    settings: firstboot,
                },
                timeout: firstboot::INSTALL_TIMEOUT,
            });
        }
        if recipe.generalize {
            steps.push(PlannedStep {
                name: "generalize".into(),
                document,
                command: StepCommand::Fixed(commands::step_command(
                    recipe.platform,
                    commands::generalize_script(recipe.platform),
                    StepInputs::none(),
                )),
                timeout: GENERALIZE_TIMEOUT,
            });
        }
        let builder_lifetime = BUILDER_OVERHEAD + steps.iter().map(|s| s.timeout).sum::<Duration>();
        BakePlan {
            description: recipe.description.clone(),
            bake_id,
            region: region.to_string(),
            platform: recipe.platform,
            arch: recipe.arch,
            base: recipe.base.clone(),
            recipe_dir: recipe.dir.clone(),
            recipe_digest,
            recipe_tags: settings.tags.clone(),
            builder,
            steps,
            builder_lifetime,
            deprecate_after: recipe.deprecate_after,
            source_commit: request.source_commit.clone(),
            build_url: request.build_url.clone(),
            keep_on_failure: request.keep_on_failure,
            promote: request.promote.iter().cloned().collect(),
            update_latest: !request.no_latest,
            sns_topic: settings.sns_topic.clone(),
            notify_success: request.notify_success,
            copy_to: settings.regions[1..]
                .iter()
                .map(|region| crate::distribute::Destination {
                    region: region.clone(),
                    kms_key: settings.kms_keys.get(region).cloned(),
                })
                .collect(),
            copy_jobs: 4,
            share: settings.share.clone(),
            step_output: settings.step_output.clone(),
            role: recipe.name.clone(),
            version,
            settings: merged,
            dry_run: request.dry_run,
            secret_parameters: recipe
                .steps
                .iter()
                .flat_map(|step| step.secrets.values().cloned())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        }
    }

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

    /// The AWS calls the bake makes, in order, for review before any is made.
    pub fn aws_calls(&self) -> Vec<String> {
        let mut calls = vec![
            "sts:GetCallerIdentity".to_string(),
            format!(
                "ec2:DescribeImages (is {}@{} new?)",
                self.role, self.version
            ),
        ];
        if matches!(self.version, VersionRequest::Next { .. }) {
            calls.push(format!(
                "ssm:GetParametersByPath {}",
                crate::release::claims_path(&self.role)
            ));
        }
        calls.push(format!(
            "ssm:PutParameter {}<version> (claim, no overwrite)",
            crate::release::claims_path(&self.role)
        ));
        calls.push(match &self.base {
            BaseImage::Image(id) => format!("ec2:DescribeImages {id}"),
            BaseImage::SsmParameter(path) => format!("ssm:GetParameter {path}, ec2:DescribeImages"),
            BaseImage::Filter { owner, name } => {
                format!("ec2:DescribeImages owner={owner} name={name} (newest)")
            }
            BaseImage::Release { role, .. } => {
                format!("ssm:GetParameter / ec2:DescribeImages (release of {role})")
            }
        });
        if !self.secret_parameters.is_empty() {
            calls.push(format!(
                "ssm:DescribeParameters {} (secrets exist and are SecureString; values are read on the builder)",
                self.secret_parameters.join(", ")
            ));
        }
        if self.builder.security_groups.is_empty() {
            calls.push("ec2:CreateSecurityGroup (no inbound rules)".to_string());
        }
        calls.push(format!(
            "ec2:RunInstances {} IMDSv2-only encrypted-root{}",
            self.builder.instance_type,
            self.builder
                .instance_profile
                .as_deref()
                .map(|p| format!(" profile={p}"))
                .unwrap_or_default()
        ));
        calls.push(
            "ec2:DescribeInstances, ssm:DescribeInstanceInformation (until running and online)"
                .to_string(),
        );
        for step in &self.steps {
            calls.push(format!(
                "ssm:SendCommand {} ({}), ssm:GetCommandInvocation",
                step.document, step.name
            ));
        }
        calls.push("ec2:StopInstances".to_string());
        calls.push(
            "ec2:CreateImage (tags on image and snapshots), ec2:DescribeImages (until available)"
                .to_string(),
        );
        calls.push("ec2:EnableImageDeprecation".to_string());
        calls.push("ec2:TerminateInstances".to_string());
        if self.builder.security_groups.is_empty() {
            calls.push("ec2:DeleteSecurityGroup".to_string());
        }
        calls.push("ssm:PutParameter (release record)".to_string());
        for copy in &self.copy_to {
            calls.push(format!(
                "ec2:CopyImage into {}{} (encrypted), ec2:DescribeImages (until available), \
                 ec2:CreateTags (image and snapshots), ec2:EnableImageDeprecation, \
                 ssm:PutParameter (release record there)",
                copy.region,
                copy.kms_key
                    .as_deref()
                    .map(|k| format!(" with {k}"))
                    .unwrap_or_default()
            ));
        }
        if !self.share.is_empty() {
            calls.push(
                "ec2:ModifyImageAttribute, ec2:ModifySnapshotAttribute, kms:DescribeKey, \
                 kms:GetKeyPolicy (share, in every region of the release)"
                    .to_string(),
            );
        }
        let mut channels: Vec<&str> = self.promote.iter().map(String::as_str).collect();
        if self.update_latest {
            channels.insert(0, "latest (final releases)");
        }
        for channel in channels {
            calls.push(format!(
                "ssm:PutParameter {}{channel} (aws:ec2:image)",
                crate::release::channels_path(&self.role)
            ));
        }
        calls
    }

    /// RunInstances' client token: a retried launch returns the same instance.
    pub fn client_token(&self) -> String {
        format!("bakery-{}", self.bake_id)
    }
}

/// The bake's settings: built-in defaults, the environment, the recipe, the flags —
/// in that order — with the bake running in `region`.
pub fn merged_settings(recipe: &Recipe, request: &BakeRequest, region: &str) -> Result<Merged> {
    let default_type = match recipe.arch {
        Arch::X86_64 => "t3.small",
        Arch::Arm64 => "t4g.small",
    };
    let mut layers = vec![environment::layer(
        Source::Default,
        vec![
            ("builder.instance_type", default_type.into()),
            ("builder.volume_type", "gp3".into()),
        ],
    )];
    if let Some(environment) = &request.environment {
        layers.extend(environment.layers().iter().cloned());
    }
    let from_recipe = Source::Recipe {
        file: recipe.dir.join(crate::recipe::RECIPE_FILE),
    };
    let builder = &recipe.builder;
    let mut values: Vec<(&str, toml::Value)> = Vec::new();
    let text = |v: &Option<String>| v.clone().map(toml::Value::from);
    for (key, value) in [
        ("builder.instance_type", text(&builder.instance_type)),
        ("builder.volume_type", text(&builder.volume_type)),
        ("builder.subnet", text(&builder.subnet)),
        ("builder.instance_profile", text(&builder.instance_profile)),
        ("builder.kms_key", text(&builder.kms_key)),
        (
            "builder.volume_size",
            builder
                .volume_size_gib
                .map(|v| toml::Value::from(i64::from(v))),
        ),
    ] {
        if let Some(value) = value {
            values.push((key, value));
        }
    }
    if !builder.security_groups.is_empty() {
        values.push((
            "builder.security_groups",
            builder.security_groups.clone().into(),
        ));
    }
    let mut recipe_layer = environment::layer(from_recipe, values);
    if !recipe.tags.is_empty() {
        let tags: toml::Table = recipe
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), toml::Value::from(v.clone())))
            .collect();
        recipe_layer
            .table
            .insert("tags".into(), toml::Value::Table(tags));
    }
    layers.push(recipe_layer);

    let flag = |name: &str| Source::Flag {
        flag: name.to_string(),
    };
    let overrides = &request.overrides;
    for (name, key, value) in [
        (
            "--instance-type",
            "builder.instance_type",
            &overrides.instance_type,
        ),
        (
            "--instance-profile",
            "builder.instance_profile",
            &overrides.instance_profile,
        ),
        ("--subnet", "builder.subnet", &overrides.subnet),
        ("--sns-topic", "sns_topic", &request.sns_topic),
    ] {
        if let Some(value) = value {
            layers.push(environment::layer(
                flag(name),
                vec![(key, value.clone().into())],
            ));
        }
    }
    if !overrides.security_groups.is_empty() {
        layers.push(environment::layer(
            flag("--security-group"),
            vec![(
                "builder.security_groups",
                overrides.security_groups.clone().into(),
            )],
        ));
    }
    let copy_to = environment::split_list(&request.copy_to);
    if copy_to.iter().any(|r| r == region) {
        return Err(crate::Error::input(format!(
            "--copy-to names {region}, where the bake runs"
        )));
    }
    if !copy_to.is_empty() {
        let mut regions = vec![region.to_string()];
        regions.extend(copy_to);
        layers.push(environment::layer(
            flag("--copy-to"),
            vec![("regions", regions.into())],
        ));
    }
    // A key for the build region encrypts the image itself; the others, the copies.
    let keys = crate::distribute::parse_kms_keys(&request.kms_keys)?;
    if !keys.is_empty() {
        let mut layer = environment::layer(flag("--kms-key"), vec![]);
        let keys: toml::Table = keys
            .into_iter()
            .map(|(r, k)| (r, toml::Value::from(k)))
            .collect();
        layer
            .table
            .insert("kms_keys".into(), toml::Value::Table(keys));
        layers.push(layer);
    }
    // The bake runs in `region` (--region, or the environment's first): the others
    // are where the release is copied.
    let mut merged = environment::merge(&layers)?;
    let regions = &mut merged.settings.regions;
    if regions.first().map(String::as_str) != Some(region) {
        regions.retain(|r| r != region);
        regions.insert(0, region.to_string());
        merged.sources.insert("regions".into(), flag("--region"));
    }
    merged.check_kms_regions()?;
    Ok(merged)
}

/// A bake id that sorts by time and is unique enough to tag and find resources by:
/// `20261122t022438-3f9a1c`.
pub fn new_bake_id(now: SystemTime) -> String {
    let stamp = humantime::format_rfc3339_seconds(now)
        .to_string()
        .replace(['-', ':'], "")
        .trim_end_matches('Z')
        .to_ascii_lowercase();
    format!("{stamp}-{:06x}", fastrand::u32(..0x0100_0000))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn recipe(extra: &str) -> Recipe {
        let text = format!(
            "name = \"base\"\nplatform = \"linux\"\narch = \"arm64\"\nbase = {{ image = \"ami-123\" }}\n{extra}"
        );
        Recipe::parse(Path::new("/nonexistent"), Path::new("recipe.toml"), &text).unwrap()
    }

    fn plan(recipe: Recipe, overrides: BuilderOverrides, sns_topic: Option<&str>) -> BakePlan {
        let request = BakeRequest {
            overrides,
            sns_topic: sns_topic.map(str::to_string),
            ..Default::default()
        };
        let settings = merged_settings(&recipe, &request, "eu-west-1").unwrap();
        BakePlan::from_recipe(
            recipe,
            VersionRequest::Exact("1.2.0".parse().unwrap()),
            "sha256:0".into(),
            &request,
            settings,
            "b-1".into(),
        )
    }

    #[test]
    fn defaults_follow_the_architecture_and_flags_win_over_the_recipe() {
        let p = plan(
            recipe("[builder]\ninstance_type = \"m7g.large\"\n"),
            BuilderOverrides::default(),
            None,
        );
        assert_eq!(p.builder.instance_type, "m7g.large");
        assert_eq!(p.builder.volume_type, "gp3");
        let release = p.release("1.2.0".parse().unwrap());
        assert_eq!(release.image_name(p.arch), "bakery/base/1.2.0/arm64");
        assert_eq!(p.image_description(&release), "base@1.2.0, baked by bakery");
        let p = plan(recipe(""), BuilderOverrides::default(), None);
        assert_eq!(p.builder.instance_type, "t4g.small");
        let p = plan(
            recipe("[builder]\ninstance_type = \"m7g.large\"\n"),
            BuilderOverrides {
                instance_type: Some("c7g.xlarge".into()),
                ..Default::default()
            },
            None,
        );
        assert_eq!(p.builder.instance_type, "c7g.xlarge");
    }

    #[test]
    fn generalize_comes_last_and_the_lifetime_covers_every_step() {
        let p = plan(recipe(""), BuilderOverrides::default(), None);
        let names: Vec<&str> = p.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["firstboot", "generalize"]);
        assert_eq!(
            p.builder_lifetime,
            BUILDER_OVERHEAD + firstboot::INSTALL_TIMEOUT + GENERALIZE_TIMEOUT
        );
        let p = plan(
            recipe("generalize = false\nfirstboot = false\n"),
            BuilderOverrides::default(),
            None,
        );
        assert!(p.steps.is_empty());
        assert_eq!(p.builder_lifetime, BUILDER_OVERHEAD);
    }

    #[test]
    fn a_kms_key_goes_to_the_image_in_its_region_and_must_name_a_bake_region() {
        let recipe = || recipe("");
        let request = |kms: &[&str], copy: &[&str]| BakeRequest {
            kms_keys: kms.iter().map(|k| k.to_string()).collect(),
            copy_to: copy.iter().map(|k| k.to_string()).collect(),
            ..Default::default()
        };
        let merged = merged_settings(
            &recipe(),
            &request(&["eu-west-1=alias/home"], &[]),
            "eu-west-1",
        )
        .unwrap();
        assert_eq!(merged.settings.kms_keys["eu-west-1"], "alias/home");
        let merged = merged_settings(
            &recipe(),
            &request(&["us-east-1=alias/us"], &["us-east-1"]),
            "eu-west-1",
        )
        .unwrap();
        assert_eq!(merged.settings.regions, ["eu-west-1", "us-east-1"]);
        let stray = merged_settings(
            &recipe(),
            &request(&["ap-south-1=alias/x"], &[]),
            "eu-west-1",
        )
        .unwrap_err()
        .to_string();
        assert!(
            stray.contains("kms_keys.ap-south-1 (from flag --kms-key)"),
            "{stray}"
        );
        let bad = merged_settings(&recipe(), &request(&["alias/x"], &[]), "eu-west-1").unwrap_err();
        assert!(bad.to_string().contains("write REGION=KEY"), "{bad}");
    }

    #[test]
    fn the_firstboot_config_names_the_release_the_bake_claimed() {
        let p = plan(
            recipe("[firstboot]\nrunlist = \"s3://runlists/{environment}/base.json\"\nrunner = \"chef-client -z -j {runlist}\"\n"),
            BuilderOverrides::default(),
            None,
        );
        let text = p.steps[0].command_for(&p.release("2.0.1".parse().unwrap()));
        assert!(text.contains("\"version\": \"2.0.1\""), "{text}");
        assert!(text.contains("\"runlist\": \"s3://runlists/{environment}/base.json\""));
        assert!(
            !text.contains("\"sns_topic\":"),
            "no topic anywhere: none in the config"
        );
        let with_topic = plan(
            recipe("[firstboot]\nretry = false\n"),
            BuilderOverrides::default(),
            Some("arn:aws:sns:eu-west-1:123456789012:team"),
        );
        let text = with_topic.steps[0].command_for(&with_topic.release("2.0.1".parse().unwrap()));
        assert!(
            text.contains("\"sns_topic\": \"arn:aws:sns:eu-west-1:123456789012:team\""),
            "the bake's topic is the default: {text}"
        );
    }

    #[test]
    fn the_plan_lists_its_aws_calls_in_order() {
        let p = plan(
            recipe("[builder]\ninstance_profile = \"bakery-builder\"\n"),
            BuilderOverrides::default(),
            None,
        );
        let calls = p.aws_calls();
        assert_eq!(calls[0], "sts:GetCallerIdentity");
        let position = |prefix: &str| calls.iter().position(|c| c.starts_with(prefix)).unwrap();
        assert!(position("ssm:PutParameter /bakery/base/releases/") < position("ec2:RunInstances"));
        assert!(calls
            .iter()
            .any(|c| c
                == "ec2:RunInstances t4g.small IMDSv2-only encrypted-root profile=bakery-builder"));
        assert!(
            position("ssm:SendCommand AWS-RunShellScript (generalize)")
                < position("ec2:StopInstances")
        );
        assert!(calls
            .last()
            .unwrap()
            .starts_with("ssm:PutParameter /bakery/base/channels/latest"));
    }

    #[test]
    fn bake_ids_sort_by_time() {
        let id = new_bake_id(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000));
        assert!(id.starts_with("20261118t"), "{id}");
        assert_eq!(id.len(), "20261118t091640-3f9a1c".len());
    }
}
