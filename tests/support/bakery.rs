//! The real `bakery` binary, run as its users run it: arguments, environment, working
//! folder; its exit code, stdout and stderr, or its stderr line by line while it runs.
//! Shared by the test binaries; each uses part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The real `bakery` binary with test credentials and a region. Its AWS endpoint is
/// a port nothing listens on, so that any AWS call fails: commands that must not call
/// AWS are run as they are; the end-to-end tests point it at the emulator.
pub struct Bakery {
    command: Command,
    /// Its input is a pipe the test types into ([`Running::type_keys`]), not nothing.
    keyboard: bool,
}

/// PATH with the tools `scripts/local-aws install` pins (`.local-aws/bin`) first.
fn tools_first() -> std::ffi::OsString {
    let pinned = repo_root().join(".local-aws/bin");
    let rest = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![pinned];
    paths.extend(std::env::split_paths(&rest));
    std::env::join_paths(paths).expect("PATH entries without a separator")
}

/// Nothing listens here: an AWS call fails at once.
pub const NO_AWS: &str = "http://127.0.0.1:9";

/// What a finished `bakery` run left: exit code, stdout, stderr.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

#[track_caller]
fn expect_in(stream: &str, said: &str, text: &str) {
    assert!(said.contains(text), "{stream} lacks {text:?}:\n{said}");
}

impl Outcome {
    /// stdout as the one JSON object of `--output json`.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Checks the exit code; the message shows stderr, where bakery says why.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Outcome {
        assert_eq!(self.code, code, "exit code; stderr:\n{}", self.stderr);
        self
    }

    /// Checks that stderr says `text`.
    #[track_caller]
    pub fn expect_stderr(&self, text: &str) -> &Outcome {
        expect_in("stderr", &self.stderr, text);
        self
    }

    /// Checks that stdout says `text`.
    #[track_caller]
    pub fn expect_stdout(&self, text: &str) -> &Outcome {
        expect_in("stdout", &self.stdout, text);
        self
    }

    /// stderr's JSON-lines events.
    /// The events on stderr, with `--progress json`.
    pub fn events(&self) -> Vec<Value> {
        self.stderr
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Bakery {
    pub fn new(region: &str) -> Bakery {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bakery"));
        command
            .env("AWS_ENDPOINT_URL", NO_AWS)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", region)
            .env_remove("AWS_PROFILE")
            // The suite's pinned tools (shellcheck) before the machine's.
            .env("PATH", tools_first())
            .env_remove("GIT_COMMIT")
            .env_remove("BUILD_URL")
            // The suite's own timings, not those of the person running it.
            .env(
                "BAKERY_TIMINGS",
                std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("timings.json"),
            )
            .current_dir(repo_root());
        Bakery {
            command,
            keyboard: false,
        }
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(mut self, args: I) -> Bakery {
        self.command.args(args);
        self
    }

    /// `bakery bake --version <version> <recipe>`.
    pub fn bake(self, recipe: &Path, version: &str) -> Bakery {
        self.args(["bake", "--version", version]).arg_path(recipe)
    }

    /// `bakery plan <recipe> --version <version> --output json`.
    pub fn plan_json(self, recipe: &Path, version: &str) -> Bakery {
        self.args(["plan", "--version", version, "--output", "json"])
            .arg_path(recipe)
    }

    /// `bakery bake <recipe> --version <version> --output json --progress json`: the
    /// result on stdout, the events on stderr, both JSON.
    pub fn bake_json(self, recipe: &Path, version: &str) -> Bakery {
        self.args(["bake", "--version", version])
            .args(["--output", "json", "--progress", "json"])
            .arg_path(recipe)
    }

    /// `bakery bake --all <folder> --version <version> --output json --progress json`.
    pub fn bake_all_json(self, folder: &Path, version: &str) -> Bakery {
        self.args(["bake", "--all", "--version", version])
            .args(["--output", "json", "--progress", "json"])
            .arg_path(folder)
    }

    pub fn arg_path(mut self, path: &Path) -> Bakery {
        self.command.arg(path);
        self
    }

    /// Runs bakery through another program, e.g. `unshare --pid --fork --mount-proc`:
    /// the same arguments, environment and folder.
    pub fn through(self, wrapper: &[&str]) -> Bakery {
        let (program, rest) = wrapper.split_first().expect("a wrapper program");
        let mut args: Vec<std::ffi::OsString> = rest.iter().map(Into::into).collect();
        args.push(self.command.get_program().to_owned());
        self.run_as(program.as_ref(), args)
    }

    /// Runs bakery on a terminal of its own (a pseudo-terminal that `script` makes, as
    /// `TERM=xterm`), whose keyboard is [`Running::type_keys`] and whose screen — every
    /// byte written to it, the terminal's echo included — is the outcome's stdout.
    pub fn on_a_terminal(self) -> Bakery {
        let quoted: Vec<String> = std::iter::once(self.command.get_program())
            .chain(self.command.get_args())
            .map(|arg| format!("'{}'", arg.to_string_lossy().replace('\'', "'\\''")))
            .collect();
        let script = ["-qefc".into(), quoted.join(" ").into(), "/dev/null".into()];
        let mut on_terminal = self.env("TERM", "xterm").instead("script".as_ref(), script);
        on_terminal.keyboard = true;
        on_terminal
    }

    /// Runs the same binary under another name (a hard link, as a package or a
    /// container image may install it): the same arguments, environment and folder.
    pub fn renamed(self, name: &str) -> Bakery {
        // Per test process: a link made before the binary was rebuilt is the old one.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("renamed")
            .join(std::process::id().to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join(name);
        if !link.exists() {
            let _ = std::fs::hard_link(self.command.get_program(), &link);
        }
        self.run_as(link.as_os_str(), Vec::new())
    }

    /// `program`, given `first` and then this command's arguments, in its environment.
    fn run_as(self, program: &std::ffi::OsStr, first: Vec<std::ffi::OsString>) -> Bakery {
        let args: Vec<std::ffi::OsString> = first
            .into_iter()
            .chain(self.command.get_args().map(Into::into))
            .collect();
        self.instead(program, args)
    }

    /// `program` with `args` in this command's environment and folder.
    fn instead(
        self,
        program: &std::ffi::OsStr,
        args: impl IntoIterator<Item = std::ffi::OsString>,
    ) -> Bakery {
        let mut command = Command::new(program);
        command.args(args);
        for (key, value) in self.command.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Some(dir) = self.command.get_current_dir() {
            command.current_dir(dir);
        }
        Bakery {
            command,
            keyboard: self.keyboard,
        }
    }

    /// Runs bakery from `dir` (where it looks for bakery.toml, and upward).
    pub fn current_dir(mut self, dir: &Path) -> Bakery {
        self.command.current_dir(dir);
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Bakery {
        self.command.env(key, value);
        self
    }

    /// Runs bakery to its end (within [`RUN_DEADLINE`]).
    pub fn run(self) -> Outcome {
        self.spawn().finish()
    }

    /// Runs bakery with stdout and stderr going into a pipe nobody reads any more, as
    /// `bakery … | head` leaves them once `head` has exited.
    pub fn run_into_a_closed_pipe(mut self) -> Outcome {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let stderr = writer.try_clone().expect("the pipe twice");
        let status = self
            .command
            .stdout(writer)
            .stderr(stderr)
            .status()
            .expect("bakery runs");
        Outcome {
            code: status.code().unwrap_or(-1),
            stdout: String::new(),
            stderr: String::new(),
        }
    }

    /// Starts bakery and hands its stderr lines to the caller as they come.
    pub fn spawn(mut self) -> Running {
        let keyboard = match self.keyboard {
            true => Stdio::piped(),
            false => Stdio::null(),
        };
        let mut child = self
            .command
            .stdin(keyboard)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bakery starts");
        // Both pipes are drained by threads of their own: a full one never stalls it.
        let (lines, stderr) = std::sync::mpsc::channel();
        let err = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in err.lines().map_while(|l| l.ok()) {
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        });
        Running {
            keyboard: child.stdin.take(),
            child,
            stderr,
            stdout: Some(stdout),
            seen: String::new(),
            started: Instant::now(),
        }
    }
}

/// The longest a test lets one bakery run take; the suite's emulated AWS answers in
/// seconds, so a run past this hangs.
pub const RUN_DEADLINE: Duration = Duration::from_secs(10 * 60);

pub struct Running {
    child: Child,
    keyboard: Option<std::process::ChildStdin>,
    stderr: Receiver<String>,
    stdout: Option<std::thread::JoinHandle<String>>,
    seen: String,
    started: Instant,
}

impl Running {
    /// Reads stderr until a line contains `text` (within [`RUN_DEADLINE`] of the start).
    pub fn wait_for_line(&mut self, text: &str) {
        loop {
            let left = RUN_DEADLINE.saturating_sub(self.started.elapsed());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                    if line.contains(text) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!(
                        "no `{text}` within {RUN_DEADLINE:?}; it printed:\n{}",
                        self.seen
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "bakery ended before printing `{text}`; it printed:\n{}",
                        self.seen
                    )
                }
            }
        }
    }

    /// Types `keys` on bakery's terminal ([`Bakery::on_a_terminal`]): `b"\x03"` is
    /// Ctrl-C.
    pub fn type_keys(&mut self, keys: &[u8]) {
        let keyboard = self.keyboard.as_mut().expect("bakery runs on_a_terminal");
        keyboard.write_all(keys).unwrap();
        keyboard.flush().unwrap();
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for bakery's end (within [`RUN_DEADLINE`] of its start; past it, bakery is
    /// killed and the test fails) and returns what it left.
    pub fn finish(mut self) -> Outcome {
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if self.started.elapsed() > RUN_DEADLINE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let seen = self.stderr.try_iter().collect::<Vec<_>>().join("\n");
                panic!(
                    "bakery still ran after {RUN_DEADLINE:?}:\n{}{seen}",
                    self.seen
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The pipes close with the process (or with its last child holding them).
        let stdout = self.stdout.take().unwrap().join().unwrap_or_default();
        let rest: Vec<String> = self.stderr.iter().collect();
        let mut stderr = std::mem::take(&mut self.seen);
        for line in rest {
            stderr.push_str(&line);
            stderr.push('\n');
        }
        Outcome {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        }
    }
}

/// A test that fails half-way must not leave a bake running against the emulator
/// (it would act on the next run's resources).
impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
