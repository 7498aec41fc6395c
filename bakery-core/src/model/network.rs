//! How a builder reaches SSM, and whether it gets a public address.

use serde::{Deserialize, Serialize};

/// `builder.public_address`: what the recipe or environment asks for. Unset, bakery
/// decides from the subnet (see [`SsmPath::needs_public_address`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum PublicAddress {
    /// Never a public address: SSM must be reachable through VPC endpoints or a NAT.
    Never,
    /// Always a public address (its security group still lets nothing in).
    Always,
}

/// How an instance in a subnet reaches the SSM service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum SsmPath {
    /// Interface endpoints for ssm, ssmmessages and ec2messages in the VPC.
    VpcEndpoints,
    /// A default route through a NAT (or another gateway that is not the internet's).
    Nat,
    /// Only the internet gateway: the instance needs a public address.
    InternetGateway,
    /// No way out of the VPC at all.
    Nowhere,
}

impl SsmPath {
    /// True when only the internet gateway leads out: SSM is then reachable only from a
    /// public address.
    pub fn needs_public_address(self) -> bool {
        self == SsmPath::InternetGateway
    }

    /// What an instance without a public address can reach through this path.
    pub fn private_reach(self) -> bool {
        matches!(self, SsmPath::VpcEndpoints | SsmPath::Nat)
    }
}
