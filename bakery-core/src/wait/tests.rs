//! The one wait, with time paused: what it reports, when it returns, when it gives up.

use std::sync::{Arc, Mutex};

use super::*;
use crate::error::AwsError;

fn target() -> Target<'static> {
    Target {
        step: &Step::WaitImage,
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

/// The looks of `policy` until `until` seconds, in seconds since the wait began.
fn looks(policy: &WaitPolicy, until: f64) -> Vec<f64> {
    let mut looks = Vec::new();
    let mut last = None;
    loop {
        let next = policy.next_poll(last);
        if next.as_secs_f64() > until {
            return looks;
        }
        looks.push((next.as_secs_f64() * 1000.0).round() / 1000.0);
        last = Some(next);
    }
}

fn expecting(seconds: f64) -> WaitPolicy {
    let mut policy = WaitPolicy::new(Duration::from_secs(3600));
    policy.schedule = Schedule::Watch {
        first_poll: Duration::from_secs(1),
        expected: Some(Duration::from_secs_f64(seconds)),
    };
    policy
}

#[test]
fn a_change_is_seen_at_most_a_fixed_share_of_the_wait_late() {
    let policy = WaitPolicy::new(Duration::from_secs(3600));
    let looks = looks(&policy, 3600.0);
    assert_eq!(looks[..4], [1.0, 1.25, 1.5, 1.75]);
    for pair in looks.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap <= (pair[0] * LATENESS).max(FLOOR.as_secs_f64()) + 1e-3,
            "{pair:?}"
        );
    }
    // Not an ever-growing interval: the longest gap is the cap (10 s), seen after
    // a minute; a backoff ×1.2 from a second would have reached 15 s by then.
    assert!(looks.windows(2).all(|p| p[1] - p[0] <= 10.0 + 1e-9));
}

#[test]
fn a_transition_seen_before_is_looked_at_tightly_around_its_expected_end() {
    // Three seconds before: the first look just before the end, then every quarter second.
    assert_eq!(looks(&expecting(3.0), 4.0), [2.85, 3.1, 3.35, 3.6, 3.85]);
    // Five minutes before (an image on AWS): looks from 5 s that double up to a third
    // of it, at most 30 s apart, so that a failure shows early; then close looks from
    // 285 s, a twentieth of the time waited apart, at most 10 s.
    let image = looks(&expecting(300.0), 320.0);
    assert_eq!(image[..6], [5.0, 10.0, 20.0, 40.0, 70.0, 100.0]);
    assert!(image.windows(2).all(|p| p[1] - p[0] <= 30.0));
    let close: Vec<f64> = image.into_iter().filter(|t| *t >= 285.0).collect();
    assert_eq!(close[..3], [285.0, 295.0, 305.0]);
    // An SSM agent: looked at once (it may be online already), then as expected.
    let mut agent = expecting(20.0);
    agent.schedule = Schedule::Watch {
        first_poll: Duration::ZERO,
        expected: Some(Duration::from_secs(20)),
    };
    assert_eq!(looks(&agent, 20.0)[..3], [0.0, 0.25, 0.5]);
}

#[test]
fn retries_start_at_once_and_slow_down() {
    let policy = WaitPolicy::new(Duration::from_secs(600)).retrying();
    assert_eq!(looks(&policy, 6.0), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(
        policy.next_poll(Some(Duration::from_secs(60))).as_secs(),
        72
    );
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
async fn a_wait_records_when_the_change_happened() {
    let (_, sink) = recorder();
    let timings = Arc::new(Timings::default());
    let learning = timings.learning("aws", "eu-west-1", Transition::ImageAvailable);
    let mut states = vec![Poll::Ready(()), Poll::Pending("pending".into())];
    let policy = WaitPolicy::new(Duration::from_secs(60)).learning(learning.clone());
    until(target(), &policy, &sink, &CancellationToken::new(), || {
        let next = states.pop().unwrap();
        async move { Ok(next) }
    })
    .await
    .unwrap();
    // Pending at 1 s, available at 1.25 s: it happened in between.
    assert_eq!(learning.expected(), Some(Duration::from_millis(1125)));
    let next = WaitPolicy::new(Duration::from_secs(60)).learning(learning);
    assert_eq!(next.next_poll(None), Duration::from_secs_f64(1.06875));
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
                    Err(AwsError {
                        operation: "DescribeImages",
                        region: "eu-west-1".into(),
                        resource: None,
                        code: Some("RequestLimitExceeded".into()),
                        message: "Request limit exceeded.".into(),
                        request_id: None,
                        transient: true,
                        source: None,
                    }
                    .into())
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
