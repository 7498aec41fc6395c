//! A running bake's (or `bakery test`'s) lock on a file named by its run: the kernel
//! releases it when the process ends, however it ends (`kill -9` included), in
//! whichever pid namespace or container it ran and whatever its binary is called.
//! The claim names the file; `bakery cleanup`, on the same host and boot, learns from
//! it that a bake is gone at once instead of waiting for its lease to run out. It never
//! asks a process table: a pid means nothing outside its own namespace.

use std::fs::{File, OpenOptions};

use serde::{Deserialize, Serialize};

/// Where the lock is: the host and boot it was taken on, and the file, by path and
/// by identity (device and inode), so that no other file is ever taken for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockNote {
    pub host: String,
    pub boot_id: String,
    pub path: String,
    pub dev: u64,
    pub ino: u64,
}

/// What the lock a claim names says of its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockProbe {
    /// Its process holds it: the run is alive.
    Held,
    /// Nobody holds it: its process has ended.
    Free,
    /// It cannot be seen from here (another host, boot or file system, or no such
    /// file): the lease decides.
    Unseen,
}

/// The lock a run holds while it lives. The file stays once the run ends, free: that
/// is how cleanup knows a run that recorded its release has ended; files of runs that
/// ended a day ago go when a later run takes its lock.
#[derive(Debug)]
pub struct RunLock {
    // Held open: closing it (or the process ending) releases the lock.
    _file: File,
    note: LockNote,
}

impl RunLock {
    /// Takes the lock of run `run` in the temporary folder; None where it cannot be
    /// taken (no such folder, no host or boot id to name it by): the lease then
    /// decides alone.
    pub fn take(run: &str) -> Option<RunLock> {
        let here = Whereabouts::here();
        let (host, boot_id) = (here.host?, here.boot_id?);
        let safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if run.is_empty() || !run.chars().all(safe) {
            return None;
        }
        sweep_stale(&std::env::temp_dir());
        let path = std::env::temp_dir().join(format!("bakery-run-{run}.lock"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .ok()?;
        let taken = file.try_lock().is_ok();
        let identity = identity(&file);
        let (Some((dev, ino)), true, Some(text)) = (identity, taken, path.to_str()) else {
            let _ = std::fs::remove_file(&path);
            return None;
        };
        let note = LockNote {
            host,
            boot_id,
            path: text.to_string(),
            dev,
            ino,
        };
        Some(RunLock { _file: file, note })
    }

    pub fn note(&self) -> &LockNote {
        &self.note
    }
}

/// How long the lock file of an ended run stays: far past any lease of its record.
const STALE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Removes the lock files in `dir` that are older than [`STALE`] and free.
fn sweep_stale(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with("bakery-run-") && name.ends_with(".lock")) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|at| at.elapsed().is_ok_and(|age| age > STALE));
        let free = old && File::open(entry.path()).is_ok_and(|f| f.try_lock().is_ok());
        if free {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Asks the lock `note` names whether its run is alive.
pub fn probe(note: &LockNote) -> LockProbe {
    let here = Whereabouts::here();
    if here.host.as_deref() != Some(&note.host) || here.boot_id.as_deref() != Some(&note.boot_id) {
        return LockProbe::Unseen;
    }
    let Ok(file) = File::open(&note.path) else {
        return LockProbe::Unseen;
    };
    if identity(&file) != Some((note.dev, note.ino)) {
        return LockProbe::Unseen;
    }
    match file.try_lock() {
        Ok(()) => LockProbe::Free,
        Err(std::fs::TryLockError::WouldBlock) => LockProbe::Held,
        Err(std::fs::TryLockError::Error(_)) => LockProbe::Unseen,
    }
}

/// Once a run is known to be gone, its lock file goes too.
pub fn remove_file_of(note: &LockNote) {
    if probe(note) == LockProbe::Free {
        let _ = std::fs::remove_file(&note.path);
    }
}

#[cfg(unix)]
fn identity(file: &File) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    file.metadata().ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(_file: &File) -> Option<(u64, u64)> {
    None
}

/// Where a process runs: its host and the host's boot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Whereabouts {
    pub host: Option<String>,
    pub boot_id: Option<String>,
}

impl Whereabouts {
    /// This process's, from `/proc` (no boot id on systems without one, such as macOS).
    pub fn here() -> Whereabouts {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .ok()
                .map(|text| text.trim().to_string())
                .filter(|text| !text.is_empty())
        };
        Whereabouts {
            host: read("/proc/sys/kernel/hostname").or_else(|| std::env::var("HOSTNAME").ok()),
            boot_id: read("/proc/sys/kernel/random/boot_id"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_says_held_and_an_ended_run_s_lock_is_free() {
        let run = format!("lock-test-{}", std::process::id());
        let Some(lock) = RunLock::take(&run) else {
            return; // no /proc here: the lease decides alone
        };
        let note = lock.note().clone();
        assert_eq!(probe(&note), LockProbe::Held, "held by this process");
        assert!(RunLock::take(&run).is_none(), "one run, one lock");
        drop(lock);
        // Another test thread spawning a process may hold a copy of the descriptor
        // between its fork and its exec (close-on-exec closes it then): a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while probe(&note) == LockProbe::Held && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(probe(&note), LockProbe::Free, "the run has ended");
        remove_file_of(&note);
        assert_eq!(probe(&note), LockProbe::Unseen);
    }

    #[test]
    fn a_lock_nobody_holds_is_free_and_another_file_is_never_it() {
        let here = Whereabouts::here();
        let (Some(host), Some(boot_id)) = (here.host, here.boot_id) else {
            return;
        };
        // What `kill -9` leaves: the file, and nobody holding it.
        let path =
            std::env::temp_dir().join(format!("bakery-run-left-{}.lock", std::process::id()));
        let left = File::create(&path).unwrap();
        let (dev, ino) = identity(&left).unwrap();
        drop(left);
        let note = LockNote {
            host,
            boot_id,
            path: path.to_str().unwrap().to_string(),
            dev,
            ino,
        };
        assert_eq!(probe(&note), LockProbe::Free);
        let holder = File::open(&path).unwrap();
        holder.lock().unwrap();
        assert_eq!(probe(&note), LockProbe::Held, "held by another open file");
        drop(holder);
        let other_host = LockNote {
            host: "elsewhere".into(),
            ..note.clone()
        };
        assert_eq!(probe(&other_host), LockProbe::Unseen);
        let other_file = LockNote {
            ino: note.ino + 1,
            ..note.clone()
        };
        assert_eq!(probe(&other_file), LockProbe::Unseen);
        remove_file_of(&note);
        assert!(!path.exists(), "gone once its run is");
    }

    #[test]
    fn only_plain_run_ids_name_a_lock() {
        assert!(RunLock::take("../etc/passwd").is_none());
        assert!(RunLock::take("").is_none());
    }
}
