//! The firstboot agents (firstboot/), embedded at build time, and the bake step that
//! installs them: the agent, its init integration, the config filled from the
//! recipe's `[firstboot]` section, and the marker that makes the next boot a first boot.

use std::time::Duration;

use base64::Engine;
use serde::Serialize;

use super::step::{heredoc_delimiter, powershell_quote, shell_quote};
use crate::config::firstboot::FirstbootSettings;
use crate::model::{Platform, RoleName};

/// The Linux agent (POSIX sh), installed as `/usr/local/sbin/bakery-firstboot`.
pub const LINUX_AGENT: &str = include_str!("../../../firstboot/linux/bakery-firstboot");
/// The systemd unit that starts the Linux agent at boot.
pub const LINUX_UNIT: &str = include_str!("../../../firstboot/linux/bakery-firstboot.service");
/// The SysV init script that starts the Linux agent on images without systemd.
pub const LINUX_INIT: &str = include_str!("../../../firstboot/linux/bakery-firstboot.init");
/// The Windows agent (PowerShell).
pub const WINDOWS_AGENT: &str = include_str!("../../../firstboot/windows/bakery-firstboot.ps1");
/// The PowerShell script that registers the Windows agent's scheduled task (at
/// startup, as SYSTEM).
pub const WINDOWS_TASK: &str =
    include_str!("../../../firstboot/windows/register-firstboot-task.ps1");

/// The firstboot step's own Run Command timeout.
pub const INSTALL_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// `firstboot.json` as the agents read it (firstboot/README.md lists these keys).
#[derive(Debug, Clone, Serialize)]
pub struct FirstbootConfig {
    /// The role baked.
    pub role: String,
    /// The release baked.
    pub version: String,
    /// `s3://bucket/key` of the runlist, with `{placeholders}` the agent fills at boot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runlist: Option<String>,
    /// The command that applies the runlist (`{runlist}` becomes its local path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
    /// Region of the runlist bucket; None: the instance's own region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Topic ARN the agent alerts on a failure; None: no alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sns_topic: Option<String>,
    /// Keep the marker after a failure, so that the next boot tries again.
    pub retry: bool,
    /// How many times the agent tries to fetch the runlist.
    pub fetch_attempts: u32,
    /// Seconds.
    pub fetch_timeout: u64,
}

impl FirstbootConfig {
    /// The agent's configuration for a release of `role`, from the recipe's settings.
    // Long on purpose: one line per field of the agent's configuration file.
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

    /// The config as `firstboot.json`: pretty-printed JSON, ending in a newline.
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
    /// systemd: the unit, enabled.
    Systemd,
    /// SysV init, on images without systemd: the `/etc/init.d` script.
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
    /// Where it is written on the builder.
    pub path: String,
    /// Octal mode on Linux; on Windows, who may read it.
    pub access: String,
    /// Only written on builders with this init system (Linux).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<InitSystem>,
    /// The file's text.
    pub content: String,
}

/// What the firstboot step of a bake installs, for `bakery firstboot render` and for
/// the step itself.
#[derive(Debug, Clone, Serialize)]
pub struct Installation {
    /// The builder's platform: Linux or Windows files and script.
    pub platform: Platform,
    /// The files written, in the order the step writes them.
    pub files: Vec<InstalledFile>,
    /// What makes the agent run at boot.
    pub activation: String,
}

/// Where an agent leaves its outcome (firstboot/README.md): one JSON object.
pub const LINUX_OUTCOME: &str = "/var/lib/bakery/firstboot/outcome.json";
/// Where the Windows agent leaves its outcome.
pub const WINDOWS_OUTCOME: &str = r"C:\ProgramData\bakery\firstboot\outcome.json";
/// The Linux marker: while it exists, the next boot runs the agent.
pub const LINUX_MARKER: &str = "/firstboot.txt";
/// The Linux agent's config (`firstboot.json`), root's only (0600).
pub const LINUX_CONFIG: &str = "/etc/bakery/firstboot.json";
/// The Windows marker: while it exists, the next boot runs the agent.
pub const WINDOWS_MARKER: &str = r"C:\firstboot.txt";
/// The Windows agent's folder: the agent, its task script, its config and its log.
pub const WINDOWS_DIR: &str = r"C:\ProgramData\bakery";

fn marker_text(config: &FirstbootConfig) -> String {
    format!(
        "bakery firstboot marker for {} {}: while this file exists, the next boot runs the \
         firstboot agent; it removes the file once the runlist ran.\n",
        config.role, config.version
    )
}

impl Installation {
    /// What goes onto a `platform` builder, with `config` as the agent's config.
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
             rm -f /var/lib/bakery/firstboot/outcome.json\n\
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
             New-Item -ItemType Directory -Force -Path '{WINDOWS_DIR}' | Out-Null\n\
             Remove-Item -Force -ErrorAction SilentlyContinue -LiteralPath '{WINDOWS_OUTCOME}'\n"
        );
        for file in &self.files {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&file.content);
            let path = powershell_quote(&file.path);
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

/// The release gate's first command on a test instance: wait up to `wait` for the
/// agent's outcome, print it, and exit 0 only when the agent succeeded.
pub fn outcome_script(platform: Platform, wait: Duration) -> String {
    let seconds = wait.as_secs();
    match platform {
        Platform::Linux => format!(
            "#!/bin/sh\n\
             # bakery release gate: how the firstboot agent ended on this test instance.\n\
             outcome={LINUX_OUTCOME}\n\
             deadline=$(($(date +%s) + {seconds}))\n\
             while [ ! -s \"$outcome\" ]; do\n\
             \x20   if [ \"$(date +%s)\" -ge \"$deadline\" ]; then\n\
             \x20       echo \"bakery: the firstboot agent left no outcome in {seconds} s\" >&2\n\
             \x20       [ -e {LINUX_MARKER} ] || echo \"bakery: and {LINUX_MARKER} is gone\" >&2\n\
             \x20       tail -n 30 /var/log/bakery-firstboot.log >&2\n\
             \x20       exit 124\n\
             \x20   fi\n\
             \x20   sleep 2\n\
             done\n\
             if grep -q '\"exit_code\": 0,' \"$outcome\"; then cat \"$outcome\"; exit 0; fi\n\
             tail -n 20 /var/log/bakery-firstboot.log\n\
             cat \"$outcome\"\n\
             exit 1\n"
        ),
        Platform::Windows => format!(
            "# bakery release gate: how the firstboot agent ended on this test instance.\n\
             $outcome = '{WINDOWS_OUTCOME}'\n\
             $log = '{WINDOWS_DIR}\\firstboot.log'\n\
             $deadline = (Get-Date).AddSeconds({seconds})\n\
             while (-not (Test-Path -LiteralPath $outcome) -or (Get-Item -LiteralPath $outcome).Length -eq 0) {{\n\
             \x20   if ((Get-Date) -ge $deadline) {{\n\
             \x20       [Console]::Error.WriteLine('bakery: the firstboot agent left no outcome in {seconds} s')\n\
             \x20       Get-Content -Tail 30 -LiteralPath $log -ErrorAction SilentlyContinue | ForEach-Object {{ [Console]::Error.WriteLine($_) }}\n\
             \x20       exit 124\n\
             \x20   }}\n\
             \x20   Start-Sleep -Seconds 2\n\
             }}\n\
             $text = (Get-Content -Raw -LiteralPath $outcome).Trim()\n\
             if (($text | ConvertFrom-Json).exit_code -eq 0) {{ Write-Output $text; exit 0 }}\n\
             Get-Content -Tail 20 -LiteralPath $log -ErrorAction SilentlyContinue\n\
             Write-Output $text\n\
             exit 1\n"
        ),
    }
}

/// How the firstboot agent ended, as its outcome file says (firstboot/README.md).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct FirstbootOutcome {
    /// `done`, or the phase that failed: `config`, `metadata`, `fetch` or `run`.
    pub phase: String,
    /// The agent's exit code: 0 when done, else the failed phase's (1 to 4).
    pub exit_code: i64,
    /// The failing command's exit status (the runner's, the AWS CLI's), if any.
    #[serde(default)]
    pub command_exit_code: Option<i64>,
    /// What failed, in words; empty when done.
    #[serde(default)]
    pub error: String,
    /// When the agent finished, in RFC 3339 UTC; empty when the outcome omits it.
    #[serde(default)]
    pub finished_at: String,
}

impl FirstbootOutcome {
    /// The outcome among a command's output lines (as they are, or quoted in an
    /// error's output tail), if the agent left one.
    pub fn find(output: &str) -> Option<FirstbootOutcome> {
        output
            .lines()
            .filter_map(|line| line.find('{').map(|start| &line[start..]))
            .find_map(|json| serde_json::from_str(json.trim()).ok())
    }
}

/// What a bake of the recipe in `dir` installs for the first boot, naming the release
/// `version`; `None` when the recipe opts out.
/// `bake_topic` is the bake's alert topic (`--sns-topic`, the environment's), which
/// the agent takes when the recipe's `[firstboot]` names none, as in a bake.
pub fn render(
    dir: &std::path::Path,
    version: &str,
    bake_topic: Option<&str>,
) -> crate::Result<Option<Installation>> {
    let version = semver::Version::parse(version).map_err(|e| {
        crate::Error::input(format!(
            "--version `{version}` is not a semantic version ({e}); e.g. 1.4.0"
        ))
    })?;
    let recipe = crate::config::Recipe::load(dir)?;
    Ok(recipe.firstboot.as_ref().map(|settings| {
        let settings = settings.with_bake_topic(bake_topic);
        let config = FirstbootConfig::new(&recipe.name, &version.to_string(), &settings);
        Installation::new(recipe.platform, &config)
    }))
}

/// `cat > path <<'DELIM' ... DELIM`, then its mode and owner.
fn write_file_sh(file: &InstalledFile) -> String {
    let delimiter = heredoc_delimiter(&file.content);
    let path = shell_quote(&file.path);
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

#[cfg(test)]
mod tests;
