//! Sharing a release with other accounts, organizations and OUs, and taking it back;
//! an account that cannot use the snapshots' KMS key is named.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::config::Credentials;

use crate::support::{Account, TestRecipe};

const FLEET: &str = "111122223333";
const STRANGER: &str = "444455556666";

/// A customer managed key whose policy lets the fleet account use it, not the stranger.
async fn fleet_key(account: &Account) -> String {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(account.region.clone()))
        .endpoint_url(account.endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await;
    let kms = aws_sdk_kms::Client::new(&config);
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "owner", "Effect": "Allow", "Principal": {"AWS": "arn:aws-us-gov:iam::123456789012:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "fleet", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{FLEET}:root")},
             "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant", "kms:ReEncrypt*"], "Resource": "*"}
        ]
    });
    kms.create_key()
        .policy(policy.to_string())
        .description("fleet images")
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_string()
}

/// Who may launch the image.
async fn launch_permissions(
    account: &Account,
    image_id: &str,
) -> Vec<aws_sdk_ec2::types::LaunchPermission> {
    account
        .ec2
        .describe_image_attribute()
        .image_id(image_id)
        .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
        .send()
        .await
        .unwrap()
        .launch_permissions()
        .to_vec()
}

/// The accounts that may create volumes from the snapshot.
async fn volume_permission_accounts(account: &Account, snapshot: &str) -> Vec<String> {
    account
        .ec2
        .describe_snapshot_attribute()
        .snapshot_id(snapshot)
        .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
        .unwrap()
        .create_volume_permissions()
        .iter()
        .filter_map(|p| p.user_id().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_release_is_shared_with_accounts_and_organizations_then_unshared() {
    // GovCloud: its own partition, whose ARNs the key's policy names.
    let account = Account::fresh_in_gov().await;
    let key = fleet_key(&account).await;
    let recipe = TestRecipe::new("shared")
        .with_base("image = \"ami-1e749f67\"")
        .with_toml(&format!("kms_key = \"{key}\"\n"));
    let top = tempfile::tempdir().unwrap();
    std::fs::write(
        top.path().join("bakery.toml"),
        format!(
            "[environments.fleet]\nregions = [\"{}\"]\n\
             share = {{ accounts = [\"{FLEET}\"], organizations = [\"arn:aws:organizations::123456789012:organization/o-abc123\"] }}\n",
            account.region
        ),
    )
    .unwrap();

    // Bake with the environment: shared as part of the bake.
    let baked = account
        .bakery()
        .current_dir(top.path())
        .bake_json(recipe.path(), "1.0.0")
        .args(["--env", "fleet"])
        .run();
    assert_eq!(
        baked.code, 5,
        "released, but the organization cannot use the key: {}",
        baked.stderr
    );
    let report = baked.json();
    assert_eq!(report["failed_step"], "share");
    assert_eq!(
        report["unfinished"],
        serde_json::json!(["share", "promote"])
    );
    assert!(report["error"]
        .as_str()
        .unwrap()
        .contains("organizations and OUs shared with cannot use key"));
    assert_eq!(
        report["images"].as_array().unwrap().len(),
        1,
        "the release itself exists"
    );
    let image_id = report["images"][0]["image_id"]
        .as_str()
        .unwrap()
        .to_string();
    let snapshot = report["images"][0]["snapshot_ids"][0]
        .as_str()
        .unwrap()
        .to_string();

    let launchers = launch_permissions(&account, &image_id).await;
    let accounts: Vec<&str> = launchers.iter().filter_map(|p| p.user_id()).collect();
    assert_eq!(accounts, [FLEET]);
    assert!(launchers.iter().any(|p| p.organization_arn()
        == Some("arn:aws:organizations::123456789012:organization/o-abc123")));
    assert_eq!(
        volume_permission_accounts(&account, &snapshot).await,
        [FLEET]
    );

    // Another account, by flag: shared, but named as unable to use the key.
    let stranger = account
        .bakery()
        .args([
            "share",
            "shared",
            "1.0.0",
            "--account",
            STRANGER,
            "--output",
            "json",
        ])
        .run();
    stranger.expect_code(1);
    let outcome = &stranger.json()["regions"][0];
    assert_eq!(outcome["status"], "shared");
    let problems = outcome["key_problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0]
        .as_str()
        .unwrap()
        .contains(&format!("account {STRANGER} cannot use key {key}")));

    // The fleet account alone: complete.
    let fleet = account
        .bakery()
        .args(["share", "shared", "1.0.0", "--account", FLEET])
        .run();
    assert_eq!(fleet.code, 0, "{}{}", fleet.stdout, fleet.stderr);

    // Unshared: nobody but the owner.
    let unshared = account
        .bakery()
        .args([
            "unshare",
            "shared",
            "1.0.0",
            "--account",
            &format!("{FLEET},{STRANGER}"),
        ])
        .args([
            "--organization",
            "arn:aws:organizations::123456789012:organization/o-abc123",
        ])
        .run();
    assert_eq!(unshared.code, 0, "{}{}", unshared.stdout, unshared.stderr);
    let launchers = launch_permissions(&account, &image_id).await;
    assert!(launchers.is_empty(), "{launchers:?}");
    assert!(volume_permission_accounts(&account, &snapshot)
        .await
        .is_empty());

    let nobody = account.bakery().args(["share", "shared", "1.0.0"]).run();
    assert_eq!(nobody.code, 2);
    nobody.expect_stderr("nothing to share with");
    let bad = account
        .bakery()
        .args(["share", "shared", "1.0.0", "--account", "12"])
        .run();
    assert_eq!(bad.code, 2);
    bad.expect_stderr("`12` is not an AWS account id");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_is_shared_wherever_it_is_whatever_the_environment_and_regions_narrow() {
    let home = Account::fresh().await;
    let far = home.neighbour().await;
    let top = tempfile::tempdir().unwrap();
    std::fs::write(
        top.path().join("bakery.toml"),
        format!("[environments.staging]\nregions = [\"{}\"]\n", home.region),
    )
    .unwrap();
    // moto has no public parameters in some regions: a base image of its own.
    let recipe = TestRecipe::new("wide").with_base("image = \"ami-1e749f67\"");
    let baked = home.bake_ok(
        recipe.path(),
        &["--version", "1.0.0", "--copy-to", &far.region],
    );
    let image_in = |region: &str| {
        baked["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["region"] == region)
            .unwrap()["image_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (near_image, far_image) = (image_in(&home.region), image_in(&far.region));
    let shared_with = |permissions: Vec<aws_sdk_ec2::types::LaunchPermission>| {
        permissions
            .iter()
            .filter_map(|p| p.user_id().map(str::to_string))
            .collect::<Vec<_>>()
    };

    // Staging names one region; the release is in two: both are shared.
    let shared = home
        .bakery()
        .current_dir(top.path())
        .args([
            "share",
            "wide",
            "1.0.0",
            "--account",
            FLEET,
            "--env",
            "staging",
        ])
        .args(["--output", "json"])
        .run();
    // Shared in both; the fleet cannot use the snapshots' default keys, and is told.
    assert_eq!(shared.code, 1, "{}{}", shared.stdout, shared.stderr);
    let outcomes = shared.json()["regions"].clone();
    let statuses: Vec<(&str, &str)> = outcomes
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["region"].as_str().unwrap(), o["status"].as_str().unwrap()))
        .collect();
    // The release's regions, in the order of their names.
    let mut expected = [
        (home.region.as_str(), "shared"),
        (far.region.as_str(), "shared"),
    ];
    expected.sort();
    assert_eq!(statuses, expected);
    assert_eq!(
        shared_with(launch_permissions(&home, &near_image).await),
        [FLEET]
    );
    assert_eq!(
        shared_with(launch_permissions(&far, &far_image).await),
        [FLEET]
    );

    // --regions narrows, said explicitly.
    let narrowed = home
        .bakery()
        .args([
            "unshare",
            "wide",
            "1.0.0",
            "--account",
            FLEET,
            "--regions",
            &far.region,
        ])
        .run();
    narrowed.expect_code(0);
    assert!(launch_permissions(&far, &far_image).await.is_empty());
    assert_eq!(
        shared_with(launch_permissions(&home, &near_image).await),
        [FLEET]
    );
}
