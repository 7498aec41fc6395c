//! What every command does with its result: JSON or text on stdout, errors on
//! stderr, and the exit code of an error (2 for bad input, 1 otherwise).

use bakery_core::{Error, ErrorKind};
use serde::Serialize;

use crate::Output;

pub fn print_json(value: &impl Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("results serialize")
    );
}

/// Reports an error and returns the exit code for it.
pub fn fail(output: Output, error: &Error) -> u8 {
    eprintln!("error: {error}");
    if output == Output::Json {
        print_json(
            &serde_json::json!({ "status": "failed", "error": error.to_string(), "error_kind": error.kind() }),
        );
    }
    match error.kind() {
        ErrorKind::InvalidInput => 2,
        ErrorKind::Interrupted => 130,
        ErrorKind::Failed => 1,
    }
}

/// The regions a fleet-wide command looks at: `--regions`, else the environment's,
/// else (empty) the current region only.
pub fn regions(
    flag: &[String],
    environment: Option<&bakery_core::environment::Environment>,
) -> Vec<String> {
    let from_flag = bakery_core::environment::split_list(flag);
    if !from_flag.is_empty() {
        return from_flag;
    }
    environment
        .map(|e| e.settings().regions.clone())
        .unwrap_or_default()
}
