//! Plans made from recipes in memory: defaults, flags, command steps, keys, the
//! firstboot config, the chain and its AWS calls.

use std::path::Path;

use super::*;
use crate::config::SettingsFlags;

fn recipe(extra: &str) -> Recipe {
    let text = format!(
        "name = \"base\"\nplatform = \"linux\"\narch = \"arm64\"\nbase = {{ image = \"ami-12345678\" }}\n{extra}"
    );
    Recipe::parse(Path::new("/nonexistent"), Path::new("recipe.toml"), &text).unwrap()
}

fn plan(recipe: Recipe, flags: SettingsFlags, sns_topic: Option<&str>) -> BakePlan {
    let request = BakeRequest {
        flags: SettingsFlags {
            sns_topic: sns_topic.map(str::to_string),
            ..flags
        },
        ..Default::default()
    };
    planned(
        recipe,
        &request,
        VersionRequest::Exact("1.2.0".parse().unwrap()),
        "b-1",
    )
}

/// The plan of a bake of `recipe` in eu-west-1, as `BakePlan::for_recipe` makes it but
/// for the recipe folder's digest (the recipe is in memory) and the bake's id.
fn planned(recipe: Recipe, request: &BakeRequest, version: VersionRequest, id: &str) -> BakePlan {
    let merges = settings_per_arch(&recipe, request, "eu-west-1").unwrap();
    BakePlan::from_recipe(
        recipe,
        version,
        "sha256:0".into(),
        request,
        merges,
        id.into(),
    )
}

fn settings_of(recipe: &Recipe, request: &BakeRequest) -> Result<Merged> {
    layering::for_bake(
        recipe,
        request.environment.as_ref(),
        &request.flags,
        request.kept.get(recipe.name.as_str()),
        "eu-west-1",
        recipe.architectures[0],
    )
}

#[test]
fn defaults_follow_the_architecture_and_flags_win_over_the_recipe() {
    let p = plan(
        recipe("[builder]\ninstance_type = \"m7g.large\"\n"),
        SettingsFlags::default(),
        None,
    );
    assert_eq!(p.builds[0].builder.instance_type(), "m7g.large");
    assert_eq!(p.builds[0].builder.volume_type(), "gp3");
    let release = p.release("1.2.0".parse().unwrap());
    assert_eq!(
        release.image_name(p.builds[0].arch()),
        "bakery/base/1.2.0/arm64"
    );
    assert_eq!(p.image_description(&release), "base@1.2.0, baked by bakery");
    let p = plan(recipe(""), SettingsFlags::default(), None);
    assert_eq!(p.builds[0].builder.instance_type(), "t4g.small");
    let p = plan(
        recipe("[builder]\ninstance_type = \"m7g.large\"\n"),
        SettingsFlags {
            instance_type: Some("c7g.xlarge".into()),
            ..Default::default()
        },
        None,
    );
    assert_eq!(p.builds[0].builder.instance_type(), "c7g.xlarge");
}

#[test]
fn generalize_comes_last_and_the_lifetime_covers_every_step() {
    let p = plan(recipe(""), SettingsFlags::default(), None);
    let names: Vec<String> = p.steps.iter().map(|s| s.step.to_string()).collect();
    assert_eq!(names, ["firstboot", "generalize"]);
    assert_eq!(
        p.builder_lifetime,
        BUILDER_OVERHEAD + firstboot::INSTALL_TIMEOUT + GENERALIZE_TIMEOUT
    );
    let p = plan(
        recipe("generalize = false\nfirstboot = false\n"),
        SettingsFlags::default(),
        None,
    );
    assert!(p.steps.is_empty());
    assert_eq!(p.builder_lifetime, BUILDER_OVERHEAD);
}

#[test]
fn the_lifetime_covers_every_attempt_of_a_step_and_the_waits_between() {
    let mut recipe = recipe("generalize = false\nfirstboot = false\n");
    recipe.steps.push(crate::config::recipe::RecipeStep {
        name: "flaky".into(),
        script: "steps/flaky.sh".into(),
        script_text: "#!/bin/sh\ntrue\n".into(),
        timeout: Duration::from_secs(600),
        retries: 2,
        retry_delay: Duration::from_secs(30),
        reboots: Default::default(),
        env: BTreeMap::new(),
        secrets: BTreeMap::new(),
    });
    let p = plan(recipe, SettingsFlags::default(), None);
    assert_eq!(
        p.builder_lifetime,
        BUILDER_OVERHEAD + Duration::from_secs(3 * 600 + 2 * 30)
    );
}

#[test]
fn a_kms_key_goes_to_the_image_in_its_region_and_must_name_a_bake_region() {
    let recipe = || recipe("");
    let request = |kms: &[&str], copy: &[&str]| BakeRequest {
        flags: SettingsFlags {
            kms_keys: kms.iter().map(|k| k.to_string()).collect(),
            copy_to: copy.iter().map(|k| k.to_string()).collect(),
            ..Default::default()
        },
        ..Default::default()
    };
    let merged = settings_of(&recipe(), &request(&["eu-west-1=alias/home"], &[])).unwrap();
    assert_eq!(merged.settings.kms_keys["eu-west-1"], "alias/home");
    let merged = settings_of(&recipe(), &request(&["us-east-1=alias/us"], &["us-east-1"])).unwrap();
    assert_eq!(merged.settings.regions, ["eu-west-1", "us-east-1"]);
    let stray = settings_of(&recipe(), &request(&["ap-south-1=alias/x"], &[]))
        .unwrap_err()
        .to_string();
    assert!(
        stray.contains("kms_keys.ap-south-1 (from flag --kms-key)"),
        "{stray}"
    );
    let bad = settings_of(&recipe(), &request(&["alias/x"], &[])).unwrap_err();
    assert!(bad.to_string().contains("write REGION=KEY"), "{bad}");
}

#[test]
fn the_firstboot_config_names_the_release_the_bake_claimed() {
    let p = plan(
        recipe("[firstboot]\nrunlist = \"s3://runlists/{environment}/base.json\"\nrunner = \"chef-client -z -j {runlist}\"\n"),
        SettingsFlags::default(),
        None,
    );
    let release = p.release("2.0.1".parse().unwrap());
    let text = p.steps[0].command_for(&p.values(&p.builds[0], &release));
    assert!(text.contains("\"version\": \"2.0.1\""), "{text}");
    assert!(text.contains("\"runlist\": \"s3://runlists/{environment}/base.json\""));
    assert!(
        !text.contains("\"sns_topic\":"),
        "no topic anywhere: none in the config"
    );
    let with_topic = plan(
        recipe("[firstboot]\nretry = false\n"),
        SettingsFlags::default(),
        Some("arn:aws:sns:eu-west-1:123456789012:team"),
    );
    let text = with_topic.steps[0].command_for(&with_topic.values(&with_topic.builds[0], &release));
    assert!(
        text.contains("\"sns_topic\": \"arn:aws:sns:eu-west-1:123456789012:team\""),
        "the bake's topic is the default: {text}"
    );
}

#[test]
fn the_plan_lists_its_aws_calls_in_order() {
    let p = plan(
        recipe("[builder]\ninstance_profile = \"bakery-builder\"\n"),
        SettingsFlags::default(),
        None,
    );
    let calls = p.aws_calls();
    assert_eq!(calls[0], "sts:GetCallerIdentity");
    let position = |prefix: &str| calls.iter().position(|c| c.starts_with(prefix)).unwrap();
    assert!(position("ssm:PutParameter /bakery/base/releases/") < position("ec2:RunInstances"));
    assert!(calls.iter().any(|c| c
        == "ec2:RunInstances t4g.small IMDSv2-only hop-limit=1 encrypted-root \
            profile=bakery-builder (public address only if the subnet needs one), \
            ec2:CreateTags (its tags), iam:PassRole"));
    assert!(position("ec2:DescribeVpcs (default)") < position("ec2:RunInstances"));
    assert!(
        position("ssm:SendCommand AWS-RunShellScript (generalize)") < position("ec2:StopInstances")
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

fn names(chain: &[Step]) -> Vec<String> {
    chain.iter().map(Step::to_string).collect()
}

#[test]
fn the_chain_lists_every_step_in_order_and_only_the_steps_that_apply() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("packages.sh"), "#!/bin/sh\ntrue\n").unwrap();
    let text = "name = \"base\"\nplatform = \"linux\"\narch = \"arm64\"\n\
                base = { image = \"ami-12345678\" }\n\
                [[steps]]\nname = \"packages\"\nscript = \"packages.sh\"\n";
    let with_a_step = Recipe::parse(dir.path(), Path::new("recipe.toml"), text).unwrap();
    let p = plan(with_a_step, SettingsFlags::default(), None);
    assert_eq!(
        names(&p.chain).join(" "),
        "check-release network claim resolve-base launch wait-ready recipe/packages firstboot \
         generalize stop create-image wait-image terminate record-release promote"
    );
    let with_copies = plan(
        recipe(""),
        SettingsFlags {
            copy_to: vec!["us-east-1".into()],
            ..Default::default()
        },
        None,
    );
    assert!(with_copies.runs(&Step::Distribute));
    assert!(!with_copies.runs(&Step::Share));
}

#[test]
fn a_pre_release_moves_no_channel_unless_one_is_asked_for() {
    let recipe = || recipe("");
    let request = |promote: Option<&str>| BakeRequest {
        promote: promote.map(str::to_string),
        ..Default::default()
    };
    let candidate = VersionRequest::Next {
        bump: crate::model::Bump::Minor,
        pre: Some("rc".into()),
    };
    let plan_with = |request: BakeRequest| planned(recipe(), &request, candidate.clone(), "b-1");
    let quiet = plan_with(request(None));
    assert!(quiet.channels_to_move().is_empty());
    assert!(!quiet.runs(&Step::Promote));
    let canary = plan_with(request(Some("canary")));
    assert_eq!(canary.channels_to_move(), ["canary"]);
    assert!(canary
        .aws_calls()
        .last()
        .unwrap()
        .contains("/channels/canary"));
}

#[test]
fn a_dry_run_checks_in_place_of_creates_and_lists_the_dry_run_calls() {
    let recipe = recipe("");
    let request = BakeRequest {
        dry_run: true,
        flags: SettingsFlags {
            copy_to: vec!["us-east-1".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    let p = planned(
        recipe,
        &request,
        VersionRequest::Exact("1.0.0".parse().unwrap()),
        "b-1",
    );
    assert_eq!(
        names(&p.chain),
        [
            "check-release",
            "resolve-base",
            "check-launch",
            "check-distribute"
        ]
    );
    let calls = p.aws_calls();
    assert!(calls.contains(&"ec2:CreateSecurityGroup (DryRun)".to_string()));
    assert!(calls.contains(&"ec2:CopyImage into us-east-1 (DryRun)".to_string()));
    assert!(!calls.iter().any(|c| c.starts_with("ssm:PutParameter")));
}

#[test]
fn variables_take_the_recipes_default_then_the_environments_value_then_the_flag() {
    let recipe = || {
        recipe(
            "[vars]\nLOG_LEVEL = \"info\"\nREGION_NAME = \"home\"\n\
             [vars.APP_VERSION]\nrequired = true\npattern = '\\d+\\.\\d+\\.\\d+'\n",
        )
    };
    let environment = crate::config::environment::parse(
        Path::new("bakery.toml"),
        "[environments.production]\nvars = { LOG_LEVEL = \"warn\", OTHER_ROLES_VAR = \"x\" }\n",
        Some("production"),
    )
    .unwrap();
    let request = |vars: &[&str]| BakeRequest {
        flags: SettingsFlags {
            vars: vars.iter().map(|v| v.to_string()).collect(),
            ..Default::default()
        },
        environment: environment.clone(),
        ..Default::default()
    };

    let merged = settings_of(&recipe(), &request(&["APP_VERSION=2.4.1"])).unwrap();
    let vars = &merged.settings.vars;
    assert_eq!(vars["APP_VERSION"], "2.4.1");
    assert_eq!(
        vars["LOG_LEVEL"], "warn",
        "the environment wins over the default"
    );
    assert_eq!(vars["REGION_NAME"], "home");
    assert!(
        !vars.contains_key("OTHER_ROLES_VAR"),
        "an environment's value for a variable this recipe lacks is not this bake's"
    );
    assert_eq!(
        merged.source_of("vars.APP_VERSION").unwrap().to_string(),
        "flag --var"
    );

    let missing = settings_of(&recipe(), &request(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("variable APP_VERSION is required by /nonexistent/recipe.toml"),
        "{missing}"
    );
    let refused = settings_of(&recipe(), &request(&["APP_VERSION=latest", "TYPO=1"]))
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("2 problems with the variables"),
        "{refused}"
    );
    assert!(
        refused.contains("--var TYPO: /nonexistent/recipe.toml declares no variable TYPO (it declares APP_VERSION, LOG_LEVEL, REGION_NAME)"),
        "{refused}"
    );
    assert!(
        refused.contains("vars.APP_VERSION (from flag --var): `latest` does not match"),
        "{refused}"
    );
}

#[test]
fn a_rebuild_keeps_a_value_given_with_var_until_a_flag_or_the_environment_changes_it() {
    let environment = |version: &str| {
        crate::config::environment::parse(
            Path::new("bakery.toml"),
            &format!("[environments.production]\nvars = {{ ZK = \"{version}\" }}\n"),
            Some("production"),
        )
        .unwrap()
    };
    let recipe = recipe("[vars]\nZK = \"3.0.0\"\nLOG = \"info\"\n");
    let kept = crate::config::vars::KeptVars {
        release: "base@1.0.3".into(),
        vars: [("ZK".to_string(), "3.9.4".to_string())].into(),
        otherwise: [("ZK".to_string(), Some("3.9.3".to_string()))].into(),
    };
    let request = |env: &str, vars: &[&str]| BakeRequest {
        flags: SettingsFlags {
            vars: vars.iter().map(|v| v.to_string()).collect(),
            ..Default::default()
        },
        environment: environment(env),
        kept: [("base".to_string(), kept.clone())].into(),
        ..Default::default()
    };
    // The post-deploy job gave 3.9.4 over the environment's 3.9.3: the nightly keeps it.
    let nightly = settings_of(&recipe, &request("3.9.3", &[])).unwrap();
    assert_eq!(nightly.settings.vars["ZK"], "3.9.4");
    assert_eq!(
        nightly.source_of("vars.ZK").unwrap().to_string(),
        "base@1.0.3, given with --var then"
    );
    assert_eq!(
        nightly.overrides,
        [("ZK".to_string(), Some("3.9.3".to_string()))].into(),
        "and records it for the next rebuild"
    );
    // The environment moved on: its value wins.
    let moved = settings_of(&recipe, &request("3.9.5", &[])).unwrap();
    assert_eq!(moved.settings.vars["ZK"], "3.9.5");
    assert!(moved.overrides.is_empty());
    // A flag wins over both.
    let flagged = settings_of(&recipe, &request("3.9.3", &["ZK=4.0.0"])).unwrap();
    assert_eq!(flagged.settings.vars["ZK"], "4.0.0");
    assert_eq!(flagged.settings.vars["LOG"], "info");
}

#[test]
fn every_step_gets_the_bakes_values_and_the_recipes_variables_as_values() {
    let recipe = Recipe {
        steps: vec![crate::config::recipe::RecipeStep {
            name: "show".into(),
            script: "steps/show.sh".into(),
            script_text: "#!/bin/sh\necho \"$BAKERY_ROLE $BAKERY_VERSION $BAKERY_ARCH $BAKERY_REGION $BAKERY_BAKE_ID $GREETING\"\n".into(),
            timeout: Duration::from_secs(60),
            retries: 0,
            retry_delay: Duration::ZERO,
            reboots: Default::default(),
            env: BTreeMap::new(),
            secrets: BTreeMap::new(),
        }],
        ..recipe("[vars]\nGREETING = \"it's $(not code)\"\n")
    };
    let p = plan(recipe, SettingsFlags::default(), None);
    let release = p.release("2.0.1".parse().unwrap());
    let values = p.values(&p.builds[0], &release);
    let (code, out) = crate::script::run_sh(&p.steps[0].command_for(&values));
    assert_eq!(code, 0);
    assert_eq!(out, "base 2.0.1 arm64 eu-west-1 b-1 it's $(not code)\n");
}

#[test]
fn each_architecture_has_its_builder_type_and_one_type_for_both_is_refused() {
    let both = |extra: &str| {
        let text = format!(
            "name = \"base\"\nplatform = \"linux\"\narch = [\"x86_64\", \"arm64\"]\n\
             base = {{ ssm_parameter = \"/p/{{arch}}\" }}\n{extra}"
        );
        Recipe::parse(Path::new("/nonexistent"), Path::new("recipe.toml"), &text).unwrap()
    };
    let request = BakeRequest::default();
    let type_of = |recipe: &Recipe, arch: Arch| {
        let settings = layering::for_bake(recipe, None, &request.flags, None, "eu-west-1", arch)?;
        Ok::<_, Error>(settings.settings.builder.instance_type().to_string())
    };
    let defaults = both("");
    assert_eq!(type_of(&defaults, Arch::X86_64).unwrap(), "t3.small");
    assert_eq!(type_of(&defaults, Arch::Arm64).unwrap(), "t4g.small");
    let named = both("[builder]\ninstance_types = { arm64 = \"c7g.large\" }\n");
    assert_eq!(type_of(&named, Arch::Arm64).unwrap(), "c7g.large");
    assert_eq!(type_of(&named, Arch::X86_64).unwrap(), "t3.small");
    let one = both("[builder]\ninstance_type = \"m5.large\"\n");
    let refused = type_of(&one, Arch::Arm64).unwrap_err().to_string();
    assert!(
        refused.contains("builder.instance_type = m5.large, from recipe (/nonexistent/recipe.toml), would be the builder of every architecture"),
        "{refused}"
    );
}

#[test]
fn no_two_builds_of_a_bake_nor_a_bake_and_its_bakery_test_share_a_client_token() {
    let text = "name = \"base\"\nplatform = \"linux\"\narch = [\"x86_64\", \"arm64\"]\n\
                base = { ssm_parameter = \"/p/{arch}\" }\n";
    let recipe = Recipe::parse(Path::new("/nonexistent"), Path::new("recipe.toml"), text).unwrap();
    let version = || VersionRequest::Exact("1.2.0".parse().unwrap());
    let bake = planned(
        recipe.clone(),
        &BakeRequest::default(),
        version(),
        "20261207t111351-abcdef",
    );
    let retest = planned(
        recipe,
        &BakeRequest::default(),
        version(),
        "20261207t120000-123456",
    );
    assert_eq!(bake.builds.len(), 2, "one build per architecture");
    let mut tokens = Vec::new();
    let mut groups = std::collections::BTreeSet::new();
    for plan in [&bake, &retest] {
        for build in &plan.builds {
            assert_eq!(
                build.id.bake_id, plan.bake_id,
                "a build's identity is its bake's"
            );
            tokens.push(build.id.client_token(crate::model::Launch::Builder));
            tokens.push(build.id.client_token(crate::model::Launch::TestInstance));
            let image = format!("ami-{}", build.arch());
            for region in ["us-east-1", "eu-west-2"] {
                tokens.push(crate::model::ClientToken::copy(
                    &plan.bake_id,
                    &image,
                    region,
                    None,
                ));
            }
            groups.insert(build.id.test_group_name());
            groups.insert(build.id.builder_group_name());
        }
    }
    let distinct: std::collections::BTreeSet<_> = tokens.iter().collect();
    assert_eq!(distinct.len(), tokens.len(), "{tokens:?}");
    assert_eq!(
        groups.len(),
        8,
        "each build's groups are its own: {groups:?}"
    );
}
