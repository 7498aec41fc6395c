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

/// Runs `work` while renewing the claim's lease, and stops renewing (a write in
/// flight finishes first) before returning its result: what follows may write the
/// claim itself (the release record), which a late renewal must never overwrite.
pub async fn held_while<T>(bake: &Bake<'_>, claim: &Claim, work: impl Future<Output = T>) -> T {
    let done = CancellationToken::new();
    let work = async {
        let result = work.await;
        done.cancel();
        result
    };
    let (result, ()) = tokio::join!(work, renew(bake, claim, &done));
    result
}

async fn renew(bake: &Bake<'_>, claim: &Claim, done: &CancellationToken) {
    loop {
        tokio::select! {
            _ = done.cancelled() => return,
            _ = tokio::time::sleep(RENEWAL) => {}
        }
        let record = claim.record.leased_until(SystemTime::now() + LEASE);
        if let Err(error) = claim::renew(bake.aws, &claim.release, &record).await {
            bake.sink.emit(Event::Warning {
                message: format!("could not renew the claim's lease (retrying): {error}"),
            });
        }
    }
}
