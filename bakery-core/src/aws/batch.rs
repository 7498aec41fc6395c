//! One Describe call for everything the process waits on: the waits of every bake of a
//! `bake --all` (and of every copy in a region) ask for one instance or image each; a
//! [`Batch`] gathers those that ask at about the same time into one call, and spaces
//! the calls of one kind in one region at least [`SPACING`] apart.
//!
//! The spacing keeps polling inside EC2's request budget however many bakes run: EC2
//! throttles per account and region with a token bucket, 100 tokens refilled at 20 per
//! second for non-mutating (Describe*) actions ("Request token bucket sizes and refill
//! rates", Amazon EC2 API throttling, docs.aws.amazon.com/ec2/latest/devguide/
//! ec2-api-throttling.html). Instances and images at most 5 calls per second each leave
//! half of it to everything else.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::{Error, Result};

/// The least time between two calls of one batch.
pub const SPACING: Duration = Duration::from_millis(200);
/// How long a call waits for others to join it.
const GATHER: Duration = Duration::from_millis(3);

/// What one call answers for a list of ids: each one found, by id (an id it does not
/// return is absent); None when the service refused the whole list for an id it does
/// not know (EC2 does, for one instance or image just made or long gone).
pub type Answer<V> = Result<Option<HashMap<String, V>>>;

type Found<V> = std::result::Result<HashMap<String, V>, Arc<Error>>;
/// A call being gathered: its ids, and where its answer will be.
type Open<V> = (BTreeSet<String>, watch::Receiver<Option<Arc<Found<V>>>>);
type Fetch<V> =
    dyn Fn(Vec<String>) -> Pin<Box<dyn Future<Output = Answer<V>> + Send>> + Send + Sync;

/// Gathers lookups by id into calls of at most `chunk` ids; a list the service refuses
/// is asked again one id at a time, so that the others are still answered.
pub struct Batch<V> {
    fetch: Box<Fetch<V>>,
    chunk: usize,
    state: Mutex<State<V>>,
}

struct State<V> {
    /// When the next call may be made.
    next_call: Instant,
    open: Option<Open<V>>,
}

impl<V: Clone + Send + Sync + 'static> Batch<V> {
    /// `fetch` makes one call for a list of ids.
    pub fn new<F, Fut>(chunk: usize, fetch: F) -> Arc<Self>
    where
        F: Fn(Vec<String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Answer<V>> + Send + 'static,
    {
        Arc::new(Batch {
            fetch: Box::new(move |ids| Box::pin(fetch(ids))),
            chunk,
            state: Mutex::new(State {
                next_call: Instant::now(),
                open: None,
            }),
        })
    }

    /// The resource `id`, None if it does not exist; from the next call of the batch.
    pub async fn get(self: &Arc<Self>, id: &str) -> Result<Option<V>> {
        let mut answer = {
            let mut state = self.state.lock().expect("not poisoned");
            match &mut state.open {
                Some((ids, answer)) => {
                    ids.insert(id.to_string());
                    answer.clone()
                }
                None => {
                    let (sender, answer) = watch::channel(None);
                    let at = state.next_call.max(Instant::now() + GATHER);
                    state.open = Some((BTreeSet::from([id.to_string()]), answer.clone()));
                    // A task of its own: a waiter that is cancelled does not take the
                    // answer of the others with it.
                    tokio::spawn(self.clone().call(at, sender));
                    answer
                }
            }
        };
        let found = answer
            .wait_for(Option::is_some)
            .await
            .map_err(|_| Error::input("a batched AWS call was dropped"))?
            .clone()
            .expect("waited for an answer");
        match found.as_ref() {
            Ok(found) => Ok(found.get(id).cloned()),
            Err(error) => Err(error.duplicate(id)),
        }
    }

    async fn call(self: Arc<Self>, at: Instant, sender: watch::Sender<Option<Arc<Found<V>>>>) {
        tokio::time::sleep_until(at).await;
        let ids: Vec<String> = {
            let mut state = self.state.lock().expect("not poisoned");
            state.next_call = Instant::now() + SPACING;
            let (ids, _) = state.open.take().expect("this call's batch is open");
            ids.into_iter().collect()
        };
        let found = self.fetch_all(&ids).await.map_err(Arc::new);
        let _ = sender.send(Some(Arc::new(found)));
    }

    async fn fetch_all(&self, ids: &[String]) -> Result<HashMap<String, V>> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(self.chunk) {
            match (self.fetch)(chunk.to_vec()).await? {
                Some(part) => found.extend(part),
                None if chunk.len() > 1 => {
                    for id in chunk {
                        found.extend((self.fetch)(vec![id.clone()]).await?.unwrap_or_default());
                    }
                }
                None => {}
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The ids of each call made.
    type Calls = Arc<Mutex<Vec<Vec<String>>>>;

    fn counting_batch() -> (Arc<Batch<String>>, Calls) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        let batch = Batch::new(2, move |ids: Vec<String>| {
            seen.lock().unwrap().push(ids.clone());
            async move {
                Ok(Some(
                    ids.into_iter()
                        .filter(|id| id != "i-gone")
                        .map(|id| (id.clone(), format!("state of {id}")))
                        .collect(),
                ))
            }
        });
        (batch, calls)
    }

    #[tokio::test(start_paused = true)]
    async fn waits_that_look_together_share_one_call() {
        let (batch, calls) = counting_batch();
        let (a, b, gone) = tokio::join!(batch.get("i-a"), batch.get("i-b"), batch.get("i-gone"));
        assert_eq!(a.unwrap().as_deref(), Some("state of i-a"));
        assert_eq!(b.unwrap().as_deref(), Some("state of i-b"));
        assert_eq!(gone.unwrap(), None);
        // Three ids in calls of at most two.
        assert_eq!(*calls.lock().unwrap(), [vec!["i-a", "i-b"], vec!["i-gone"]]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_list_refused_for_an_unknown_id_is_asked_one_id_at_a_time() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        // As EC2 answers DescribeInstances: the whole list refused for one unknown id.
        let batch: Arc<Batch<String>> = Batch::new(10, move |ids: Vec<String>| {
            seen.lock().unwrap().push(ids.clone());
            async move {
                Ok(match ids.iter().any(|id| id == "i-new") {
                    true => None,
                    false => Some(
                        ids.iter()
                            .map(|id| (id.clone(), "running".into()))
                            .collect(),
                    ),
                })
            }
        });
        let (a, new) = tokio::join!(batch.get("i-a"), batch.get("i-new"));
        assert_eq!(a.unwrap().as_deref(), Some("running"));
        assert_eq!(new.unwrap(), None);
        assert_eq!(
            *calls.lock().unwrap(),
            [vec!["i-a", "i-new"], vec!["i-a"], vec!["i-new"]]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn calls_of_one_batch_are_spaced_out() {
        let (batch, calls) = counting_batch();
        let started = Instant::now();
        batch.get("i-a").await.unwrap();
        let first = started.elapsed();
        batch.get("i-a").await.unwrap();
        assert!(started.elapsed() >= SPACING, "{:?}", started.elapsed());
        assert!(first < Duration::from_millis(10), "{first:?}");
        assert_eq!(calls.lock().unwrap().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_call_fails_every_lookup_in_it_naming_each() {
        let tries = Arc::new(AtomicUsize::new(0));
        let counted = tries.clone();
        let batch: Arc<Batch<String>> = Batch::new(10, move |_ids| {
            counted.fetch_add(1, Ordering::SeqCst);
            async {
                Err(crate::error::AwsError {
                    operation: "DescribeInstances",
                    region: "eu-west-1".into(),
                    resource: None,
                    code: Some("RequestLimitExceeded".into()),
                    message: "RequestLimitExceeded: Request limit exceeded.".into(),
                    request_id: None,
                    transient: true,
                    source: None,
                }
                .into())
            }
        });
        let (a, b) = tokio::join!(batch.get("i-a"), batch.get("i-b"));
        let (a, b) = (a.unwrap_err(), b.unwrap_err());
        assert!(a.is_transient() && b.is_transient());
        assert!(a.to_string().contains("for i-a"), "{a}");
        assert!(b.to_string().contains("for i-b"), "{b}");
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }
}
