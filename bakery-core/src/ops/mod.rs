//! L2, effectful primitives shared by the layers above: removing a resource and
//! waiting for an instance or an image to settle ([`removal`]).

pub mod removal;
