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
