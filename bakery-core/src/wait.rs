//! L1, the one way bakery waits for AWS: a poll schedule that notices a change soon
//! after it happens (a bounded lateness, tight around the transition's expected time),
//! an overall deadline, explicit failure states, throttling tolerated, every new state
//! reported as an event, and an interrupt honoured within the current sleep; and the
//! deadlines of every wait.
//!
//! The SDK's own waiters start at 15 s between polls, and a backoff that grows to a cap
//! notices a change up to the cap late, every wait. Here the lateness is a fraction of
//! the time waited so far ([`Schedule::Watch`]), and a transition whose duration this
//! machine has seen before ([`timings`]) is polled little before its expected end and
//! tightly around it.

pub mod timings;

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::model::Step;

pub use self::timings::{Learning, Timings, Transition};

/// How long each wait may take before bakery gives up.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// For an instance to be running after its launch.
    pub instance_running: Duration,
    /// For an instance's SSM agent to be online, once the instance runs.
    pub ssm_online: Duration,
    /// For the builder to be stopped, before its image is made.
    pub instance_stopped: Duration,
    /// At least 30 minutes: large images take that long on AWS.
    pub image_available: Duration,
    /// For an instance to be gone after its termination.
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
            image_available: crate::model::time::DEFAULT_IMAGE_WAIT,
            instance_terminated: Duration::from_secs(10 * 60),
            cleanup: Duration::from_secs(10 * 60),
        }
    }
}

/// When to look again.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Watching a state change: the first look after `first_poll`, then each one at most
    /// [`LATENESS`] of the time waited so far after the previous (never closer than
    /// [`FLOOR`]). With an `expected` duration, few looks before it (from 5 s, doubling,
    /// up to a third of it), one at [`QUIET`] of it, then [`LATENESS_NEAR`] until half
    /// again past it.
    Watch {
        /// When the first look is, after the wait begins (zero: at once).
        first_poll: Duration,
        /// How long the change took before on this machine ([`timings`]), if known.
        expected: Option<Duration>,
    },
    /// Repeating an action that AWS refuses for a moment (a delete while the resource
    /// is still in use, a lookup right after a create): at once, then after a fifth of
    /// the time so far (at least a second), with ±20 % jitter so that parallel bakes do
    /// not retry in lock-step — these calls count against EC2's smaller budget of
    /// mutating calls.
    Retry,
}

/// Never two looks at one thing closer than this.
pub const FLOOR: Duration = Duration::from_millis(250);
/// A change is noticed at most this share of the time waited so far after it happened.
pub const LATENESS: f64 = 0.15;
/// Around the expected end of a transition.
pub const LATENESS_NEAR: f64 = 0.05;
/// The first close look, as a share of the expected duration.
pub const QUIET: f64 = 0.95;
/// Before the expected end of a long transition, looks from this time on, at least
/// every [`SPARSE_CAP`], so that a failure shows early; a short one is not looked at
/// before its end.
const SPARSE_FIRST: Duration = Duration::from_secs(5);
const SPARSE_CAP: Duration = Duration::from_secs(30);

/// How one wait looks: its schedule, the longest gap between looks, and its deadline.
#[derive(Debug, Clone)]
pub struct WaitPolicy {
    /// Watching a state, or retrying an action.
    pub schedule: Schedule,
    /// The longest gap between looks, before a retry's jitter (the sparse looks before
    /// an expected end have their own cap of 30 s).
    pub max_interval: Duration,
    /// How long the wait may take before it fails with [`Error::Timeout`].
    pub deadline: Duration,
    /// Where the duration of what is waited for is learnt from and recorded to.
    pub learning: Option<Learning>,
}

impl WaitPolicy {
    /// Watching a state, first look after a second.
    pub fn new(deadline: Duration) -> Self {
        WaitPolicy {
            schedule: Schedule::Watch {
                first_poll: Duration::from_secs(1),
                expected: None,
            },
            max_interval: Duration::from_secs(10),
            deadline,
            learning: None,
        }
    }

    /// Caps the gap between looks at `max_interval` instead of [`WaitPolicy::new`]'s 10 s.
    pub fn with_max_interval(mut self, max_interval: Duration) -> Self {
        self.max_interval = max_interval;
        self
    }

    /// For loops that retry an action rather than watch a state.
    pub fn retrying(mut self) -> Self {
        self.schedule = Schedule::Retry;
        self.max_interval = self.max_interval.max(Duration::from_secs(15));
        self
    }

    /// Watches with the first look at once (the state may have changed already).
    pub fn looking_at_once(mut self) -> Self {
        if let Schedule::Watch { first_poll, .. } = &mut self.schedule {
            *first_poll = Duration::ZERO;
        }
        self
    }

    /// Expects what `learning` has seen before on this machine, and records this wait.
    pub fn learning(mut self, learning: Learning) -> Self {
        if let Schedule::Watch { expected, .. } = &mut self.schedule {
            *expected = learning.expected();
        }
        self.learning = Some(learning);
        self
    }

    /// When to look next, as time since the wait began, after the look at `last`
    /// (None: no look yet). Jitter is added by the caller for [`Schedule::Retry`].
    pub fn next_poll(&self, last: Option<Duration>) -> Duration {
        match &self.schedule {
            Schedule::Retry => match last {
                None => Duration::ZERO,
                Some(last) if last < MIN_RETRY => last + MIN_RETRY,
                Some(last) => last + (last.mul_f64(0.2)).clamp(MIN_RETRY, self.max_interval),
            },
            Schedule::Watch {
                first_poll,
                expected,
            } => {
                let Some(expected) = expected else {
                    return match last {
                        None => *first_poll,
                        Some(last) => last + self.interval(last, LATENESS),
                    };
                };
                let quiet = expected.mul_f64(QUIET);
                // Doubling looks up to a third of the expected time, then on to it.
                let sparse = |next: Duration, last: Duration| match next <= quiet / 3 {
                    true => next,
                    false => quiet.min(last + SPARSE_CAP),
                };
                match last {
                    None if first_poll.is_zero() => Duration::ZERO,
                    None => sparse((*first_poll).max(SPARSE_FIRST), Duration::ZERO),
                    Some(last) if last < quiet => {
                        sparse((last * 2).clamp(last + FLOOR, last + SPARSE_CAP), last)
                    }
                    Some(last) if last < expected.mul_f64(1.5) => {
                        last + self.interval(last, LATENESS_NEAR)
                    }
                    Some(last) => last + self.interval(last, LATENESS),
                }
            }
        }
    }

    fn interval(&self, elapsed: Duration, lateness: f64) -> Duration {
        elapsed
            .mul_f64(lateness)
            .clamp(FLOOR, self.max_interval.max(FLOOR))
    }
}

/// A retry waits at least a second.
const MIN_RETRY: Duration = Duration::from_secs(1);

/// Spreads retries out so that parallel bakes do not repeat in lock-step: ±20 %.
pub fn with_jitter(interval: Duration) -> Duration {
    interval.mul_f64(0.8 + 0.4 * fastrand::f64())
}

/// What one poll saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll<T> {
    /// Done; what the poll found.
    Ready(T),
    /// Still on the way; the state as AWS names it.
    Pending(String),
    /// A state the resource cannot come back from (`failed`, `terminated`...).
    Failed {
        /// The state, as AWS names it.
        state: String,
        /// AWS's reason for it, when it gives one.
        reason: Option<String>,
    },
}

/// What is being waited for, for events and errors.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The step that waits, for its events.
    pub step: &'a Step,
    /// "image", "instance", "command"...
    pub what: &'static str,
    /// The id or name of what is waited for.
    pub resource: &'a str,
    /// The region it is in.
    pub region: &'a str,
    /// What to check when the wait times out.
    pub hint: Option<&'static str>,
}

/// A heartbeat event at least this often while the state does not change.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// What a wait has seen so far: when it started and last polled, the last state
/// (and when it was said), and how many answers were transient errors.
struct Seen {
    started: Instant,
    last_state: String,
    last_event: Instant,
    transient_errors: u32,
    last_poll: Option<Duration>,
    /// When the state was last seen unchanged: the change happened after it.
    last_pending: Duration,
}

impl Seen {
    fn new() -> Seen {
        let started = Instant::now();
        Seen {
            started,
            last_state: String::from("not yet seen"),
            last_event: started,
            transient_errors: 0,
            last_poll: None,
            last_pending: Duration::ZERO,
        }
    }

    /// When to poll next (a retry's schedule with jitter).
    fn next_poll(&self, policy: &WaitPolicy) -> Instant {
        let now = Instant::now();
        let at = self.started + policy.next_poll(self.last_poll);
        match policy.schedule {
            Schedule::Retry => now + with_jitter(at.saturating_duration_since(now)),
            _ => at,
        }
    }

    /// A transient error: said now and then (1st, 2nd, 4th, …), and waited through.
    fn transient(&mut self, target: &Target<'_>, error: &Error, sink: &dyn EventSink) {
        self.transient_errors += 1;
        let count = self.transient_errors;
        if count.is_power_of_two() {
            sink.emit(Event::Warning {
                message: format!(
                    "still waiting for {} {}: {error} (retrying; {count} so far)",
                    target.what, target.resource
                ),
            });
        }
    }

    /// Still pending in `state`: said when it changed, and every [`HEARTBEAT`].
    fn pending(&mut self, target: &Target<'_>, state: String, sink: &dyn EventSink) {
        let now = Instant::now();
        if state != self.last_state || now - self.last_event >= HEARTBEAT {
            sink.emit(Event::Waiting {
                step: target.step.clone(),
                resource: target.resource.to_string(),
                state: state.clone(),
                elapsed_seconds: (now - self.started).as_secs_f64(),
            });
            self.last_event = now;
            self.last_state = state;
        }
    }
}

/// Polls until `poll` says ready, failed, or the deadline passes. Transient errors
/// (throttling, 5xx, lost connections) count as "still pending".
// Long on purpose: one arm per answer a poll can give, in one loop.
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
    let mut watch = Seen::new();
    let deadline = watch.started + policy.deadline;
    while Instant::now() < deadline {
        tokio::select! {
            _ = tokio::time::sleep_until(watch.next_poll(policy).min(deadline)) => {}
            _ = cancel.cancelled() => return Err(Error::Interrupted),
        }
        let polled_at = watch.started.elapsed();
        watch.last_poll = Some(polled_at);
        let seen = tokio::select! {
            seen = poll() => seen,
            _ = cancel.cancelled() => return Err(Error::Interrupted),
        };
        tracing::debug!(
            what = target.what,
            resource = target.resource,
            ?polled_at,
            "polled"
        );
        match seen {
            Ok(Poll::Ready(value)) => {
                if let Some(learning) = &policy.learning {
                    learning.observe(watch.last_pending, polled_at);
                }
                return Ok(value);
            }
            Ok(Poll::Failed { state, reason }) => {
                return Err(Error::BadState {
                    what: target.what,
                    resource: target.resource.to_string(),
                    region: target.region.to_string(),
                    state,
                    reason,
                })
            }
            Ok(Poll::Pending(state)) => {
                watch.last_pending = polled_at;
                watch.pending(&target, state, sink);
            }
            Err(error) if error.is_transient() => watch.transient(&target, &error, sink),
            Err(error) => return Err(error),
        }
    }
    Err(Error::Timeout {
        what: target.what,
        resource: target.resource.to_string(),
        region: target.region.to_string(),
        after: policy.deadline,
        last_state: watch.last_state,
        hint: target.hint,
    })
}

#[cfg(test)]
mod tests;
