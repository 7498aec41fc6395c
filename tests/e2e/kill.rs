//! `kill -9` of bakery at every step of the chain, then `bakery cleanup --yes` over the
//! environment's regions: no builder left, no image or snapshot that is not part of a
//! recorded release, no claim of a dead bake, no builder security group.

use serde_json::json;

use crate::support::{nothing_but_releases_left, two_region_bake_to_catch, Account, TestRecipe};

#[tokio::test(flavor = "multi_thread")]
async fn after_kill_9_at_any_step_cleanup_leaves_nothing_behind() {
    let home = Account::fresh().await;
    let away = home.neighbour().await;
    let recipe = TestRecipe::new("killed")
        .with_base("image = \"ami-1e749f67\"")
        .step("work", "#!/bin/sh\necho working\n");
    let (top, steps) = two_region_bake_to_catch(&home, &away, "kill", &recipe).await;
    assert_eq!(steps.len(), 16, "{steps:?}");
    assert!(steps.contains(&"distribute".to_string()) && steps.contains(&"promote".to_string()));

    // One bake per step, all at once, each killed as its step starts.
    let bakes: Vec<_> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let bake = home
                .bakery()
                .current_dir(top.path())
                .args(["bake", "--env", "kill", "--version", &format!("1.{i}.0")])
                .arg_path(recipe.path());
            let step = step.to_string();
            std::thread::spawn(move || {
                let mut bake = bake.spawn();
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

    let cleanup = home
        .bakery()
        .current_dir(top.path())
        .args(["cleanup", "--env", "kill", "--yes", "--output", "json"])
        .run();
    assert_eq!(cleanup.code, 0, "{}{}", cleanup.stdout, cleanup.stderr);
    assert_eq!(cleanup.json()["regions"], json!([home.region, away.region]));

    nothing_but_releases_left("killed", &home, &[&home, &away]).await;
}
