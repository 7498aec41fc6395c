//! Creates whose answer may be lost. AWS may carry a call out and the answer never
//! arrive (a timeout, a dropped connection); the SDK then retries, and the retry meets
//! the first call's result as a "duplicate" error. What the first call made is then
//! found, instead of failing the bake and leaking it.

use std::future::Future;
use std::time::Duration;

use crate::error::Result;

/// How long what a first call made may stay invisible to a Describe: "eventual
/// consistency … typically a few seconds" (EC2 Developer Guide, "Eventual consistency
/// in the Amazon EC2 API").
const VISIBLE_WITHIN: Duration = Duration::from_secs(30);

/// The id `created` returned, or — when it failed with `duplicate` — the id `find`
/// finds, looking again (0.5 s, then doubling) while the first call's result may not
/// be visible yet; the duplicate error stands when nothing is found by then.
pub async fn created_or_found<F>(
    created: Result<String>,
    duplicate: &str,
    find: impl Fn() -> F,
) -> Result<String>
where
    F: Future<Output = Result<Option<String>>>,
{
    let error = match created {
        Err(error) if error.aws_code() == Some(duplicate) => error,
        other => return other,
    };
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(500);
    loop {
        if let Some(id) = find().await? {
            return Ok(id);
        }
        if started.elapsed() + pause > VISIBLE_WITHIN {
            return Err(error);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(8));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{AwsError, Error};

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

    #[tokio::test(start_paused = true)]
    async fn a_duplicate_s_original_is_looked_for_while_it_may_still_be_invisible() {
        let looks = std::sync::atomic::AtomicUsize::new(0);
        let found = created_or_found(Err(duplicate()), "InvalidGroup.Duplicate", || {
            let seen = looks.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 2;
            async move { Ok(seen.then(|| "sg-1".to_string())) }
        });
        assert_eq!(found.await.unwrap(), "sg-1", "visible on the third look");
        let started = tokio::time::Instant::now();
        let missing = created_or_found(Err(duplicate()), "InvalidGroup.Duplicate", || async {
            Ok(None)
        });
        assert!(missing.await.is_err());
        assert!(
            started.elapsed() <= VISIBLE_WITHIN,
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_duplicate_is_the_first_calls_result_when_it_can_be_found() {
        let found = created_or_found(Err(duplicate()), "InvalidGroup.Duplicate", || async {
            Ok(Some("sg-1".to_string()))
        });
        assert_eq!(found.await.unwrap(), "sg-1");
        let missing = created_or_found(Err(duplicate()), "InvalidGroup.Duplicate", || async {
            Ok(None)
        });
        assert_eq!(
            missing.await.unwrap_err().aws_code(),
            Some("InvalidGroup.Duplicate")
        );
        let made = created_or_found(Ok("sg-2".into()), "InvalidGroup.Duplicate", || async {
            panic!("not looked for")
        });
        assert_eq!(made.await.unwrap(), "sg-2");
    }
}
