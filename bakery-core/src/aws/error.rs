//! The one place SDK errors become bakery's: the operation, region and resource of
//! the call, the service's code and message, and whether a retry may help. Each call
//! site says `.context(call)` instead of building the error itself.

use aws_sdk_ec2::operation::RequestId;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::signal;
use crate::error::{AwsError, Error, Result};

/// One AWS call, for its error: `DescribeImages` in `eu-west-1` for `ami-1`.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The API operation, as AWS names it: `DescribeImages`.
    pub operation: &'static str,
    /// The region the call went to.
    pub region: &'a str,
    /// The id or name the call was about, if it was about one.
    pub resource: Option<&'a str>,
}

impl<'a> Call<'a> {
    /// A call of `operation` in `region`, about no resource in particular.
    pub fn new(operation: &'static str, region: &'a str) -> Self {
        Call {
            operation,
            region,
            resource: None,
        }
    }

    /// The same call, about `resource`.
    pub fn on(mut self, resource: &'a str) -> Self {
        self.resource = Some(resource);
        self
    }

    /// For a call about a list of ids: names the resource when the list has one.
    pub fn on_the_one(self, ids: &'a [String]) -> Self {
        match ids {
            [one] => self.on(one),
            _ => self,
        }
    }
}

/// Error codes AWS uses for "slow down".
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Turns an SDK error into bakery's, keeping the AWS code and whether a retry may help.
pub fn sdk_error<E>(call: Call<'_>, error: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if signal::was_not_sent(&error) {
        return Error::Interrupted;
    }
    let code = error.code().map(str::to_string);
    let request_id = error.request_id().map(str::to_string);
    let transient = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            service.raw().status().as_u16() >= 500
                || code
                    .as_deref()
                    .is_some_and(|c| THROTTLING_CODES.contains(&c))
        }
        _ => false,
    };
    let message = match (&code, error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.clone(),
        _ => causes(&error),
    };
    AwsError {
        operation: call.operation,
        region: call.region.to_string(),
        resource: call.resource.map(str::to_string),
        code,
        message,
        request_id,
        transient,
        source: Some(std::sync::Arc::new(error)),
    }
    .into()
}

/// An error and its causes, each said once: "dispatch failure: io error: connection
/// refused". The SDK's own display of them ends with a debug dump; this one does not.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut said: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let text = error.to_string();
        if !said.iter().any(|s| s.contains(&text)) {
            said.push(text);
        }
        next = error.source();
    }
    said.join(": ")
}

/// `.context(call)` on an SDK result.
pub trait Context<T> {
    /// Turns the SDK's error into bakery's [`AwsError`], naming `call`'s operation,
    /// region and resource.
    fn context(self, call: Call<'_>) -> Result<T>;
}

impl<T, E> Context<T> for std::result::Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn context(self, call: Call<'_>) -> Result<T> {
        self.map_err(|e| sdk_error(call, e))
    }
}

/// Reads of a resource that may not exist: "not found" is an answer, not an error.
pub trait OrAbsent<T> {
    /// `Ok(None)` when AWS says the resource does not exist.
    fn or_absent(self) -> Result<Option<T>>;
    /// Success when AWS says the resource was already gone (deletes).
    fn or_gone(self) -> Result<()>;
    /// Success only when AWS answers one of `codes`: the resource's own "not found",
    /// where another one (an interface's, a volume's) is a failure to report.
    fn or_gone_as(self, codes: &[&str]) -> Result<()>;
}

impl<T> OrAbsent<T> for Result<T> {
    fn or_absent(self) -> Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn or_gone(self) -> Result<()> {
        self.or_absent().map(|_| ())
    }

    fn or_gone_as(self, codes: &[&str]) -> Result<()> {
        match self {
            Ok(_) => Ok(()),
            Err(error) if error.aws_code().is_some_and(|code| codes.contains(&code)) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// True when an error says the resource does not exist (any more).
pub fn is_not_found(error: &Error) -> bool {
    error.aws_code().is_some_and(|code| {
        code.ends_with(".NotFound")
            || code.ends_with(".Unavailable")
            || code == "ParameterNotFound"
            || code == "InvocationDoesNotExist"
    })
}

/// True when the call never left the machine because no credentials were found (no
/// profile, no keys in the environment, no instance role).
pub fn lacks_credentials(error: &Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = next {
        if cause
            .downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
        {
            return true;
        }
        next = cause.source();
    }
    false
}

/// A DryRun call succeeds by failing with `DryRunOperation`; any other answer is the
/// problem the real call would meet.
pub fn dry_run_outcome<T>(result: Result<T>) -> Result<()> {
    match result {
        Ok(_) => Ok(()),
        Err(error) if error.aws_code() == Some("DryRunOperation") => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("dispatch failure")]
    struct Dispatch(#[source] std::io::Error);

    #[test]
    fn an_error_without_a_code_reads_as_its_causes_without_a_debug_dump() {
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let text = causes(&Dispatch(refused));
        assert_eq!(text, "dispatch failure: connection refused");
        assert!(!text.contains('{'), "no debug dump: {text}");
    }
}
