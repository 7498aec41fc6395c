//! How long AWS's transitions took on this machine before: the expected duration a
//! wait polls around ([`super::Schedule::Watch`]). One estimate per endpoint, region
//! and [`Transition`], each a moving average of where the change was seen to happen
//! (between the last look that still saw the old state and the first that saw the new
//! one). One set per process ([`of_process`]), kept in a small JSON file that the
//! caller names ([`keep_in`]; the CLI's is `~/.cache/bakery/timings.json`) and writes
//! back when done ([`save`]); it is a cache: a missing or unreadable file means no
//! expectations, never an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strum::{Display, EnumString};

use crate::error::{Error, Result};

/// A state change bakery waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Display, EnumString)]
#[strum(serialize_all = "kebab-case")]
pub enum Transition {
    /// `pending` → `running`, from RunInstances.
    InstanceRunning,
    /// A running instance's SSM agent → `Online`.
    AgentOnline,
    /// `stopping` → `stopped`, from StopInstances.
    InstanceStopped,
    /// `pending` → `available`, from CreateImage.
    ImageAvailable,
    /// `pending` → `available`, from CopyImage (in the destination region).
    ImageCopied,
    /// `shutting-down` → `terminated`, from TerminateInstances.
    InstanceTerminated,
}

static PROCESS: OnceLock<Arc<Timings>> = OnceLock::new();

/// Reads the process's timings from `file` (None: learnt for this process only). Called
/// once, before the first wait; a later call changes nothing.
pub fn keep_in(file: Option<PathBuf>) {
    let _ = PROCESS.set(Arc::new(Timings::load(file)));
}

/// The process's timings.
pub fn of_process() -> &'static Arc<Timings> {
    PROCESS.get_or_init(|| Arc::new(Timings::default()))
}

/// What to expect of `transition` through `endpoint` (`aws`, or an endpoint URL) in
/// `region`, from the process's timings.
pub fn learning(endpoint: &str, region: &str, transition: Transition) -> Learning {
    of_process().learning(endpoint, region, transition)
}

/// Writes what the process observed back into its file.
pub fn save() -> Result<()> {
    of_process().save()
}

/// One estimate: the average of the recent observations, newest weighing half.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Estimate {
    seconds: f64,
    samples: u32,
    /// When it was last observed (Unix seconds): the file keeps the newest [`KEPT`].
    #[serde(default)]
    seen_at: u64,
}

/// Estimates the file keeps (endpoints and regions come and go: local emulators on
/// new ports, regions no longer baked in).
const KEPT: usize = 500;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Every estimate of this process, and the file they came from and go back to.
#[derive(Debug, Default)]
pub struct Timings {
    file: Option<PathBuf>,
    estimates: Mutex<BTreeMap<String, Estimate>>,
    /// The keys this process observed: the only ones it writes back.
    observed: Mutex<std::collections::BTreeSet<String>>,
}

impl Timings {
    /// Estimates read from `file`, if there is one that can be read.
    pub fn load(file: Option<PathBuf>) -> Timings {
        let estimates = file
            .as_deref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        Timings {
            file,
            estimates: Mutex::new(estimates),
            observed: Mutex::default(),
        }
    }

    /// What to expect of `transition` through `endpoint` in `region`.
    pub fn learning(
        self: &Arc<Self>,
        endpoint: &str,
        region: &str,
        transition: Transition,
    ) -> Learning {
        Learning {
            timings: self.clone(),
            key: format!("{endpoint} {region} {transition}"),
        }
    }

    fn expected(&self, key: &str) -> Option<Duration> {
        let estimates = self.estimates.lock().expect("not poisoned");
        Duration::try_from_secs_f64(estimates.get(key)?.seconds).ok()
    }

    fn observe(&self, key: &str, before: Duration, after: Duration) {
        let seen = (before + after).as_secs_f64() / 2.0;
        let mut estimates = self.estimates.lock().expect("not poisoned");
        let estimate = estimates.entry(key.to_string()).or_insert(Estimate {
            seconds: seen,
            samples: 0,
            seen_at: 0,
        });
        estimate.seconds = (estimate.seconds + seen) / 2.0;
        estimate.samples = estimate.samples.saturating_add(1);
        estimate.seen_at = now();
        self.observed
            .lock()
            .expect("not poisoned")
            .insert(key.to_string());
    }

    /// Writes what this process observed into the file (over what another process
    /// may have written since it was read), atomically. Nothing to write: nothing done.
    pub fn save(&self) -> Result<()> {
        let (Some(file), observed) = (&self.file, self.observed.lock().expect("not poisoned"))
        else {
            return Ok(());
        };
        if observed.is_empty() {
            return Ok(());
        }
        let mut on_disk: BTreeMap<String, Estimate> = std::fs::read_to_string(file)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        let estimates = self.estimates.lock().expect("not poisoned");
        for key in observed.iter() {
            on_disk.insert(key.clone(), estimates[key]);
        }
        if on_disk.len() > KEPT {
            let mut by_age: Vec<(u64, String)> = on_disk
                .iter()
                .map(|(k, e)| (e.seen_at, k.clone()))
                .collect();
            by_age.sort();
            for (_, key) in &by_age[..by_age.len() - KEPT] {
                on_disk.remove(key);
            }
        }
        write_atomically(
            file,
            &serde_json::to_string_pretty(&on_disk).expect("plain data"),
        )
    }
}

fn write_atomically(file: &Path, text: &str) -> Result<()> {
    let failed = |e: std::io::Error| {
        Error::input(format!(
            "cannot write the timings file {}: {e}",
            file.display()
        ))
    };
    if let Some(folder) = file.parent() {
        std::fs::create_dir_all(folder).map_err(failed)?;
    }
    let temporary = file.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&temporary, text).map_err(failed)?;
    std::fs::rename(&temporary, file).map_err(failed)
}

/// One transition's estimate, for one wait: read before, recorded after.
#[derive(Debug, Clone)]
pub struct Learning {
    timings: Arc<Timings>,
    key: String,
}

impl Learning {
    /// How long the transition took here before (its moving average); None when no
    /// estimate is kept for this endpoint and region.
    pub fn expected(&self) -> Option<Duration> {
        self.timings.expected(&self.key)
    }

    /// The change happened after `before` (the last look that saw the old state) and
    /// by `after` (the look that saw the new one), both since the wait began.
    pub fn observe(&self, before: Duration, after: Duration) {
        self.timings.observe(&self.key, before, after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn an_estimate_follows_where_the_changes_were_seen() {
        let timings = Arc::new(Timings::default());
        let running = timings.learning("aws", "eu-west-1", Transition::InstanceRunning);
        assert_eq!(running.expected(), None, "nothing seen yet");
        running.observe(seconds(2.5), seconds(3.5));
        assert_eq!(running.expected(), Some(seconds(3.0)));
        running.observe(seconds(3.9), seconds(4.1));
        assert_eq!(
            running.expected(),
            Some(seconds(3.5)),
            "the newest weighs half"
        );
        let elsewhere = timings.learning("aws", "us-east-1", Transition::InstanceRunning);
        assert_eq!(elsewhere.expected(), None, "each region on its own");
    }

    #[test]
    fn the_file_keeps_what_each_process_saw() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("cache").join("timings.json");
        let first = Arc::new(Timings::load(Some(file.clone())));
        first
            .learning("aws", "eu-west-1", Transition::ImageAvailable)
            .observe(seconds(290.0), seconds(310.0));
        let second = Arc::new(Timings::load(Some(file.clone())));
        second
            .learning("aws", "eu-west-1", Transition::InstanceStopped)
            .observe(seconds(30.0), seconds(32.0));
        first.save().unwrap();
        second.save().unwrap();

        let later = Arc::new(Timings::load(Some(file.clone())));
        let image = later.learning("aws", "eu-west-1", Transition::ImageAvailable);
        let stop = later.learning("aws", "eu-west-1", Transition::InstanceStopped);
        assert_eq!(image.expected(), Some(seconds(300.0)));
        assert_eq!(stop.expected(), Some(seconds(31.0)));
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("\"aws eu-west-1 image-available\""), "{text}");
    }

    #[test]
    fn an_unreadable_file_means_no_expectations() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("timings.json");
        std::fs::write(&file, "not json").unwrap();
        let timings = Arc::new(Timings::load(Some(file)));
        let wait = timings.learning("aws", "eu-west-1", Transition::ImageAvailable);
        assert_eq!(wait.expected(), None);
        timings.save().unwrap();
    }
}
