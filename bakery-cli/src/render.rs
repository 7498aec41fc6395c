//! How a bake's events look on stderr: on a terminal, one live line per running step
//! of every bake (indicatif's `MultiProgress`) with finished and failed steps printed
//! above them; one plain timestamped line per event otherwise (Jenkins, a pipe,
//! `TERM=dumb`); JSON lines with `--output json`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bakery_core::events::{Event, EventSink, OutputStream};
use bakery_core::model::{Resource, Step};
use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::{verbosity, Verbosity};
use crate::terminal::ControlEchoOff;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A live line per running step, finished steps printed above them.
    Bar,
    /// One timestamped line per event.
    Plain,
    /// One JSON object per event.
    Json,
}

/// `--progress`: how a command's events look on stderr, whatever `--output` puts on
/// stdout (Jenkins keeps the JSON result in a file and plain lines in its log).
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Progress {
    /// Live lines where stderr is a terminal that can draw them, plain lines elsewhere.
    Auto,
    /// Live lines (plain lines where they cannot be drawn).
    Bar,
    /// One timestamped line per event.
    Plain,
    /// One JSON object per event.
    Json,
}

impl Progress {
    /// A bake's (or `bakery test`'s) events.
    pub fn style(self) -> Style {
        match self {
            Progress::Json => Style::Json,
            Progress::Plain => Style::Plain,
            Progress::Bar | Progress::Auto => Style::bars_if_drawable(),
        }
    }

    /// The events of a command beside the bake (cleanup, distribute, promote): plain
    /// lines, or JSON lines.
    pub fn of_command(self) -> Style {
        match self {
            Progress::Json => Style::Json,
            _ => Style::Plain,
        }
    }
}

impl Style {
    /// Live lines only where they can be drawn: stderr is a terminal that moves its
    /// cursor (not a pipe, not `TERM=dumb`). Anywhere else they would draw nothing at
    /// all, so plain lines stand in.
    pub fn bars_if_drawable() -> Style {
        if ProgressDrawTarget::stderr().is_hidden() {
            Style::Plain
        } else {
            Style::Bar
        }
    }
}

pub struct Renderer {
    style: Style,
    quiet: bool,
    bars: Option<Bars>,
    state: Mutex<State>,
}

/// The live lines: one per running step of each bake (several run at once with
/// `bake --all`, and a bake's steps overlap: the builder terminates during the tests).
struct Bars {
    multi: MultiProgress,
    running: Mutex<HashMap<(Option<String>, Step), ProgressBar>>,
    echo: ControlEchoOff,
}

#[derive(Default)]
struct State {
    /// Created and not yet removed: what may be left if the process exits now.
    live: Vec<Resource>,
}

impl Renderer {
    pub fn new(style: Style) -> Renderer {
        let bars = (style == Style::Bar).then(|| Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            running: Mutex::new(HashMap::new()),
            echo: ControlEchoOff::on_stderr(),
        });
        Renderer {
            style,
            quiet: verbosity() == Verbosity::Quiet,
            bars,
            state: Mutex::new(State::default()),
        }
    }

    /// Resources the bake created and has not removed.
    pub fn live_resources(&self) -> Vec<Resource> {
        self.state.lock().expect("render state").live.clone()
    }

    /// A line from the CLI itself (signals), in the same style as the events.
    pub fn notice(&self, message: &str) {
        self.emit(Event::Warning {
            message: message.to_string(),
        });
    }

    /// Clears the live lines (what is printed above them stays).
    pub fn finish(&self) {
        if let Some(bars) = &self.bars {
            for (_, bar) in bars.running.lock().expect("bars").drain() {
                bar.finish_and_clear();
            }
            let _ = bars.multi.clear();
            bars.echo.restore();
        }
    }

    fn line(&self, text: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.multi.println(text);
            }
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    /// Keeps what is live, for a second signal's list.
    fn track(&self, event: &Event) {
        let mut state = self.state.lock().expect("render state");
        match event {
            Event::ResourceCreated { resource, .. } => state.live.push(resource.clone()),
            Event::ResourceRemoved { resource, .. } => state.live.retain(|r| r != resource),
            _ => {}
        }
    }

    fn emit_as(&self, role: Option<&str>, event: Event) {
        // A build of one architecture, when the bake makes several: its lines say so.
        let (arch, event) = match event {
            Event::Architecture { arch, inner } => (Some(arch), *inner),
            event => (None, event),
        };
        self.track(&event);
        if self.quiet && !matters_when_quiet(&event) {
            return;
        }
        let label = match (role, arch) {
            (Some(role), Some(arch)) => Some(format!("{role} {arch}")),
            (role, arch) => role.map(str::to_string).or(arch.map(|a| a.to_string())),
        };
        let prefix = label.as_ref().map(|l| format!("{l}: ")).unwrap_or_default();
        match (&self.bars, self.style) {
            (_, Style::Json) => {
                let mut value = serde_json::to_value(&event).expect("events serialize");
                value["at"] = serde_json::Value::String(timestamp());
                if let Some(role) = role {
                    value["role"] = serde_json::Value::String(role.to_string());
                }
                if let Some(arch) = arch {
                    value["arch"] = serde_json::Value::String(arch.to_string());
                }
                self.line(&value.to_string());
            }
            (Some(bars), _) => self.draw(bars, label.as_deref(), &prefix, &event),
            (None, _) => {
                if let Some(text) = describe(&event) {
                    self.line(&format!("{} {prefix}{}", timestamp(), paint(&event, text)));
                }
            }
        }
    }

    /// The live lines: a step's line appears when it starts, shows what it waits
    /// for, and gives way to a ✔ or ✘ line above the others when it ends.
    // Long on purpose: one arm per kind of event that changes the live lines.
    fn draw(&self, bars: &Bars, role: Option<&str>, prefix: &str, event: &Event) {
        let key = |step: &Step| (role.map(str::to_string), step.clone());
        match event {
            Event::StepStarted { step } => {
                let bar = bars.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner:.cyan} {elapsed:>4} {prefix}{wide_msg}")
                        .expect("valid template"),
                );
                bar.set_prefix(format!("{prefix}{step}"));
                bar.enable_steady_tick(Duration::from_millis(120));
                bars.running.lock().expect("bars").insert(key(step), bar);
            }
            Event::Waiting {
                step,
                resource,
                state,
                ..
            } => {
                if let Some(bar) = bars.running.lock().expect("bars").get(&key(step)) {
                    bar.set_message(format!(": {resource} {state}"));
                }
            }
            Event::StepFinished { step, seconds } => {
                self.end_step(bars, &key(step));
                self.line(&format!(
                    "  {} {:<32} {seconds:>7.1}s",
                    style("\u{2714}").for_stderr().green(),
                    format!("{prefix}{step}")
                ));
            }
            Event::StepFailed {
                step,
                seconds,
                error,
            } => {
                self.end_step(bars, &key(step));
                self.line(&format!(
                    "  {} {}",
                    style("\u{2718}").for_stderr().red().bold(),
                    style(format!(
                        "{prefix}{step} FAILED after {seconds:.1}s: {error}"
                    ))
                    .for_stderr()
                    .red()
                ));
            }
            Event::StepStopped { step, seconds, why } => {
                self.end_step(bars, &key(step));
                self.line(&format!(
                    "  {} {}",
                    style("\u{25a0}").for_stderr().yellow(),
                    style(format!("{prefix}{step} stopped after {seconds:.1}s: {why}"))
                        .for_stderr()
                        .yellow()
                ));
            }
            _ => {
                if let Some(text) = describe(event) {
                    self.line(&format!("    {prefix}{}", paint(event, text)));
                }
            }
        }
    }

    fn end_step(&self, bars: &Bars, key: &(Option<String>, Step)) {
        if let Some(bar) = bars.running.lock().expect("bars").remove(key) {
            bar.finish_and_clear();
            bars.multi.remove(&bar);
        }
    }
}

impl EventSink for Renderer {
    fn emit(&self, event: Event) {
        self.emit_as(None, event);
    }
}

/// The events of one of several bakes (`bake --all`), marked with its role.
pub struct RoleEvents {
    pub role: String,
    pub renderer: Arc<Renderer>,
}

impl EventSink for RoleEvents {
    fn emit(&self, event: Event) {
        self.renderer.emit_as(Some(&self.role), event);
    }
}

/// With `-q`: what went wrong or stays behind, nothing of what went right.
fn matters_when_quiet(event: &Event) -> bool {
    match event {
        Event::StepFailed { .. } | Event::Warning { .. } | Event::ResourceKept { .. } => true,
        Event::CleanupFinished { leaked, .. } => !leaked.is_empty(),
        _ => false,
    }
}

/// Failures in red, warnings and what stays behind in yellow (when colour is on:
/// `--color`, `NO_COLOR`, a terminal).
fn paint(event: &Event, text: String) -> String {
    match event {
        Event::StepFailed { .. } => style(text).for_stderr().red().bold().to_string(),
        Event::CleanupFinished { leaked, .. } if !leaked.is_empty() => {
            style(text).for_stderr().red().bold().to_string()
        }
        Event::Warning { .. } | Event::ResourceKept { .. } | Event::StepStopped { .. } => {
            style(text).for_stderr().yellow().to_string()
        }
        Event::Output { .. } => style(text).for_stderr().dim().to_string(),
        _ => text,
    }
}

fn timestamp() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// The plain-text form of an event, or None for events only the JSON form carries.
// Long on purpose: one arm per event, a table read top to bottom.
fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::BakeStarted {
            bake_id,
            release,
            region,
            recipe,
            environment,
            copies_to,
        } => {
            let env = environment.as_ref().map_or_else(
                || "no environment".to_string(),
                |e| format!("environment {e}"),
            );
            let copies = match copies_to.is_empty() {
                true => String::new(),
                false => format!(", copied to {}", copies_to.join(", ")),
            };
            format!("baking {release} in {region}{copies} ({env}) from {recipe} (bake {bake_id})")
        }
        Event::StepStarted { step } => format!("[{step}] started"),
        Event::StepFinished { step, seconds } => format!("[{step}] done in {seconds:.1}s"),
        Event::StepFailed {
            step,
            seconds,
            error,
        } => format!("[{step}] FAILED after {seconds:.1}s: {error}"),
        Event::StepStopped { step, seconds, why } => {
            format!("[{step}] stopped after {seconds:.1}s: {why}")
        }
        Event::Info { step, message } => format!("[{step}] {message}"),
        Event::Waiting {
            step,
            resource,
            state,
            elapsed_seconds,
        } => {
            format!("[{step}] {resource}: {state} ({elapsed_seconds:.0}s)")
        }
        Event::Output { step, stream, line } => match stream {
            OutputStream::Stdout => format!("[{step}] | {line}"),
            OutputStream::Stderr => format!("[{step}] ! {line}"),
        },
        Event::ResourceCreated { step, resource } => {
            format!("[{step}] created {}", resource.describe())
        }
        Event::ResourceRemoved { step, resource } => {
            format!("[{step}] removed {}", resource.describe())
        }
        Event::ResourceKept { resource, reason } => {
            format!("[cleanup] KEEPING {} — {reason}", resource.describe())
        }
        Event::Warning { message } => format!("WARNING: {message}"),
        Event::CleanupStarted { reason } => {
            format!("[cleanup] {reason}: removing what it created")
        }
        Event::CleanupFinished { leaked, kept } if leaked.is_empty() && kept.is_empty() => {
            "[cleanup] nothing left behind".to_string()
        }
        Event::CleanupFinished { leaked, kept } if leaked.is_empty() => format!(
            "[cleanup] the rest removed; kept on purpose: {}",
            kept.iter()
                .map(Resource::describe)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        // Unwrapped before it is described.
        Event::Architecture { .. } => return None,
        Event::CleanupFinished { leaked, .. } => format!(
            "[cleanup] INCOMPLETE, left behind: {}",
            leaked
                .iter()
                .map(Resource::describe)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}
