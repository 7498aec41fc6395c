//! A signal during a step that creates: the request on the wire finishes, since its
//! answer names what it made (for the cleanup), but no other request or retry of the
//! step is sent. Reads and waits are cut short instead (`Step::may_be_cut`).
//!
//! The token is the step's, set for the future that runs the step
//! ([`no_new_requests_after`]); every client checks it right before each attempt is
//! sent ([`StopNewRequests`]), so a retry's backoff ends the call too.

use std::future::Future;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use tokio_util::sync::CancellationToken;

tokio::task_local! {
    static STOP: CancellationToken;
}

/// Runs `work`; once `stop` is cancelled, its AWS calls send nothing more and end with
/// [`crate::error::Error::Interrupted`].
pub async fn no_new_requests_after<F: Future>(stop: CancellationToken, work: F) -> F::Output {
    STOP.scope(stop, work).await
}

/// Runs `work` with every request sent whatever its step's token says: what removes
/// a half-made thing must reach AWS.
pub async fn always_sent<F: Future>(work: F) -> F::Output {
    STOP.scope(CancellationToken::new(), work).await
}

/// The refusal a request gets when its step was stopped before it was sent.
#[derive(Debug)]
pub struct NotSent;

impl std::fmt::Display for NotSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not sent: the bake was interrupted")
    }
}

impl std::error::Error for NotSent {}

/// True when `error` (or one of its causes) is a request refused by [`StopNewRequests`].
pub fn was_not_sent(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if error.is::<NotSent>() {
            return true;
        }
        next = error.source();
    }
    false
}

/// Every client's check before an attempt goes on the wire.
#[derive(Debug)]
pub struct StopNewRequests;

impl Intercept for StopNewRequests {
    fn name(&self) -> &'static str {
        "StopNewRequests"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match STOP.try_with(CancellationToken::is_cancelled) {
            Ok(true) => Err(Box::new(NotSent)),
            _ => Ok(()),
        }
    }
}
