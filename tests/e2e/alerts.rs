//! SNS alerts: a failed bake tells the team once; a success only when asked; a topic
//! that does not work never fails a bake.

use serde_json::json;

use crate::support::{Account, TestRecipe};

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_bake_publishes_one_alert_with_the_step_and_its_output() {
    let aws = Account::fresh().await;
    aws.emulate(json!({
        "command_outcomes": [{"match": "make install", "status": "Failed", "exit_code": 2,
                              "stdout": "compiling\n", "stderr": "make: *** [install] Error 2\n"}]
    }));
    let inbox = aws.inbox("bakery-alerts").await;
    let recipe = TestRecipe::new("app").step("build", "#!/bin/sh\nmake install\n");

    let bake = aws
        .bakery()
        .bake_json(recipe.path(), "3.2.1")
        .args(["--sns-topic", &inbox.topic_arn])
        .env("BUILD_URL", "https://jenkins.example.com/job/app/9/")
        .run();

    bake.expect_code(1);
    let messages = inbox.messages().await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let (subject, body) = &messages[0];
    assert_eq!(subject, "bakery: app 3.2.1 failed at recipe/build");
    assert_eq!(body["role"], "app");
    assert_eq!(body["version"], "3.2.1");
    assert_eq!(body["step"], "recipe/build");
    assert_eq!(body["region"], aws.region);
    assert_eq!(body["bake_id"], bake.json()["bake_id"]);
    assert_eq!(
        body["builder_instance_id"],
        bake.json()["builder_instance_id"]
    );
    assert!(
        body["output_tail"]
            .as_str()
            .unwrap()
            .contains("make: *** [install] Error 2"),
        "{body}"
    );
    assert_eq!(body["build_url"], "https://jenkins.example.com/job/app/9/");
}

#[tokio::test(flavor = "multi_thread")]
async fn success_is_announced_only_when_asked_and_a_broken_topic_is_only_a_warning() {
    let aws = Account::fresh().await;
    let inbox = aws.inbox("bakery-releases").await;
    let recipe = TestRecipe::new("quiet");

    let silent = aws
        .bakery()
        .bake_json(recipe.path(), "1.0.0")
        .args(["--sns-topic", &inbox.topic_arn])
        .run();
    silent.expect_code(0);
    assert!(inbox.messages().await.is_empty());

    let announced = aws
        .bakery()
        .bake_json(recipe.path(), "1.0.1")
        .args(["--sns-topic", &inbox.topic_arn, "--notify-success"])
        .run();
    announced.expect_code(0);
    let messages = inbox.messages().await;
    assert_eq!(messages[0].0, "bakery: quiet 1.0.1 baked");
    assert_eq!(
        messages[0].1["images"][0]["image_id"],
        announced.json()["images"][0]["image_id"]
    );

    let nowhere = format!("arn:aws:sns:{}:123456789012:no-such-topic", aws.region);
    let broken = aws
        .bakery()
        .bake_json(recipe.path(), "1.0.2")
        .args(["--sns-topic", &nowhere, "--notify-success"])
        .run();
    broken.expect_code(0);
    broken.expect_stderr("could not send the alert");

    let bad = aws
        .bakery()
        .bake_json(recipe.path(), "1.0.3")
        .args(["--sns-topic", "alerts"])
        .run();
    assert_eq!(bad.code, 2);
    bad.expect_stderr("(from flag --sns-topic): `alerts` is not an SNS topic ARN");
}
