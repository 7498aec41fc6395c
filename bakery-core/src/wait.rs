//! L1, the one way bakery waits for AWS: a short first poll, backoff with jitter up to
//! a cap, an overall deadline, explicit failure states, throttling tolerated, every new
//! state reported as an event, and an interrupt honoured within the current sleep; and
//! the deadlines of every wait.
//!
//! The SDK's own waiters start at 15 s between polls; against a builder that is
//! running after 8 s that is 7 s lost per wait, several times per bake.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::model::Step;

/// How long each wait may take before bakery gives up.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub instance_running: Duration,
    pub ssm_online: Duration,
    pub instance_stopped: Duration,
    /// At least 30 minutes: large images take that long on AWS.
    pub image_available: Duration,
    pub instance_terminated: Duration,
    /// The whole cleanup, after which what is left is reported as leaked.
    pub cleanup: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            instance_running: Duration::from_secs(10 * 60),
            ssm_online: Duration::from_secs(15 * 60),
            instance_stopped: Duration::from_secs(15 * 60),
            image_available: Duration::from_secs(60 * 60),
            instance_terminated: Duration::from_secs(10 * 60),
            cleanup: Duration::from_secs(10 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaitPolicy {
    pub first_poll: Duration,
    pub max_interval: Duration,
    pub factor: f64,
    pub deadline: Duration,
}

impl WaitPolicy {
    pub const fn new(deadline: Duration) -> Self {
        WaitPolicy {
            first_poll: Duration::from_secs(1),
            max_interval: Duration::from_secs(15),
            // Slow growth: a 5 s wait is seen at ~5.4 s, not at 8 s; long waits reach
            // the cap after a minute or so.
            factor: 1.2,
            deadline,
        }
    }

    pub const fn with_max_interval(mut self, max_interval: Duration) -> Self {
        self.max_interval = max_interval;
        self
    }

    /// For loops that retry an action rather than watch a state: the first try at
    /// once, then the usual backoff.
    pub const fn retrying(mut self) -> Self {
        self.first_poll = Duration::ZERO;
        self
    }

    /// The sleeps before each poll, before jitter: first_poll, then growing by
    /// `factor` (from at least a second) up to `max_interval`.
    pub fn intervals(&self) -> impl Iterator<Item = Duration> + '_ {
        std::iter::successors(Some(self.first_poll), move |previous| {
            Some(
                previous
                    .mul_f64(self.factor)
                    .max(MIN_INTERVAL)
                    .min(self.max_interval),
            )
        })
    }
}

/// Spreads pollers out so that parallel bakes do not poll in lock-step: ±20 %.
pub fn with_jitter(interval: Duration) -> Duration {
    interval.mul_f64(0.8 + 0.4 * fastrand::f64())
}

/// What one poll saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll<T> {
    Ready(T),
    /// Still on the way; the state as AWS names it.
    Pending(String),
    /// A state the resource cannot come back from (`failed`, `terminated`...).
    Failed {
        state: String,
        reason: Option<String>,
    },
}

/// What is being waited for, for events and errors.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub step: &'a Step,
    /// "image", "instance", "command"...
    pub what: &'static str,
    pub resource: &'a str,
    pub region: &'a str,
    /// What to check when the wait times out.
    pub hint: Option<&'static str>,
}

const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// A heartbeat event at least this often while the state does not change.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// Polls until `poll` says ready, failed, or the deadline passes. Transient errors
/// (throttling, 5xx, lost connections) count as "still pending".
pub async fn until<T, F, Fut>(
    target: Target<'_>,
    policy: &WaitPolicy,
    sink: &dyn EventSink,
    cancel: &CancellationToken,
    mut poll: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let started = Instant::now();
    let deadline = started + policy.deadline;
    let mut last_state = String::from("not yet seen");
    let mut last_event = started;
    let mut transient_errors = 0u32;
    for interval in policy.intervals() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let sleep = with_jitter(interval).min(deadline - now);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = cancel.cancelled() => return Err(Error::Interrupted),
        }
        let seen = tokio::select! {
            seen = poll() => seen,
            _ = cancel.cancelled() => return Err(Error::Interrupted),
        };
        tracing::debug!(
            what = target.what,
            resource = target.resource,
            ?sleep,
            "polled"
        );
        let state = match seen {
            Ok(Poll::Ready(value)) => return Ok(value),
            Ok(Poll::Failed { state, reason }) => {
                return Err(Error::BadState {
                    what: target.what,
                    resource: target.resource.to_string(),
                    region: target.region.to_string(),
                    state,
                    reason,
                })
            }
            Ok(Poll::Pending(state)) => state,
            Err(error) if error.is_transient() => {
                transient_errors += 1;
                if transient_errors.is_power_of_two() {
                    sink.emit(Event::Warning {
                        message: format!(
                            "still waiting for {} {}: {error} (retrying; {transient_errors} so far)",
                            target.what, target.resource
                        ),
                    });
                }
                continue;
            }
            Err(error) => return Err(error),
        };
        let now = Instant::now();
        if state != last_state || now - last_event >= HEARTBEAT {
            sink.emit(Event::Waiting {
                step: target.step.clone(),
                resource: target.resource.to_string(),
                state: state.clone(),
                elapsed_seconds: (now - started).as_secs_f64(),
            });
            last_event = now;
            last_state = state;
        }
    }
    Err(Error::Timeout {
        what: target.what,
        resource: target.resource.to_string(),
        region: target.region.to_string(),
        after: policy.deadline,
        last_state,
        hint: target.hint,
    })
}

#[cfg(test)]
mod tests;
