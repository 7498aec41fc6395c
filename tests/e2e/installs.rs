//! Every bake installs the firstboot agent: the files, their modes, the config and the
//! marker, as the commands sent to the builder carry them, on Linux and on Windows.

use crate::support::{Account, TestRecipe};

/// The install step, as a bake sends it: the commands the emulator recorded carry
/// the agent, the unit, the config and the marker, with their modes.
#[tokio::test]
async fn every_bake_installs_the_agent_its_config_and_the_marker() {
    let account = Account::fresh().await;
    let recipe = TestRecipe::new("zookeeper")
        // Ubuntu, from the emulator's stock images (some regions have no AL2023 parameter).
        .with_base("image = \"ami-1e749f67\"")
        .step("install", "#!/bin/sh\necho installing\n")
        .with_toml(&format!(
            "[firstboot]\n\
             runlist = \"s3://company-runlists/{{environment}}/zookeeper.json\"\n\
             runner = \"chef-client -z -j {{runlist}}\"\n\
             sns_topic = \"arn:aws:sns:{}:123456789012:firstboot\"\n\
             fetch_timeout = \"10m\"\n",
            account.region
        ));
    let result = account.bake_ok(recipe.path(), &["--version", "3.4.0"]);
    let builder = result["builder_instance_id"].as_str().unwrap();

    let commands = account.commands_sent_to(builder).await;
    let names: Vec<&str> = commands
        .iter()
        .map(|(_, text)| {
            if text.contains("bakery firstboot step") {
                "firstboot"
            } else if text.contains("bakery's generalize step") {
                "generalize"
            } else {
                "recipe"
            }
        })
        .collect();
    assert_eq!(names, ["recipe", "firstboot", "generalize"]);
    let install = &commands[1].1;
    for (path, mode) in [
        ("/usr/local/sbin/bakery-firstboot", "0755"),
        ("/etc/systemd/system/bakery-firstboot.service", "0644"),
        ("/etc/init.d/bakery-firstboot", "0755"),
        ("/etc/bakery/firstboot.json", "0600"),
        ("/firstboot.txt", "0644"),
    ] {
        assert!(
            install.contains(&format!("cat > '{path}' <<'")),
            "{path} is written"
        );
        assert!(
            install.contains(&format!("chmod {mode} '{path}'")),
            "{path} gets {mode}"
        );
    }
    assert!(install.contains(bakery_core::script::firstboot::LINUX_AGENT));
    assert!(install.contains(bakery_core::script::firstboot::LINUX_UNIT));
    assert!(install.contains("systemctl enable bakery-firstboot.service"));
    assert!(install.contains("\"version\": \"3.4.0\""));
    assert!(install.contains("\"runlist\": \"s3://company-runlists/{environment}/zookeeper.json\""));
    assert!(install.contains("\"fetch_timeout\": 600"));
}

/// The same for Windows: the agent, its task registration, the config and the marker
/// travel base64-encoded in a PowerShell command; the config readable by SYSTEM only.
#[tokio::test]
async fn a_windows_bake_installs_the_agent_and_registers_its_task() {
    use base64::Engine;
    let account = Account::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("steps")).unwrap();
    std::fs::write(dir.path().join("steps/tools.ps1"), "Write-Output 'tools'\n").unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    std::fs::write(
        dir.path().join("tests/task.ps1"),
        "Get-ScheduledTask -TaskPath '\\bakery\\' -TaskName 'bakery-firstboot'\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("recipe.toml"),
        "name = \"winsvc\"\nplatform = \"windows\"\narch = \"x86_64\"\n\
         base = { image = \"ami-1812c061\" }\n\
         [builder]\ninstance_profile = \"bakery-builder\"\n\
         [[steps]]\nname = \"tools\"\nscript = \"steps/tools.ps1\"\n\
         [[tests]]\nname = \"task\"\nscript = \"tests/task.ps1\"\n\
         [firstboot]\nrunlist = \"s3://company-runlists/{environment}/winsvc.json\"\n\
         runner = \"C:\\\\opscode\\\\chef\\\\bin\\\\chef-client.bat -z -j {runlist}\"\n",
    )
    .unwrap();
    let result = account.bake_ok(dir.path(), &["--version", "2.0.0"]);
    let builder = result["builder_instance_id"].as_str().unwrap();

    let commands = account.commands_sent_to(builder).await;
    assert_eq!(commands.len(), 3, "tools, firstboot, generalize");
    assert!(commands
        .iter()
        .all(|(document, _)| document == "AWS-RunPowerShellScript"));
    // Each step's script travels base64-encoded inside the step wrapper.
    let decode = |text: &str| -> String {
        let start = text.find("FromBase64String('").unwrap() + "FromBase64String('".len();
        let end = start + text[start..].find('\'').unwrap();
        String::from_utf8(crate::support::base64_decode(&text[start..end])).unwrap()
    };
    let install = decode(&commands[1].1);
    let encoded = |content: &str| base64::engine::general_purpose::STANDARD.encode(content);
    assert!(install.contains(&encoded(bakery_core::script::firstboot::WINDOWS_AGENT)));
    assert!(install.contains(&encoded(bakery_core::script::firstboot::WINDOWS_TASK)));
    assert!(install.contains(r"'C:\firstboot.txt'"));
    assert!(install.contains(
        r"icacls.exe 'C:\ProgramData\bakery\firstboot.json' /inheritance:r /grant:r 'SYSTEM:F' 'Administrators:F'"
    ));
    assert!(install.contains(r"register-firstboot-task.ps1' -Agent"));
    let config_line = install
        .lines()
        .find(|l| l.contains(r"WriteAllText('C:\ProgramData\bakery\firstboot.json'"))
        .unwrap();
    let config: serde_json::Value = serde_json::from_str(&decode(config_line)).unwrap();
    assert_eq!(config["version"], "2.0.0");
    assert_eq!(
        config["runlist"],
        "s3://company-runlists/{environment}/winsvc.json"
    );
    assert!(
        decode(&commands[2].1).contains("ec2launch"),
        "generalized with EC2Launch v2"
    );

    // The release gate speaks PowerShell too: the agent's outcome, then the test.
    assert_eq!(result["tests"], "passed");
    let tested = account
        .instances()
        .await
        .into_iter()
        .find(|i| {
            let tags = crate::support::tags(i.tags());
            tags.contains_key("bakery:test-instance")
                && tags.get("bakery:bake-id")
                    == result["bake_id"].as_str().map(str::to_string).as_ref()
        })
        .expect("a test instance");
    let gate = account
        .commands_sent_to(tested.instance_id().unwrap())
        .await;
    assert_eq!(gate.len(), 2, "firstboot's outcome, then the test");
    assert!(gate
        .iter()
        .all(|(document, _)| document == "AWS-RunPowerShellScript"));
    let outcome = decode(&gate[0].1);
    assert!(
        outcome.contains(r"C:\ProgramData\bakery\firstboot\outcome.json"),
        "{outcome}"
    );
    assert!(decode(&gate[1].1).contains("Get-ScheduledTask"));
}
