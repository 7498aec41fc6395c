//! Waits look when a change can have happened: a bake keeps how long the transitions it
//! waited for took, and the next bake on the machine looks at their expected end
//! instead of from the first second; a recipe's or an environment's `[deadlines]` say
//! how long a wait, or the whole bake, may take.

use serde_json::{json, Value};

use crate::support::{Account, TestRecipe};

/// When (seconds into the wait) each look of `step` saw a state other than the one
/// waited for.
fn looks_before_the_change(bake: &crate::bakery::Outcome, step: &str) -> Vec<f64> {
    bake.events()
        .iter()
        .filter(|e| e["event"] == "waiting" && e["step"] == step)
        .filter_map(|e| e["elapsed_seconds"].as_f64())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_bake_looks_when_the_last_one_saw_the_change() {
    let aws = Account::fresh().await;
    aws.emulate(json!({
        "instance_pending_seconds": 6, "instance_stopping_seconds": 1,
        "instance_shutting_down_seconds": 1, "image_pending_seconds": 1
    }));
    let folder = tempfile::tempdir().unwrap();
    let timings = folder.path().join("timings.json");
    let bake = |version: &str| {
        aws.bakery()
            .args(["bake", "benches/recipe-noop", "--version", version])
            .args(["--output", "json", "--progress", "json"])
            .env("BAKERY_TIMINGS", timings.to_str().unwrap())
            .run()
    };

    let first = bake("1.0.0");
    first.expect_code(0);
    // Nothing known yet: the first look, after a second, saw the builder pending (a
    // busy machine answers late, never early: 4 s leave room for that).
    let looks = looks_before_the_change(&first, "wait-ready");
    assert!(looks.iter().any(|t| *t < 4.0), "{looks:?}");

    // What it saw is kept, per endpoint, region and transition.
    let kept: Value = serde_json::from_str(&std::fs::read_to_string(&timings).unwrap()).unwrap();
    let running = &kept[format!("{} {} instance-running", aws.endpoint, aws.region)];
    let seconds = running["seconds"].as_f64().unwrap();
    assert!((5.0..10.0).contains(&seconds), "{kept:#}");
    assert!(kept[format!("{} {} image-available", aws.endpoint, aws.region)].is_object());

    // The next bake does not look before the builder can be running.
    let second = bake("1.0.1");
    second.expect_code(0);
    let looks = looks_before_the_change(&second, "wait-ready");
    assert!(looks.iter().all(|t| *t >= 4.5), "{looks:?}");

    // `none` keeps nothing and knows nothing.
    let third = aws
        .bakery()
        .args(["bake", "benches/recipe-noop", "--version", "1.0.2"])
        .args(["--output", "json", "--progress", "json"])
        .env("BAKERY_TIMINGS", "none")
        .run();
    third.expect_code(0);
    let looks = looks_before_the_change(&third, "wait-ready");
    assert!(looks.iter().any(|t| *t < 4.0), "{looks:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recipes_deadlines_bound_the_image_wait_and_an_environments_the_whole_bake() {
    let aws = Account::fresh().await;
    aws.emulate(json!({ "image_pending_seconds": 600 }));
    let recipe = TestRecipe::new("patient").with_toml("[deadlines]\nimage = \"4s\"\n");
    let before = aws.footprint().await;

    let bake = aws.bakery().bake_json(recipe.path(), "1.0.0").run();

    bake.expect_code(1);
    let result = bake.json();
    assert_eq!(result["failed_step"], "wait-image");
    let error = result["error"].as_str().unwrap();
    assert!(error.contains("gave up waiting for image"), "{error}");
    assert!(error.contains("after 4s"), "{error}");
    assert!(error.contains("[deadlines] image"), "{error}");
    assert_eq!(aws.footprint().await, before, "the pending image went too");

    // The environment caps the whole bake: stopped where it was, cleaned up, and said.
    let top = tempfile::tempdir().unwrap();
    std::fs::write(
        top.path().join("bakery.toml"),
        format!(
            "[environments.hurried]\nregions = [\"{}\"]\ndeadlines = {{ bake = \"6s\" }}\n",
            aws.region
        ),
    )
    .unwrap();
    let unhurried = TestRecipe::new("unhurried");
    let capped = aws
        .bakery()
        .current_dir(top.path())
        .bake_json(unhurried.path(), "1.0.0")
        .args(["--env", "hurried"])
        .run();
    capped.expect_code(1);
    assert!(
        capped.events().iter().any(|e| e["event"] == "step_stopped"
            && e["why"]
                .as_str()
                .unwrap()
                .contains("the bake's deadline (6s) passed")),
        "{}",
        capped.stderr
    );
    let result = capped.json();
    let error = result["error"].as_str().unwrap();
    assert!(error.contains("gave up waiting for bake"), "{error}");
    assert!(error.contains("after 6s"), "{error}");
    assert!(error.contains("[deadlines] bake"), "{error}");
    assert_eq!(aws.footprint().await, before, "nothing of it left");
}
