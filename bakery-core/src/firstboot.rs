//! The firstboot agents (firstboot/), embedded at build time, and the bake step that
//! installs them: the agent, its init integration, the config filled from the
//! recipe's `[firstboot]` section, and the marker that makes the next boot a first boot.

use std::time::Duration;

use base64::Engine;
use serde::Serialize;

use crate::commands;
use crate::recipe::{Platform, RoleName};

pub const LINUX_AGENT: &str = include_str!("../../firstboot/linux/bakery-firstboot");
pub const LINUX_UNIT: &str = include_str!("../../firstboot/linux/bakery-firstboot.service");
pub const LINUX_INIT: &str = include_str!("../../firstboot/linux/bakery-firstboot.init");
pub const WINDOWS_AGENT: &str = include_str!("../../firstboot/windows/bakery-firstboot.ps1");
pub const WINDOWS_TASK: &str = include_str!("../../firstboot/windows/register-firstboot-task.ps1");

pub const DEFAULT_FETCH_ATTEMPTS: u32 = 5;
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(300);
/// The firstboot step's own Run Command timeout.
pub const INSTALL_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The recipe's `[firstboot]` section, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirstbootSettings {
    /// `s3://bucket/key`, with `{placeholders}` filled at boot.
    pub runlist: Option<String>,
    /// The command run with the runlist; `{runlist}` is replaced by its local path.
    pub runner: Option<String>,
    /// Region of the runlist bucket; the instance's own region when absent.
    pub region: Option<String>,
    pub sns_topic: Option<String>,
    /// Keep the marker after a failure so that the next boot tries again.
    pub retry: bool,
    pub fetch_attempts: u32,
    #[serde(with = "crate::plan::seconds")]
    pub fetch_timeout: Duration,
}

impl Default for FirstbootSettings {
    fn default() -> Self {
        FirstbootSettings {
            runlist: None,
            runner: None,
            region: None,
            sns_topic: None,
            retry: true,
            fetch_attempts: DEFAULT_FETCH_ATTEMPTS,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
        }
    }
}

/// `firstboot.json` as the agents read it (firstboot/README.md lists these keys).
#[derive(Debug, Clone, Serialize)]
pub struct FirstbootConfig {
    pub role: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runlist: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sns_topic: Option<String>,
    pub retry: bool,
    pub fetch_attempts: u32,
    /// Seconds.
    pub fetch_timeout: u64,
}

impl FirstbootConfig {
    pub fn new(role: &RoleName, version: &str, settings: &FirstbootSettings) -> FirstbootConfig {
        FirstbootConfig {
            role: role.to_string(),
            version: version.to_string(),
            runlist: settings.runlist.clone(),
            runner: settings.runner.clone(),
            region: settings.region.clone(),
            sns_topic: settings.sns_topic.clone(),
            retry: settings.retry,
            fetch_attempts: settings.fetch_attempts,
            fetch_timeout: settings.fetch_timeout.as_secs(),
        }
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("the config serializes");
        text.push('\n');
        text
    }
}

/// Which init system a Linux file is for; the install step picks at bake time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InitSystem {
    Systemd,
    Sysv,
}

impl InitSystem {
    /// As the install script and `bakery firstboot render` name it.
    pub fn as_str(self) -> &'static str {
        match self {
            InitSystem::Systemd => "systemd",
            InitSystem::Sysv => "sysv",
        }
    }
}

/// One file the firstboot step writes onto the builder.
#[derive(Debug, Clone, Serialize)]
pub struct InstalledFile {
    pub path: String,
    /// Octal mode on Linux; on Windows, who may read it.
    pub access: String,
    /// Only written on builders with this init system (Linux).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<InitSystem>,
    pub content: String,
}

/// What the firstboot step of a bake installs, for `bakery firstboot render` and for
/// the step itself.
#[derive(Debug, Clone, Serialize)]
pub struct Installation {
    pub platform: Platform,
    pub files: Vec<InstalledFile>,
    /// What makes the agent run at boot.
    pub activation: String,
}

pub const LINUX_MARKER: &str = "/firstboot.txt";
pub const LINUX_CONFIG: &str = "/etc/bakery/firstboot.json";
pub const WINDOWS_MARKER: &str = r"C:\firstboot.txt";
pub const WINDOWS_DIR: &str = r"C:\ProgramData\bakery";

fn marker_text(config: &FirstbootConfig) -> String {
    format!(
        "bakery firstboot marker for {} {}: while this file exists, the next boot runs the \
         firstboot agent; it removes the file once the runlist ran.\n",
        config.role, config.version
    )
}

impl Installation {
    pub fn new(platform: Platform, config: &FirstbootConfig) -> Installation {
        let file =
            |path: &str, access: &str, when: Option<InitSystem>, content: String| InstalledFile {
                path: path.to_string(),
                access: access.to_string(),
                when,
                content,
            };
        match platform {
            Platform::Linux => Installation {
                platform,
                files: vec![
                    file(
                        "/usr/local/sbin/bakery-firstboot",
                        "0755",
                        None,
                        LINUX_AGENT.into(),
                    ),
                    file(
                        "/etc/systemd/system/bakery-firstboot.service",
                        "0644",
                        Some(InitSystem::Systemd),
                        LINUX_UNIT.into(),
                    ),
                    file(
                        "/etc/init.d/bakery-firstboot",
                        "0755",
                        Some(InitSystem::Sysv),
                        LINUX_INIT.into(),
                    ),
                    file(LINUX_CONFIG, "0600", None, config.to_json()),
                    file(LINUX_MARKER, "0644", None, marker_text(config)),
                ],
                activation: "systemd: systemctl enable bakery-firstboot.service; \
                             SysV: update-rc.d / chkconfig / rc2-5.d links"
                    .into(),
            },
            Platform::Windows => {
                let private = "SYSTEM, Administrators";
                let readable = "inherited";
                Installation {
                    platform,
                    files: vec![
                        file(
                            &format!(r"{WINDOWS_DIR}\bakery-firstboot.ps1"),
                            readable,
                            None,
                            WINDOWS_AGENT.into(),
                        ),
                        file(
                            &format!(r"{WINDOWS_DIR}\register-firstboot-task.ps1"),
                            readable,
                            None,
                            WINDOWS_TASK.into(),
                        ),
                        file(
                            &format!(r"{WINDOWS_DIR}\firstboot.json"),
                            private,
                            None,
                            config.to_json(),
                        ),
                        file(WINDOWS_MARKER, readable, None, marker_text(config)),
                    ],
                    activation: r"scheduled task \bakery\bakery-firstboot: at startup, as SYSTEM"
                        .into(),
                }
            }
        }
    }

    /// The script the firstboot step runs on the builder (wrapped like any step).
    pub fn script(&self) -> String {
        match self.platform {
            Platform::Linux => self.shell_script(),
            Platform::Windows => self.powershell_script(),
        }
    }

    fn shell_script(&self) -> String {
        let mut text = String::from(
            "#!/bin/sh\n\
             # bakery firstboot step: the agent, its init integration, its config, the marker.\n\
             set -eu\n\
             mkdir -p /usr/local/sbin /etc/bakery\n\
             chmod 0755 /etc/bakery\n\
             if [ -d /run/systemd/system ]; then init=systemd; else init=sysv; fi\n",
        );
        for file in &self.files {
            let write = write_file_sh(file);
            match file.when {
                None => text.push_str(&write),
                Some(init) => text.push_str(&format!(
                    "if [ \"$init\" = {} ]; then\n{write}fi\n",
                    init.as_str()
                )),
            }
        }
        text.push_str(
            "if [ \"$init\" = systemd ]; then\n\
             \x20   systemctl daemon-reload\n\
             \x20   systemctl enable bakery-firstboot.service\n\
             elif command -v update-rc.d >/dev/null 2>&1; then\n\
             \x20   update-rc.d bakery-firstboot defaults\n\
             elif command -v chkconfig >/dev/null 2>&1; then\n\
             \x20   chkconfig --add bakery-firstboot\n\
             else\n\
             \x20   for level in 2 3 4 5; do\n\
             \x20       mkdir -p /etc/rc$level.d\n\
             \x20       ln -sf ../init.d/bakery-firstboot /etc/rc$level.d/S99bakery-firstboot\n\
             \x20   done\n\
             fi\n\
             echo \"bakery: firstboot agent installed ($init), marker /firstboot.txt in place\"\n",
        );
        text
    }

    fn powershell_script(&self) -> String {
        let mut text = format!(
            "# bakery firstboot step: the agent, its scheduled task, its config, the marker.\n\
             $ErrorActionPreference = 'Stop'\n\
             New-Item -ItemType Directory -Force -Path '{WINDOWS_DIR}' | Out-Null\n"
        );
        for file in &self.files {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&file.content);
            let path = commands::powershell_quote(&file.path);
            text.push_str(&format!(
                "[IO.File]::WriteAllText({path}, [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{encoded}')))\n"
            ));
            if file.access != "inherited" {
                text.push_str(&format!(
                    "icacls.exe {path} /inheritance:r /grant:r 'SYSTEM:F' 'Administrators:F' | Out-Null\n"
                ));
            }
        }
        text.push_str(&format!(
            "& '{WINDOWS_DIR}\\register-firstboot-task.ps1' -Agent '{WINDOWS_DIR}\\bakery-firstboot.ps1'\n\
             Write-Output 'bakery: firstboot agent installed, marker C:\\firstboot.txt in place'\n"
        ));
        text
    }
}

/// What a bake of the recipe in `dir` installs for the first boot, naming the release
/// `version`; `None` when the recipe opts out.
pub fn render(dir: &std::path::Path, version: &str) -> crate::Result<Option<Installation>> {
    let version = semver::Version::parse(version).map_err(|e| {
        crate::Error::input(format!(
            "--version `{version}` is not a semantic version ({e}); e.g. 1.4.0"
        ))
    })?;
    let recipe = crate::recipe::Recipe::load(dir)?;
    Ok(recipe.firstboot.as_ref().map(|settings| {
        let config = FirstbootConfig::new(&recipe.name, &version.to_string(), settings);
        Installation::new(recipe.platform, &config)
    }))
}

/// `cat > path <<'DELIM' ... DELIM`, then its mode and owner.
fn write_file_sh(file: &InstalledFile) -> String {
    let delimiter = commands::heredoc_delimiter(&file.content);
    let path = commands::shell_quote(&file.path);
    let mut text = format!("cat > {path} <<'{delimiter}'\n{}", file.content);
    if !file.content.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "{delimiter}\nchmod {} {path}\nchown 0:0 {path}\n",
        file.access
    ));
    text
}

/// Checks a runlist location: `s3://bucket/key` whose `{placeholders}` are names of
/// letters, digits, `_`, `.`, `:` and `-`.
pub fn check_runlist(location: &str) -> std::result::Result<(), String> {
    let Some(rest) = location.strip_prefix("s3://") else {
        return Err(format!(
            "`{location}` is not an S3 URI: write s3://bucket/key, e.g. \
             s3://company-runlists/{{environment}}/zookeeper.json"
        ));
    };
    match rest.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {}
        _ => {
            return Err(format!(
                "`{location}` names no object: write s3://bucket/key"
            ))
        }
    }
    let mut text = rest;
    while let Some(open) = text.find(['{', '}']) {
        if text[open..].starts_with('}') {
            return Err(format!("`{location}` has a `}}` without its `{{`"));
        }
        let after = &text[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("`{location}` has a `{{` without its `}}`"));
        };
        let name = &after[..close];
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c));
        if !valid {
            return Err(format!(
                "placeholder `{{{name}}}` in `{location}`: a placeholder names an instance tag \
                 or environment variable (letters, digits, `_`, `.`, `:`, `-`), or one of \
                 {{role}}, {{version}}, {{region}}, {{instance_id}}"
            ));
        }
        text = &after[close + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
    fn runlist_locations_are_checked() {
        assert!(check_runlist("s3://b/{environment}/{role}.json").is_ok());
        for (bad, says) in [
            ("https://b/k", "not an S3 URI"),
            ("s3://bucket", "names no object"),
            ("s3://b/{env", "without its `}`"),
            ("s3://b/env}", "without its `{`"),
            ("s3://b/{a b}", "placeholder `{a b}`"),
        ] {
            let message = check_runlist(bad).unwrap_err();
            assert!(message.contains(says), "{bad}: {message}");
        }
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
        assert!(
            script.contains(r"icacls.exe 'C:\ProgramData\bakery\firstboot.json' /inheritance:r")
        );
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
                include_str!("../../firstboot/README.md").contains(&format!("`{field}`")),
                "firstboot/README.md documents the alert field {field}"
            );
        }
    }
}
