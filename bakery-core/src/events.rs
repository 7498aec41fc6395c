//! What a bake tells its caller while it runs. The core only emits these; the CLI
//! decides how they look (progress bars, plain lines, JSON lines).

use serde::Serialize;

use crate::model::{Arch, Resource, Step};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    BakeStarted {
        bake_id: String,
        release: String,
        region: String,
        recipe: String,
        /// The `bakery.toml` environment (`--env`), if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        environment: Option<String>,
        /// Where the release is copied.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        copies_to: Vec<String>,
    },
    StepStarted {
        step: Step,
    },
    StepFinished {
        step: Step,
        seconds: f64,
    },
    StepFailed {
        step: Step,
        seconds: f64,
        error: String,
    },
    /// A step cut short: by a signal, or because a sibling build failed (`why`).
    StepStopped {
        step: Step,
        seconds: f64,
        why: String,
    },
    /// Something worth a line of its own within a step.
    Info {
        step: Step,
        message: String,
    },
    /// A wait saw a new state, or is still waiting (a heartbeat).
    Waiting {
        step: Step,
        resource: String,
        state: String,
        elapsed_seconds: f64,
    },
    /// A line that a command step printed on the builder.
    Output {
        step: Step,
        stream: OutputStream,
        line: String,
    },
    /// A resource made by `step` (steps may overlap: the builder goes while the test
    /// instance boots).
    ResourceCreated {
        step: Step,
        resource: Resource,
    },
    ResourceRemoved {
        step: Step,
        resource: Resource,
    },
    /// A resource that the bake leaves in place on purpose (`--keep-on-failure`).
    ResourceKept {
        resource: Resource,
        reason: String,
    },
    Warning {
        message: String,
    },
    CleanupStarted {
        reason: String,
    },
    CleanupFinished {
        leaked: Vec<Resource>,
        /// What `--keep-on-failure` kept on purpose.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        kept: Vec<Resource>,
    },
    /// An event of one architecture's build, when the bake makes several.
    Architecture {
        arch: Arch,
        inner: Box<Event>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// Receives the events of a bake, in order, from the bake's task.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: Event);
}

/// The events of one architecture's build, marked as its own.
pub struct ArchEvents<'a> {
    pub arch: Arch,
    pub sink: &'a dyn EventSink,
}

impl EventSink for ArchEvents<'_> {
    fn emit(&self, event: Event) {
        self.sink.emit(Event::Architecture {
            arch: self.arch,
            inner: Box::new(event),
        });
    }
}

impl<F: Fn(Event) + Send + Sync> EventSink for F {
    fn emit(&self, event: Event) {
        self(event)
    }
}
