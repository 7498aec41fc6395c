//! bakery-core: bake Amazon Machine Images like software releases.
//!
//! The library never prints and never exits: it reads recipes ([`recipe`]), turns a
//! request into a complete [`plan::BakePlan`], runs it ([`pipeline::bake`]) while
//! emitting [`events::Event`]s, and returns a [`report::BakeReport`]. Only [`aws`]
//! talks to AWS.

pub mod alerts;
pub mod audit;
pub mod aws;
pub mod channels;
pub mod commands;
pub mod distribute;
pub mod environment;
pub mod error;
pub mod events;
pub mod firstboot;
pub mod janitor;
pub mod ledger;
pub mod pipeline;
pub mod plan;
pub mod prune;
pub mod recipe;
pub mod release;
pub mod releases;
pub mod removal;
pub mod report;
pub mod sharing;
pub mod validate;
pub mod version;
pub mod wait;
pub mod world;

pub use error::{Error, ErrorKind, Result};
