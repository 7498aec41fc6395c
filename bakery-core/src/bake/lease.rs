//! The bake's lease on its claim: while the builder lives, the bake renews the claim's
//! `lease_until` at a fixed interval. `bakery cleanup` treats a bake as gone once its
//! lease has expired — from any host, container or platform, without asking a process
//! table that may not be the bake's.

use std::future::Future;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::context::Bake;
use super::steps::release::Claim;
use crate::events::Event;
use crate::release::claim;

/// How long a lease runs: several renewals, so that a renewal lost to throttling or a
/// slow call does not end a bake that is alive.
pub const LEASE: Duration = Duration::from_secs(5 * 60);
/// How often a running bake renews it.
pub const RENEWAL: Duration = Duration::from_secs(60);

/// Runs `work` while renewing the claim's lease.
pub async fn held_while<T>(bake: &Bake<'_>, claim: &Claim, work: impl Future<Output = T>) -> T {
    let renew = || async {
        let record = claim.record.leased_until(SystemTime::now() + LEASE);
        if let Err(error) = claim::renew(bake.aws, &claim.release, &record).await {
            bake.sink.emit(Event::Warning {
                message: format!("could not renew the claim's lease (retrying): {error}"),
            });
        }
    };
    renewing(work, RENEWAL, renew).await
}

/// Runs `work`, calling `renew` every `every` meanwhile; the last renewal in flight
/// finishes before the result is returned: what follows may write the claim itself
/// (the release record), which a late renewal must never overwrite.
pub(super) async fn renewing<T, R>(
    work: impl Future<Output = T>,
    every: Duration,
    mut renew: impl FnMut() -> R,
) -> T
where
    R: Future<Output = ()>,
{
    let done = CancellationToken::new();
    let work = async {
        let result = work.await;
        done.cancel();
        result
    };
    let renewals = async {
        loop {
            tokio::select! {
                _ = done.cancelled() => return,
                _ = tokio::time::sleep(every) => renew().await,
            }
        }
    };
    let (result, ()) = tokio::join!(work, renewals);
    result
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::time::Instant;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_lease_is_renewed_while_the_work_runs_and_never_after() {
        let renewals = AtomicUsize::new(0);
        let finished = std::sync::Mutex::new(None);
        let work = async {
            tokio::time::sleep(Duration::from_secs(250)).await;
            *finished.lock().unwrap() = Some(renewals.load(Ordering::SeqCst));
            "image"
        };
        let started = Instant::now();
        let result = renewing(work, RENEWAL, || async {
            renewals.fetch_add(1, Ordering::SeqCst);
        })
        .await;
        assert_eq!(result, "image");
        assert_eq!(renewals.load(Ordering::SeqCst), 4, "at 60, 120, 180, 240 s");
        assert_eq!(*finished.lock().unwrap(), Some(4), "none after the work");
        assert!(Instant::now() - started < Duration::from_secs(251));
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewal_in_flight_finishes_before_the_result_is_returned() {
        let landed = AtomicUsize::new(0);
        let work = tokio::time::sleep(Duration::from_secs(61));
        renewing(work, RENEWAL, || async {
            // Slower than the work has left: it still lands before `renewing` returns.
            tokio::time::sleep(Duration::from_secs(5)).await;
            landed.fetch_add(1, Ordering::SeqCst);
        })
        .await;
        assert_eq!(landed.load(Ordering::SeqCst), 1);
    }
}
