//! Who a release is shared with, and whether a permission is given or taken away.

use serde::{Deserialize, Serialize};

/// Who may launch the release: launch permissions on the images, create-volume
/// permissions on their snapshots.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Sharing {
    /// AWS account ids (12 digits).
    pub accounts: Vec<String>,
    /// Organization ARNs (`arn:aws:organizations::<account>:organization/o-…`).
    pub organizations: Vec<String>,
    /// Organizational unit ARNs (`arn:aws:organizations::<account>:ou/o-…/ou-…`).
    pub organizational_units: Vec<String>,
}

impl Sharing {
    /// True when it names no one to share with.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
            && self.organizations.is_empty()
            && self.organizational_units.is_empty()
    }
}

/// `bakery share` grants, `bakery unshare` revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PermissionChange {
    /// Add the permissions (ModifyImageAttribute / ModifySnapshotAttribute `add`).
    Grant,
    /// Take the permissions away (`remove`).
    Revoke,
}
