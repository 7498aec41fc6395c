//! `bakery validate`: everything that can be checked about a recipe without AWS —
//! the schema (with the place of each mistake), the scripts: shellcheck on a Linux
//! recipe's (where it is installed), PowerShell's grammar on a Windows recipe's.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

use super::digest::recipe_digest;
use super::powershell;
use super::recipe::Recipe;
use crate::error::{Error, Result};
use crate::model::Platform;

/// A problem found in one of the recipe's scripts: by shellcheck, or a PowerShell
/// syntax error (`file:line:column: …`).
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The script's path inside the recipe folder, as `recipe.toml` names it.
    pub script: String,
    /// shellcheck's line (`gcc` format), or the syntax error as `file:line:column: …`.
    pub message: String,
}

/// What `bakery validate` found in one recipe; its JSON is the command's result for that recipe.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    /// The recipe folder, as given.
    pub recipe: String,
    /// The recipe's `name`: the role.
    pub role: String,
    /// The recipe's `platform`: `linux` or `windows`.
    pub platform: String,
    /// How many `[[steps]]` the recipe has.
    pub steps: usize,
    /// The release gate's `[[tests]]`.
    pub tests: usize,
    /// False when shellcheck is not installed: the scripts were not linted.
    pub shellchecked: bool,
    /// The problems found in the scripts; empty when they are clean or were not linted.
    pub findings: Vec<Finding>,
}

/// Reads the recipe (any schema error is returned as an input error naming file,
/// line and key) and lints its shell scripts.
pub fn validate(dir: &Path) -> Result<Validation> {
    let recipe = Recipe::load(dir)?;
    // Every file of the folder, as the bake's digest reads them: none leads outside.
    recipe_digest(dir)?;
    let shellcheck = Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut findings = Vec::new();
    if recipe.platform == Platform::Windows {
        for step in recipe.steps.iter().chain(&recipe.tests) {
            findings.extend(parse_powershell(dir, &step.script, &step.script_text));
        }
    }
    if shellcheck && recipe.platform == Platform::Linux {
        for step in recipe.steps.iter().chain(&recipe.tests) {
            let path = dir.join(&step.script);
            let out = Command::new("shellcheck")
                .args(["--format", "gcc", "--shell", shell_of(&step.script_text)])
                .arg(&path)
                .output()
                .map_err(|e| {
                    Error::input(format!("cannot run shellcheck on {}: {e}", path.display()))
                })?;
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                findings.push(Finding {
                    script: step.script.display().to_string(),
                    message: line.to_string(),
                });
            }
        }
    }
    Ok(Validation {
        recipe: dir.display().to_string(),
        role: recipe.name.to_string(),
        platform: recipe.platform.to_string(),
        steps: recipe.steps.len(),
        tests: recipe.tests.len(),
        shellchecked: shellcheck && recipe.platform == Platform::Linux,
        findings,
    })
}

/// The syntax errors of one PowerShell script, each at its place.
fn parse_powershell(dir: &Path, script: &Path, text: &str) -> Vec<Finding> {
    powershell::syntax_errors(text)
        .into_iter()
        .map(|error| Finding {
            script: script.display().to_string(),
            message: format!(
                "{}:{}:{}: PowerShell syntax error near `{}`",
                dir.join(script).display(),
                error.line,
                error.column,
                error.near
            ),
        })
        .collect()
}

/// The dialect shellcheck should check: the script's `#!` line, sh by default.
fn shell_of(script: &str) -> &'static str {
    let first = script.lines().next().unwrap_or_default();
    if !first.starts_with("#!") {
        return "sh";
    }
    ["bash", "dash", "ksh"]
        .into_iter()
        .find(|shell| first.contains(shell))
        .unwrap_or("sh")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shebang_picks_the_dialect() {
        assert_eq!(shell_of("#!/bin/bash\n"), "bash");
        assert_eq!(shell_of("#!/usr/bin/env bash\n"), "bash");
        assert_eq!(shell_of("#!/bin/sh\n"), "sh");
        assert_eq!(shell_of("echo hi\n"), "sh");
    }
}
