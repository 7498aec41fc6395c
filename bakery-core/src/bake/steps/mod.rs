//! One file per stage of the chain; each is a function with typed inputs and outputs.

pub mod base;
pub mod builder;
pub mod changes;
pub mod checks;
pub mod command;
pub mod gate;
pub mod image;
pub mod publish;
pub mod release;
