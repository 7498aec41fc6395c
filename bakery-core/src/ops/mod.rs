//! L2, effectful primitives shared by the layers above: removing a resource and
//! waiting for an instance or an image to settle ([`removal`]); creates that survive a
//! lost answer ([`idempotent`]).

pub mod idempotent;
pub mod removal;
