//! One architecture's build within a bake: its identity, from which every client
//! token and name it sends AWS is derived, and what differs from the other builds
//! (the base, the builder's type, the test instance's, the inputs).

use std::fmt;

use serde::Serialize;

use crate::config::{BaseImage, BuilderSettings};
use crate::model::inputs::Inputs;
use crate::model::{Arch, ClientToken, Launch};

/// Which build: the bake (or `bakery test` run) and the architecture. No two builds
/// share one, so no two send the same client token (EC2 refuses a token reused with
/// other parameters: `IdempotentParameterMismatch`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildId {
    /// The id of the bake (or `bakery test` run), e.g. `20261122t022438-3f9a1c`.
    pub bake_id: String,
    /// The architecture this build makes an image of.
    pub arch: Arch,
}

impl BuildId {
    /// The build of `arch` in the bake `bake_id`.
    pub fn new(bake_id: &str, arch: Arch) -> Self {
        BuildId {
            bake_id: bake_id.to_string(),
            arch,
        }
    }

    /// RunInstances' client token for this build's builder or test instance: a retried
    /// launch returns the same instance, and no other launch shares it.
    pub fn client_token(&self, launch: Launch) -> ClientToken {
        ClientToken::launch(&self.bake_id, self.arch, launch)
    }

    /// The name of the security group this build's test instance gets when it has none
    /// to share (`bakery test`).
    pub fn test_group_name(&self) -> String {
        format!("bakery-test-{self}")
    }

    /// The name of the security group bakery makes for this build's builder.
    pub fn builder_group_name(&self) -> String {
        format!("bakery-builder-{self}")
    }
}

impl fmt::Display for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.bake_id, self.arch)
    }
}

/// One architecture's build: its identity and what is its own.
#[derive(Debug, Clone, Serialize)]
pub struct BuildPlan {
    /// Which build; its `bake_id` and `arch` are fields of the build's own JSON.
    #[serde(flatten)]
    pub id: BuildId,
    /// Where this build's base image comes from, `{arch}` filled in.
    pub base: BaseImage,
    /// The merged builder settings; its type is this architecture's, its key the
    /// image's (the build region's).
    pub builder: BuilderSettings,
    /// The release gate's test instance type, when the bake runs the gate.
    pub test_instance_type: Option<String>,
    /// What the build's image is made of, but its base (known once the bake resolves it).
    pub inputs: Inputs,
}

impl BuildPlan {
    /// The architecture this build makes an image of.
    pub fn arch(&self) -> Arch {
        self.id.arch
    }
}
