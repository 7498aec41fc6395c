//! Values a step gets: hostile env values stay values, and secrets are read on the
//! builder from SSM SecureString parameters, so bakery never holds or shows them.

use std::process::Command;

use aws_sdk_ssm::types::ParameterType;

use crate::support::{tags, Account, TestRecipe};

#[tokio::test]
async fn hostile_values_stay_inert_and_a_secret_appears_nowhere_bakery_writes() {
    let account = Account::fresh().await;
    let secret = format!("s3cr3t-{}", std::process::id());
    account
        .ssm
        .put_parameter()
        .name("/orders/db-password")
        .value(&secret)
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let pwned = std::env::temp_dir().join(format!("bakery-pwned-{}", std::process::id()));
    let hostile = format!(
        "'; touch {0}; echo '$(touch {0})`touch {0}`",
        pwned.display()
    );
    let recipe = TestRecipe::new("orders")
        .with_base("image = \"ami-1e749f67\"")
        .step(
            "configure",
            "#!/bin/sh\nprintf '%s|%s' \"$GREETING\" \"$DB_PASSWORD\"\n",
        )
        .with_toml(&format!(
            "env = {{ GREETING = {} }}\nsecrets = {{ DB_PASSWORD = \"/orders/db-password\" }}\n",
            serde_json::to_string(&hostile).unwrap()
        ));
    let manifest = recipe.path().join("manifest.json");
    let baked = account
        .bakery()
        .args([
            "bake",
            "--version",
            "1.0.0",
            "--output",
            "json",
            "--manifest",
        ])
        .arg_path(&manifest)
        .arg_path(recipe.path())
        .run();
    baked.expect_code(0);
    let report = baked.json();
    let image_id = report["images"][0]["image_id"].as_str().unwrap();
    let builder = report["builder_instance_id"].as_str().unwrap();

    // Nothing bakery emits or records holds the secret.
    let image = account.image(image_id).await;
    let mut emitted = vec![
        baked.stdout.clone(),
        baked.stderr.clone(),
        std::fs::read_to_string(&manifest).unwrap(),
        format!("{:?}", tags(image.tags())),
    ];
    for snapshot in report["images"][0]["snapshot_ids"].as_array().unwrap() {
        emitted.push(format!(
            "{:?}",
            account.snapshot_tags(snapshot.as_str().unwrap()).await
        ));
    }
    let commands = account.commands_sent_to(builder).await;
    emitted.extend(commands.iter().map(|(_, text)| text.clone()));
    for text in &emitted {
        assert!(!text.contains(&secret), "the secret leaked into:\n{text}");
    }

    // The command as SSM delivered it, run by a shell: the builder's AWS CLI (a
    // stand-in here) supplies the secret; the hostile value prints as itself.
    let step = &commands
        .iter()
        .find(|(_, text)| text.contains("GREETING"))
        .unwrap()
        .1;
    assert!(step.contains("--name '/orders/db-password'"));
    let bin = tempfile::tempdir().unwrap();
    std::fs::write(
        bin.path().join("aws"),
        format!("#!/bin/sh\ncase \"$*\" in *'--name /orders/db-password '*) echo '{secret}' ;; *) exit 254 ;; esac\n"),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(bin.path().join("aws"))
        .status()
        .unwrap();
    let ran = Command::new("sh")
        .arg("-c")
        .arg(step)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.path().display()))
        .output()
        .unwrap();
    assert!(ran.status.success(), "{ran:?}");
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        format!("{hostile}|{secret}")
    );
    assert!(!pwned.exists(), "no value ran as code");
}

#[tokio::test]
async fn a_secret_that_is_not_a_secure_string_is_refused_before_launch() {
    let account = Account::fresh().await;
    account
        .ssm
        .put_parameter()
        .name("/orders/plain")
        .value("not secret")
        .r#type(ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let recipe = TestRecipe::new("plain")
        .with_base("image = \"ami-1e749f67\"")
        .step("configure", "#!/bin/sh\ntrue\n")
        .with_toml("secrets = { TOKEN = \"/orders/plain\" }\n");
    let refused = account
        .bakery()
        .args(["bake", "--version", "1.0.0", "--output", "json"])
        .arg_path(recipe.path())
        .run();
    refused.expect_code(2);
    let report = refused.json();
    assert_eq!(report["failed_step"], "check-secrets");
    assert!(report["error"]
        .as_str()
        .unwrap()
        .contains(&format!("/orders/plain in {} is a String", account.region)));
    assert_eq!(
        report["builder_instance_id"],
        serde_json::Value::Null,
        "nothing launched"
    );
}
