//! What a bake tells its caller while it runs. The core only emits these; the CLI
//! decides how they look (progress bars, plain lines, JSON lines).

use serde::Serialize;

use crate::model::{Arch, Resource, Step};

/// One thing a bake announces, serialized with its name in `event` (`step_started`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The bake began: what it bakes, where, and under which id.
    BakeStarted {
        /// The bake's id, which its resources carry in their `bakery:bake-id` tag.
        bake_id: String,
        /// The release being baked, as `role@version`.
        release: String,
        /// The region the bake builds in.
        region: String,
        /// The recipe's directory.
        recipe: String,
        /// The `bakery.toml` environment (`--env`), if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        environment: Option<String>,
        /// Where the release is copied.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        copies_to: Vec<String>,
    },
    /// A step began.
    StepStarted {
        /// The step.
        step: Step,
    },
    /// A step succeeded.
    StepFinished {
        /// The step.
        step: Step,
        /// How long it took, in seconds (to the millisecond).
        seconds: f64,
    },
    /// A step failed.
    StepFailed {
        /// The step.
        step: Step,
        /// How long it ran before failing, in seconds.
        seconds: f64,
        /// The error as it reads in full, hint and a command's last lines included.
        error: String,
    },
    /// A step cut short: by a signal, or because a sibling build failed (`why`).
    StepStopped {
        /// The step.
        step: Step,
        /// How long it ran before it was stopped, in seconds.
        seconds: f64,
        /// What stopped it: `interrupted`, the bake's deadline, `the arm64 build failed`...
        why: String,
    },
    /// Something worth a line of its own within a step.
    Info {
        /// The step it happened in.
        step: Step,
        /// The line to show.
        message: String,
    },
    /// A wait saw a new state, or is still waiting (a heartbeat).
    Waiting {
        /// The step that waits.
        step: Step,
        /// The id or name of what is waited for (an instance, an image, a command).
        resource: String,
        /// The state the last look saw (`pending`, `SSM agent not registered`...).
        state: String,
        /// Seconds since the wait began.
        elapsed_seconds: f64,
    },
    /// A line that a command step printed on the builder.
    Output {
        /// The command step.
        step: Step,
        /// Standard output or standard error.
        stream: OutputStream,
        /// The line, without its newline.
        line: String,
    },
    /// A resource made by `step` (steps may overlap: the builder goes while the test
    /// instance boots).
    ResourceCreated {
        /// The step that made it.
        step: Step,
        /// What was made, and where.
        resource: Resource,
    },
    /// A resource removed: by the bake's cleanup, a distribution, or `bakery cleanup`.
    ResourceRemoved {
        /// The step that removed it.
        step: Step,
        /// What was removed, and where.
        resource: Resource,
    },
    /// A resource that the bake leaves in place on purpose (`--keep-on-failure`).
    ResourceKept {
        /// What is kept, and where.
        resource: Resource,
        /// Why, and how long it stays: its dead-man's switch, and how to remove it.
        reason: String,
    },
    /// Something worth attention that does not stop the work (an error being retried,
    /// a cleanup that ran out of time).
    Warning {
        /// The line to show.
        message: String,
    },
    /// The cleanup of what the bake made began.
    CleanupStarted {
        /// Why: the run and the step it failed at, or that it is finishing.
        reason: String,
    },
    /// The cleanup ended.
    CleanupFinished {
        /// What it could not remove, newest first: left behind in the account.
        leaked: Vec<Resource>,
        /// What `--keep-on-failure` kept on purpose.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        kept: Vec<Resource>,
    },
    /// An event of one architecture's build, when the bake makes several.
    Architecture {
        /// The architecture whose build it is.
        arch: Arch,
        /// The build's event.
        inner: Box<Event>,
    },
}

/// Which stream of a command a line of [`Event::Output`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Receives the events of a bake, in order, from the bake's task.
pub trait EventSink: Send + Sync {
    /// Takes the next event of the bake.
    fn emit(&self, event: Event);
}

/// The events of one architecture's build, marked as its own.
pub struct ArchEvents<'a> {
    /// The architecture of the build.
    pub arch: Arch,
    /// Where the marked events go.
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
