//! L3, what AWS holds about releases: the claim and record of each (`claim`), the
//! catalog of a role's releases ([`catalog`]), what a base points to (`base`), channels, copies in other regions
//! ([`distribute`]), sharing, and retirement ([`prune`]).

pub(crate) mod base;
pub mod catalog;
pub mod channels;
pub(crate) mod claim;
pub mod distribute;
pub(crate) mod lock;
pub mod prune;
pub mod sharing;
