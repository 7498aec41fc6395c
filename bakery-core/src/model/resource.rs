//! What a bake creates in AWS and must not leave behind: the ledger, the cleanup,
//! the janitor and the events all speak of resources with this type.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Resource {
    /// The SSM parameter that claims `role@version` for this bake.
    Claim {
        id: String,
        region: String,
    },
    SecurityGroup {
        id: String,
        region: String,
    },
    Instance {
        id: String,
        region: String,
    },
    Image {
        id: String,
        region: String,
    },
    /// A snapshot behind `image`; it can only go once the image is deregistered.
    Snapshot {
        id: String,
        region: String,
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

    pub fn id(&self) -> &str {
        self.parts().1
    }

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
