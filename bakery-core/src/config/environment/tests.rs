//! bakery.toml read and environments selected: extends chains, the merge order with its sources, and one test per kind of mistake.

use super::*;

const FILE: &str = r#"
default_environment = "staging"

[environments.staging]
regions = ["eu-west-1", "eu-central-1"]
subnet = "subnet-0a57a61e0000000aa"
instance_profile = "bakery-builder"
sns_topic = "arn:aws:sns:eu-west-1:123456789012:bakery"
tags = { cost-center = "platform", environment = "staging" }
kms_keys = { eu-central-1 = "alias/staging" }

[environments.production]
extends = "staging"
regions = ["eu-west-1", "eu-central-1", "us-east-1"]
subnet = "subnet-0b9d0c0de000000bb"
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
        Some("subnet-0b9d0c0de000000bb")
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
            ("builder.subnet", "subnet-0c0ffee00000000cc".into()),
            ("tags.team", "data".into()),
        ],
    ));
    layers.push(Layer::of(
        Source::Flag {
            flag: "--subnet".into(),
        },
        vec![("builder.subnet", "subnet-0f1a90000000000dd".into())],
    ));
    let merged = merge(&layers).unwrap();
    let s = &merged.settings;
    assert_eq!(s.builder.volume_type.as_deref(), Some("gp3"));
    assert_eq!(s.builder.instance_type.as_deref(), Some("m7i.large"));
    assert_eq!(
        s.builder.subnet.as_deref(),
        Some("subnet-0f1a90000000000dd")
    );
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
        &FILE.replace("subnet = \"subnet-0a57a61e0000000aa\"", "subnett = \"x\""),
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
