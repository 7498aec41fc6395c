//! The one way bakery waits for AWS: a short first poll, backoff with jitter up to a
//! cap, an overall deadline, explicit failure states, throttling tolerated, every new
//! state reported as an event, and an interrupt honoured within the current sleep.
//!
//! The SDK's own waiters start at 15 s between polls; against a builder that is
//! running after 8 s that is 7 s lost per wait, several times per bake.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::events::{Event, EventSink};

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
    pub step: &'a str,
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
                step: target.step.to_string(),
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
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn target() -> Target<'static> {
        Target {
            step: "wait-image",
            what: "image",
            resource: "ami-1",
            region: "eu-west-1",
            hint: None,
        }
    }

    fn recorder() -> (Arc<Mutex<Vec<Event>>>, impl EventSink) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink_events = events.clone();
        (events, move |e: Event| sink_events.lock().unwrap().push(e))
    }

    #[test]
    fn intervals_start_short_and_grow_to_the_cap() {
        let policy =
            WaitPolicy::new(Duration::from_secs(600)).with_max_interval(Duration::from_secs(5));
        let first: Vec<u64> = policy
            .intervals()
            .take(7)
            .map(|d| d.as_millis() as u64)
            .collect();
        assert_eq!(first, vec![1000, 1200, 1440, 1728, 2073, 2488, 2985]);
        let later: Vec<u64> = policy
            .intervals()
            .skip(9)
            .take(2)
            .map(|d| d.as_millis() as u64)
            .collect();
        assert_eq!(later, vec![5000, 5000]);
        let retries: Vec<u64> = policy
            .retrying()
            .intervals()
            .take(3)
            .map(|d| d.as_millis() as u64)
            .collect();
        assert_eq!(retries, vec![0, 1000, 1200]);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        for _ in 0..1000 {
            let d = with_jitter(Duration::from_secs(10));
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(12),
                "{d:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_reports_each_new_state_and_returns_when_ready() {
        let (events, sink) = recorder();
        let mut states = vec![
            Poll::Pending("pending".into()),
            Poll::Pending("pending".into()),
            Poll::Ready(7),
        ];
        states.reverse();
        let started = Instant::now();
        let value = until(
            target(),
            &WaitPolicy::new(Duration::from_secs(60)),
            &sink,
            &CancellationToken::new(),
            || {
                let next = states.pop().unwrap();
                async move { Ok(next) }
            },
        )
        .await
        .unwrap();
        assert_eq!(value, 7);
        // Three polls, the first after about a second: well under the SDK waiter's 15 s.
        assert!(Instant::now() - started < Duration::from_secs(6));
        let waits: Vec<_> = events.lock().unwrap().clone();
        assert_eq!(waits.len(), 1, "one event per new state: {waits:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_state_ends_the_wait_at_once() {
        let (_, sink) = recorder();
        let error = until(
            target(),
            &WaitPolicy::new(Duration::from_secs(3600)),
            &sink,
            &CancellationToken::new(),
            || async {
                Ok::<Poll<()>, Error>(Poll::Failed {
                    state: "failed".into(),
                    reason: Some("Server.InternalError".into()),
                })
            },
        )
        .await
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "image ami-1 (eu-west-1) is `failed`: Server.InternalError"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_is_retried_and_other_errors_are_not() {
        let (events, sink) = recorder();
        let mut calls = 0;
        let value = until(
            target(),
            &WaitPolicy::new(Duration::from_secs(600)),
            &sink,
            &CancellationToken::new(),
            || {
                calls += 1;
                let throttled = calls < 4;
                async move {
                    if throttled {
                        Err(Error::Aws {
                            operation: "DescribeImages",
                            region: "eu-west-1".into(),
                            resource: None,
                            code: Some("RequestLimitExceeded".into()),
                            message: "Request limit exceeded.".into(),
                            transient: true,
                        })
                    } else {
                        Ok(Poll::Ready("available"))
                    }
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(value, "available");
        assert!(events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, Event::Warning { .. })));

        let error = until(
            target(),
            &WaitPolicy::new(Duration::from_secs(600)),
            &sink,
            &CancellationToken::new(),
            || async { Err::<Poll<()>, _>(Error::input("access denied")) },
        )
        .await
        .unwrap_err();
        assert_eq!(error.to_string(), "access denied");
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_ends_the_wait_with_the_last_state() {
        let (_, sink) = recorder();
        let started = Instant::now();
        let error = until(
            target(),
            &WaitPolicy::new(Duration::from_secs(120)),
            &sink,
            &CancellationToken::new(),
            || async { Ok::<Poll<()>, Error>(Poll::Pending("pending".into())) },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(error, Error::Timeout { ref last_state, .. } if last_state == "pending"),
            "{error}"
        );
        assert!(Instant::now() - started <= Duration::from_secs(121));
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_interrupts_a_sleeping_wait() {
        let (_, sink) = recorder();
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            trigger.cancel();
        });
        let started = Instant::now();
        let error = until(
            target(),
            &WaitPolicy::new(Duration::from_secs(3600)),
            &sink,
            &cancel,
            || async { Ok::<Poll<()>, Error>(Poll::Pending("pending".into())) },
        )
        .await
        .unwrap_err();
        assert!(matches!(error, Error::Interrupted));
        assert!(Instant::now() - started < Duration::from_secs(6));
    }
}
