//! The errors of bakery, sorted by what the caller should do about them. Each keeps
//! *what happened* apart from *what to do about it* (the hint), so that a terminal can
//! show them on lines of their own and a JSON result can carry both.

use std::fmt;
use std::time::Duration;

use crate::model::Step;

/// A Run Command that did not succeed.
#[derive(Debug)]
pub struct StepFailure {
    /// The command step that failed.
    pub step: Step,
    /// The instance it ran on: the builder, or the test instance for a test.
    pub instance_id: String,
    /// The region of the instance.
    pub region: String,
    /// SSM's final status of the command, lower-case (`failed`, `timedout`...).
    pub status: String,
    /// The script's exit code, as SSM reports it.
    pub exit_code: i32,
    /// The last lines of its output then its errors, each quoted `  | `, and a note
    /// when SSM cut the output; empty when it printed nothing.
    pub output_tail: String,
}

/// How the firstboot agent said it failed, on a test instance.
#[derive(Debug)]
pub struct FirstbootFailure {
    /// The test instance.
    pub instance_id: String,
    /// The region of the instance.
    pub region: String,
    /// The phase the agent failed in: `config`, `metadata`, `fetch` or `run`.
    pub phase: String,
    /// The failing command's exit status when the agent reports one, else the
    /// agent's own exit code (the phase's).
    pub exit_code: i64,
    /// What failed, in the agent's words.
    pub error: String,
    /// The last lines of the firstboot step's output, as [`StepFailure::output_tail`].
    pub output_tail: String,
}

/// Everything that can stop a bake. Each variant says what failed and where; the
/// [`Error::kind`] tells the caller how to treat it (exit code, retry, cleanup).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input or configuration, found before anything was created.
    #[error("{problem}{}", hint_suffix(.hint.as_deref()))]
    Input {
        /// What is wrong.
        problem: String,
        /// What to do about it, when bakery can tell.
        hint: Option<String>,
    },

    /// An AWS call failed.
    #[error(transparent)]
    Aws(Box<AwsError>),

    /// A command step ran on the builder (or a test on the test instance) and did not
    /// succeed.
    #[error(
        "step `{}` {} on {} ({}) with exit code {}{}",
        .0.step, .0.status, .0.instance_id, .0.region, .0.exit_code,
        output_tail_suffix(&.0.output_tail)
    )]
    StepFailed(Box<StepFailure>),

    /// The firstboot agent failed on the release gate's test instance.
    #[error(
        "the firstboot agent failed in its `{}` phase on test instance {} ({}), exit code \
         {}: {}{}",
        .0.phase, .0.instance_id, .0.region, .0.exit_code, .0.error,
        output_tail_suffix(&.0.output_tail)
    )]
    FirstbootFailed(Box<FirstbootFailure>),

    /// A resource reached a state it cannot come back from.
    #[error("{what} {resource} ({region}) is `{state}`{}", reason_suffix(.reason))]
    BadState {
        /// What the resource is, as it reads before its id: `image`, `instance`.
        what: &'static str,
        /// Its id.
        resource: String,
        /// Its region.
        region: String,
        /// Its state, as AWS names it (`failed`, `terminated`), or `gone`.
        state: String,
        /// AWS's reason for the state, when it gives one.
        reason: Option<String>,
    },

    /// A wait ran past its deadline.
    #[error(
        "gave up waiting for {what} {resource} ({region}) after {}: last state `{last_state}`{}",
        crate::model::time::human(*.after), hint_suffix(*.hint)
    )]
    Timeout {
        /// What was waited for, as it reads before `resource`: `instance`, `SSM agent of`.
        what: &'static str,
        /// The id or name of what was waited for (a bake's id, for the bake's deadline).
        resource: String,
        /// The region it is in.
        region: String,
        /// The deadline that passed.
        after: Duration,
        /// The last state seen (`not yet seen` when none), or the step a bake was at.
        last_state: String,
        /// What to check or change, when the wait knows.
        hint: Option<&'static str>,
    },

    /// The release exists, but not in every region, or not for everyone it is shared with.
    #[error("{problem}{}", hint_suffix(.hint.as_deref()))]
    Distribution {
        /// What is missing, and where.
        problem: String,
        /// What to do about it, usually the command that completes the release.
        hint: Option<String>,
    },

    /// SIGINT/SIGTERM (or the caller's cancellation) stopped the bake.
    #[error("interrupted")]
    Interrupted,
}

/// An AWS call that failed: which call, where, on what; the service's code and
/// message; and the SDK's own error as the source.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{operation} failed in {region}{}: {message}{}",
    resource_suffix(.resource), request_suffix(.request_id)
)]
pub struct AwsError {
    /// The API operation, as AWS names it: `DescribeImages`.
    pub operation: &'static str,
    /// The region the call went to.
    pub region: String,
    /// The id or name the call was about, if it was about one.
    pub resource: Option<String>,
    /// The service's error code (`InvalidAMIID.NotFound`), when its answer had one.
    pub code: Option<String>,
    /// What went wrong: `code: message` as the service said it; without a code, in words.
    pub message: String,
    /// AWS's id of the request, for AWS Support and CloudTrail.
    pub request_id: Option<String>,
    /// Throttling, a 5xx answer or a lost connection: the same call may succeed later.
    pub transient: bool,
    /// The SDK's own error, when the failure came from one.
    #[source]
    pub source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl From<AwsError> for Error {
    fn from(error: AwsError) -> Error {
        Error::Aws(Box::new(error))
    }
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
    /// The same failure, for another resource of a call made for several (a batched
    /// Describe): an AWS error names `resource`; any other keeps its words.
    pub fn duplicate(&self, resource: &str) -> Error {
        match self {
            Error::Aws(aws) => Error::Aws(Box::new(AwsError {
                resource: Some(resource.to_string()),
                ..(**aws).clone()
            })),
            other => Error::input(other.to_string()),
        }
    }

    /// Bad input; add what to do about it with [`Error::hint`].
    pub fn input(problem: impl Into<String>) -> Self {
        Error::Input {
            problem: problem.into(),
            hint: None,
        }
    }

    /// Every input problem found, at once: none is no error, one is itself, several
    /// are listed as "N problems {about}:".
    pub fn refusing_all(about: &str, mut problems: Vec<String>) -> Result<()> {
        match problems.len() {
            0 => Ok(()),
            1 => Err(Error::input(problems.remove(0))),
            n => Err(Error::input(format!(
                "{n} problems {about}:\n  {}",
                problems.join("\n  ")
            ))),
        }
    }

    /// The release exists but not everywhere it should; add what to do about it with
    /// [`Error::with_hint`].
    pub fn distribution(problem: impl Into<String>) -> Self {
        Error::Distribution {
            problem: problem.into(),
            hint: None,
        }
    }

    /// The same error, with what to do about it.
    pub fn with_hint(mut self, text: impl Into<String>) -> Self {
        match &mut self {
            Error::Input { hint, .. } | Error::Distribution { hint, .. } => {
                *hint = Some(text.into())
            }
            _ => {}
        }
        self
    }

    /// How the caller should treat it: exit code, retry, cleanup.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Input { .. } => ErrorKind::InvalidInput,
            Error::Interrupted => ErrorKind::Interrupted,
            _ => ErrorKind::Failed,
        }
    }

    /// The last lines a failed command printed, when the error is about one.
    pub fn output_tail(&self) -> Option<&str> {
        match self {
            Error::StepFailed(failure) => Some(&failure.output_tail),
            Error::FirstbootFailed(failure) => Some(&failure.output_tail),
            _ => None,
        }
    }

    /// What to do about it, when bakery can tell.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::Input { hint, .. } | Error::Distribution { hint, .. } => hint.as_deref(),
            Error::Timeout { hint, .. } => *hint,
            Error::Aws(aws) => aws.code.as_deref().and_then(aws_hint),
            _ => None,
        }
    }

    /// What happened, without the hint.
    pub fn problem(&self) -> String {
        match self {
            Error::Input { problem, .. } | Error::Distribution { problem, .. } => problem.clone(),
            Error::Timeout {
                what,
                resource,
                region,
                after,
                last_state,
                ..
            } => format!(
                "gave up waiting for {what} {resource} ({region}) after {}: last state `{last_state}`",
                crate::model::time::human(*after)
            ),
            other => other.to_string(),
        }
    }

    /// True when repeating the same call later may succeed (throttling, 5xx, network).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Aws(aws) if aws.transient)
    }

    /// The AWS error code, when an AWS call failed with one.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws(aws) => aws.code.as_deref(),
            _ => None,
        }
    }
}

/// Writes `; hint` after a problem, the one-line form of an error.
struct HintSuffix<'a>(Option<&'a str>);

impl fmt::Display for HintSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(hint) => write!(f, "; {hint}"),
            None => Ok(()),
        }
    }
}

fn hint_suffix(hint: Option<&str>) -> HintSuffix<'_> {
    HintSuffix(hint)
}

fn resource_suffix(resource: &Option<String>) -> String {
    resource
        .as_ref()
        .map(|r| format!(" for {r}"))
        .unwrap_or_default()
}

fn request_suffix(request_id: &Option<String>) -> String {
    request_id
        .as_ref()
        .map(|id| format!(" (request id {id})"))
        .unwrap_or_default()
}

/// What to do about the AWS error codes a baker meets, by code.
fn aws_hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" | "AuthFailure" => {
            "the credentials lack this permission: docs/iam-policy.json lists every action bakery calls (EC2's encoded message decodes with `aws sts decode-authorization-message`)"
        }
        "InvalidClientTokenId" | "UnrecognizedClientException" | "ExpiredToken"
        | "ExpiredTokenException" | "RequestExpired" | "SignatureDoesNotMatch" => {
            "the credentials are not valid (any more): refresh them (aws sso login, a new session) or choose others with --profile; check the machine's clock"
        }
        "OptInRequired" => "enable the region for the account (Account settings, Regions)",
        "RequestLimitExceeded" | "Throttling" | "ThrottlingException" => {
            "AWS throttled the calls after every retry: run fewer bakes at once (--jobs) or again later"
        }
        "InstanceLimitExceeded" | "VcpuLimitExceeded" | "ResourceLimitExceeded" => {
            "an account quota is reached: ask for more in Service Quotas, or choose a smaller instance type"
        }
        "InsufficientInstanceCapacity" | "Unsupported" => {
            "EC2 has no capacity for this instance type here now: try another instance type or subnet (Availability Zone), or later"
        }
        _ => return None,
    })
}

fn reason_suffix(reason: &Option<String>) -> String {
    reason
        .as_ref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default()
}

fn output_tail_suffix(tail: &str) -> String {
    if tail.trim().is_empty() {
        "; the step printed nothing".to_string()
    } else {
        format!("; last lines of its output:\n{tail}")
    }
}

/// The result of bakery's operations: an [`Error`] unless said otherwise.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_aws_hint_reads_as_one_sentence() {
        for code in [
            "UnauthorizedOperation",
            "ExpiredToken",
            "OptInRequired",
            "RequestLimitExceeded",
            "InstanceLimitExceeded",
            "InsufficientInstanceCapacity",
        ] {
            let hint = aws_hint(code).unwrap();
            assert!(!hint.contains("  "), "{code}: {hint}");
        }
    }

    #[test]
    fn an_error_keeps_what_happened_apart_from_what_to_do() {
        let error = Error::input("app@1.0.0 already exists in eu-west-1")
            .with_hint("bake a new version (e.g. --version 1.0.1)");
        assert_eq!(error.problem(), "app@1.0.0 already exists in eu-west-1");
        assert_eq!(
            error.hint(),
            Some("bake a new version (e.g. --version 1.0.1)")
        );
        assert_eq!(
            error.to_string(),
            "app@1.0.0 already exists in eu-west-1; bake a new version (e.g. --version 1.0.1)"
        );
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        assert_eq!(Error::input("plain").hint(), None);
    }
}
