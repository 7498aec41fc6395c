//! No input makes bakery panic: recipe.toml and bakery.toml as any text and as the
//! known keys with hostile values, durations, versions and bumps, and the plan of any
//! recipe that reads (its deadlines add durations together). Each property is "an
//! answer or a refusal"; a failure prints the input proptest shrank it to.

use std::path::Path;
use std::time::{Duration, SystemTime};

use bakery_core::config::{environment, Recipe};
use bakery_core::model::names::{parse_duration, MAX_DURATION};
use bakery_core::model::version::{Bump, VersionRequest};
use bakery_core::plan::{BakePlan, BakeRequest};
use proptest::prelude::*;

/// Mostly a good value, so that the other values of a case get as far as the plan
/// (about one case in six is planned; the refusals of the others are checked too).
fn mostly(good: &'static str, hostile: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![9 => Just(good.to_string()), 1 => hostile]
}

/// Text a person could type where a duration goes: a plausible one, digits of any
/// size and any unit, several parts, or anything at all.
fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => "[1-9][0-9]?(s|m|h)",
        1 => "[0-9]{1,25}(ns|us|ms|s|m|min|h|d|w|M|y|months|years)?",
        1 => "[0-9]{1,20}[a-z]{1,6} [0-9]{1,20}[a-z]{1,6}",
        1 => "\\PC{0,16}",
    ]
}

/// A value as TOML writes it (quotes and escapes included).
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A number AWS or bakery could be handed: edges first, then anything.
fn number() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MIN),
        Just(-1i64),
        Just(0i64),
        Just(1i64),
        Just(i64::MAX),
        any::<i64>()
    ]
}

/// A part of a version: the largest first, then anything.
fn part() -> impl Strategy<Value = u64> {
    prop_oneof![Just(u64::MAX), Just(0u64), any::<u64>()]
}

fn recipe_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("steps")).unwrap();
    std::fs::write(dir.path().join("steps/a.sh"), "#!/bin/sh\necho a\n").unwrap();
    dir
}

/// Reads `text` as the folder's recipe.toml; when it reads, plans a bake of it.
fn read_and_plan(dir: &Path, text: &str) {
    let file = dir.join("recipe.toml");
    let Ok(recipe) = Recipe::parse(dir, &file, text) else {
        return;
    };
    let request = BakeRequest {
        recipe_dir: dir.to_path_buf(),
        version: Some("1.0.0".into()),
        ..Default::default()
    };
    let _ = BakePlan::for_recipe(recipe, &request, "eu-west-1", SystemTime::now());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_text_is_a_recipe_or_a_refusal(text in "\\PC{0,300}") {
        let dir = recipe_folder();
        read_and_plan(dir.path(), &text);
    }

    #[test]
    fn a_recipe_with_hostile_values_is_planned_or_refused(
        name in mostly("corpus", "\\PC{0,12}"),
        instance_type in mostly("t3.small", "\\PC{0,12}"),
        volume_size in prop_oneof![9 => 8..100i64, 1 => number()],
        hop_limit in prop_oneof![9 => 1..4i64, 1 => number()],
        step_timeout in duration_text(),
        other_timeout in duration_text(),
        deprecate_after in duration_text(),
        fetch_timeout in duration_text(),
        fetch_attempts in prop_oneof![9 => 1..10i64, 1 => number()],
        env_value in "\\PC{0,40}",
    ) {
        let text = format!(
            "name = {name}\nplatform = \"linux\"\narch = \"x86_64\"\n\
             base = {{ image = \"ami-12345678\" }}\ndeprecate_after = {deprecate}\n\
             [builder]\ninstance_type = {instance_type}\nvolume_size = {volume_size}\n\
             metadata_hop_limit = {hop_limit}\n\
             [[steps]]\nname = \"a\"\nscript = \"steps/a.sh\"\ntimeout = {step}\n\
             env = {{ VALUE = {env} }}\n\
             [[steps]]\nname = \"b\"\nscript = \"steps/a.sh\"\ntimeout = {other}\n\
             [firstboot]\nrunlist = \"s3://bucket/{{environment}}/r.json\"\nrunner = \"/usr/local/bin/run {{runlist}}\"\n\
             fetch_attempts = {fetch_attempts}\nfetch_timeout = {fetch}\n",
            name = toml_string(&name),
            instance_type = toml_string(&instance_type),
            deprecate = toml_string(&deprecate_after),
            step = toml_string(&step_timeout),
            other = toml_string(&other_timeout),
            fetch = toml_string(&fetch_timeout),
            env = toml_string(&env_value),
        );
        let dir = recipe_folder();
        read_and_plan(dir.path(), &text);
    }

    #[test]
    fn any_text_is_an_environment_file_or_a_refusal(
        text in "\\PC{0,300}",
        name in proptest::option::of("[a-z]{1,3}"),
    ) {
        let _ = environment::parse(Path::new("bakery.toml"), &text, name.as_deref());
    }

    #[test]
    fn an_environment_with_hostile_values_is_read_or_refused(
        regions in proptest::collection::vec("\\PC{0,14}", 0..4),
        instance_type in "\\PC{0,12}",
        extends in "[a-c]{1}",
        key in "\\PC{0,10}",
        value in "\\PC{0,10}",
    ) {
        let list: Vec<String> = regions.iter().map(|r| toml_string(r)).collect();
        let text = format!(
            "[environments.a]\nextends = {extends}\nregions = [{regions}]\n\
             instance_type = {instance_type}\n[environments.a.tags]\n{key} = {value}\n\
             [environments.b]\nextends = \"c\"\n[environments.c]\n",
            extends = toml_string(&extends),
            regions = list.join(", "),
            instance_type = toml_string(&instance_type),
            key = toml_string(&key),
            value = toml_string(&value),
        );
        let _ = environment::parse(Path::new("bakery.toml"), &text, Some("a"));
    }

    #[test]
    fn a_duration_is_refused_or_at_most_a_century(text in duration_text()) {
        if let Ok(duration) = parse_duration(&text) {
            prop_assert!(duration > Duration::ZERO && duration <= MAX_DURATION);
        }
    }

    #[test]
    fn a_version_is_read_or_refused(text in "\\PC{0,30}") {
        let _ = VersionRequest::parse(Some(&text), None, None);
    }

    #[test]
    fn a_bump_gives_a_newer_version_or_a_refusal(
        taken in proptest::collection::vec(
            (part(), part(), part(), proptest::option::of("(rc|beta)\\.[1-9][0-9]{0,18}")),
            0..5,
        ),
        bump in prop_oneof![Just(Bump::Major), Just(Bump::Minor), Just(Bump::Patch)],
        pre in proptest::option::of("\\PC{0,8}"),
    ) {
        let taken: Vec<semver::Version> = taken
            .into_iter()
            .map(|(major, minor, patch, pre)| {
                let text = format!(
                    "{}.{}.{}{}",
                    major,
                    minor,
                    patch,
                    pre.map(|p| format!("-{p}")).unwrap_or_default()
                );
                text.parse().unwrap()
            })
            .collect();
        let Ok(request) = VersionRequest::parse(None, Some(bump), pre.as_deref()) else {
            return Ok(());
        };
        if let Ok(next) = request.resolve(&taken) {
            prop_assert!(!taken.contains(&next), "{next} is taken");
        }
    }
}
