//! Layered roles (`base = { role = "base", channel = "stable" }`) and rebuilding the
//! world with `bakery bake --all`.

use serde_json::{json, Value};

use crate::support::{recipe_folder, step_names, tags, Account, TestRecipe, AL2023};

#[tokio::test(flavor = "multi_thread")]
async fn a_layered_role_bakes_on_the_channel_or_the_newest_matching_release_of_its_base() {
    let aws = Account::fresh().await;
    let base = TestRecipe::new("base");
    let stable = aws
        .bakery()
        .bake_json(base.path(), "2.3.1")
        .args(["--promote", "stable"])
        .run();
    stable.expect_code(0);
    let newest = aws.bakery().bake_json(base.path(), "2.4.0").run();
    newest.expect_code(0);
    let image_of = |v: &Value| v["images"][0]["image_id"].as_str().unwrap().to_string();

    let on_stable = TestRecipe::new("zookeeper").with_base("role = \"base\", channel = \"stable\"");
    let zk = aws.bakery().bake_json(on_stable.path(), "1.0.0").run();
    zk.expect_code(0);
    let zk = zk.json();
    assert_eq!(zk["base_image"], image_of(&stable.json()).as_str());
    assert_eq!(zk["base_release"], "base@2.3.1");
    let zk_tags = tags(aws.image(&image_of(&zk)).await.tags());
    assert_eq!(zk_tags["bakery:base-release"], "base@2.3.1");

    let on_range = TestRecipe::new("kafka").with_base("role = \"base\", version = \"^2\"");
    let kafka = aws.bakery().bake_json(on_range.path(), "1.0.0").run();
    kafka.expect_code(0);
    assert_eq!(kafka.json()["base_release"], "base@2.4.0");

    let on_missing = TestRecipe::new("solr").with_base("role = \"base\", channel = \"canary\"");
    let refused = aws.bakery().bake_json(on_missing.path(), "1.0.0").run();
    refused.expect_code(2);
    assert!(refused.json()["error"].as_str().unwrap().contains(&format!(
        "channel canary of base does not exist in {}",
        aws.region
    )));
    refused.expect_stderr("the channels of base here: latest, stable");

    let misspelt = TestRecipe::new("solr").with_base("role = \"base\", channel = \"stabel\"");
    let refused = aws.bakery().bake(misspelt.path(), "1.0.0").run();
    refused.expect_code(2);
    refused.expect_stderr("did you mean `base@stable`?");
}

#[tokio::test(flavor = "multi_thread")]
async fn channels_name_each_architecture_and_a_release_promoted_before_that_still_resolves() {
    let aws = Account::fresh().await;
    let base = TestRecipe::new("base");
    let first = aws.bake_ok(base.path(), &["--version", "1.0.0", "--promote", "stable"]);
    let first = first["images"][0]["image_id"].as_str().unwrap().to_string();
    // Launch templates resolve `/bakery/base/channels/<name>/<arch>`, or the plain name.
    for channel in ["stable", "stable/x86_64", "latest", "latest/x86_64"] {
        assert_eq!(
            aws.channel("base", channel).await.as_deref(),
            Some(first.as_str()),
            "{channel}"
        );
    }

    // A role whose channels were moved before they had architectures: plain names only.
    for channel in ["stable/x86_64", "latest/x86_64"] {
        aws.ssm
            .delete_parameter()
            .name(format!("/bakery/base/channels/{channel}"))
            .send()
            .await
            .unwrap();
    }
    let zookeeper = TestRecipe::new("zookeeper").with_base("role = \"base\", channel = \"stable\"");
    let layered = aws.bake_ok(zookeeper.path(), &["--version", "1.0.0"]);
    assert_eq!(
        layered["base_image"],
        first.as_str(),
        "the plain name still resolves"
    );

    // An arm64 role on that x86_64-only base is refused before anything is left.
    let before = aws.footprint().await;
    let on_arm = TestRecipe::new("zookeeper-arm")
        .with_base("role = \"base\", channel = \"stable\"")
        .with_arch("arm64");
    let refused = aws.bakery().bake_json(on_arm.path(), "1.0.0").run();
    refused.expect_code(2);
    let error = refused.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains(&format!(
            "the base base@stable is {first} in {}, an x86_64 image; the recipe is arm64",
            aws.region
        )),
        "{error}"
    );
    assert_eq!(aws.footprint().await, before);

    // The next bake moves `latest` under both names; a rollback writes both for `stable`.
    let second = aws.bake_ok(base.path(), &["--version", "1.1.0", "--promote", "stable"]);
    let second = second["images"][0]["image_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        aws.channel("base", "latest/x86_64").await,
        Some(second.clone())
    );
    let rollback = aws
        .bakery()
        .args(["promote", "base", "1.0.0", "--channel", "stable"])
        .run();
    rollback.expect_code(0);
    rollback.expect_stdout(&format!(
        "base@1.0.0: channel stable -> {first} in {} (was {second}); stable/x86_64 too",
        aws.region
    ));
    for channel in ["stable", "stable/x86_64"] {
        assert_eq!(
            aws.channel("base", channel).await,
            Some(first.clone()),
            "{channel}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bake_all_rebuilds_the_world_bases_first_and_independent_roles_together() {
    let aws = Account::fresh().await;
    aws.emulate(json!({ "instance_pending_seconds": 1, "image_pending_seconds": 1 }));
    let recipes = recipe_folder(&[
        ("base", AL2023),
        ("java", "role = \"base\", channel = \"stable\""),
        ("zookeeper", "role = \"java\", version = \"^1\""),
        ("logs", AL2023),
        ("metrics", AL2023),
    ]);
    // An older base on the channel: --all must use the base it bakes, not this one.
    let old = TestRecipe::new("base");
    assert_eq!(
        aws.bakery()
            .bake_json(old.path(), "0.9.0")
            .args(["--promote", "stable"])
            .run()
            .code,
        0
    );

    let all = aws
        .bakery()
        .bake_all_json(recipes.path(), "1.0.0")
        .args(["--jobs", "2"])
        .run();

    all.expect_code(0);
    let result = all.json();
    let bakes = result["bakes"].as_array().unwrap();
    let roles: Vec<&str> = bakes.iter().map(|b| b["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["base", "logs", "metrics", "java", "zookeeper"]);
    assert!(bakes.iter().all(|b| b["status"] == "succeeded"));
    assert_eq!(
        bakes[3]["base_release"], "base@1.0.0",
        "java is layered on the base just baked"
    );
    assert_eq!(bakes[4]["base_release"], "java@1.0.0");

    // Events carry the role: java starts only after base finished; logs ran beside base.
    let events = all.events();
    let position = |role: &str, event: &str, step: &str| {
        events
            .iter()
            .position(|e| e["role"] == role && e["event"] == event && e["step"] == step)
            .unwrap()
    };
    assert!(
        position("java", "step_started", "check-release")
            > position("base", "step_finished", "record-release")
    );
    assert!(
        position("logs", "step_started", "check-release")
            < position("base", "step_finished", "record-release")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bake_all_takes_a_base_outside_the_folder_from_aws_and_refuses_a_missing_one_or_a_cycle() {
    let aws = Account::fresh().await;
    // The team's folder holds zookeeper only; the company base lives elsewhere.
    let team = recipe_folder(&[("zookeeper", "role = \"base\", channel = \"stable\"")]);
    let bake_all = || aws.bakery().bake_all_json(team.path(), "1.0.0");
    let refused = bake_all().run();
    refused.expect_code(2);
    refused.expect_stderr(&format!(
        "--all: role zookeeper: the base base@stable: channel stable of base does not exist in {}; \
         base has no recipe in this run",
        aws.region
    ));
    assert!(aws.instances().await.is_empty(), "refused before anything");

    let base = TestRecipe::new("base");
    aws.bake_ok(base.path(), &["--version", "4.2.0", "--promote", "stable"]);
    let baked = bake_all().run();
    baked.expect_code(0);
    assert_eq!(baked.json()["bakes"][0]["base_release"], "base@4.2.0");

    let cycle = recipe_folder(&[
        ("a", "role = \"b\", channel = \"stable\""),
        ("b", "role = \"a\", channel = \"stable\""),
    ]);
    let refused = aws.bakery().bake_all_json(cycle.path(), "1.0.0").run();
    refused.expect_code(2);
    refused.expect_stderr("form a cycle");
}

#[tokio::test(flavor = "multi_thread")]
async fn bake_all_dry_run_checks_a_layered_role_against_the_base_the_run_would_make() {
    let aws = Account::fresh().await;
    // No release of base exists anywhere: the dry run must not look for one.
    let recipes = recipe_folder(&[
        ("base", AL2023),
        ("zookeeper", "role = \"base\", channel = \"stable\""),
    ]);
    let dry = aws
        .bakery()
        .bake_all_json(recipes.path(), "1.0.0")
        .args(["--dry-run"])
        .run();

    dry.expect_code(0);
    let result = dry.json();
    let (base, zookeeper) = (&result["bakes"][0], &result["bakes"][1]);
    assert_eq!(zookeeper["role"], "zookeeper");
    assert_eq!(zookeeper["status"], "succeeded");
    assert_eq!(zookeeper["dry_run"], true);
    assert_eq!(
        zookeeper["base_release"], "base@1.0.0",
        "the release the run would make"
    );
    assert_eq!(
        zookeeper["base_image"], base["base_image"],
        "checked against the image base@1.0.0 would be built from"
    );
    assert!(step_names(zookeeper).contains(&"check-launch".to_string()));
    assert!(aws.instances().await.is_empty());
    assert!(aws.own_images().await.is_empty());
    assert_eq!(aws.release_record("base", "1.0.0").await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn bake_all_bakes_the_roles_only_names_or_all_but_those_except_names() {
    let aws = Account::fresh().await;
    let recipes = recipe_folder(&[
        ("base", AL2023),
        ("zookeeper", "role = \"base\", channel = \"stable\""),
        ("logs", AL2023),
    ]);
    let bake_all = |version: &str, selection: &[&str]| {
        aws.bakery()
            .bake_all_json(recipes.path(), version)
            .args(selection)
            .run()
    };
    let roles = |outcome: &crate::bakery::Outcome| -> Vec<String> {
        outcome.json()["bakes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["role"].as_str().unwrap().to_string())
            .collect()
    };

    let unknown = bake_all("1.0.0", &["--only", "zookeper"]);
    unknown.expect_code(2);
    unknown.expect_stderr("--only zookeper: no recipe in");
    unknown.expect_stderr("The roles there: base, logs, zookeeper.");

    let base = bake_all("1.0.0", &["--only", "base"]);
    base.expect_code(0);
    assert_eq!(roles(&base), ["base"]);
    aws.bakery()
        .args(["promote", "base", "1.0.0", "--channel", "stable"])
        .run()
        .expect_code(0);

    // zookeeper without its base in the run: base@stable from AWS.
    let rest = bake_all("1.1.0", &["--except", "base"]);
    rest.expect_code(0);
    assert_eq!(roles(&rest), ["logs", "zookeeper"]);
    assert_eq!(rest.json()["bakes"][1]["base_release"], "base@1.0.0");
    assert_eq!(
        aws.release_record("base", "1.1.0").await,
        None,
        "base was left out"
    );
}

/// What a team does for a new role: copy recipes/zookeeper, rename it, validate, plan,
/// bake it on the company base's `stable` release.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_role_copied_from_the_zookeeper_recipe_bakes_on_base_stable() {
    // The shipped base, as it is: both architectures of Amazon Linux 2023.
    let aws = Account::fresh().await;
    let base = aws.bake_ok(
        &crate::support::repo_root().join("recipes/base"),
        &["--version", "3.1.0", "--promote", "stable"],
    );

    let team = tempfile::tempdir().unwrap();
    let kafka = team.path().join("kafka");
    let shipped = crate::support::repo_root().join("recipes/zookeeper");
    for folder in ["steps", "tests"] {
        std::fs::create_dir_all(kafka.join(folder)).unwrap();
        for entry in std::fs::read_dir(shipped.join(folder)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), kafka.join(folder).join(entry.file_name())).unwrap();
        }
    }
    let recipe = std::fs::read_to_string(shipped.join("recipe.toml"))
        .unwrap()
        .replace("name = \"zookeeper\"", "name = \"kafka\"")
        .replace("/zookeeper.json", "/kafka.json");
    std::fs::write(kafka.join("recipe.toml"), recipe).unwrap();

    let validated = aws.bakery().args(["validate"]).arg_path(&kafka).run();
    assert_eq!(
        validated.code, 0,
        "{}{}",
        validated.stdout, validated.stderr
    );
    let planned = aws
        .bakery()
        .args(["plan", "--bump", "minor", "--output", "json"])
        .arg_path(&kafka)
        .run();
    planned.expect_code(0);
    assert_eq!(
        planned.json()["builds"][0]["base"]["release"]["selector"]["channel"],
        "stable"
    );

    let baked = aws.bake_ok(&kafka, &["--bump", "minor"]);
    assert_eq!(baked["version"], "0.1.0");
    assert_eq!(baked["base_release"], "base@3.1.0");
    assert_eq!(baked["base_image"], base["images"][0]["image_id"]);
    let image = aws
        .image(baked["images"][0]["image_id"].as_str().unwrap())
        .await;
    assert_eq!(tags(image.tags())["bakery:base-release"], "base@3.1.0");
    assert_eq!(tags(image.tags())["team"], "data-platform");
}
