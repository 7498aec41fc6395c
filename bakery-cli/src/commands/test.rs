//! `bakery test <recipe> <version>`: run a release's gate again — a test instance
//! from its image, the firstboot outcome, every `[[tests]]` entry — and record the
//! outcome on the release (its record and its images' `bakery:tests` tag).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bakery_core::bake::report::BakeStatus;
use bakery_core::bake::retest::RetestReport;
use bakery_core::config::recipe::RECIPE_FILE;
use bakery_core::plan::BakeRequest;
use tokio_util::sync::CancellationToken;

use super::args::InstanceArgs;
use crate::context::Context;
use crate::exit::Exit;
use crate::output::{outln, print_error, print_json, Output};
use crate::render::Renderer;

#[derive(clap::Args)]
pub struct Args {
    /// The role's recipe folder (recipes/base), or the role's name when its recipe is
    /// in ./recipes/<role>.
    recipe: PathBuf,
    /// The release to test, e.g. 1.4.0.
    version: String,
    /// Keep the test instance when a test fails, for debugging.
    #[arg(long)]
    keep_on_failure: bool,
    #[command(flatten)]
    instances: InstanceArgs,
}

/// The recipe folder: as given, or `recipes/<role>` for a bare role name.
fn recipe_dir(given: &Path) -> PathBuf {
    let by_role = Path::new("recipes").join(given);
    let is_role = given.components().count() == 1 && !given.join(RECIPE_FILE).exists();
    if is_role && by_role.join(RECIPE_FILE).exists() {
        by_role
    } else {
        given.to_path_buf()
    }
}

pub async fn run(args: &Args, context: &Context) -> Exit {
    let output = context.output;
    let request = BakeRequest {
        recipe_dir: recipe_dir(&args.recipe),
        version: Some(args.version.clone()),
        flags: args.instances.flags(),
        keep_on_failure: args.keep_on_failure,
        environment: context.environment.clone(),
        ..BakeRequest::default()
    };
    // Refused before the run: the error on stderr, and with JSON output a result too.
    let refuse = |region: &str, error: &bakery_core::Error| {
        let release = format!("{}@{}", args.recipe.display(), args.version);
        let report = RetestReport::refused(release, region, error);
        print_error(error);
        if output == Output::Json {
            print_json(&report);
        }
        exit_of(&report)
    };
    let bakery = match context.bakery().await {
        Ok(bakery) => bakery,
        Err(error) => return refuse("", &error),
    };
    let plan = match bakery.test_plan(&request).await {
        Ok(plan) => plan,
        Err(error) => return refuse(bakery.region(), &error),
    };
    let renderer = Arc::new(Renderer::new(context.progress.style()));
    let cancel = CancellationToken::new();
    let signals = crate::signals::watch(cancel.clone(), renderer.clone());
    let report = bakery.test(&plan, renderer.as_ref(), cancel).await;
    signals.abort();
    renderer.finish();
    print_report(output, &report);
    exit_of(&report)
}

fn exit_of(report: &RetestReport) -> Exit {
    Exit::of_run(report.status, &report.ending)
}

fn print_report(output: Output, report: &RetestReport) {
    if output == Output::Json {
        print_json(report);
        return;
    }
    let tests = report.test_names.join(", ");
    let images: Vec<String> = report
        .images
        .iter()
        .map(|i| format!("{} ({})", i.image_id, i.arch))
        .collect();
    let image = match images.is_empty() {
        true => "?".to_string(),
        false => images.join(", "),
    };
    match report.status {
        BakeStatus::Succeeded => outln!(
            "{}: tests passed on {image} in {} ({tests}) in {:.1}s (run {}); recorded",
            report.release,
            report.region,
            report.seconds,
            report.run_id
        ),
        status => {
            let what = format!("{}: test run", report.release);
            let id = format!("run {}", report.run_id);
            super::ending::print_stopped(&what, status, &report.ending, &id);
            // A verdict on the image is written on the release; anything else (an
            // interrupt, a launch that failed) leaves the record as it was.
            let judged = report
                .ending
                .failed_step
                .as_ref()
                .is_some_and(|step| step.judges_the_image());
            match (status == BakeStatus::Failed && judged, report.tests) {
                (true, Some(state)) => outln!("the release's tests are now recorded as: {state}"),
                (false, Some(state)) => {
                    outln!("the release's tests stay recorded as: {state}")
                }
                (_, None) => {}
            }
        }
    }
    super::ending::print_left(&report.ending, &report.run_id);
}
