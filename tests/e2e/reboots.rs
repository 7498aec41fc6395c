//! Steps that reboot the builder: `reboot = true` after a step, and a script asking for
//! one itself with SSM's exit code 194. SSM Agent reboots the instance and runs the
//! step again (Systems Manager User Guide, "Handling reboots when running commands");
//! the next step is sent only once the instance is back. What the wrapper does on the
//! builder (the marker that ends the run after the reboot, the bound) is run with `sh`
//! by the unit tests of `script::step`.

use serde_json::json;

use crate::bakery::Outcome;
use crate::recipe::TestRecipe;
use crate::support::Account;

/// When the one command whose text holds `marker` was requested.
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

/// What AWS holds after a bake whose builder rebooted once: that reboot, the command
/// holding `next` sent only after it, the release's image, and the builder terminated.
/// The builder's id.
async fn rebooted_once_then(aws: &Account, bake: &Outcome, next: &str, image: &str) -> String {
    bake.expect_code(0);
    let result = bake.json();
    let builder = result["builder_instance_id"].as_str().unwrap().to_string();
    let reboots = aws.reboots(&builder);
    assert_eq!(reboots.len(), 1, "one reboot of the builder: {reboots:?}");
    let sent = requested(aws, &builder, next).await;
    let ended = reboots[0].1;
    assert!(
        sent >= ended - 1.0,
        "{next} sent at {sent}, before the reboot ended at {ended}"
    );
    let image_id = result["images"][0]["image_id"].as_str().unwrap();
    assert_eq!(aws.image(image_id).await.name(), Some(image));
    assert_eq!(aws.instance_state(&builder).await, "terminated");
    builder
}

#[tokio::test(flavor = "multi_thread")]
async fn reboot_after_a_step_reboots_the_builder_before_the_next_step() {
    let aws = Account::fresh().await;
    // The wrapper's first run ends with exit 194 (the step succeeded, the reboot it
    // asked for is next); its run after the reboot ends as the wrapper does on AWS.
    let asking = "bakery: rebooting the instance after this step";
    aws.emulate(json!({ "reboot_seconds": 3, "command_outcomes": [
        { "match": asking, "times": 1, "status": "Failed", "exit_code": 194 },
        { "match": asking, "stdout": "bakery: reboots during this step: 1\n" }
    ] }));
    let recipe = TestRecipe::new("kernel")
        .step("kernel", "#!/bin/sh\ndnf -y upgrade kernel\n")
        .with_toml("reboot = true\n")
        .step("after", "#!/bin/sh\necho after-the-reboot\n");

    let bake = aws.bakery().bake_json(recipe.path(), "1.0.0").run();

    bake.expect_stderr("the instance reboots after this step");
    let builder = rebooted_once_then(
        &aws,
        &bake,
        "echo after-the-reboot",
        "bakery/kernel/1.0.0/x86_64",
    )
    .await;
    // The step itself was sent once: the reboot was SSM Agent's, not a second send.
    requested(&aws, &builder, "dnf -y upgrade kernel").await;
    let steps = bake.json()["steps"].as_array().unwrap().clone();
    let kernel = steps.iter().find(|s| s["name"] == "recipe/kernel");
    assert_eq!(
        kernel.expect("the step's record")["reboots"],
        1,
        "{steps:?}"
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

    let builder = rebooted_once_then(
        &aws,
        &bake,
        "echo after-the-reboot",
        "bakery/updates/1.0.0/x86_64",
    )
    .await;
    // SSM Agent ran the step again: bakery sent it once.
    requested(&aws, &builder, "needs-restarting").await;
}
