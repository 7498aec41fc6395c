#![deny(missing_docs)]
//! bakery-core: bake Amazon Machine Images like software releases.
//!
//! The library never prints and never exits: it reads recipes and environments
//! ([`config`]), turns a request into a complete [`plan::BakePlan`], runs it
//! ([`bake::bake`]) while emitting [`events::Event`]s, and returns a
//! [`bake::report::BakeReport`]. Only [`aws`] talks to AWS.
//!
//! # The house in layers
//!
//! Its folders are the architecture, and every import points down:
//!
//! | layer | modules | may import |
//! |---|---|---|
//! | L0 | [`model`], [`error`], [`events`] | L0 |
//! | L1 | [`aws`], [`wait`], [`config`], [`script`] | L0; `script` also `config` |
//! | L2 | [`plan`] | L0, `config`, `script` |
//! | L2 | `ops` (internal) | L0, L1 |
//! | L3 | [`release`] | L0, L1, `ops` |
//! | L4 | [`bake`], [`fleet`] | everything below; never each other |
//! | L5 | [`client`] | everything |
//!
//! # The front door
//!
//! [`Bakery`] is the part meant to stay put: plan a bake, run it while watching its
//! [`Event`]s, test a release again, list releases, move a channel. An example program
//! that bakes against the local emulator is `examples/bake.rs`
//! (`cargo run -p bakery-core --example bake -- RECIPE VERSION`).
//!
//! `tests/layers.rs` reads the sources and fails on an import that points up.

pub mod aws;
pub mod bake;
pub mod client;
pub mod config;
pub mod error;
pub mod events;
pub mod fleet;
pub mod model;
pub(crate) mod ops;
pub mod plan;
pub mod release;
pub mod script;
pub mod wait;

pub use aws::AwsSettings;
pub use bake::report::{BakeReport, BakeStatus};
pub use client::Bakery;
pub use error::{Error, ErrorKind, Result};
pub use events::{Event, EventSink};
pub use plan::{BakePlan, BakeRequest};
