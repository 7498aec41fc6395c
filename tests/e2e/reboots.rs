//! Steps that reboot the builder: `reboot = true` after a step, and a script asking for
//! one itself with SSM's exit code 194. SSM Agent reboots the instance and runs the
//! step again (Systems Manager User Guide, "Handling reboots when running commands");
//! the next step is sent only once the instance is back. What the wrapper does on the
//! builder (the marker that ends the run after the reboot, the bound) is run with `sh`
//! by the unit tests of `script::step`.

use serde_json::json;

use crate::recipe::TestRecipe;
use crate::support::Account;

/// The builder of a finished bake, from its JSON result.
fn builder_of(bake: &crate::bakery::Outcome) -> String {
    bake.json()["builder_instance_id"]
        .as_str()
        .expect("the builder's id")
        .to_string()
}

/// When the command whose text holds `marker` was requested.
async fn requested(aws: &Account, builder: &str, marker: &str) -> f64 {
    let sent = aws.commands_requested(builder).await;
    let matching: Vec<f64> = sent
        .iter()
        .filter(|(_, text)| text.contains(marker))
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(matching.len(), 1, "one command runs {marker}: {sent:?}");
    matching[0]
}

#[tokio::test(flavor = "multi_thread")]
async fn reboot_after_a_step_reboots_the_builder_before_the_next_step() {
    let aws = Account::fresh().await;
    // The wrapper's first run ends with exit 194 (the step succeeded, the reboot it
    // asked for is next); its run after the reboot ends as the wrapper does on AWS.
    let asking = "bakery: rebooting the instance after this step";
    aws.emulate(json!({ "reboot_seconds": 3, "command_outcomes": [
        { "match": asking, "times": 1, "status": "Failed", "exit_code": 194 },
        { "match": asking, "stdout": "bakery: the instance rebooted 1 times during this step\n" }
    ] }));
    let recipe = TestRecipe::new("kernel")
        .step("kernel", "#!/bin/sh\ndnf -y upgrade kernel\n")
        .with_toml("reboot = true\n")
        .step("after", "#!/bin/sh\necho after-the-reboot\n");

    let bake = aws.bakery().bake_json(recipe.path(), "1.0.0").run();

    bake.expect_code(0);
    bake.expect_stderr("reboots the instance after it; the next step waits for SSM Agent");
    let builder = builder_of(&bake);
    let reboots = aws.reboots(&builder);
    assert_eq!(reboots.len(), 1, "one reboot of the builder: {reboots:?}");
    let next = requested(&aws, &builder, "echo after-the-reboot").await;
    assert!(
        next >= reboots[0].1 - 1.0,
        "the next step was sent at {next}, before the reboot ended at {}",
        reboots[0].1
    );
    let kernel = &bake.json()["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "recipe/kernel")
        .cloned()
        .expect("the step's record");
    assert_eq!(kernel["reboots"], 1, "{kernel}");
    // The step itself was sent once: the reboot was SSM Agent's, not a second send.
    requested(&aws, &builder, "dnf -y upgrade kernel").await;
    let image_id = bake.json()["images"][0]["image_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        aws.image(&image_id).await.name(),
        Some("bakery/kernel/1.0.0/x86_64")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_script_that_exits_194_is_run_again_after_the_reboot_it_asked_for() {
    let aws = Account::fresh().await;
    // The first run finds a new kernel and asks; the run after the reboot finds none.
    aws.emulate(json!({ "reboot_seconds": 3, "command_outcomes": [
        { "match": "needs-restarting", "times": 1, "status": "Failed", "exit_code": 194 }
    ] }));
    let recipe = TestRecipe::new("updates")
        .step(
            "updates",
            "#!/bin/sh\ndnf -y upgrade\ndnf needs-restarting -r || exit 194\n",
        )
        .step("after", "#!/bin/sh\necho after-the-reboot\n");

    let bake = aws.bakery().bake_json(recipe.path(), "1.0.0").run();

    bake.expect_code(0);
    let builder = builder_of(&bake);
    let reboots = aws.reboots(&builder);
    assert_eq!(reboots.len(), 1, "one reboot of the builder: {reboots:?}");
    // SSM Agent ran the step again: bakery sent it once.
    requested(&aws, &builder, "needs-restarting").await;
    let next = requested(&aws, &builder, "echo after-the-reboot").await;
    assert!(
        next >= reboots[0].1 - 1.0,
        "sent at {next}, before the reboot ended"
    );
    let image_id = bake.json()["images"][0]["image_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        aws.image(&image_id).await.name(),
        Some("bakery/updates/1.0.0/x86_64")
    );
}
