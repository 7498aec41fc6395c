//! `bakery bake`: plan, connect, run the chain with signal handling, report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use bakery_core::aws::Aws;
use bakery_core::bake::manifest::ManifestFile;
use bakery_core::bake::rebuild;
use bakery_core::bake::report::{BakeReport, BakeStatus};
use bakery_core::bake::world::{self, WorldOutcome};
use bakery_core::config::flags::split_list;
use bakery_core::events::EventSink;
use bakery_core::model::GateState;
use bakery_core::plan::world::Selection;
use bakery_core::plan::BakeRequest;
use bakery_core::Error;
use tokio_util::sync::CancellationToken;

use super::args::ReleaseArgs;
use crate::context::Context;
use crate::exit::Exit;
use crate::output::{errln, outln, print_error, print_json, Output};
use crate::render::{Renderer, RoleEvents, Style};

/// `bakery bake`: the flags it shares with `plan`, then its own.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// Bake every recipe below RECIPE: bases before the roles layered on them, each
    /// on the base just baked; the same version flags apply to every role.
    #[arg(long)]
    all: bool,
    /// With --all: bake only these roles (comma-separated or repeated); a role layered
    /// on one left out takes that base from AWS.
    #[arg(
        long,
        value_name = "ROLES",
        requires = "all",
        conflicts_with = "except"
    )]
    only: Vec<String>,
    /// With --all: bake every role but these (comma-separated or repeated).
    #[arg(long, value_name = "ROLES", requires = "all")]
    except: Vec<String>,
    /// With --all: how many bakes run at once (1 to 64).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// Append a Packer-style manifest build (artifact_id = region:ami-id,…) to this
    /// file for every role released; checked before anything is created.
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// Add KEY=VALUE to every manifest build's custom_data (repeat for more).
    #[arg(long, value_name = "KEY=VALUE", requires = "manifest")]
    manifest_data: Vec<String>,
    /// Keep the builder instance (or the test instance, when a test failed) when the
    /// bake fails, for debugging.
    #[arg(long)]
    keep_on_failure: bool,
    /// Check the bake without making it: the reads it starts with, then the launch
    /// (and the copies) with EC2 DryRun, so that permission problems show in seconds.
    #[arg(long)]
    dry_run: bool,
    /// Source commit recorded on the image (Jenkins sets GIT_COMMIT).
    #[arg(long, env = "GIT_COMMIT")]
    source_commit: Option<String>,
    /// Build URL recorded on the image (Jenkins sets BUILD_URL).
    #[arg(long, env = "BUILD_URL")]
    build_url: Option<String>,
}

impl Args {
    /// The core's request, from the command line.
    pub fn request(&self, context: &Context) -> BakeRequest {
        BakeRequest {
            source_commit: self.source_commit.clone(),
            build_url: self.build_url.clone(),
            keep_on_failure: self.keep_on_failure,
            dry_run: self.dry_run,
            ..self.release.request(context)
        }
    }
}

pub async fn run(args: Args, context: &Context) -> Exit {
    let style = context.progress.style();
    let request = args.request(context);
    let manifest = match &args.manifest {
        Some(path) => match ManifestFile::check(path, &args.manifest_data) {
            Ok(manifest) => Some(manifest),
            Err(error) => return refuse(&args, context.output, &error),
        },
        None => None,
    };
    let bakery = match context.bakery().await {
        Ok(bakery) => bakery,
        Err(error) => return refuse(&args, context.output, &error),
    };
    if args.all {
        return run_all(
            &args,
            &request,
            bakery.aws(),
            style,
            context.output,
            manifest.as_ref(),
        )
        .await;
    }
    let plan = match bakery.plan(&request).await {
        Ok(plan) => plan,
        Err(error) => return refuse(&args, context.output, &error),
    };

    let renderer = Arc::new(Renderer::new(style));
    let cancel = CancellationToken::new();
    let signals = crate::signals::watch(cancel.clone(), renderer.clone());
    let report = bakery.bake(&plan, renderer.as_ref(), cancel).await;
    signals.abort();
    renderer.finish();

    write_manifest(manifest.as_ref(), &[&report]);
    print_result(context.output, &report);
    Exit::of_report(&report)
}

/// `--all`: every recipe of the folder, bases first, up to `--jobs` at a time.
async fn run_all(
    args: &Args,
    request: &BakeRequest,
    aws: &Aws,
    style: Style,
    output: Output,
    manifest: Option<&ManifestFile>,
) -> Exit {
    let selection = match (split_list(&args.only), split_list(&args.except)) {
        (only, _) if !only.is_empty() => Selection::Only(only.into_iter().collect()),
        (_, except) if !except.is_empty() => Selection::Except(except.into_iter().collect()),
        _ => Selection::All,
    };
    let now = SystemTime::now();
    let planned = match rebuild::plan_all(&args.release.recipe, request, &selection, aws, now).await
    {
        Ok(planned) => planned,
        Err(error) => return refuse(args, output, &error),
    };
    let regions: Vec<String> = planned
        .plans
        .iter()
        .flat_map(|plan| plan.settings.settings.regions.clone())
        .collect();
    if let Err(error) = aws.check_regions(&regions).await {
        return refuse(args, output, &error);
    }
    let renderer = Arc::new(Renderer::new(style));
    let cancel = CancellationToken::new();
    let signals = crate::signals::watch(cancel.clone(), renderer.clone());
    let sink_for = |role: &str| -> Arc<dyn EventSink> {
        Arc::new(RoleEvents {
            role: role.to_string(),
            renderer: renderer.clone(),
        })
    };
    let outcomes = world::bake_all(planned, aws, sink_for, cancel, usize::from(args.jobs)).await;
    signals.abort();
    renderer.finish();
    let outcomes = match outcomes {
        Ok(outcomes) => outcomes,
        Err(error) => return refuse(args, output, &error),
    };
    let reports: Vec<&BakeReport> = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            WorldOutcome::Baked(report) => Some(report.as_ref()),
            WorldOutcome::Skipped { .. } => None,
        })
        .collect();
    write_manifest(manifest, &reports);
    print_outcomes(output, &outcomes)
}

/// Every role's result, and the run's exit: the worst of them.
fn print_outcomes(output: Output, outcomes: &[WorldOutcome]) -> Exit {
    let exit = outcomes.iter().fold(Exit::Success, |worst, outcome| {
        worst.worst(match outcome {
            WorldOutcome::Baked(report) => Exit::of_report(report),
            // Skipped for want of a value: that role cannot be baked unattended, which
            // is no failure of this run; skipped because its base failed: a failure.
            WorldOutcome::Skipped { needs, .. } if !needs.is_empty() => Exit::Success,
            WorldOutcome::Skipped { .. } => Exit::Failed,
        })
    });
    if output == Output::Json {
        let status = if exit == Exit::Success {
            "succeeded"
        } else {
            "failed"
        };
        print_json(&serde_json::json!({ "status": status, "bakes": outcomes }));
        return exit;
    }
    for outcome in outcomes {
        match outcome {
            WorldOutcome::Baked(report) => print_result(Output::Text, report),
            WorldOutcome::Skipped { role, reason, .. } => outln!("{role} SKIPPED: {reason}"),
        }
    }
    exit
}

/// Refused before anything was created: exit 2.
fn refuse(args: &Args, output: Output, error: &Error) -> Exit {
    let role = args
        .release
        .recipe
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let version = args
        .release
        .version
        .clone()
        .unwrap_or_else(|| "(bump)".to_string());
    let report = BakeReport::refused(role.as_deref(), &version, error);
    print_error(error);
    if output == Output::Json {
        print_json(&report);
    }
    Exit::of_report(&report)
}

/// Appends the released builds to the manifest. The releases are made whatever
/// happens here, so a failure is a warning, not a failed bake that a retry would
/// repeat.
fn write_manifest(manifest: Option<&ManifestFile>, reports: &[&BakeReport]) {
    let Some(manifest) = manifest else { return };
    if let Err(error) = manifest.append(reports) {
        errln!("warning: the releases were made but the manifest was not written: {error}");
    }
}

/// What the release gate said, with the tests' names.
fn tests_line(report: &BakeReport) -> String {
    let names = report.test_names.join(", ");
    match report.tests {
        GateState::Passed if names.is_empty() => {
            "passed (the image booted through firstboot)".into()
        }
        GateState::Passed => format!("passed ({names})"),
        GateState::Skipped => format!("skipped with --skip-tests ({names})"),
        GateState::None => "none (the recipe has no [[tests]])".into(),
        state => state.to_string(),
    }
}

fn print_result(output: Output, report: &BakeReport) {
    if output == Output::Json {
        print_json(report);
        return;
    }
    print_outcome(report);
    print_unfinished(report);
    if !report.regions.is_empty() {
        outln!("regions:");
        super::distribute::print_regions(&report.regions);
    }
    super::ending::print_left(&report.ending, &report.bake_id);
}

/// How the bake ended: its images, or where it stopped and why.
fn print_outcome(report: &BakeReport) {
    let release = format!("{}@{}", report.role, report.version);
    let images = || {
        for image in &report.images {
            outln!("  {}  {}  {}", image.region, image.image_id, image.name);
        }
    };
    match report.status {
        BakeStatus::Succeeded if report.dry_run => outln!(
            "dry run of {release}: every check passed in {:.1}s; nothing was created",
            report.seconds
        ),
        BakeStatus::Succeeded => {
            let (seconds, id) = (report.seconds, &report.bake_id);
            outln!("{release} baked in {seconds:.1}s (bake {id})");
            images();
            outln!("  tests: {}", tests_line(report));
        }
        BakeStatus::Unchanged => {
            outln!(
                "{release} unchanged: its inputs are this bake's ({}); nothing baked",
                report.inputs.as_deref().unwrap_or("-")
            );
            images();
        }
        BakeStatus::Failed | BakeStatus::Interrupted => {
            let id = format!("bake {}", report.bake_id);
            super::ending::print_stopped(&release, report.status, &report.ending, &id);
        }
    }
}

/// A release made whose bake stopped before its last steps: the commands that finish.
fn print_unfinished(report: &BakeReport) {
    if report.unfinished.is_empty() {
        return;
    }
    let steps: Vec<String> = report.unfinished.iter().map(ToString::to_string).collect();
    let images: Vec<String> = report
        .images
        .iter()
        .map(|i| format!("{} {}", i.region, i.image_id))
        .collect();
    outln!(
        "{}@{} IS RELEASED ({}), but these steps did not run: {}. To finish:",
        report.role,
        report.version,
        images.join(", "),
        steps.join(", ")
    );
    for command in &report.to_complete {
        outln!("  {command}");
    }
}
