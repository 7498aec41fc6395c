//! Bakes one release with bakery-core, the way a program of your own would: plan it,
//! run it while printing each event as a JSON line, and print the report.
//!
//! ```sh
//! eval "$(scripts/local-aws start)"          # the local emulator (or real AWS)
//! cargo run -p bakery-core --example bake -- recipes/base 1.0.0
//! ```
//!
//! Ctrl-C interrupts the bake, which then removes what it created. Exits 0 when the
//! release was made, 1 otherwise.

use bakery_core::{AwsSettings, BakeRequest, BakeStatus, Bakery, Event};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(recipe), Some(version)) = (args.next(), args.next()) else {
        eprintln!("usage: bake RECIPE_DIR VERSION");
        return std::process::ExitCode::from(2);
    };
    match bake(recipe, version).await {
        Ok(BakeStatus::Succeeded) => std::process::ExitCode::SUCCESS,
        Ok(_) => std::process::ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn bake(recipe: String, version: String) -> bakery_core::Result<BakeStatus> {
    let bakery = Bakery::connect(&AwsSettings::default()).await?;
    let request = BakeRequest {
        recipe_dir: recipe.into(),
        version: Some(version),
        ..BakeRequest::default()
    };
    let plan = bakery.plan(&request).await?;
    let cancel = CancellationToken::new();
    let interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupt.cancel();
        }
    });
    let print = |event: Event| {
        eprintln!(
            "{}",
            serde_json::to_string(&event).expect("events serialize")
        );
    };
    let report = bakery.bake(&plan, &print, cancel).await;
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("reports serialize")
    );
    Ok(report.status)
}
