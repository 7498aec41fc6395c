//! bakery-core as a library: its example program (`bakery-core/examples/bake.rs`),
//! built by `cargo test`, bakes a release against the emulator through `Bakery`.

use std::path::PathBuf;
use std::process::Command;

use crate::support::{tags, Account, TestRecipe};

/// An example program of bakery-core, as `cargo test` built it beside this test.
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let path = deps
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built: `cargo test --workspace` builds it (or `cargo build -p \
         bakery-core --examples`)",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn the_library_example_bakes_a_release_that_aws_holds() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("library").step("hello", "#!/bin/sh\necho hello\n");

    let baked = Command::new("timeout")
        .arg("600")
        .arg(example("bake"))
        .arg(recipe.path())
        .arg("1.0.0")
        .env("AWS_ENDPOINT_URL", aws.endpoint)
        .env("AWS_REGION", &aws.region)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("BAKERY_TIMINGS", "none")
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&baked.stderr);
    assert_eq!(baked.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&baked.stdout).unwrap();
    assert_eq!(report["status"], "succeeded");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("\"event\":\"step_finished\"")),
        "every event as a JSON line: {stderr}"
    );
    let image_id = report["images"][0]["image_id"].as_str().unwrap();
    let image = aws.image(image_id).await;
    assert_eq!(image.state().unwrap().as_str(), "available");
    let tags = tags(image.tags());
    assert_eq!(
        (
            tags["bakery:role"].as_str(),
            tags["bakery:version"].as_str()
        ),
        ("library", "1.0.0")
    );
    assert_eq!(
        aws.release_record("library", "1.0.0").await.unwrap()["state"],
        "released"
    );
    assert!(aws.live_instances().await.is_empty(), "the builder is gone");
}
