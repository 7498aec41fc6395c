//! L0, the shared vocabulary: names, releases and their tag schema, resources, steps,
//! versions, sharing and time. No I/O, and no import from any layer above.

pub mod gate;
pub mod inputs;
pub mod names;
pub mod network;
pub mod release;
pub mod resource;
pub mod sharing;
pub mod step;
pub mod time;
pub mod token;
pub mod version;

pub use gate::GateState;
pub use names::{Arch, Document, Platform, RoleName};
pub use network::{PublicAddress, SsmPath};
pub use release::{Provenance, Release};
pub use resource::Resource;
pub use sharing::{PermissionChange, Sharing};
pub use step::{Reboots, Run, Step};
pub use token::{ClientToken, Launch};
pub use version::{Bump, VersionRequest};
