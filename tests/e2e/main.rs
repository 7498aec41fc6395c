//! End-to-end tests: the real `bakery` binary against the local AWS emulator
//! (moto with bakery's extension, started by scripts/local-aws).

mod alerts;
mod audit;
mod bake;
mod check;
mod config;
mod distribute;
mod firstboot;
mod janitor;
mod kill;
mod layering;
mod releases;
mod secrets;
mod sharing;
mod support;
