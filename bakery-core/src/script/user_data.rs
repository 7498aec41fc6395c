//! What a builder runs at launch (its user data): the dead-man's switch, and the SSM
//! agent where the image has none; and the built-in generalize scripts.

use std::time::Duration;

use crate::model::Platform;

pub const GENERALIZE_LINUX: &str = include_str!("../../scripts/generalize-linux.sh");
pub const GENERALIZE_WINDOWS: &str = include_str!("../../scripts/generalize-windows.ps1");

pub fn generalize_script(platform: Platform) -> &'static str {
    match platform {
        Platform::Linux => GENERALIZE_LINUX,
        Platform::Windows => GENERALIZE_WINDOWS,
    }
}

/// The builder's user data: the dead-man's switch, and on Linux, when asked, the SSM
/// agent installed from AWS's regional bucket if the image has none (Debian's images).
pub fn builder_user_data(
    platform: Platform,
    bake_id: &str,
    lifetime: Duration,
    install_ssm_agent: bool,
) -> String {
    let mut text = dead_mans_switch(platform, bake_id, lifetime);
    if install_ssm_agent && platform == Platform::Linux {
        text.push_str(SSM_AGENT_BOOTSTRAP);
    }
    text
}

const SSM_AGENT_BOOTSTRAP: &str = r#"# bakery: install the SSM agent when the image has none (AWS's documented packages).
if ! command -v amazon-ssm-agent >/dev/null 2>&1 && [ ! -e /snap/amazon-ssm-agent ]; then
    token=$(curl -fsS -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" http://169.254.169.254/latest/api/token)
    region=$(curl -fsS -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/placement/region)
    case "$(uname -m)" in aarch64) arch=arm64 ;; *) arch=amd64 ;; esac
    base="https://s3.$region.amazonaws.com/amazon-ssm-$region/latest"
    if command -v dpkg >/dev/null 2>&1; then
        curl -fsSL -o /tmp/amazon-ssm-agent.deb "$base/debian_$arch/amazon-ssm-agent.deb" &&
            dpkg -i /tmp/amazon-ssm-agent.deb && rm -f /tmp/amazon-ssm-agent.deb
    else
        dnf install -y "$base/linux_$arch/amazon-ssm-agent.rpm" || yum install -y "$base/linux_$arch/amazon-ssm-agent.rpm"
    fi
    systemctl enable --now amazon-ssm-agent
fi
"#;

/// Where a Linux builder keeps its deadline (seconds since the epoch) across reboots.
pub const LINUX_DEADLINE: &str = "/var/lib/bakery/deadline";
/// The same on Windows, under `C:\ProgramData`.
pub const WINDOWS_DEADLINE: &str = r"bakery\deadline";

/// User data that powers the builder off after `lifetime`; with
/// InstanceInitiatedShutdownBehavior=terminate, EC2 then terminates it. This is what
/// removes a builder whose bakery died without cleaning up (kill -9, lost host).
pub fn dead_mans_switch(platform: Platform, bake_id: &str, lifetime: Duration) -> String {
    let seconds = lifetime.as_secs().max(60);
    match platform {
        Platform::Linux => format!(
            "#!/bin/sh\n\
             # bakery dead-man's switch for bake {bake_id}: power off after {seconds}s;\n\
             # the instance is set to terminate on an OS-initiated shutdown. A reboot ends\n\
             # the timer: the deadline is kept for a step to set it again after one.\n\
             mkdir -p /var/lib/bakery && echo $(( $(date +%s) + {seconds} )) > {LINUX_DEADLINE}\n\
             if command -v systemd-run >/dev/null 2>&1; then\n\
             \x20   systemd-run --unit=bakery-deadline --on-active={seconds}s /bin/systemctl poweroff\n\
             else\n\
             \x20   nohup sh -c 'sleep {seconds}; poweroff' >/dev/null 2>&1 &\n\
             fi\n"
        ),
        Platform::Windows => format!(
            "<powershell>\n\
             # bakery dead-man's switch for bake {bake_id}: shut down after {seconds}s;\n\
             # the instance is set to terminate on an OS-initiated shutdown. A reboot ends\n\
             # it: the deadline is kept for a step to set it again after one.\n\
             New-Item -ItemType Directory -Force -Path $env:ProgramData\\bakery | Out-Null\n\
             Set-Content -Path $env:ProgramData\\{WINDOWS_DEADLINE} -Value ([DateTimeOffset]::UtcNow.ToUnixTimeSeconds() + {seconds})\n\
             shutdown.exe /s /f /t {seconds} /c \"bakery: bake {bake_id} passed its deadline\"\n\
             </powershell>\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_powershell_script_bakery_ships_reads_cleanly() {
        use crate::config::powershell::syntax_errors;
        use crate::script::firstboot::{WINDOWS_AGENT, WINDOWS_TASK};
        for (name, script) in [
            ("the Windows agent", WINDOWS_AGENT),
            ("its task registration", WINDOWS_TASK),
            ("generalize for Windows", GENERALIZE_WINDOWS),
        ] {
            assert_eq!(syntax_errors(script), [], "{name}");
        }
    }

    use super::*;
    use crate::script::run_sh;

    #[test]
    fn the_ssm_agent_bootstrap_follows_the_switch_only_when_asked() {
        let lifetime = Duration::from_secs(600);
        let plain = builder_user_data(Platform::Linux, "b-1", lifetime, false);
        assert!(!plain.contains("amazon-ssm-agent"));
        let with_agent = builder_user_data(Platform::Linux, "b-1", lifetime, true);
        assert!(with_agent.starts_with(&plain));
        assert!(with_agent.contains("/debian_$arch/amazon-ssm-agent.deb"));
        let (code, _) = run_sh(&format!("sh -n <<'EOF'\n{with_agent}EOF\n"));
        assert_eq!(code, 0, "valid sh");
    }

    #[test]
    fn the_dead_mans_switch_powers_off_after_the_lifetime() {
        let linux = dead_mans_switch(Platform::Linux, "b-1", Duration::from_secs(5400));
        assert!(linux.starts_with("#!/bin/sh\n"));
        assert!(linux.contains("--on-active=5400s"));
        let windows = dead_mans_switch(Platform::Windows, "b-1", Duration::from_secs(5400));
        assert!(windows.contains("/t 5400"));
        assert!(
            run_sh(&format!("sh -n <<'EOF'\n{linux}EOF\n")).0 == 0,
            "valid sh"
        );
    }
}
