//! A step's script wrapped for SSM Run Command: written to a private file, run by its
//! own interpreter, with its environment and secrets.
//!
//! Values reach scripts only as quoted environment assignments, so no value can
//! become code, whatever it contains.

use std::collections::BTreeMap;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::model::Platform;

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
}

impl StepInputs<'static> {
    /// No values at all.
    pub fn none() -> StepInputs<'static> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        StepInputs {
            env: &EMPTY,
            secrets: &EMPTY,
            region: "",
        }
    }
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
    let mut text = String::from(
        "set -u\numask 077\nbakery_dir=$(mktemp -d /tmp/bakery-step.XXXXXX) || exit 1\n",
    );
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
    text.push_str(
        "\"$bakery_dir/script\"\nbakery_status=$?\nrm -rf \"$bakery_dir\"\nexit $bakery_status\n",
    );
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
    let mut text = String::from(
        "$ErrorActionPreference = 'Stop'\n\
         $bakeryDir = Join-Path $env:TEMP ('bakery-step-' + [guid]::NewGuid())\n\
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
         Remove-Item -Recurse -Force $bakeryDir\n\
         exit $bakeryStatus\n",
    );
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
