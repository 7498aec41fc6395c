//! `bakery validate` and `bakery plan`: checked and decided without AWS.

use crate::support::{repo_root, step_names, Bakery, TestRecipe};

/// The pinned shellcheck that `scripts/local-aws install` puts in `.local-aws/bin`
/// (which the suite's `bakery` finds first on its PATH): a check whose tool is missing
/// fails, it does not pass.
fn shellcheck() -> std::path::PathBuf {
    let pinned = repo_root().join(".local-aws/bin/shellcheck");
    assert!(
        pinned.is_file(),
        "shellcheck is not installed: `scripts/local-aws install` puts the pinned one in \
         .local-aws/bin"
    );
    pinned
}

/// Every file of the repository that is a shell script by its `#!` line (sh, bash).
fn shell_scripts(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if ![".git", "target", ".local-aws", "node_modules"].contains(&name.as_str()) {
                shell_scripts(&path, found);
            }
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let first = text.lines().next().unwrap_or_default();
        let shell = first.starts_with("#!")
            && (first.ends_with("/sh") || first.ends_with("bash") || first.ends_with(" sh"));
        if shell {
            found.push(path);
        }
    }
}

#[test]
fn every_shell_script_of_the_repository_is_shellcheck_clean() {
    let mut scripts = Vec::new();
    shell_scripts(&repo_root(), &mut scripts);
    let named = |path: &str| scripts.contains(&repo_root().join(path));
    assert!(named("firstboot/linux/bakery-firstboot") && named("scripts/test"));
    assert!(scripts.len() >= 15, "{scripts:?}");

    let checked = std::process::Command::new(shellcheck())
        .args(["--format", "gcc"])
        .args(&scripts)
        .output()
        .unwrap();

    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
}

#[test]
fn validate_says_why_it_did_not_run_shellcheck() {
    let recipe = TestRecipe::new("unlinted").step("hello", "#!/bin/sh\necho hello\n");
    let nowhere = tempfile::tempdir().unwrap();

    let validated = Bakery::new("eu-west-1")
        .env("PATH", nowhere.path().to_str().unwrap())
        .args(["validate"])
        .arg_path(recipe.path())
        .run();

    validated.expect_code(0);
    validated.expect_stdout("shellcheck not run: it is not installed here");
}

/// Every folder of recipes/: base, base-windows, zookeeper.
fn shipped_recipes() -> Vec<String> {
    let mut recipes: Vec<String> = std::fs::read_dir(repo_root().join("recipes"))
        .unwrap()
        .map(|entry| format!("recipes/{}", entry.unwrap().file_name().to_string_lossy()))
        .filter(|dir| repo_root().join(dir).join("recipe.toml").is_file())
        .collect();
    recipes.sort();
    assert_eq!(
        recipes,
        ["recipes/base", "recipes/base-windows", "recipes/zookeeper"]
    );
    recipes
}

#[test]
fn every_shipped_recipe_has_a_plan_and_a_readme() {
    for recipe in shipped_recipes() {
        assert!(
            repo_root().join(&recipe).join("README.md").is_file(),
            "{recipe}/README.md"
        );
        let plan = Bakery::new("eu-west-1")
            .args(["plan", "--bump", "minor", "--output", "json", &recipe])
            .run();
        assert_eq!(plan.code, 0, "{recipe}: {}", plan.stderr);
        let plan = plan.json();
        let steps = step_names(&plan);
        assert_eq!(
            steps[steps.len() - 2..],
            ["firstboot", "generalize"],
            "{recipe}"
        );
        // Every shipped recipe has a release gate: firstboot's outcome, then its tests.
        let gate: Vec<&str> = plan["test"]["commands"]
            .as_array()
            .unwrap_or_else(|| panic!("{recipe} has no release gate"))
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(gate[0], "test-firstboot", "{recipe}");
        assert!(gate.len() >= 3, "{recipe}: {gate:?}");
        assert_eq!(plan["gate"], "pending", "{recipe}");
    }
    let plan_of = |recipe: &str| {
        Bakery::new("eu-west-1")
            .args(["plan", "--bump", "minor", "--output", "json", recipe])
            .run()
            .json()
    };
    let zookeeper = plan_of("recipes/zookeeper");
    assert_eq!(zookeeper["builds"][0]["base"]["release"]["role"], "base");
    let windows = plan_of("recipes/base-windows");
    assert_eq!(windows["steps"][0]["document"], "AWS-RunPowerShellScript");
}

#[test]
fn validate_accepts_the_shipped_recipes_and_points_at_mistakes() {
    let shipped = Bakery::new("eu-west-1")
        .args(["validate", "benches/recipe-noop"])
        .args(shipped_recipes())
        .run();
    assert_eq!(shipped.code, 0, "{}{}", shipped.stdout, shipped.stderr);
    for recipe in shipped_recipes() {
        shipped.expect_stdout(&format!("{recipe}: ok ("));
    }
    shipped.expect_stdout("recipes/base: ok (3 steps, 4 tests");

    let ungated = TestRecipe::new("ungated")
        .with_toml("[[tests]]\nname = \"Smoke\"\nscript = \"tests/none.sh\"\n")
        .with_toml("[test]\nrunlist = \"http://example.com/x\"\ntimeout = \"3d\"\n");
    let refused = Bakery::new("eu-west-1")
        .args(["validate"])
        .arg_path(ungated.path())
        .run();
    assert_eq!(refused.code, 2);
    refused.expect_stderr("4 problems in");
    refused.expect_stderr("key `tests.name`: invalid test name `Smoke`");
    refused.expect_stderr("key `tests.script`");
    refused.expect_stderr("key `test.runlist`: `http://example.com/x` is not an S3 URI");
    refused.expect_stderr("a test instance lives at most a day");

    // What a bake's plan refuses, validate refuses: one type for two architectures.
    let one_type = TestRecipe::new("both")
        .with_both_architectures()
        .with_toml("instance_type = \"m7i.large\"\n");
    let refused = Bakery::new("eu-west-1")
        .args(["validate"])
        .arg_path(one_type.path())
        .run();
    refused.expect_code(2);
    refused.expect_stderr("builder.instance_type = m7i.large");
    refused.expect_stderr("would be the builder of every architecture");

    // A required variable is the bake's to give: validate does not ask for it.
    let given_later = TestRecipe::new("later")
        .with_toml("[vars.APP_VERSION]\nrequired = true\npattern = '\\d+\\.\\d+'\n");
    let checked = Bakery::new("eu-west-1")
        .args(["validate"])
        .arg_path(given_later.path())
        .run();
    checked.expect_code(0);

    let broken = TestRecipe::new("broken").with_toml("volume_size = \"big\"\n");
    let refused = Bakery::new("eu-west-1")
        .args(["validate"])
        .arg_path(broken.path())
        .run();
    assert_eq!(refused.code, 2);
    refused.expect_stderr("recipe.toml:7:15");

    let sloppy = TestRecipe::new("sloppy").step("quote", "#!/bin/sh\nrm -rf $TARGET/*\n");
    let linted = Bakery::new("eu-west-1")
        .args(["validate"])
        .arg_path(sloppy.path())
        .run();
    shellcheck();
    assert_eq!(linted.code, 2, "{}", linted.stdout);
    assert!(
        linted.stdout.contains("SC2115") || linted.stdout.contains("SC2086"),
        "{}",
        linted.stdout
    );
}

#[test]
fn plan_decides_everything_without_calling_aws() {
    // Bakery::new points AWS at a port nothing listens on: any call would fail.
    let plan = Bakery::new("eu-west-1")
        .args([
            "plan",
            "recipes/base",
            "--bump",
            "minor",
            "--pre",
            "rc",
            "--output",
            "json",
        ])
        .run();

    plan.expect_code(0);
    let plan = plan.json();
    assert_eq!(plan["region"], "eu-west-1");
    assert_eq!(plan["version"]["next"]["bump"], "minor");
    // The shipped base bakes both architectures, each on its own builder.
    let (x86, arm) = (&plan["builds"][0], &plan["builds"][1]);
    assert_eq!(x86["arch"], "x86_64");
    assert_eq!(x86["builder"]["instance_type"], "t3.small");
    assert_eq!(x86["bake_id"], plan["bake_id"], "each build is the bake's");
    assert_eq!(arm["arch"], "arm64");
    assert_eq!(arm["builder"]["instance_type"], "t4g.small");
    assert_eq!(
        arm["base"]["ssm_parameter"],
        "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
    );
    // One instance type cannot be both builders.
    let one_type = Bakery::new("eu-west-1")
        .args([
            "plan",
            "recipes/base",
            "--version",
            "1.0.0",
            "--instance-type",
            "m7i.large",
        ])
        .run();
    one_type.expect_code(2);
    one_type.expect_stderr("builder.instance_type = m7i.large, from flag --instance-type, would be the builder of every architecture");
    let steps = step_names(&plan);
    assert_eq!(
        steps,
        [
            "recipe/packages",
            "recipe/time-and-logs",
            "recipe/harden-ssh",
            "firstboot",
            "generalize"
        ]
    );
    let calls = plan["aws_calls"].as_array().unwrap();
    assert_eq!(calls[0], "sts:GetCallerIdentity");
    for (instance_type, arch) in [("t3.small", "x86_64"), ("t4g.small", "arm64")] {
        assert!(calls.iter().any(|c| {
            let c = c.as_str().unwrap();
            c.starts_with(&format!("ec2:RunInstances {instance_type} IMDSv2-only"))
                && c.ends_with(&format!("[{arch}]"))
        }));
    }
}

#[test]
fn output_into_a_closed_pipe_is_dropped_not_a_crash() {
    // `bakery … | head -1`: head is gone before bakery writes.
    for args in [
        &["plan", "recipes/base", "--bump", "minor"][..],
        &["validate", "recipes/base", "recipes/zookeeper"],
        &["config", "show", "recipes/zookeeper"],
        &["firstboot", "render", "recipes/zookeeper"],
        &["--help"],
    ] {
        let listed = Bakery::new("eu-west-1").args(args).run_into_a_closed_pipe();
        assert_eq!(listed.code, 0, "{args:?}: not 101, a panic");
    }
    let refused = Bakery::new("eu-west-1")
        .args(["plan", "recipes/base", "--version", "1.0"])
        .run_into_a_closed_pipe();
    assert_eq!(refused.code, 2, "the error's own exit code");
}

#[test]
fn an_empty_endpoint_variable_is_refused_with_its_name_not_a_crash() {
    let refused = Bakery::new("eu-west-1")
        .env("AWS_ENDPOINT_URL", "")
        .args(["plan", "recipes/base", "--bump", "minor"])
        .run();
    refused.expect_code(2);
    refused.expect_stderr("AWS_ENDPOINT_URL is set but empty");
}

#[test]
fn completions_and_the_manual_page_come_from_the_binary() {
    for (shell, marker) in [
        ("bash", "_bakery()"),
        ("zsh", "#compdef bakery"),
        ("fish", "complete -c bakery"),
    ] {
        let script = Bakery::new("eu-west-1").args(["completions", shell]).run();
        script.expect_code(0);
        script.expect_stdout(marker);
        // Every command completes.
        script.expect_stdout("outdated");
    }
    let page = Bakery::new("eu-west-1").args(["man"]).run();
    page.expect_code(0);
    page.expect_stdout(".TH bakery 1");
    page.expect_stdout("completions");
    let unknown = Bakery::new("eu-west-1").args(["completions", "tcsh"]).run();
    unknown.expect_code(2);
    unknown.expect_stderr("possible values");
}

#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let version = Bakery::new("eu-west-1").args(["--version"]).run();
    version.expect_code(0);
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let commit = String::from_utf8_lossy(&commit.stdout).trim().to_string();
    version.expect_stdout(&format!("(commit {commit})"));
}

/// Every PowerShell script of the repository (`.ps1`).
fn powershell_scripts(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() && ![".git", "target", ".local-aws"].contains(&name.as_str()) {
            powershell_scripts(&path, found);
        } else if name.ends_with(".ps1") {
            found.push(path);
        }
    }
}

#[test]
fn every_powershell_script_of_the_repository_reads_with_powershells_grammar() {
    let mut scripts = Vec::new();
    powershell_scripts(&repo_root(), &mut scripts);
    assert!(scripts.len() >= 8, "{scripts:?}");
    for script in scripts {
        let text = std::fs::read_to_string(&script).unwrap();
        let errors = bakery_core::config::powershell::syntax_errors(&text);
        assert_eq!(errors, [], "{}", script.display());
    }
}

#[test]
fn validate_refuses_a_powershell_syntax_error_at_its_line() {
    let recipe = tempfile::tempdir().unwrap();
    std::fs::create_dir(recipe.path().join("steps")).unwrap();
    std::fs::write(
        recipe.path().join("recipe.toml"),
        "name = \"broken-windows\"\nplatform = \"windows\"\narch = \"x86_64\"\n\
         base = { image = \"ami-1e749f67\" }\n\
         [[steps]]\nname = \"setup\"\nscript = \"steps/setup.ps1\"\n",
    )
    .unwrap();
    std::fs::write(
        recipe.path().join("steps/setup.ps1"),
        "$ErrorActionPreference = 'Stop'\nif ($env:X -eq 1 {\n    Write-Output 'x'\n}\n",
    )
    .unwrap();

    let validated = Bakery::new("eu-west-1")
        .args(["validate"])
        .arg_path(recipe.path())
        .run();

    validated.expect_code(2);
    validated.expect_stdout("steps/setup.ps1:2:");
    validated.expect_stdout("PowerShell syntax error near");

    std::fs::write(
        recipe.path().join("steps/setup.ps1"),
        "$ErrorActionPreference = 'Stop'\nif ($env:X -eq 1) {\n    Write-Output 'x'\n}\n",
    )
    .unwrap();
    let fixed = Bakery::new("eu-west-1")
        .args(["validate"])
        .arg_path(recipe.path())
        .run();
    fixed.expect_code(0);
    fixed.expect_stdout("PowerShell parsed: no syntax errors");
}

#[test]
fn retries_are_checked_at_their_line_and_shown_in_the_plan() {
    let recipe = TestRecipe::new("retrying")
        .step("install", "#!/bin/sh\ntrue\n")
        .with_toml("retries = 2\nretry_delay = \"30s\"\n");
    let plan = Bakery::new("eu-west-1")
        .args(["plan", "--version", "1.0.0"])
        .arg_path(recipe.path())
        .run();
    plan.expect_code(0);
    plan.expect_stdout("recipe/install");
    plan.expect_stdout("2 more tries 30s apart");

    let too_many = TestRecipe::new("retrying")
        .step("install", "#!/bin/sh\ntrue\n")
        .with_toml("retries = 11\n");
    let refused = Bakery::new("eu-west-1")
        .args(["validate"])
        .arg_path(too_many.path())
        .run();
    refused.expect_code(2);
    refused.expect_stderr("key `steps.retries`: 11 is out of range: give 0 to 10");
}

#[test]
fn reboots_are_checked_at_their_line_and_shown_in_the_plan() {
    let recipe = TestRecipe::new("rebooting")
        .step(
            "kernel",
            "#!/bin/sh
dnf -y upgrade kernel
",
        )
        .with_toml(
            "reboot = true
max_reboots = 2
",
        );
    let plan = Bakery::new("eu-west-1")
        .args(["plan", "--version", "1.0.0"])
        .arg_path(recipe.path())
        .run();
    plan.expect_code(0);
    plan.expect_stdout("recipe/kernel");
    plan.expect_stdout(", then reboots");
    let json = Bakery::new("eu-west-1")
        .args(["plan", "--version", "1.0.0", "--output", "json"])
        .arg_path(recipe.path())
        .run();
    json.expect_code(0);
    let step = &json.json()["steps"][0];
    assert_eq!(
        (&step["reboot"], &step["max_reboots"]),
        (&true.into(), &2.into())
    );

    let too_many = TestRecipe::new("rebooting")
        .step(
            "kernel",
            "#!/bin/sh
true
",
        )
        .with_toml(
            "max_reboots = 21
",
        );
    let refused = Bakery::new("eu-west-1")
        .args(["validate"])
        .arg_path(too_many.path())
        .run();
    refused.expect_code(2);
    refused.expect_stderr("recipe.toml:");
    refused.expect_stderr("key `steps.max_reboots`: 21 is out of range: give 0 to 20");
}
