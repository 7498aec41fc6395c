//! A bake interrupted by SIGINT or SIGTERM removes what it made and exits 130; a second
//! signal exits at once and lists what may be left.

use serde_json::json;

use crate::support::{Account, TestRecipe};

#[tokio::test(flavor = "multi_thread")]
async fn sigint_during_the_image_wait_interrupts_and_removes_the_half_made_image() {
    let aws = Account::in_region("eu-west-3").await;
    aws.emulate(json!({ "image_pending_seconds": 600 }));
    let recipe = TestRecipe::new("slow").step("noop", "#!/bin/sh\ntrue\n");

    let mut bake = aws.bakery().bake_json(recipe.path(), "2.0.0").spawn();
    bake.wait_for_line("\"state\":\"pending\"");
    assert_eq!(
        aws.own_images().await.len(),
        1,
        "the image exists while pending"
    );
    bake.signal("INT");
    let bake = bake.finish();

    bake.expect_code(130);
    let result = bake.json();
    assert_eq!(result["status"], "interrupted");
    assert_eq!(result["failed_step"], "wait-image");
    assert!(
        aws.own_images().await.is_empty(),
        "the half-made image is deregistered"
    );
    let claims = aws
        .ssm
        .get_parameters_by_path()
        .path("/bakery/slow/releases/")
        .send()
        .await
        .unwrap();
    assert!(
        claims.parameters().is_empty(),
        "the interrupted bake gave its claim back"
    );
    assert!(
        aws.snapshots_of_bake(result["bake_id"].as_str().unwrap())
            .await
            .is_empty(),
        "and its snapshot deleted"
    );
    assert!(
        aws.live_instances().await.is_empty(),
        "nothing left running"
    );
    assert!(aws.extra_security_groups().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_launch_waits_still_terminates_the_builder() {
    let aws = Account::in_region("eu-north-1").await;
    aws.emulate(json!({ "instance_pending_seconds": 600 }));
    let recipe = TestRecipe::new("stuck");

    let mut bake = aws.bakery().bake(recipe.path(), "1.0.0").spawn();
    bake.wait_for_line("[wait-ready] started");
    bake.signal("TERM");
    let bake = bake.finish();

    bake.expect_code(130);
    bake.expect_stdout("INTERRUPTED at step `wait-ready`");
    bake.expect_stderr("SIGTERM received");
    assert!(aws.live_instances().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_exits_at_once_and_lists_what_may_be_left() {
    let aws = Account::in_region("ap-southeast-1").await;
    aws.emulate(json!({ "instance_pending_seconds": 600, "instance_shutting_down_seconds": 600 }));
    let recipe = TestRecipe::new("impatient");

    let mut bake = aws.bakery().bake(recipe.path(), "1.0.0").spawn();
    bake.wait_for_line("[wait-ready] started");
    bake.signal("INT");
    bake.wait_for_line("[cleanup] bake interrupted");
    bake.signal("INT");
    let bake = bake.finish();

    bake.expect_code(130);
    bake.expect_stderr("second signal, exiting now without cleanup");
    let left = aws.instances().await[0].instance_id().unwrap().to_string();
    bake.expect_stderr(&format!("instance {left} (ap-southeast-1)"));
}
