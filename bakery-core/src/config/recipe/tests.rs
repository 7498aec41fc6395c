use super::*;
use crate::config::firstboot::FirstbootSettings;
use crate::config::test::TestRunlist;

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
volume_iops = 6000
volume_throughput = 250
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
    assert_eq!(recipe.architectures, [Arch::X86_64]);
    assert_eq!(recipe.builder.volume_size, Some(16));
    assert_eq!(
        (recipe.builder.volume_iops, recipe.builder.volume_throughput),
        (Some(6000), Some(250))
    );
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
    let both =
        layered("base = { role = \"base\", channel = \"stable\", version = \"^2\" }").unwrap_err();
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
fn a_whole_version_pins_its_release_and_a_range_is_written_as_one() {
    let role = RoleName::parse("zookeeper").unwrap();
    let requirement = |text: &str| match BaseImage::parse_flag(text, &role) {
        Ok(BaseImage::Release {
            selector: BaseSelector::Version(requirement),
            ..
        }) => Ok(requirement),
        other => Err(format!("{other:?}")),
    };
    let pin = requirement("base@1.4.1").unwrap();
    assert!(pin.matches(&"1.4.1".parse().unwrap()));
    assert!(
        !pin.matches(&"1.5.0".parse().unwrap()),
        "1.4.1 is not ^1.4.1"
    );
    assert!(requirement("base@2.0.0-rc.1")
        .unwrap()
        .matches(&"2.0.0-rc.1".parse().unwrap()));
    assert!(requirement("base@^1.4")
        .unwrap()
        .matches(&"1.5.0".parse().unwrap()));
    assert!(!requirement("base@~1.4")
        .unwrap()
        .matches(&"1.5.0".parse().unwrap()));
    let partial = BaseImage::parse_flag("base@1.4", &role)
        .unwrap_err()
        .to_string();
    assert!(
        partial.contains("--base `base@1.4`") && partial.contains("`^2.3`"),
        "{partial}"
    );
    assert_eq!(
        BaseImage::parse_flag("base@1.4.1", &role)
            .unwrap()
            .to_string(),
        "base@1.4.1 (that release, pinned)"
    );
    assert_eq!(
        BaseImage::parse_flag("base@^1.4", &role)
            .unwrap()
            .to_string(),
        "base@^1.4 (its newest release that matches)"
    );
}

#[test]
fn the_base_flag_takes_every_form_of_base() {
    let role = RoleName::parse("zookeeper").unwrap();
    let parse = |text: &str| BaseImage::parse_flag(text, &role);
    assert_eq!(
        parse("ami-0abc1234").unwrap(),
        BaseImage::Image("ami-0abc1234".into())
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
    assert!(parse("debian")
        .unwrap_err()
        .to_string()
        .contains("--base `debian`"));
    assert!(parse("zookeeper@stable")
        .unwrap_err()
        .to_string()
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
    refuses_an_image_that_is_not_an_ami: MINIMAL.replace("base = {", "base = { image = \"debian\" } #") => "recipe.toml:5:", "is not a valid ami- id";
    refuses_a_parameter_that_is_not_a_path: MINIMAL.replace("\"/aws/service", "\"aws/service") => "recipe.toml:5:", "starts with `/`";
    refuses_a_volume_size_out_of_range: format!("{MINIMAL}[builder]\nvolume_size = 0\n") => "recipe.toml:7:15", "give GiB from 1 to 16384";
    refuses_io1_without_iops: format!("{MINIMAL}[builder]\nvolume_type = \"io1\"\n") => "recipe.toml:7:15", "io1 needs `volume_iops` (100 to 64000)";
    refuses_iops_on_gp2: format!("{MINIMAL}[builder]\nvolume_type = \"gp2\"\nvolume_iops = 3000\n") => "recipe.toml:8:15", "gp2 volumes take no volume_iops";
    refuses_gp3_iops_out_of_range: format!("{MINIMAL}[builder]\nvolume_iops = 100\n") => "recipe.toml:7:15", "100 is out of range for gp3: give 3000 to 16000";
    refuses_throughput_on_io2: format!("{MINIMAL}[builder]\nvolume_type = \"io2\"\nvolume_iops = 1000\nvolume_throughput = 500\n") => "recipe.toml:9:21", "io2 volumes take no volume_throughput";
    refuses_an_unknown_volume_type: format!("{MINIMAL}[builder]\nvolume_type = \"st1\"\n") => "recipe.toml:7:15", "`gp3`";
    refuses_an_unknown_builder_key: format!("{MINIMAL}[builder]\nami = \"x\"\n") => "recipe.toml:7:1", "unknown field `ami`";
    refuses_an_invalid_step_name: format!("{MINIMAL}[[steps]]\nname = \"Install Java\"\nscript = \"steps/a.sh\"\n") => "recipe.toml:7:8", "invalid step name";
    refuses_a_step_without_a_script: format!("{MINIMAL}[[steps]]\nname = \"a\"\n") => "recipe.toml:6:", "missing field `script`";
    refuses_an_unknown_step_key: format!("{MINIMAL}{STEP}attempts = 3\n") => "recipe.toml:9:1", "unknown field `attempts`";
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

#[test]
fn every_mistake_of_a_recipe_is_reported_at_once_in_file_order() {
    let message = error_of(
        "name = \"Bad Name\"\nplatform = \"linux\"\narch = \"x86_64\"\nbase = { image = \"debian\" }\n\
         [builder]\nvolume_size = 0\n\
         [[steps]]\nname = \"a\"\nscript = \"steps/a.sh\"\ntimeout = \"soon\"\n",
    );
    assert!(message.starts_with("4 problems in "), "{message}");
    let places: Vec<usize> = [
        "recipe.toml:1:8",
        "recipe.toml:4:8",
        "recipe.toml:6:15",
        "recipe.toml:10:11",
    ]
    .iter()
    .map(|place| {
        message
            .find(place)
            .unwrap_or_else(|| panic!("{place} in {message}"))
    })
    .collect();
    assert!(places.windows(2).all(|w| w[0] < w[1]), "{message}");
}

#[test]
fn variables_are_declared_with_a_default_or_as_required_and_may_have_a_pattern() {
    let (_dir, recipe) = recipe_dir(
        &format!(
            "{MINIMAL}[vars]\nLOG_LEVEL = \"info\"\n\
             [vars.APP_VERSION]\ndescription = \"the app release to install\"\n\
             required = true\npattern = '\\d+\\.\\d+\\.\\d+'\n"
        ),
        &[],
    );
    let recipe = recipe.unwrap();
    assert_eq!(recipe.vars["LOG_LEVEL"].default.as_deref(), Some("info"));
    let app = &recipe.vars["APP_VERSION"];
    assert!(app.required);
    assert_eq!(app.refuses("2.4.1"), None);
    assert_eq!(
        app.refuses("2.4.1; rm -rf /").as_deref(),
        Some("`2.4.1; rm -rf /` does not match the pattern `\\d+\\.\\d+\\.\\d+`")
    );
}

#[test]
fn variable_mistakes_are_refused_at_their_place() {
    let message = error_of(&format!(
        "{MINIMAL}[vars.A]\ndescription = \"neither\"\n\
         [vars.B]\ndefault = \"x\"\nrequired = true\n\
         [vars.C]\ndefault = \"abc\"\npattern = '\\d+'\n\
         [vars.D]\nrequired = true\npattern = '('\n\
         [vars.BAKERY_ROLE]\ndefault = \"mine\"\n\
         [[steps]]\nname = \"a\"\nscript = \"steps/a.sh\"\nenv = {{ C = \"again\" }}\n"
    ));
    for expected in [
        "6 problems",
        "key `vars.A`: give a `default`, or `required = true`",
        "key `vars.B`: give either a `default` or `required = true`, not both",
        "key `vars.C`: its default `abc` does not match the pattern `\\d+`",
        "key `vars.D`: `(` is not a regular expression",
        "`BAKERY_ROLE` is reserved",
        "C is a variable of the recipe ([vars]); a variable comes from one place",
    ] {
        assert!(message.contains(expected), "{expected}:\n{message}");
    }
}

#[test]
fn tests_make_a_release_gate_with_the_shape_and_checks_of_steps() {
    let (_dir, recipe) = recipe_dir(MINIMAL, &[]);
    let recipe = recipe.unwrap();
    assert!(recipe.tests.is_empty() && recipe.test.is_none(), "no gate");

    let (_dir, recipe) = recipe_dir(
        &format!(
            "{MINIMAL}[[tests]]\nname = \"sshd\"\nscript = \"tests/sshd.sh\"\n\
             env = {{ PORT = \"22\" }}\ntimeout = \"2m\"\n"
        ),
        &[("tests/sshd.sh", "sshd -t\n")],
    );
    let recipe = recipe.unwrap();
    assert_eq!(recipe.tests[0].name, "sshd");
    assert_eq!(recipe.tests[0].script_text, "sshd -t\n");
    assert_eq!(recipe.tests[0].env["PORT"], "22");
    let gate = recipe.test.expect("[[tests]] make a gate");
    assert_eq!(gate.runlist, TestRunlist::Image);
    assert_eq!(gate.timeout, crate::config::test::DEFAULT_TEST_TIMEOUT);

    // A [test] table alone is a gate too: the image boots through firstboot.
    let (_dir, recipe) = recipe_dir(
        &format!(
            "{MINIMAL}[test]\ninstance_type = \"t3.large\"\nrunlist = \"none\"\n\
             timeout = \"10m\"\ntags = {{ environment = \"test\" }}\n"
        ),
        &[],
    );
    let gate = recipe.unwrap().test.unwrap();
    assert_eq!(gate.instance_type.as_deref(), Some("t3.large"));
    assert_eq!(gate.runlist, TestRunlist::Nothing);
    assert_eq!(gate.timeout, Duration::from_secs(600));
    assert_eq!(gate.tags["environment"], "test");
}

#[test]
fn test_mistakes_are_refused_at_their_key() {
    for (section, says) in [
        (
            "[[tests]]\nname = \"a\"\nscript = \"steps/a.sh\"\n[[tests]]\nname = \"a\"\nscript = \"steps/a.sh\"\n",
            "key `tests.name`: test `a` appears twice",
        ),
        (
            "[[tests]]\nname = \"a\"\nscript = \"steps/a.sh\"\ntimeout = \"49h\"\n",
            "SSM Run Command stops any command after 48 hours",
        ),
        ("[test]\ninstance_type = \"t3.small; rm\"\n", "key `test.instance_type`"),
        ("[test]\nrunlist = \"s3://bucket\"\n", "key `test.runlist`: `s3://bucket` names no object"),
        ("[test]\ntags = { \"aws:x\" = \"1\" }\n", "key `test.tags.aws:x`"),
        ("[test]\ncolour = \"blue\"\n", "unknown field `colour`"),
    ] {
        let message = error_of(&format!("{MINIMAL}{section}"));
        assert!(message.contains(says), "{section}: {message}");
    }
}

const BOTH: &str = r#"
name = "base"
platform = "linux"
arch = ["x86_64", "arm64"]
base = { ssm_parameter = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}" }
"#;

#[test]
fn a_recipe_bakes_one_architecture_or_several_each_on_its_own_base() {
    let (_dir, recipe) = recipe_dir(BOTH, &[]);
    let recipe = recipe.unwrap();
    assert_eq!(recipe.architectures, [Arch::X86_64, Arch::Arm64]);
    assert_eq!(
        recipe.base.for_arch(Arch::Arm64).to_string(),
        "SSM parameter /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
    );
    let pattern = BaseImage::Filter {
        owner: "136693071363".into(),
        name: "debian-12-{arch}-*".into(),
    };
    assert_eq!(
        pattern.for_arch(Arch::X86_64).to_string(),
        "the newest image of owner 136693071363 named debian-12-x86_64-*"
    );
}

#[test]
fn architectures_are_refused_when_repeated_empty_unknown_or_without_images() {
    let with = |arch: &str| BOTH.replace(r#"["x86_64", "arm64"]"#, arch);
    assert!(error_of(&with(r#"["arm64", "arm64"]"#)).contains("key `arch`: arm64 is listed twice"));
    assert!(error_of(&with("[]")).contains("key `arch`: the list is empty"));
    assert!(
        error_of(&with(r#""aarch64""#)).contains("\"aarch64\" is not an architecture bakery bakes")
    );
    let windows = with(r#"["x86_64", "arm64"]"#).replace("\"linux\"", "\"windows\"");
    assert!(error_of(&windows).contains("EC2 has no Windows images for arm64"));
    // One image, or one parameter, cannot be the base of two architectures.
    let fixed = BOTH.replace(
        "ssm_parameter = \"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}\"",
        "image = \"ami-12345678\"",
    );
    assert!(error_of(&fixed)
        .contains("key `base.image`: ami-12345678 is one image of one architecture"));
    let one_parameter = BOTH.replace("{arch}", "x86_64");
    let refused = error_of(&one_parameter);
    assert!(
        refused.contains("names one image for x86_64 and arm64: put `{arch}`"),
        "{refused}"
    );
    assert!(
        refused.contains("recipe.toml:5:"),
        "at the base's line: {refused}"
    );
}

#[test]
fn a_test_instance_type_is_refused_for_several_architectures() {
    let recipe = format!("{BOTH}\n[test]\ninstance_type = \"t3.medium\"\n");
    assert!(error_of(&recipe)
        .contains("key `test.instance_type`: one type cannot run every architecture"));
}
