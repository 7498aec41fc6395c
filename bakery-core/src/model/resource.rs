//! What a bake creates in AWS and must not leave behind: the ledger, the cleanup,
//! the janitor and the events all speak of resources with this type.

use serde::Serialize;

/// One AWS resource bakery made, by its id and region; in JSON, an object with its
/// `type` (`claim`, `security-group`, `instance`, `image`, `snapshot`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Resource {
    /// The SSM parameter that claims `role@version` for this bake.
    Claim {
        /// The parameter's name: `/bakery/<role>/releases/<version>`.
        id: String,
        /// The region the parameter is in.
        region: String,
    },
    /// A security group bakery made for an instance it launched.
    SecurityGroup {
        /// The group's id (`sg-…`).
        id: String,
        /// The region the group is in.
        region: String,
    },
    /// A builder or a release gate's test instance.
    Instance {
        /// The instance's id (`i-…`).
        id: String,
        /// The region the instance is in.
        region: String,
    },
    /// An image (AMI): one a bake registered, or a copy of one in another region.
    Image {
        /// The image's id (`ami-…`).
        id: String,
        /// The region the image is in.
        region: String,
    },
    /// A snapshot behind `image`; it can only go once the image is deregistered.
    Snapshot {
        /// The snapshot's id (`snap-…`).
        id: String,
        /// The region the snapshot is in.
        region: String,
        /// The id of the image it backs (`image_id` in JSON).
        #[serde(rename = "image_id")]
        image: String,
    },
}

impl Resource {
    /// What kind of resource it is, its id and its region.
    fn parts(&self) -> (&'static str, &str, &str) {
        match self {
            Resource::Claim { id, region } => ("release claim", id, region),
            Resource::SecurityGroup { id, region } => ("security group", id, region),
            Resource::Instance { id, region } => ("instance", id, region),
            Resource::Image { id, region } => ("image", id, region),
            Resource::Snapshot { id, region, .. } => ("snapshot", id, region),
        }
    }

    /// The resource's id: a parameter name, `sg-…`, `i-…`, `ami-…` or `snap-…`.
    pub fn id(&self) -> &str {
        self.parts().1
    }

    /// The region the resource is in.
    pub fn region(&self) -> &str {
        self.parts().2
    }

    /// A short human name: "instance i-0abc (eu-west-1)".
    pub fn describe(&self) -> String {
        let (kind, id, region) = self.parts();
        format!("{kind} {id} ({region})")
    }

    /// What a release is made of (its record, images and snapshots), as opposed to
    /// what only makes one (builders, test instances, their groups).
    pub fn is_part_of_a_release(&self) -> bool {
        matches!(
            self,
            Resource::Claim { .. } | Resource::Image { .. } | Resource::Snapshot { .. }
        )
    }

    /// The order resources are removed in when several bakes' leftovers are cleaned
    /// up together: instances first (their groups and volumes follow them), claims last.
    pub fn removal_order(&self) -> u8 {
        match self {
            Resource::Instance { .. } => 0,
            Resource::Image { .. } => 1,
            Resource::Snapshot { .. } => 2,
            Resource::SecurityGroup { .. } => 3,
            Resource::Claim { .. } => 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_describes_itself_with_its_region() {
        let instance = Resource::Instance {
            id: "i-1".into(),
            region: "eu-west-1".into(),
        };
        assert_eq!(instance.describe(), "instance i-1 (eu-west-1)");
        let claim = Resource::Claim {
            id: "/bakery/base/releases/1.0.0".into(),
            region: "eu-west-1".into(),
        };
        assert!(instance.removal_order() < claim.removal_order());
    }
}
