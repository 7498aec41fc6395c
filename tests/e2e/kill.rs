//! `kill -9` of bakery at every step of the chain, then `bakery cleanup --yes` over the
//! environment's regions: no builder left, no image or snapshot that is not part of a
//! recorded release, no claim of a dead bake, no builder security group.

use serde_json::json;

use crate::support::{bakery_in, nothing_but_releases_left, Account, TestRecipe};

/// Regions of their own (aws-cn: its own IAM partition, see seed_builder_profile).
const HOME: &str = "cn-north-1";
const AWAY: &str = "cn-northwest-1";

#[tokio::test(flavor = "multi_thread")]
async fn after_kill_9_at_any_step_cleanup_leaves_nothing_behind() {
    let home = Account::in_region(HOME).await;
    let away = Account::in_region(AWAY).await;
    home.seed_builder_profile();
    // Every transition takes a moment, as on AWS, so that each step can be caught.
    home.emulate(json!({
        "instance_pending_seconds": 1, "instance_stopping_seconds": 1,
        "instance_shutting_down_seconds": 1, "image_pending_seconds": 2, "command_seconds": 1
    }));
    away.emulate(json!({ "image_pending_seconds": 2 }));
    let top = tempfile::tempdir().unwrap();
    std::fs::write(
        top.path().join("bakery.toml"),
        format!("[environments.kill]\nregions = [\"{HOME}\", \"{AWAY}\"]\n"),
    )
    .unwrap();
    let recipe = TestRecipe::new("killed")
        .with_base("image = \"ami-1e749f67\"")
        .step("work", "#!/bin/sh\necho working\n");

    // Every step of the chain, as the plan of this very bake lists it.
    let plan = bakery_in(HOME)
        .current_dir(top.path())
        .plan_json(recipe.path(), "1.0.0")
        .args(["--env", "kill"])
        .run();
    plan.expect_code(0);
    let steps: Vec<String> = plan.json()["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(steps.len(), 15, "{steps:?}");
    assert!(steps.contains(&"distribute".to_string()) && steps.contains(&"promote".to_string()));

    // One bake per step, all at once, each killed as its step starts.
    let bakes: Vec<_> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let dir = top.path().to_path_buf();
            let recipe = recipe.path().to_path_buf();
            let step = step.to_string();
            std::thread::spawn(move || {
                let mut bake = bakery_in(HOME)
                    .current_dir(&dir)
                    .args(["bake", "--env", "kill", "--version", &format!("1.{i}.0")])
                    .arg_path(&recipe)
                    .spawn();
                bake.wait_for_line(&format!("[{step}] started"));
                bake.signal("KILL");
                assert_eq!(bake.finish().code, -1, "killed at {step}");
            })
        })
        .collect();
    for bake in bakes {
        bake.join().expect("each bake reached its step");
    }
    assert!(
        !home.live_instances().await.is_empty(),
        "builders were left running"
    );

    let cleanup = bakery_in(HOME)
        .current_dir(top.path())
        .args(["cleanup", "--env", "kill", "--yes", "--output", "json"])
        .run();
    assert_eq!(cleanup.code, 0, "{}{}", cleanup.stdout, cleanup.stderr);
    assert_eq!(cleanup.json()["regions"], json!([HOME, AWAY]));

    nothing_but_releases_left("killed", &home, &[&home, &away]).await;
}
