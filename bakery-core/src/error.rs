//! The errors of a bake, sorted by what the caller should do about them.

use std::time::Duration;

/// Everything that can stop a bake. Each variant says what failed and where; the
/// [`Error::kind`] tells the caller how to treat it (exit code, retry, cleanup).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input or configuration, found before anything was created.
    #[error("{0}")]
    Input(String),

    /// An AWS call failed.
    #[error("{operation} failed in {region}{}: {message}", resource_suffix(.resource))]
    Aws {
        operation: &'static str,
        region: String,
        resource: Option<String>,
        code: Option<String>,
        message: String,
        /// Throttling, a 5xx answer or a lost connection: the same call may succeed later.
        transient: bool,
    },

    /// A recipe step ran and did not succeed.
    #[error(
        "step `{step}` {status} on {instance_id} ({region}) with exit code {exit_code}{}",
        output_tail_suffix(.output_tail)
    )]
    StepFailed {
        step: String,
        instance_id: String,
        region: String,
        status: String,
        exit_code: i32,
        output_tail: String,
    },

    /// A resource reached a state it cannot come back from.
    #[error("{what} {resource} ({region}) is `{state}`{}", reason_suffix(.reason))]
    BadState {
        what: &'static str,
        resource: String,
        region: String,
        state: String,
        reason: Option<String>,
    },

    /// A wait ran past its deadline.
    #[error(
        "gave up waiting for {what} {resource} ({region}) after {}: last state `{last_state}`{}",
        humantime::format_duration(*.after), hint_suffix(.hint)
    )]
    Timeout {
        what: &'static str,
        resource: String,
        region: String,
        after: Duration,
        last_state: String,
        hint: Option<&'static str>,
    },

    /// The release exists, but not in every region it should.
    #[error("{0}")]
    Distribution(String),

    /// SIGINT/SIGTERM (or the caller's cancellation) stopped the bake.
    #[error("interrupted")]
    Interrupted,
}

/// How the caller should treat an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// Fix the input and run again; nothing was created.
    InvalidInput,
    /// The bake failed; what it created has been cleaned up.
    Failed,
    /// The bake was interrupted.
    Interrupted,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Input(_) => ErrorKind::InvalidInput,
            Error::Interrupted => ErrorKind::Interrupted,
            _ => ErrorKind::Failed,
        }
    }

    /// True when repeating the same call later may succeed (throttling, 5xx, network).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Aws {
                transient: true,
                ..
            }
        )
    }

    /// The AWS error code, when an AWS call failed with one.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    pub fn input(message: impl Into<String>) -> Self {
        Error::Input(message.into())
    }
}

fn resource_suffix(resource: &Option<String>) -> String {
    resource
        .as_ref()
        .map(|r| format!(" for {r}"))
        .unwrap_or_default()
}

fn reason_suffix(reason: &Option<String>) -> String {
    reason
        .as_ref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default()
}

fn hint_suffix(hint: &Option<&'static str>) -> String {
    hint.map(|h| format!("; {h}")).unwrap_or_default()
}

fn output_tail_suffix(tail: &str) -> String {
    if tail.trim().is_empty() {
        "; the step printed nothing".to_string()
    } else {
        format!("; last lines of its output:\n{tail}")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
