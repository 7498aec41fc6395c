//! The resource ledger: every resource a bake creates, recorded the moment its create
//! call returns, so that cleanup can walk it backwards whatever happened.

use std::sync::Mutex;

use crate::model::Resource;

/// Resources a bake holds, in the order they were created, and those it handed over
/// to the release (never again its own to remove).
#[derive(Debug, Default)]
pub struct Ledger {
    entries: Mutex<Vec<Resource>>,
    handed_over: Mutex<Vec<Resource>>,
}

impl Ledger {
    pub fn record(&self, resource: Resource) {
        if self
            .handed_over
            .lock()
            .expect("ledger lock")
            .contains(&resource)
        {
            return;
        }
        let mut entries = self.entries.lock().expect("ledger lock");
        if !entries.contains(&resource) {
            entries.push(resource);
        }
    }

    /// The resource is the release's now: forgotten, and never recorded again (a sweep
    /// by the bake's tag finds it too).
    pub fn hand_over(&self, resource: &Resource) {
        self.handed_over
            .lock()
            .expect("ledger lock")
            .push(resource.clone());
        self.forget(resource);
    }

    /// The resource is gone, or is no longer the bake's to remove (a released image).
    pub fn forget(&self, resource: &Resource) {
        self.entries
            .lock()
            .expect("ledger lock")
            .retain(|r| r != resource);
    }

    pub fn contains(&self, resource: &Resource) -> bool {
        self.entries.lock().expect("ledger lock").contains(resource)
    }

    /// Newest first: the order cleanup removes them in.
    pub fn newest_first(&self) -> Vec<Resource> {
        self.entries
            .lock()
            .expect("ledger lock")
            .iter()
            .rev()
            .cloned()
            .collect()
    }

    pub fn snapshots_of(&self, image_id: &str) -> Vec<Resource> {
        self.entries
            .lock()
            .expect("ledger lock")
            .iter()
            .filter(|r| matches!(r, Resource::Snapshot { image, .. } if image == image_id))
            .cloned()
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.lock().expect("ledger lock").is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str) -> Resource {
        Resource::Instance {
            id: id.into(),
            region: "eu-west-1".into(),
        }
    }

    #[test]
    fn a_resource_handed_over_is_never_recorded_again() {
        let ledger = Ledger::default();
        ledger.record(instance("i-1"));
        ledger.hand_over(&instance("i-1"));
        ledger.record(instance("i-1"));
        assert!(ledger.is_empty());
    }

    #[test]
    fn cleanup_order_is_newest_first_and_forgotten_entries_are_gone() {
        let ledger = Ledger::default();
        ledger.record(instance("i-1"));
        let image = Resource::Image {
            id: "ami-1".into(),
            region: "eu-west-1".into(),
        };
        ledger.record(image.clone());
        let snapshot = Resource::Snapshot {
            id: "snap-1".into(),
            region: "eu-west-1".into(),
            image: "ami-1".into(),
        };
        ledger.record(snapshot.clone());
        ledger.record(snapshot.clone());
        assert_eq!(
            ledger.newest_first(),
            vec![snapshot.clone(), image.clone(), instance("i-1")]
        );
        assert_eq!(ledger.snapshots_of("ami-1"), vec![snapshot]);
        ledger.forget(&image);
        assert!(!ledger.contains(&image));
    }
}
