//! A step's script wrapped for SSM Run Command: written to a private file, run by its
//! own interpreter, with its environment and secrets.
//!
//! Values reach scripts only as quoted environment assignments, so no value can
//! become code, whatever it contains.

use std::collections::BTreeMap;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::model::{Platform, Reboots, Step};
use crate::script::user_data::{LINUX_DEADLINE, WINDOWS_DEADLINE};

/// What a step's script gets besides its text.
#[derive(Debug, Clone, Copy)]
pub struct StepInputs<'a> {
    /// Environment variables with their values.
    pub env: &'a BTreeMap<String, String>,
    /// Environment variables read from SSM SecureString parameters (variable ->
    /// parameter name) on the builder itself, when the step runs: their values never
    /// travel in the command text.
    pub secrets: &'a BTreeMap<String, String>,
    /// Where the parameters are.
    pub region: &'a str,
    /// The step: its reboot state on the instance is kept under its name.
    pub step: &'a Step,
    /// Whether the instance reboots after the script, and how many reboots the script
    /// may ask for.
    pub reboots: Reboots,
}

impl StepInputs<'static> {
    /// No values at all, and no reboot.
    pub fn none() -> StepInputs<'static> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        static UNNAMED: Step = Step::Plan;
        StepInputs {
            env: &EMPTY,
            secrets: &EMPTY,
            region: "",
            step: &UNNAMED,
            reboots: Reboots {
                after: false,
                at_most: 0,
            },
        }
    }
}

/// The exit code with which a Linux script asks SSM Agent to reboot the node and run
/// it again (Systems Manager User Guide, "Handling reboots when running commands").
pub const LINUX_REBOOT_EXIT: i32 = 194;
/// The same for Windows: also the standard "restart required" of Windows installers.
pub const WINDOWS_REBOOT_EXIT: i32 = 3010;
/// Where a Linux step's reboot state lives while the step lasts: it must outlive a
/// reboot, so not under /tmp.
pub const LINUX_REBOOT_STATE: &str = "/var/lib/bakery/reboots";
/// The same for Windows, under `C:\ProgramData`.
pub const WINDOWS_REBOOT_STATE: &str = r"bakery\reboots";

/// How the wrapper's last run says how many reboots the step had.
const REBOOTED: &str = "bakery: reboots during this step:";

/// How many times the instance rebooted during a step, as its wrapper's last run says
/// in the step's output (0 when it says nothing).
pub fn reboots_in(output: &str) -> u32 {
    output
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(REBOOTED))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The file-name form of a step (`recipe/packages` -> `recipe-packages`).
fn state_key(step: &Step) -> String {
    step.to_string().replace('/', "-")
}

/// A step's script as one Run Command text: the script is written to a private
/// temporary file and run by its own interpreter (its `#!` line), with `env` exported
/// and `secrets` read on the builder.
pub fn step_command(platform: Platform, script: &str, inputs: StepInputs) -> String {
    match platform {
        Platform::Linux => shell_step(script, inputs),
        Platform::Windows => powershell_step(script, inputs),
    }
}

fn shell_step(script: &str, inputs: StepInputs) -> String {
    let delimiter = heredoc_delimiter(script);
    let mut text = String::from("set -u\numask 077\n");
    text.push_str(&shell_deadline_again());
    text.push_str(&shell_resumed(inputs.step));
    text.push_str("bakery_dir=$(mktemp -d /tmp/bakery-step.XXXXXX) || exit 1\n");
    text.push_str(&format!(
        "cat > \"$bakery_dir/script\" <<'{delimiter}'\n{script}"
    ));
    if !script.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("{delimiter}\nchmod 700 \"$bakery_dir/script\"\n"));
    for (name, value) in inputs.env {
        text.push_str(&format!("export {name}={}\n", shell_quote(value)));
    }
    for (name, parameter) in inputs.secrets {
        let parameter = shell_quote(parameter);
        text.push_str(&format!(
            "{name}=$(aws ssm get-parameter --region {} --with-decryption --name {parameter} \
             --query Parameter.Value --output text) || {{ echo \"bakery: cannot read the SSM parameter \"{parameter}\" for {name}: the builder's role needs ssm:GetParameter and kms:Decrypt on it\" >&2; rm -rf \"$bakery_dir\"; exit 1; }}\nexport {name}\n",
            shell_quote(inputs.region)
        ));
    }
    text.push_str("\"$bakery_dir/script\"\nbakery_status=$?\nrm -rf \"$bakery_dir\"\n");
    text.push_str(&shell_reboots(inputs.reboots));
    text
}

/// The builder's dead-man's switch set again when a reboot ended its timer: for the
/// time left until the deadline its user data kept.
fn shell_deadline_again() -> String {
    format!(
        "if [ -r {LINUX_DEADLINE} ] && command -v systemd-run >/dev/null 2>&1 && \
         ! systemctl is-active --quiet bakery-deadline.timer; then\n\
         bakery_left=$(( $(cat {LINUX_DEADLINE}) - $(date +%s) ))\n\
         systemd-run --unit=bakery-deadline --on-active=$(( bakery_left > 60 ? bakery_left : 60 ))s \
         /bin/systemctl poweroff >/dev/null 2>&1\nfi\n"
    )
}

/// The start of a step's run after the reboot it asked for with `reboot = true`: the
/// script is over, so the run ends there.
fn shell_resumed(step: &Step) -> String {
    let state = shell_quote(&format!("{LINUX_REBOOT_STATE}/{}", state_key(step)));
    format!(
        "bakery_reboots={state}\n\
         if [ -e \"$bakery_reboots/after\" ]; then\n\
         echo \"{REBOOTED} $(( $(cat \"$bakery_reboots/asked\" 2>/dev/null || echo 0) + 1 ))\"\n\
         rm -rf \"$bakery_reboots\"; rmdir {LINUX_REBOOT_STATE} 2>/dev/null\n\
         exit 0\nfi\n"
    )
}

/// The end of a step's run: a reboot the script asked for (within its bound), the one
/// `reboot = true` asks for, or the script's status.
fn shell_reboots(reboots: Reboots) -> String {
    let (code, most) = (LINUX_REBOOT_EXIT, reboots.at_most);
    let mut text = format!(
        "if [ \"$bakery_status\" -eq {code} ]; then\n\
         bakery_asked=$(( $(cat \"$bakery_reboots/asked\" 2>/dev/null || echo 0) + 1 ))\n\
         if [ \"$bakery_asked\" -gt {most} ]; then\n\
         echo \"bakery: the step asked for reboot $bakery_asked (exit code {code}); max_reboots is {most}\" >&2\n\
         rm -rf \"$bakery_reboots\"; rmdir {LINUX_REBOOT_STATE} 2>/dev/null; exit 1\nfi\n\
         mkdir -p \"$bakery_reboots\" && echo \"$bakery_asked\" > \"$bakery_reboots/asked\" || exit 1\n\
         echo \"bakery: reboot $bakery_asked of at most {most}, asked by the step (exit code {code}); the step runs again after it\"\n\
         exit {code}\nfi\n"
    );
    if reboots.after {
        text.push_str(&format!(
            "if [ \"$bakery_status\" -eq 0 ]; then\n\
             mkdir -p \"$bakery_reboots\" && : > \"$bakery_reboots/after\" || exit 1\n\
             echo 'bakery: rebooting the instance after this step (reboot = true)'\n\
             exit {code}\nfi\n"
        ));
    }
    text.push_str(&format!(
        "[ -e \"$bakery_reboots/asked\" ] && echo \"{REBOOTED} $(cat \"$bakery_reboots/asked\")\"\n\
         rm -rf \"$bakery_reboots\"; rmdir {LINUX_REBOOT_STATE} 2>/dev/null\nexit $bakery_status\n"
    ));
    text
}

/// A delimiter that does not occur in the script, so the here-document ends where
/// bakery means it to.
pub fn heredoc_delimiter(script: &str) -> String {
    let digest = hex::encode(Sha256::digest(script.as_bytes()));
    let mut delimiter = format!("BAKERY_SCRIPT_{}", &digest[..16]);
    while script.lines().any(|line| line == delimiter) {
        delimiter.push('_');
    }
    delimiter
}

/// POSIX single quotes: everything is literal; a `'` becomes `'\''`.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The characters PowerShell reads as a single quote: `'` and U+2018 to U+201B
/// (about_Quoting_Rules; its tokenizer's `IsSingleQuote`).
pub const POWERSHELL_SINGLE_QUOTES: [char; 5] =
    ['\'', '\u{2018}', '\u{2019}', '\u{201A}', '\u{201B}'];

/// PowerShell single quotes: everything is literal; each of PowerShell's single-quote
/// characters is doubled, as its own `EscapeSingleQuotedStringContent` does.
pub fn powershell_quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for c in value.chars() {
        if POWERSHELL_SINGLE_QUOTES.contains(&c) {
            quoted.push(c);
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

/// A value as a PowerShell expression that no character of it can break: its UTF-8
/// bytes in base64, decoded on the instance.
pub fn powershell_value(value: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(value.as_bytes());
    format!("[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{encoded}'))")
}

fn powershell_step(script: &str, inputs: StepInputs) -> String {
    // The script travels base64-encoded: no quoting or here-string can be broken by it.
    let encoded = base64::engine::general_purpose::STANDARD.encode(script.as_bytes());
    let mut text = String::from("$ErrorActionPreference = 'Stop'\n");
    text.push_str(&powershell_deadline_again());
    text.push_str(&powershell_resumed(inputs.step));
    text.push_str(
        "$bakeryDir = Join-Path $env:TEMP ('bakery-step-' + [guid]::NewGuid())\n\
         New-Item -ItemType Directory -Path $bakeryDir | Out-Null\n\
         $bakeryScript = Join-Path $bakeryDir 'step.ps1'\n",
    );
    text.push_str(&format!(
        "[IO.File]::WriteAllText($bakeryScript, [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{encoded}')))\n"
    ));
    for (name, value) in inputs.env {
        text.push_str(&format!("$env:{name} = {}\n", powershell_value(value)));
    }
    for (name, parameter) in inputs.secrets {
        text.push_str(&format!(
            "$env:{name} = (Get-SSMParameter -Name {} -WithDecryption $true -Region {}).Value\n",
            powershell_quote(parameter),
            powershell_quote(inputs.region)
        ));
    }
    text.push_str(
        "$global:LASTEXITCODE = 0\n\
         & $bakeryScript\n\
         $bakeryStatus = if ($?) { $LASTEXITCODE } elseif ($LASTEXITCODE) { $LASTEXITCODE } else { 1 }\n\
         Remove-Item -Recurse -Force $bakeryDir\n",
    );
    text.push_str(&powershell_reboots(inputs.reboots));
    text
}

/// PowerShell's [`shell_deadline_again`]: `shutdown /t` refuses a second shutdown
/// while one is set, so it sets one only when a reboot ended the first.
fn powershell_deadline_again() -> String {
    let deadline = powershell_quote(WINDOWS_DEADLINE);
    format!(
        "$bakeryDeadline = Join-Path $env:ProgramData {deadline}\n\
         if (Test-Path $bakeryDeadline) {{\n\
         $bakeryLeft = [int64](Get-Content $bakeryDeadline) - [DateTimeOffset]::UtcNow.ToUnixTimeSeconds()\n\
         shutdown.exe /s /f /t ([Math]::Max(60, $bakeryLeft)) /c 'bakery: the builder passed its deadline' 2>&1 | Out-Null\n\
         $global:LASTEXITCODE = 0\n}}\n"
    )
}

/// Before a Windows step asks for a reboot: the dead-man's switch (a pending
/// `shutdown /s`) off, for Windows refuses SSM Agent's `shutdown /r` while a shutdown
/// is pending (error 1190); the step's run after the reboot sets the switch again.
const WINDOWS_SWITCH_OFF: &str = "shutdown.exe /a 2>&1 | Out-Null\n";

/// PowerShell's [`shell_resumed`].
fn powershell_resumed(step: &Step) -> String {
    let state = powershell_quote(&format!("{WINDOWS_REBOOT_STATE}\\{}", state_key(step)));
    format!(
        "$bakeryReboots = Join-Path $env:ProgramData {state}\n\
         if (Test-Path (Join-Path $bakeryReboots 'after')) {{\n\
         $bakeryAsked = 1 + [int](Get-Content -ErrorAction SilentlyContinue (Join-Path $bakeryReboots 'asked'))\n\
         \"{REBOOTED} $bakeryAsked\"\n\
         Remove-Item -Recurse -Force $bakeryReboots\n\
         exit 0\n}}\n"
    )
}

/// PowerShell's [`shell_reboots`].
fn powershell_reboots(reboots: Reboots) -> String {
    let (code, most) = (WINDOWS_REBOOT_EXIT, reboots.at_most);
    let mut text = format!(
        "if ($bakeryStatus -eq {code}) {{\n\
         $bakeryAsked = 1 + [int](Get-Content -ErrorAction SilentlyContinue (Join-Path $bakeryReboots 'asked'))\n\
         if ($bakeryAsked -gt {most}) {{\n\
         [Console]::Error.WriteLine(\"bakery: the step asked for reboot $bakeryAsked (exit code {code}); max_reboots is {most}\")\n\
         Remove-Item -Recurse -Force -ErrorAction SilentlyContinue $bakeryReboots\n\
         exit 1\n}}\n\
         New-Item -ItemType Directory -Force -Path $bakeryReboots | Out-Null\n\
         Set-Content -Path (Join-Path $bakeryReboots 'asked') -Value $bakeryAsked\n\
         \"bakery: reboot $bakeryAsked of at most {most}, asked by the step (exit code {code}); the step runs again after it\"\n\
         {WINDOWS_SWITCH_OFF}\
         exit {code}\n}}\n"
    );
    if reboots.after {
        text.push_str(&format!(
            "if ($bakeryStatus -eq 0) {{\n\
             New-Item -ItemType Directory -Force -Path $bakeryReboots | Out-Null\n\
             Set-Content -Path (Join-Path $bakeryReboots 'after') -Value ''\n\
             'bakery: rebooting the instance after this step (reboot = true)'\n\
             {WINDOWS_SWITCH_OFF}\
             exit {code}\n}}\n"
        ));
    }
    text.push_str(&format!(
        "$bakeryAsked = [int](Get-Content -ErrorAction SilentlyContinue (Join-Path $bakeryReboots 'asked'))\n\
         if ($bakeryAsked) {{ \"{REBOOTED} $bakeryAsked\" }}\n\
         Remove-Item -Recurse -Force -ErrorAction SilentlyContinue $bakeryReboots\n\
         exit $bakeryStatus\n"
    ));
    text
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::script::run_sh;

    fn with_env(env: &BTreeMap<String, String>) -> StepInputs<'_> {
        StepInputs {
            env,
            ..StepInputs::none()
        }
    }

    #[test]
    fn secrets_are_read_on_the_builder_and_never_travel_in_the_command() {
        // A stand-in for the AWS CLI on the builder: it answers the one parameter.
        let bin = tempfile::tempdir().unwrap();
        let aws = bin.path().join("aws");
        std::fs::write(
            &aws,
            "#!/bin/sh\ncase \"$*\" in *'--name /zookeeper/jaas-password '*) printf '%s\\n' \"s3cr3t 'value'\" ;; *) exit 254 ;; esac\n",
        )
        .unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&aws)
            .status()
            .unwrap();
        let secrets = BTreeMap::from([(
            "JAAS_PASSWORD".to_string(),
            "/zookeeper/jaas-password".to_string(),
        )]);
        let inputs = StepInputs {
            secrets: &secrets,
            region: "eu-west-1",
            ..StepInputs::none()
        };
        let text = step_command(Platform::Linux, "printf '%s' \"$JAAS_PASSWORD\"\n", inputs);
        assert!(!text.contains("s3cr3t"), "the value is not in the command");
        assert!(text.contains("--name '/zookeeper/jaas-password'"));
        // The builder's shell, with the stand-in AWS CLI first on its PATH.
        let on_builder = |text: &str| {
            Command::new("sh")
                .arg("-c")
                .arg(text)
                .env("PATH", format!("{}:/usr/bin:/bin", bin.path().display()))
                .output()
                .unwrap()
        };
        let out = on_builder(&text);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "s3cr3t 'value'");

        let missing = BTreeMap::from([("X".to_string(), "/nowhere".to_string())]);
        let text = step_command(
            Platform::Linux,
            "echo never\n",
            StepInputs {
                secrets: &missing,
                region: "eu-west-1",
                ..StepInputs::none()
            },
        );
        let out = on_builder(&text);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr)
            .contains("cannot read the SSM parameter /nowhere for X"));
        assert!(!String::from_utf8_lossy(&out.stdout).contains("never"));
    }

    /// What SSM Agent does with a step's text: runs it, and again after each reboot it
    /// is asked for (exit 194), with the reboot state kept in `state` instead of
    /// /var/lib. Each run's exit code and output.
    fn runs_on_agent(text: &str, state: &std::path::Path) -> Vec<(i32, String)> {
        let text = text.replace(LINUX_REBOOT_STATE, &state.display().to_string());
        let mut runs = Vec::new();
        while runs.len() < 30 {
            let (code, out) = run_sh(&text);
            runs.push((code, out));
            if code != LINUX_REBOOT_EXIT {
                break;
            }
        }
        runs
    }

    fn with_reboots(after: bool, at_most: u32) -> StepInputs<'static> {
        static STEP: Step = Step::Generalize;
        StepInputs {
            step: &STEP,
            reboots: Reboots { after, at_most },
            ..StepInputs::none()
        }
    }

    #[test]
    fn reboot_after_a_step_reboots_once_and_does_not_run_the_script_again() {
        let state = tempfile::tempdir().unwrap();
        let text = step_command(Platform::Linux, "echo installing\n", with_reboots(true, 5));

        let runs = runs_on_agent(&text, &state.path().join("reboots"));

        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_eq!(runs[0].0, 194);
        assert!(runs[0]
            .1
            .starts_with("installing\nbakery: rebooting the instance"));
        assert_eq!(runs[1].0, 0);
        assert!(!runs[1].1.contains("installing"), "{runs:?}");
        assert_eq!(reboots_in(&runs[1].1), 1);
        assert!(
            !state.path().join("reboots").exists(),
            "no state left behind"
        );
    }

    #[test]
    fn a_script_that_asks_for_reboots_runs_again_after_each() {
        let state = tempfile::tempdir().unwrap();
        let count = state.path().join("runs");
        let script = format!(
            "#!/bin/sh\nn=$(cat {0} 2>/dev/null || echo 0); echo $((n + 1)) > {0}\n\
             [ \"$n\" -lt 2 ] && exit 194\necho updated\n",
            count.display()
        );
        let text = step_command(Platform::Linux, &script, with_reboots(false, 5));

        let runs = runs_on_agent(&text, &state.path().join("reboots"));

        let codes: Vec<i32> = runs.iter().map(|(code, _)| *code).collect();
        assert_eq!(codes, [194, 194, 0]);
        assert!(
            runs[1].1.contains("bakery: reboot 2 of at most 5"),
            "{runs:?}"
        );
        assert!(runs[2].1.starts_with("updated\n"), "{runs:?}");
        assert_eq!(reboots_in(&runs[2].1), 2);
        assert!(!state.path().join("reboots").exists());
    }

    #[test]
    fn a_script_that_always_asks_for_a_reboot_fails_past_max_reboots() {
        let state = tempfile::tempdir().unwrap();
        let text = step_command(Platform::Linux, "exit 194\n", with_reboots(true, 2));

        let runs = runs_on_agent(&text, &state.path().join("reboots"));

        let codes: Vec<i32> = runs.iter().map(|(code, _)| *code).collect();
        assert_eq!(codes, [194, 194, 1], "{runs:?}");
        assert!(!state.path().join("reboots").exists());
    }

    #[test]
    fn a_failed_step_does_not_reboot() {
        let state = tempfile::tempdir().unwrap();
        let text = step_command(Platform::Linux, "exit 3\n", with_reboots(true, 5));

        let runs = runs_on_agent(&text, &state.path().join("reboots"));

        assert_eq!(runs.iter().map(|(c, _)| *c).collect::<Vec<_>>(), [3]);
        assert_eq!(reboots_in(&runs[0].1), 0);
    }

    #[test]
    fn the_windows_wrapper_parses_with_and_without_reboots() {
        use crate::config::powershell::syntax_errors;
        for inputs in [with_reboots(true, 5), with_reboots(false, 0)] {
            let text = step_command(Platform::Windows, "Write-Output 'hi'\n", inputs);
            assert_eq!(syntax_errors(&text), [], "{text}");
            // SSM Agent's reboot is refused while the dead-man's switch is pending.
            let lines: Vec<&str> = text.lines().collect();
            let asks: Vec<usize> = (1..lines.len())
                .filter(|&i| lines[i] == "exit 3010")
                .collect();
            assert!(!asks.is_empty());
            for i in asks {
                assert_eq!(lines[i - 1], "shutdown.exe /a 2>&1 | Out-Null", "{text}");
            }
        }
    }

    #[test]
    fn after_a_reboot_a_step_sets_the_builders_deadline_again() {
        // Stand-ins: systemctl says whether the timer runs; systemd-run notes its call.
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path();
        let deadline = bin.join("deadline");
        let armed = bin.join("armed");
        let stand_in = |name: &str, body: String| {
            std::fs::write(bin.join(name), format!("#!/bin/sh\n{body}\n")).unwrap();
            Command::new("chmod")
                .arg("+x")
                .arg(bin.join(name))
                .status()
                .unwrap();
        };
        stand_in("systemd-run", format!("echo \"$*\" > {}", armed.display()));
        let text = step_command(Platform::Linux, "true\n", with_reboots(false, 0))
            .replace(LINUX_DEADLINE, &deadline.display().to_string());
        let run = || {
            Command::new("sh")
                .arg("-c")
                .arg(&text)
                .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
                .output()
                .unwrap()
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        std::fs::write(&deadline, format!("{}\n", now + 3600)).unwrap();

        stand_in("systemctl", "exit 0".into()); // the timer runs: nothing to do
        assert!(run().status.success());
        assert!(!armed.exists());

        stand_in("systemctl", "exit 3".into()); // after a reboot: no timer
        assert!(run().status.success());
        let call = std::fs::read_to_string(&armed).unwrap();
        let seconds: u64 = call
            .split("--on-active=")
            .nth(1)
            .and_then(|rest| rest.split('s').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{call}"));
        assert!((3590..=3600).contains(&seconds), "{call}");
        assert!(call.contains("--unit=bakery-deadline"), "{call}");
    }

    #[test]
    fn a_step_runs_with_its_interpreter_env_and_exit_code() {
        let env = BTreeMap::from([("GREETING".to_string(), "hello world".to_string())]);
        let script = "#!/bin/sh\necho \"$GREETING from $0\"\nexit 3\n";
        let (code, out) = run_sh(&step_command(Platform::Linux, script, with_env(&env)));
        assert_eq!(code, 3);
        assert!(
            out.starts_with("hello world from /tmp/bakery-step."),
            "{out}"
        );
    }

    #[test]
    fn hostile_values_stay_values() {
        let hostile = [
            "'; touch /tmp/bakery-pwned; echo '",
            "$(touch /tmp/bakery-pwned)",
            "`touch /tmp/bakery-pwned`",
            "a\nBAKERY_SCRIPT_x\ntouch /tmp/bakery-pwned",
            "\\'\"$HOME",
        ];
        for value in hostile {
            let env = BTreeMap::from([("VALUE".to_string(), value.to_string())]);
            let (code, out) = run_sh(&step_command(
                Platform::Linux,
                "printf '%s' \"$VALUE\"\n",
                with_env(&env),
            ));
            assert_eq!(code, 0);
            assert_eq!(out, value);
        }
        assert!(!std::path::Path::new("/tmp/bakery-pwned").exists());
    }

    #[test]
    fn a_script_that_contains_the_delimiter_cannot_end_the_here_document() {
        let tricky = format!("echo one\n{}\necho two\n", heredoc_delimiter("echo one\n"));
        let (code, out) = run_sh(&step_command(Platform::Linux, &tricky, StepInputs::none()));
        assert_eq!(code, 0, "the script ran to its last line");
        assert!(out.contains("one") && out.contains("two"), "{out}");
    }

    #[test]
    fn powershell_steps_carry_the_script_and_the_values_encoded() {
        let env = BTreeMap::from([("NAME".to_string(), "it\u{2019}s $(evil)".to_string())]);
        let text = step_command(Platform::Windows, "Write-Output '@\n'@", with_env(&env));
        assert!(
            text.contains(&format!(
                "$env:NAME = {}",
                powershell_value("it\u{2019}s $(evil)")
            )),
            "{text}"
        );
        assert!(!text.contains("evil"), "the value is base64-encoded");
        assert_eq!(powershell_quote("x\u{2019}; y"), "'x\u{2019}\u{2019}; y'");
        assert!(
            !text.contains("Write-Output"),
            "the script is base64-encoded"
        );
    }
}
