//! What a bake installs for the first boot, checked as files, as a script run for real in a scratch root, and against both agents' sources.

use std::collections::BTreeSet;

use super::*;

fn config() -> FirstbootConfig {
    FirstbootConfig::new(
        &RoleName::parse("zookeeper").unwrap(),
        "1.2.0",
        &FirstbootSettings {
            runlist: Some("s3://runlists/{environment}/zookeeper.json".into()),
            runner: Some("chef-client -z -j {runlist}".into()),
            sns_topic: Some("arn:aws:sns:eu-west-1:123456789012:firstboot".into()),
            region: Some("eu-west-1".into()),
            ..FirstbootSettings::default()
        },
    )
}

#[test]
fn the_linux_step_writes_every_file_with_its_mode_and_enables_the_agent() {
    let script = Installation::new(Platform::Linux, &config()).script();
    for (path, mode) in [
        ("/usr/local/sbin/bakery-firstboot", "0755"),
        ("/etc/systemd/system/bakery-firstboot.service", "0644"),
        ("/etc/init.d/bakery-firstboot", "0755"),
        ("/etc/bakery/firstboot.json", "0600"),
        ("/firstboot.txt", "0644"),
    ] {
        assert!(script.contains(&format!("cat > '{path}' <<'")), "{path}");
        assert!(script.contains(&format!("chmod {mode} '{path}'")), "{path}");
    }
    assert!(script.contains("systemctl enable bakery-firstboot.service"));
    assert!(script.contains("\"runner\": \"chef-client -z -j {runlist}\""));
}

#[test]
fn the_linux_step_installs_for_real_into_a_scratch_root() {
    // The same script, with its absolute paths moved under a temporary folder.
    let root = tempfile::tempdir().unwrap();
    let prefix = root.path().display().to_string();
    let script = Installation::new(Platform::Linux, &config())
        .script()
        .replace(" '/", &format!(" '{prefix}/"))
        .replace(
            "mkdir -p /usr/local/sbin /etc/bakery",
            &format!("mkdir -p {prefix}/usr/local/sbin {prefix}/etc/bakery {prefix}/etc/systemd/system {prefix}/etc/init.d"),
        )
        .replace("chmod 0755 /etc", &format!("chmod 0755 {prefix}/etc"))
        .replace("chown 0:0", "true")
        .replace("[ -d /run/systemd/system ]", "false")
        .replace("update-rc.d", "no-such-update-rc.d")
        .replace("chkconfig", "no-such-chkconfig")
        .replace("/etc/rc$level.d", &format!("{prefix}/etc/rc$level.d"));
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let config_path = root.path().join("etc/bakery/firstboot.json");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    assert_eq!(written["version"], "1.2.0");
    assert_eq!(written["fetch_timeout"], 300);
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| {
        std::fs::metadata(root.path().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("etc/bakery/firstboot.json"), 0o600);
    assert_eq!(mode("usr/local/sbin/bakery-firstboot"), 0o755);
    assert_eq!(
        std::fs::read_to_string(root.path().join("usr/local/sbin/bakery-firstboot")).unwrap(),
        LINUX_AGENT
    );
    assert!(root
        .path()
        .join("etc/rc3.d/S99bakery-firstboot")
        .symlink_metadata()
        .is_ok());
    assert!(!root
        .path()
        .join("etc/systemd/system/bakery-firstboot.service")
        .exists());
}

#[test]
fn the_windows_step_carries_every_file_and_registers_the_task() {
    let script = Installation::new(Platform::Windows, &config()).script();
    assert!(script.contains(r"'C:\ProgramData\bakery\firstboot.json'"));
    assert!(script.contains(r"'C:\firstboot.txt'"));
    assert!(script.contains("register-firstboot-task.ps1' -Agent"));
    assert!(script.contains(r"icacls.exe 'C:\ProgramData\bakery\firstboot.json' /inheritance:r"));
}

#[test]
fn the_linux_agent_and_init_script_are_posix_sh_and_shellcheck_clean() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../firstboot/linux");
    for file in ["bakery-firstboot", "bakery-firstboot.init"] {
        let path = format!("{dir}/{file}");
        let parsed = std::process::Command::new("sh")
            .args(["-n", &path])
            .status()
            .unwrap();
        assert!(parsed.success(), "{file} parses with sh");
        match std::process::Command::new("shellcheck")
            .args(["--shell", "sh", "--format", "gcc", &path])
            .output()
        {
            Ok(out) => assert!(
                out.status.success(),
                "{file}: {}",
                String::from_utf8_lossy(&out.stdout)
            ),
            Err(_) => println!("shellcheck is not installed: {file} only parsed with sh"),
        }
    }
}

/// The keys each agent reads from the config, as its source spells the reads.
fn keys_read(source: &str, call: &str) -> BTreeSet<String> {
    source
        .match_indices(call)
        .filter_map(|(at, _)| {
            let rest = source[at + call.len()..].trim_start_matches(['\'', ' ']);
            let key: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            (!key.is_empty()).then_some(key)
        })
        .collect()
}

#[test]
fn both_agents_read_the_keys_bakery_writes_and_send_the_same_alert_fields() {
    let written: BTreeSet<String> = serde_json::to_value(config())
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let linux = keys_read(LINUX_AGENT, "config_value ");
    let windows = keys_read(WINDOWS_AGENT, "Get-ConfigValue $config ");
    assert_eq!(linux, written, "the Linux agent reads what bakery writes");
    assert_eq!(
        windows, written,
        "the Windows agent reads what bakery writes"
    );

    let linux_fields: BTreeSet<String> = LINUX_AGENT
        .lines()
        .filter_map(|l| l.trim().strip_prefix("body=\"$body, \\\""))
        .chain(
            LINUX_AGENT
                .lines()
                .filter_map(|l| l.trim().strip_prefix("body=\"{\\\"")),
        )
        .map(|rest| rest.split('\\').next().unwrap().to_string())
        .collect();
    let block = WINDOWS_AGENT
        .split("$alert = [ordered]@{")
        .nth(1)
        .unwrap()
        .split('}')
        .next()
        .unwrap();
    let windows_fields: BTreeSet<String> = block
        .lines()
        .filter_map(|l| {
            l.trim()
                .split_once(" = ")
                .map(|(k, _)| k.trim().to_string())
        })
        .collect();
    assert_eq!(linux_fields, windows_fields);
    for field in &linux_fields {
        assert!(
            include_str!("../../../../firstboot/README.md").contains(&format!("`{field}`")),
            "firstboot/README.md documents the alert field {field}"
        );
    }
}
