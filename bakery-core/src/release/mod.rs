//! L3, what AWS holds about releases: the claim and record of each ([`claim`]), the
//! catalog of a role's releases ([`catalog`]), what a base points to ([`base`]), channels, copies in other regions
//! ([`distribute`]), sharing, and retirement ([`prune`]).

pub mod base;
pub mod catalog;
pub mod channels;
pub mod claim;
pub mod distribute;
pub mod lock;
pub mod prune;
pub mod sharing;
