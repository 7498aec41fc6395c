//! A bake interrupted by SIGINT or SIGTERM removes what it made and exits 130 — or,
//! once its release is recorded, exits 5 and says how to finish it; a signal cuts a
//! hung call short, or, in a step that creates, lets the request on the wire finish
//! and sends no other; a second signal exits at once and lists what may be left.

use serde_json::json;

use crate::support::{nothing_but_releases_left, two_region_bake_to_catch, Account, TestRecipe};

#[tokio::test(flavor = "multi_thread")]
async fn sigint_during_the_image_wait_interrupts_and_removes_the_half_made_image() {
    let aws = Account::fresh().await;
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
    let aws = Account::fresh().await;
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
    let aws = Account::fresh().await;
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
    aws.settle().await;
    let left = aws.instances().await[0].instance_id().unwrap().to_string();
    bake.expect_stderr(&format!("instance {left} ({})", aws.region));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signal_during_a_hung_call_is_acted_on_at_once() {
    let aws = Account::fresh().await;
    // check-release's first call answers five minutes late: a service that hangs.
    aws.emulate(json!({ "faults": [{ "action": "GetCallerIdentity", "delay_seconds": 300 }] }));
    let recipe = TestRecipe::new("hung");
    let before = aws.footprint().await;

    let mut bake = aws.bakery().bake(recipe.path(), "1.0.0").spawn();
    bake.wait_for_line("[check-release] started");
    let signalled = std::time::Instant::now();
    bake.signal("TERM");
    let bake = bake.finish();

    bake.expect_code(130);
    bake.expect_stdout("INTERRUPTED at step `check-release`");
    assert!(
        signalled.elapsed() < std::time::Duration::from_secs(30),
        "the bake waited for the hung call ({:?}) instead of acting on the signal",
        signalled.elapsed()
    );
    assert_eq!(aws.footprint().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signal_during_a_step_that_creates_sends_no_other_request_and_no_retry() {
    // The builder's group is answered 3 s late: the signal comes while it is on the wire.
    let late = Account::fresh().await;
    late.emulate(json!({
        "clear_faults": true,
        "faults": [{ "action": "CreateSecurityGroup", "delay_seconds": 3 }]
    }));
    // RunInstances is answered 503 after 2 s, every time: EC2 in a brownout.
    let busy = Account::fresh().await;
    busy.emulate(json!({ "clear_faults": true, "faults": [{
        "action": "RunInstances", "status": 503, "code": "Unavailable",
        "message": "The service is unavailable.", "delay_seconds": 2, "times": null
    }] }));
    let recipe = TestRecipe::new("creating");

    for aws in [&late, &busy] {
        let before = aws.footprint().await;
        let mut bake = aws.bakery().bake(recipe.path(), "1.0.0").spawn();
        bake.wait_for_line("[launch] started");
        let signalled = std::time::Instant::now();
        bake.signal("TERM");
        let bake = bake.finish();

        bake.expect_code(130);
        bake.expect_stdout("INTERRUPTED at step `launch`");
        // The request on the wire finished; no other was sent, and none retried.
        assert!(
            aws.calls("RunInstances") <= 1,
            "{}: RunInstances sent after the signal",
            aws.region
        );
        assert!(
            signalled.elapsed() < std::time::Duration::from_secs(15),
            "{}: the step went on for {:?} after the signal",
            aws.region,
            signalled.elapsed()
        );
        assert_eq!(aws.footprint().await, before, "{}", aws.region);
    }
    assert_eq!(
        late.calls("RunInstances"),
        0,
        "the builder was never launched"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_and_sigterm_at_every_step_end_cleanly_and_say_what_is_released() {
    let home = Account::fresh().await;
    let away = home.neighbour().await;
    let recipe = TestRecipe::new("signalled").step("work", "#!/bin/sh\necho working\n");
    let (top, steps) = two_region_bake_to_catch(&home, &away, "signals", &recipe).await;
    let recorded = steps.iter().position(|s| s == "record-release").unwrap();
    assert!(
        steps.len() > recorded + 1,
        "steps after the release: {steps:?}"
    );

    // One bake per step and signal, all at once, each signalled as its step starts.
    let bakes: Vec<_> = steps
        .iter()
        .enumerate()
        .flat_map(|(i, step)| ["INT", "TERM"].map(|signal| (i, step.clone(), signal)))
        .map(|(i, step, signal)| {
            let bakery = home.bakery().current_dir(top.path());
            let recipe = recipe.path().to_path_buf();
            let version = format!("1.{i}.{}", if signal == "INT" { 0 } else { 1 });
            std::thread::spawn(move || {
                let mut bake = bakery
                    .args(["bake", "--env", "signals", "--version", &version])
                    .arg_path(&recipe)
                    .spawn();
                bake.wait_for_line(&format!("[{step}] started"));
                bake.signal(signal);
                (i, step, signal, version, bake.finish())
            })
        })
        .collect();
    for bake in bakes {
        let (i, step, signal, version, bake) = bake.join().expect("each bake reached its step");
        let at = format!("SIG{signal} at `{step}`");
        bake.expect_stderr(&format!("SIG{signal} received"));
        let released = home.release_record("signalled", &version).await;
        // The builder terminates beside record-release: a signal as it starts may come
        // before the release is recorded or after; the outcome says which, truly.
        let beside_the_record = step == "terminate";
        match bake.code {
            130 => {
                assert!(
                    i <= recorded || beside_the_record,
                    "{at}: exit 130 after the release"
                );
                bake.expect_stdout("INTERRUPTED at step");
                assert!(released.is_none(), "{at}: interrupted, yet {released:?}");
            }
            5 => {
                assert!(
                    i >= recorded || beside_the_record,
                    "{at}: exit 5 before the release"
                );
                bake.expect_stdout(&format!("signalled@{version} IS RELEASED"));
                bake.expect_stdout("To finish:\n  bakery ");
                assert_eq!(released.unwrap()["state"], "released", "{at}");
            }
            // The last step was not cut short: it finished, and with it the bake.
            0 => assert_eq!(i, steps.len() - 1, "{at}: exit 0"),
            code => panic!("{at}: exit {code}\n{}\n{}", bake.stdout, bake.stderr),
        }
    }
    nothing_but_releases_left("signalled", &home, &[&home, &away]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_on_a_terminal_leaves_no_echo_to_break_the_live_lines() {
    let aws = Account::fresh().await;
    aws.emulate(json!({ "image_pending_seconds": 600 }));
    let recipe = TestRecipe::new("typed");

    let mut bake = aws
        .bakery()
        .bake(recipe.path(), "1.0.0")
        .on_a_terminal()
        .spawn();
    aws.until_images(1).await;
    bake.type_keys(b"\x03");
    let bake = bake.finish();

    bake.expect_code(130);
    // The live lines were drawn, and the terminal echoed nothing into them: a `^C`
    // after the last one starts a line the next redraw does not clear.
    bake.expect_stdout("\u{1b}[1A");
    bake.expect_stdout("INTERRUPTED at step `wait-image`");
    assert!(!bake.stdout.contains("^C"), "{}", bake.stdout);
    assert!(aws.own_images().await.is_empty());
}
