//! The documentation runs as written. Every command line of README.md and docs/*.md —
//! the lines of ```sh blocks, the `$ ` lines of ```console blocks, and the `sh` steps
//! of the Jenkinsfiles (```groovy) — runs, in the order a reader meets them, in one
//! fresh copy of the repository, against an emulator of its own started the way the
//! README says (`eval "$(scripts/local-aws start)"`), with the example environments
//! (`examples/bakery.toml`). One shell session per document, in order (the README
//! first: later documents build on its releases); a command that fails fails the test
//! with the document, the line and the output. ```text blocks are grammar and output
//! samples, not commands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::repo_root;

/// What a new user does before anything else (README.md, "Try it by hand").
const SETUP: &[&str] = &[
    "eval \"$(scripts/local-aws start)\"",
    "export BAKERY_CONFIG=$PWD/examples/bakery.toml",
];

/// Lines of the docs the sessions do not run, and why.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "scripts/demo",
        "builds and bakes against the default emulator: the suite's bakes are the same",
    ),
    ("scripts/test", "the test suite itself"),
    (
        "AWS_REGION=us-east-1 cargo run -p bakery-core --example bake",
        "a build inside the suite's: tests/e2e/library.rs runs the same program",
    ),
    (
        "cargo doc -p bakery-core",
        "scripts/test builds the documentation, warnings as errors",
    ),
    (
        "cargo install --locked --path bakery-cli",
        "a release build of half an hour: the sessions put the suite's own build on the PATH",
    ),
];

/// Run last, whatever document says it.
const LAST: &str = "scripts/local-aws stop";

/// The documents, in the order a reader goes through them.
const DOCUMENTS: &[&str] = &[
    "README.md",
    "docs/recipes.md",
    "docs/jenkins.md",
    "docs/tags.md",
    "docs/ARCHITECTURE.md",
    "docs/benchmarks.md",
];

/// A command of a document and where it is.
#[derive(Debug, Clone, PartialEq)]
struct DocCommand {
    line: usize,
    text: String,
}

/// The command lines of a Markdown document: ```sh lines, ```console `$ ` lines, and
/// the `sh '…'` / `sh '''…'''` steps of ```groovy blocks; `\` continues a line.
fn commands(markdown: &str) -> Vec<DocCommand> {
    let mut found = Vec::new();
    let mut block: Option<String> = None;
    let mut pending: Option<DocCommand> = None;
    let mut groovy_sh: Option<DocCommand> = None;
    for (index, line) in markdown.lines().enumerate() {
        let number = index + 1;
        if let Some(info) = line.trim_start().strip_prefix("```") {
            if let Some(unended) = pending.take() {
                panic!(
                    "line {}: a command that never ends: {}",
                    unended.line, unended.text
                );
            }
            block = match block {
                Some(_) => None,
                None => Some(info.split_whitespace().next().unwrap_or("").to_string()),
            };
            continue;
        }
        let Some(kind) = block.as_deref() else {
            continue;
        };
        let text = match kind {
            "sh" | "bash" | "shell" => Some(line.to_string()),
            "console" => line
                .strip_prefix("$ ")
                .map(str::to_string)
                .or_else(|| pending.is_some().then(|| line.to_string())),
            "groovy" => groovy_line(line, number, &mut groovy_sh, &mut found),
            _ => None,
        };
        let Some(text) = text else { continue };
        let continued = text.trim_end().ends_with('\\');
        let piece = text.trim_end().trim_end_matches('\\').to_string();
        match &mut pending {
            // A quote left open goes on with the next line, as the shell reads it.
            Some(command) if open_quote(&command.text).is_some() => {
                command.text.push('\n');
                command.text.push_str(piece.trim());
            }
            Some(command) => {
                command.text.push(' ');
                command.text.push_str(piece.trim());
            }
            None => {
                let trimmed = piece.trim();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                pending = Some(DocCommand {
                    line: number,
                    text: trimmed.to_string(),
                });
            }
        }
        let quoted = pending
            .as_ref()
            .is_some_and(|c| open_quote(&c.text).is_some());
        if !continued && !quoted {
            found.extend(pending.take());
        }
    }
    found
}

/// A Jenkinsfile line: `sh 'command'` is a command; `sh '''` opens a script whose
/// lines are commands until `'''`.
fn groovy_line(
    line: &str,
    number: usize,
    script: &mut Option<DocCommand>,
    found: &mut Vec<DocCommand>,
) -> Option<String> {
    let trimmed = line.trim();
    if script.is_some() {
        if trimmed == "'''" {
            *script = None;
            return None;
        }
        return Some(trimmed.to_string());
    }
    if let Some(rest) = trimmed.strip_prefix("sh '''") {
        *script = Some(DocCommand {
            line: number,
            text: String::new(),
        });
        return (!rest.trim().is_empty()).then(|| rest.to_string());
    }
    let inner = trimmed
        .strip_prefix("sh '")
        .or_else(|| trimmed.strip_prefix("steps { sh '"))?;
    let end = inner.rfind('\'')?;
    found.push(DocCommand {
        line: number,
        text: inner[..end].to_string(),
    });
    None
}

/// Where a shell would be at the end of `text`: still inside a quote (which one), and
/// where a trailing `# comment` starts (a `#` after a space, outside quotes).
fn shell_state(text: &str) -> (Option<char>, Option<usize>) {
    let mut open = None;
    let mut previous = ' ';
    for (index, c) in text.char_indices() {
        match open {
            Some(quote) if c == quote => open = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => open = Some(c),
            None if c == '#' && previous.is_whitespace() => return (None, Some(index)),
            None => {}
        }
        previous = c;
    }
    (open, None)
}

/// The quote a shell would still be inside of at the end of `text`.
fn open_quote(text: &str) -> Option<char> {
    shell_state(text).0
}

/// The command without its trailing `# comment`.
fn bare(text: &str) -> &str {
    match shell_state(text).1 {
        Some(comment) => text[..comment].trim(),
        None => text.trim(),
    }
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A fresh copy of the repository as a clone has it (tracked and new files, nothing
/// ignored), with the emulator's installed virtualenvs linked in.
fn fresh_copy() -> tempfile::TempDir {
    let root = repo_root();
    let copy = tempfile::Builder::new()
        .prefix("bakery-docs-")
        .tempdir()
        .unwrap();
    std::fs::create_dir(copy.path().join(".home")).unwrap();
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(listed.status.success());
    for file in listed.stdout.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let relative = PathBuf::from(String::from_utf8_lossy(file).into_owned());
        let from = root.join(&relative);
        if !from.is_file() {
            continue;
        }
        let to = copy.path().join(&relative);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    std::fs::create_dir_all(copy.path().join(".local-aws")).unwrap();
    for venv in ["venv", "awscli"] {
        let installed = root.join(".local-aws").join(venv);
        if installed.exists() {
            std::os::unix::fs::symlink(installed, copy.path().join(".local-aws").join(venv))
                .unwrap();
        }
    }
    copy
}

/// The session's shell script: the setup, then each command announced with its place.
fn session_script(document: &str, commands: &[DocCommand], setup: bool) -> String {
    let mut script = String::from("set -euo pipefail\n");
    if setup {
        for line in SETUP {
            script.push_str(&format!(
                "echo {} >&2\n{line}\n",
                quote(&format!("+ (setup) {line}"))
            ));
        }
    }
    for command in commands {
        let place = format!("+ {document}:{}: {}", command.line, command.text);
        script.push_str(&format!("echo {} >&2\n{}\n", quote(&place), command.text));
    }
    script
}

/// What Jenkins sets for a job (docs/jenkins.md's jobs read them).
fn jenkins_environment() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("BUILD_NUMBER", "7"),
        (
            "BUILD_URL",
            "https://jenkins.example.com/job/zookeeper-image/7/",
        ),
        ("GIT_COMMIT", "0123456789abcdef0123456789abcdef01234567"),
        ("JOB_NAME", "zookeeper-image"),
        ("ZOOKEEPER_VERSION", "3.9.4"),
    ])
}

fn run_session(copy: &Path, document: &str, script: &str) {
    let bin = Path::new(env!("CARGO_BIN_EXE_bakery")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut shell = Command::new("bash");
    shell
        .arg("-c")
        .arg(script)
        .current_dir(copy)
        .env_clear()
        .env("PATH", path)
        // A new user's home: no AWS profile, no shell setup of ours.
        .env("HOME", copy.join(".home"))
        .env("BAKERY_LOCAL_AWS_NAME", "docs")
        .env("NO_COLOR", "1");
    if document == "docs/jenkins.md" {
        shell.envs(jenkins_environment());
    }
    let ran = shell.output().unwrap();
    let stderr = String::from_utf8_lossy(&ran.stderr);
    if !ran.status.success() {
        let last = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("+ "))
            .unwrap_or("(before the first command)");
        let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
        panic!(
            "{document}: a command failed with {}:\n{last}\n--- stdout (end) ---\n{}\n--- stderr (end) ---\n{}",
            ran.status,
            String::from_utf8_lossy(&ran.stdout)
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n"),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
}

struct StopsTheEmulator<'a>(&'a Path);

impl Drop for StopsTheEmulator<'_> {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(self.0.join("scripts/local-aws"))
            .arg("stop")
            .env("BAKERY_LOCAL_AWS_NAME", "docs")
            .output();
    }
}

#[test]
fn every_command_of_the_readme_and_the_docs_runs_as_written() {
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for line in SETUP.iter().chain([&LAST]) {
        assert!(readme.contains(line), "README.md no longer says `{line}`");
    }
    for (line, _) in NOT_RUN {
        assert!(readme.contains(line), "README.md no longer says `{line}`");
    }
    let copy = fresh_copy();
    // The sessions' emulator stops at the end, whatever happened.
    let _stop = StopsTheEmulator(copy.path());
    let mut ran = 0;
    for document in DOCUMENTS {
        let text = std::fs::read_to_string(copy.path().join(document)).unwrap();
        let to_run: Vec<DocCommand> = commands(&text)
            .into_iter()
            .filter(|c| bare(&c.text) != LAST && !SETUP.contains(&bare(&c.text)))
            .filter(|c| {
                !NOT_RUN
                    .iter()
                    .any(|(line, _)| bare(&c.text).starts_with(line))
            })
            .collect();
        if to_run.is_empty() {
            continue;
        }
        ran += to_run.len();
        run_session(
            copy.path(),
            document,
            &session_script(document, &to_run, true),
        );
    }
    assert!(
        ran >= 30,
        "only {ran} commands ran: did the docs lose their examples?"
    );
}

#[test]
fn command_lines_are_read_from_every_kind_of_block() {
    let markdown = "```console\n$ bakery bake recipes/base \\\n  --version 2.4.0\nbase@2.4.0 baked\n```\n\
                    ```sh\n# a comment\nbakery releases base   # the releases\n```\n\
                    ```text\nbakery bake <RECIPE>\n```\n\
                    ```groovy\nsteps { sh 'bakery outdated recipes' }\nsh '''\n  set -eu\n  bakery audit\n'''\n```\n\
                    ```sh\njq -r '.builds[]\n  | .name' m.json   # a program on two lines\n```\n";
    let texts: Vec<String> = commands(markdown).into_iter().map(|c| c.text).collect();
    assert_eq!(
        texts,
        [
            "bakery bake recipes/base --version 2.4.0",
            "bakery releases base   # the releases",
            "bakery outdated recipes",
            "set -eu",
            "bakery audit",
            "jq -r '.builds[]\n| .name' m.json   # a program on two lines",
        ]
    );
    assert_eq!(
        bare("bakery cleanup --yes   # remove it"),
        "bakery cleanup --yes"
    );
    assert_eq!(
        bare("echo '# not a comment' # one"),
        "echo '# not a comment'"
    );
    // A quote in a comment opens nothing.
    let texts: Vec<String> = commands(
        "```sh\nbakery unshare base 1.0.0   # the environment's grants\nbakery share base 1.0.0\n```\n",
    )
    .into_iter()
    .map(|c| c.text)
    .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
}
