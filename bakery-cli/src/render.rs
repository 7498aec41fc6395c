//! How a bake's events look on stderr: a spinner on a terminal, one plain timestamped
//! line per event otherwise (Jenkins), or JSON lines with `--output json`.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bakery_core::events::{Event, EventSink, OutputStream};
use bakery_core::model::Resource;
use indicatif::{ProgressBar, ProgressStyle};

use crate::output::Output;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A spinner for the current step, finished steps printed above it.
    Bar,
    /// One timestamped line per event.
    Plain,
    /// One JSON object per event.
    Json,
}

pub struct Renderer {
    style: Style,
    spinner: Option<ProgressBar>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Created and not yet removed: what may be left if the process exits now.
    live: Vec<Resource>,
}

impl Style {
    /// The events of a command beside the bake (cleanup, distribute, promote): plain
    /// lines, or JSON lines with `--output json`.
    pub fn of_command(output: Output) -> Style {
        match output {
            Output::Json => Style::Json,
            Output::Text => Style::Plain,
        }
    }
}

impl Renderer {
    pub fn new(style: Style) -> Renderer {
        let spinner = (style == Style::Bar).then(|| {
            let spinner = ProgressBar::new_spinner();
            spinner.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {elapsed:>4} {msg}")
                    .expect("valid template"),
            );
            spinner.enable_steady_tick(Duration::from_millis(120));
            spinner
        });
        Renderer {
            style,
            spinner,
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

    pub fn finish(&self) {
        if let Some(spinner) = &self.spinner {
            spinner.finish_and_clear();
        }
    }

    fn line(&self, text: &str) {
        match &self.spinner {
            Some(spinner) => spinner.println(text),
            None => {
                let mut stderr = std::io::stderr().lock();
                let _ = writeln!(stderr, "{text}");
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

impl Renderer {
    fn emit_as(&self, role: Option<&str>, event: Event) {
        self.track(&event);
        let prefix = role.map(|r| format!("{r}: ")).unwrap_or_default();
        match self.style {
            Style::Json => {
                let mut value = serde_json::to_value(&event).expect("events serialize");
                value["at"] = serde_json::Value::String(timestamp());
                if let Some(role) = role {
                    value["role"] = serde_json::Value::String(role.to_string());
                }
                self.line(&value.to_string());
            }
            Style::Plain => {
                if let Some(text) = describe(&event) {
                    self.line(&format!("{} {prefix}{text}", timestamp()));
                }
            }
            Style::Bar => {
                let spinner = self.spinner.as_ref().expect("bar style has a spinner");
                match &event {
                    Event::StepStarted { step } => spinner.set_message(format!("{prefix}{step}")),
                    Event::Waiting {
                        step,
                        resource,
                        state,
                        ..
                    } => spinner.set_message(format!("{prefix}{step}: {resource} {state}")),
                    Event::StepFinished { step, seconds } => {
                        spinner.println(format!("  \u{2714} {prefix}{step:<24} {seconds:>7.1}s"))
                    }
                    _ => {
                        if let Some(text) = describe(&event) {
                            spinner.println(format!("    {prefix}{text}"));
                        }
                    }
                }
            }
        }
    }
}

fn timestamp() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// The plain-text form of an event, or None for events only the JSON form carries.
fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::BakeStarted {
            bake_id,
            release,
            region,
            recipe,
        } => {
            format!("baking {release} in {region} from {recipe} (bake {bake_id})")
        }
        Event::StepStarted { step } => format!("[{step}] started"),
        Event::StepFinished { step, seconds } => format!("[{step}] done in {seconds:.1}s"),
        Event::StepFailed {
            step,
            seconds,
            error,
        } => format!("[{step}] FAILED after {seconds:.1}s: {error}"),
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
            format!("[cleanup] bake {reason}: removing what it created")
        }
        Event::CleanupFinished { leaked } if leaked.is_empty() => {
            "[cleanup] nothing left behind".to_string()
        }
        Event::CleanupFinished { leaked } => format!(
            "[cleanup] INCOMPLETE, left behind: {}",
            leaked
                .iter()
                .map(Resource::describe)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}
