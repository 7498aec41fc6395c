//! Who a release is shared with, and whether a permission is given or taken away.

use serde::{Deserialize, Serialize};

/// Who may launch the release: launch permissions on the images, create-volume
/// permissions on their snapshots.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Sharing {
    pub accounts: Vec<String>,
    pub organizations: Vec<String>,
    pub organizational_units: Vec<String>,
}

impl Sharing {
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
    Grant,
    Revoke,
}
