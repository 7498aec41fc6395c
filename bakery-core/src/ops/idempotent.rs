//! Creates whose answer may be lost. AWS may carry a call out and the answer never
//! arrive (a timeout, a dropped connection); the SDK then retries, and the retry meets
//! the first call's result as a "duplicate" error. What the first call made is then
//! found, instead of failing the bake and leaking it.

use std::future::Future;

use crate::error::Result;

/// The id `created` returned, or — when it failed with `duplicate` — the id `find`
/// finds; the duplicate error stands when nothing is found.
pub async fn created_or_found<F>(
    created: Result<String>,
    duplicate: &str,
    find: impl FnOnce() -> F,
) -> Result<String>
where
    F: Future<Output = Result<Option<String>>>,
{
    match created {
        Err(error) if error.aws_code() == Some(duplicate) => match find().await? {
            Some(id) => Ok(id),
            None => Err(error),
        },
        other => other,
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

    #[tokio::test]
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
