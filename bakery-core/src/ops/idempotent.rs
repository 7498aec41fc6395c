//! Creates whose answer may be lost. AWS may carry a call out and the answer never
//! arrive (a timeout, a dropped connection); the SDK then retries, and the retry meets
//! the first call's result as a "duplicate" error. What the first call made is then
//! found, instead of failing the bake and leaking it.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::wait::{self, Poll, Target, WaitPolicy};

/// How long what a first call made may stay invisible to a Describe: "eventual
/// consistency … typically a few seconds" (EC2 Developer Guide, "Eventual consistency
/// in the Amazon EC2 API").
const VISIBLE_WITHIN: Duration = Duration::from_secs(30);

/// Where a duplicate's original is looked for: what the shared wait reports, and
/// what stops it.
pub struct Looking<'a> {
    pub target: Target<'a>,
    pub sink: &'a dyn EventSink,
    pub cancel: &'a CancellationToken,
}

/// The id `created` returned, or — when it failed with `duplicate` — the id `find`
/// finds, looked for again with the shared wait while the first call's result may not
/// be visible yet; the duplicate error stands when nothing is found by then.
pub async fn created_or_found<F, Fut>(
    created: Result<String>,
    duplicate: &str,
    looking: Looking<'_>,
    mut find: F,
) -> Result<String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<String>>>,
{
    let error = match created {
        Err(error) if error.aws_code() == Some(duplicate) => error,
        other => return other,
    };
    let policy = WaitPolicy::new(VISIBLE_WITHIN).retrying();
    let Looking {
        target,
        sink,
        cancel,
    } = looking;
    let found = wait::until(target, &policy, sink, cancel, || {
        let seen = find();
        async move {
            Ok(match seen.await? {
                Some(id) => Poll::Ready(id),
                None => Poll::Pending("not visible yet".to_string()),
            })
        }
    });
    match found.await {
        Err(Error::Timeout { .. }) => Err(error),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AwsError;
    use crate::events::Event;
    use crate::model::Step;

    fn duplicate() -> Error {
        AwsError {
            operation: "CreateSecurityGroup",
            region: "eu-west-1".into(),
            resource: None,
            code: Some("InvalidGroup.Duplicate".into()),
            message: "InvalidGroup.Duplicate: already exists".into(),
            request_id: None,
            transient: false,
            source: None,
        }
        .into()
    }

    const IGNORED: &(dyn Fn(Event) + Send + Sync) = &|_| {};

    fn looking(cancel: &CancellationToken) -> Looking<'_> {
        Looking {
            target: Target {
                step: &Step::Launch,
                what: "security group",
                resource: "bakery-builder-1",
                region: "eu-west-1",
                hint: None,
            },
            sink: &IGNORED,
            cancel,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_duplicate_s_original_is_looked_for_while_it_may_still_be_invisible() {
        let cancel = CancellationToken::new();
        let looks = std::sync::atomic::AtomicUsize::new(0);
        let found = created_or_found(
            Err(duplicate()),
            "InvalidGroup.Duplicate",
            looking(&cancel),
            || {
                let seen = looks.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 2;
                async move { Ok(seen.then(|| "sg-1".to_string())) }
            },
        );
        assert_eq!(found.await.unwrap(), "sg-1", "visible on the third look");
        let started = tokio::time::Instant::now();
        let missing = created_or_found(
            Err(duplicate()),
            "InvalidGroup.Duplicate",
            looking(&cancel),
            || async { Ok(None) },
        );
        assert_eq!(
            missing.await.unwrap_err().aws_code(),
            Some("InvalidGroup.Duplicate"),
            "the duplicate stands"
        );
        assert!(
            started.elapsed() <= VISIBLE_WITHIN,
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_created_id_is_taken_and_an_interrupt_stops_the_looking() {
        let cancel = CancellationToken::new();
        let made = created_or_found(
            Ok("sg-2".into()),
            "InvalidGroup.Duplicate",
            looking(&cancel),
            || async { panic!("not looked for") },
        );
        assert_eq!(made.await.unwrap(), "sg-2");
        cancel.cancel();
        let stopped = created_or_found(
            Err(duplicate()),
            "InvalidGroup.Duplicate",
            looking(&cancel),
            || async { Ok(None) },
        );
        assert!(matches!(stopped.await, Err(Error::Interrupted)));
    }
}
