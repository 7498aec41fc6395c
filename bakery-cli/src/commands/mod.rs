//! One module per command: its `Args` (clap) and its `run`, which turns them into
//! core calls and renders the result.

pub mod args;
pub mod audit;
pub mod bake;
pub mod cleanup;
pub mod config;
pub mod deprecate;
pub mod distribute;
pub mod ending;
pub mod firstboot;
pub mod outdated;
pub mod plan;
pub mod promote;
pub mod prune;
pub mod releases;
pub mod share;
pub mod test;
pub mod validate;
