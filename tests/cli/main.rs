//! Offline tests of the real `bakery` binary: the commands that decide and check
//! without AWS — `validate`, `plan`, `config show`, `firstboot render`. No emulator
//! starts: the binary's AWS endpoint is a port nothing listens on, so any AWS call
//! would fail the test. Run them alone with `cargo test --test cli`.

#[path = "../support/bakery.rs"]
mod bakery;
#[path = "../support/recipe.rs"]
mod recipe;

mod check;
mod config;
mod firstboot;
mod iam;

/// What the topic files use, in one place.
mod support {
    pub use crate::bakery::{repo_root, Bakery};
    pub use crate::recipe::{step_names, TestRecipe};
}
