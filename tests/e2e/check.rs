//! `bakery validate` and `bakery plan`: checked and decided without AWS.

use crate::support::{Bakery, TestRecipe};

fn shellcheck_installed() -> bool {
    std::process::Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn validate_accepts_the_shipped_recipes_and_points_at_mistakes() {
    let shipped = Bakery::new("eu-west-1")
        .args(["validate", "recipes/base", "benches/recipe-noop"])
        .run();
    assert_eq!(shipped.code, 0, "{}{}", shipped.stdout, shipped.stderr);
    assert!(
        shipped.stdout.contains("recipes/base: ok (2 steps"),
        "{}",
        shipped.stdout
    );

    let broken = TestRecipe::new("broken").with_toml("volume_size = \"big\"\n");
    let refused = Bakery::new("eu-west-1")
        .args(["validate"])
        .arg_path(broken.path())
        .run();
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("recipe.toml:7:15"),
        "{}",
        refused.stderr
    );

    let sloppy = TestRecipe::new("sloppy").step("quote", "#!/bin/sh\nrm -rf $TARGET/*\n");
    let linted = Bakery::new("eu-west-1")
        .args(["validate"])
        .arg_path(sloppy.path())
        .run();
    if shellcheck_installed() {
        assert_eq!(linted.code, 2, "{}", linted.stdout);
        assert!(
            linted.stdout.contains("SC2115") || linted.stdout.contains("SC2086"),
            "{}",
            linted.stdout
        );
    } else {
        assert_eq!(linted.code, 0);
        assert!(
            linted.stdout.contains("shellcheck not run"),
            "{}",
            linted.stdout
        );
    }
}

#[test]
fn plan_decides_everything_without_calling_aws() {
    // Nothing listens on port 9: any AWS call would fail.
    let plan = Bakery::new("eu-west-1")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .args([
            "plan",
            "recipes/base",
            "--bump",
            "minor",
            "--pre",
            "rc",
            "--instance-type",
            "m7i.large",
            "--output",
            "json",
        ])
        .run();

    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plan = plan.json();
    assert_eq!(plan["region"], "eu-west-1");
    assert_eq!(plan["version"]["next"]["bump"], "minor");
    assert_eq!(plan["builder"]["instance_type"], "m7i.large");
    let steps: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "recipe/packages",
            "recipe/harden",
            "firstboot",
            "generalize"
        ]
    );
    let calls = plan["aws_calls"].as_array().unwrap();
    assert_eq!(calls[0], "sts:GetCallerIdentity");
    assert!(calls.iter().any(|c| c
        .as_str()
        .unwrap()
        .starts_with("ec2:RunInstances m7i.large IMDSv2-only")));
}
