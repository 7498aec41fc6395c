//! How a bake and a `bakery test` run that ended say so on stdout: where one stopped
//! and why, and what cleanup kept or could not remove — written once for both.

use bakery_core::bake::report::{BakeStatus, Ending};

use crate::output::outln;

/// `{what} FAILED at step `{step}` of its arm64 build ({id})`, then the error.
pub fn print_stopped(what: &str, status: BakeStatus, ending: &Ending, id: &str) {
    let word = match status {
        BakeStatus::Interrupted => "INTERRUPTED",
        _ => "FAILED",
    };
    let step = ending
        .failed_step
        .as_ref()
        .map_or("?".to_string(), ToString::to_string);
    let of = ending
        .failed_arch
        .map(|arch| format!(" of its {arch} build"))
        .unwrap_or_default();
    outln!("{what} {word} at step `{step}`{of} ({id})");
    if let Some(error) = &ending.error {
        outln!("{error}");
    }
    // Most errors end with their hint already; an AWS refusal's comes apart.
    if let (Some(hint), Some(error)) = (&ending.hint, &ending.error) {
        if !error.contains(hint.as_str()) {
            outln!("hint: {hint}");
        }
    }
}

/// What cleanup kept on purpose, and what it could not remove (each tagged with the
/// run's `bakery:bake-id`, `id`).
pub fn print_left(ending: &Ending, id: &str) {
    for resource in &ending.kept {
        outln!("KEPT on purpose: {}", resource.describe());
    }
    if !ending.leaked.is_empty() {
        outln!("CLEANUP INCOMPLETE — remove these by hand (each is tagged bakery:bake-id={id}):");
        for resource in &ending.leaked {
            outln!("  {}", resource.describe());
        }
    }
}
