//! `bakery bake`: plan, connect, run the chain with signal handling, report.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::SystemTime;

use bakery_core::aws::{Aws, AwsSettings};
use bakery_core::environment::Environment;
use bakery_core::events::EventSink;
use bakery_core::pipeline;
use bakery_core::plan::{BakePlan, BakeRequest, BuilderOverrides};
use bakery_core::report::{BakeReport, BakeStatus};
use bakery_core::version::Bump;
use bakery_core::world::{self, WorldOutcome};
use bakery_core::Error;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::render::{Renderer, RoleEvents, Style};
use crate::{BakeArgs, BumpArg, Output, Progress, SettingsArgs};

pub async fn run(
    args: BakeArgs,
    environment: Option<Environment>,
    aws_settings: AwsSettings,
) -> u8 {
    let style = match (args.output, args.progress) {
        (Output::Json, _) => Style::Json,
        (_, Progress::Bar) => Style::Bar,
        (_, Progress::Plain) => Style::Plain,
        (_, Progress::Auto) if std::io::stderr().is_terminal() => Style::Bar,
        (_, Progress::Auto) => Style::Plain,
    };
    let request = request_of(&args, environment);

    let aws = match Aws::connect(&aws_settings).await {
        Ok(aws) => aws,
        Err(error) => return refuse(&args, &error),
    };
    if args.all {
        return run_all(&args, &request, &aws, style).await;
    }
    let plan = match BakePlan::new(&request, &aws.region, SystemTime::now()) {
        Ok(plan) => plan,
        Err(error) => return refuse(&args, &error),
    };

    let renderer = Arc::new(Renderer::new(style));
    let cancel = CancellationToken::new();
    let signals = tokio::spawn(watch_signals(cancel.clone(), renderer.clone()));
    let report = pipeline::bake(&plan, &aws, renderer.as_ref(), cancel).await;
    signals.abort();
    renderer.finish();

    if report.status == BakeStatus::Succeeded {
        if let Some(path) = &args.manifest {
            if let Err(message) = write_manifest(path, &report) {
                eprintln!("error: {message}");
                print_result(args.output, &report);
                return 1;
            }
        }
    }
    print_result(args.output, &report);
    report.exit_code() as u8
}

/// The core's request, from the command line.
pub fn request_of(args: &BakeArgs, environment: Option<Environment>) -> BakeRequest {
    BakeRequest {
        recipe_dir: args.recipe.clone(),
        version: args.version.clone(),
        bump: args.bump.map(|b| match b {
            BumpArg::Major => Bump::Major,
            BumpArg::Minor => Bump::Minor,
            BumpArg::Patch => Bump::Patch,
        }),
        pre: args.pre.clone(),
        source_commit: args.source_commit.clone(),
        build_url: args.build_url.clone(),
        keep_on_failure: args.keep_on_failure,
        promote: args.promote.clone(),
        no_latest: args.no_latest,
        notify_success: args.notify_success,
        dry_run: args.dry_run,
        base: args.base.clone(),
        ..settings_request(&args.recipe, &args.settings, environment)
    }
}

/// The request's settings part: the recipe, the environment, the overriding flags.
pub fn settings_request(
    recipe: &std::path::Path,
    settings: &SettingsArgs,
    environment: Option<Environment>,
) -> BakeRequest {
    BakeRequest {
        recipe_dir: recipe.to_path_buf(),
        overrides: BuilderOverrides {
            instance_type: settings.instance_type.clone(),
            instance_profile: settings.instance_profile.clone(),
            subnet: settings.subnet.clone(),
            security_groups: settings.security_groups.clone(),
        },
        sns_topic: settings.sns_topic.clone(),
        copy_to: settings.copy_to.clone(),
        kms_keys: settings.kms_keys.clone(),
        environment,
        ..BakeRequest::default()
    }
}

/// `--all`: every recipe of the folder, bases first, up to `--jobs` at a time.
async fn run_all(args: &BakeArgs, request: &BakeRequest, aws: &Aws, style: Style) -> u8 {
    let plans = match world::plan_all(&args.recipe, request, &aws.region, SystemTime::now()) {
        Ok(plans) => plans,
        Err(error) => return refuse(args, &error),
    };
    let renderer = Arc::new(Renderer::new(style));
    let cancel = CancellationToken::new();
    let signals = tokio::spawn(watch_signals(cancel.clone(), renderer.clone()));
    let sink_for = |role: &str| -> Arc<dyn EventSink> {
        Arc::new(RoleEvents {
            role: role.to_string(),
            renderer: renderer.clone(),
        })
    };
    let outcomes = world::bake_all(plans, aws, sink_for, cancel, args.jobs.max(1)).await;
    signals.abort();
    renderer.finish();

    let mut code = 0;
    for outcome in &outcomes {
        let this = match outcome {
            WorldOutcome::Baked(report) => report.exit_code() as u8,
            WorldOutcome::Skipped { .. } => 1,
        };
        // The most serious outcome decides: interrupted, then leaks, then failures.
        code = [130, 3, 2, 1, 0]
            .into_iter()
            .find(|c| *c == code || *c == this)
            .unwrap_or(code);
    }
    if args.output == Output::Json {
        let status = if code == 0 { "succeeded" } else { "failed" };
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "status": status, "bakes": outcomes })
            )
            .expect("reports serialize")
        );
    } else {
        for outcome in &outcomes {
            match outcome {
                WorldOutcome::Baked(report) => print_result(Output::Text, report),
                WorldOutcome::Skipped { role, reason, .. } => println!("{role} SKIPPED: {reason}"),
            }
        }
    }
    code
}

/// Refused before anything was created: exit 2.
fn refuse(args: &BakeArgs, error: &Error) -> u8 {
    let role = args
        .recipe
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let version = args.version.clone().unwrap_or_else(|| "(bump)".to_string());
    let report = BakeReport::refused(role.as_deref(), &version, error);
    eprintln!("error: {error}");
    if args.output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("reports serialize")
        );
    }
    report.exit_code() as u8
}

/// First SIGINT/SIGTERM: interrupt the bake, which cleans up. Second: exit at once,
/// saying what may be left.
async fn watch_signals(cancel: CancellationToken, renderer: Arc<Renderer>) {
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    let first = tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    };
    renderer.notice(&format!(
        "{first} received: stopping the bake and removing what it created (signal again to exit at once)"
    ));
    cancel.cancel();
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    renderer.finish();
    let live = renderer.live_resources();
    if live.is_empty() {
        eprintln!("bakery: second signal, exiting now; nothing was left running");
    } else {
        eprintln!("bakery: second signal, exiting now without cleanup; these may be left behind:");
        for resource in live {
            eprintln!("  {}", resource.describe());
        }
        eprintln!("every one is tagged bakery:bake-id; remove them by hand (a builder also terminates itself at its deadline)");
    }
    std::process::exit(130);
}

fn write_manifest(path: &std::path::Path, report: &BakeReport) -> Result<(), String> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => Some(serde_json::from_str(&text).map_err(|e| {
            format!(
                "--manifest {}: the file exists but is not a JSON manifest: {e}",
                path.display()
            )
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("--manifest {}: {e}", path.display())),
    };
    let manifest = report.manifest(existing);
    let text = serde_json::to_string_pretty(&manifest).expect("manifests serialize");
    std::fs::write(path, text + "\n").map_err(|e| format!("--manifest {}: {e}", path.display()))
}

fn print_result(output: Output, report: &BakeReport) {
    if output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).expect("reports serialize")
        );
        return;
    }
    let release = format!("{}@{}", report.role, report.version);
    match report.status {
        BakeStatus::Succeeded if report.dry_run => {
            println!(
                "dry run of {release}: every check passed in {:.1}s; nothing was created",
                report.seconds
            );
        }
        BakeStatus::Succeeded => {
            println!(
                "{release} baked in {:.1}s (bake {})",
                report.seconds, report.bake_id
            );
            for image in &report.images {
                println!("  {}  {}  {}", image.region, image.image_id, image.name);
            }
        }
        BakeStatus::Failed | BakeStatus::Interrupted => {
            let word = if report.status == BakeStatus::Failed {
                "FAILED"
            } else {
                "INTERRUPTED"
            };
            println!(
                "{release} {word} at step `{}` (bake {})",
                report.failed_step.as_deref().unwrap_or("?"),
                report.bake_id
            );
            if let Some(error) = &report.error {
                println!("{error}");
            }
        }
    }
    if !report.regions.is_empty() {
        println!("regions:");
        crate::releases::print_regions(&report.regions);
    }
    for resource in &report.kept {
        println!("KEPT on purpose: {}", resource.describe());
    }
    if !report.leaked.is_empty() {
        println!(
            "CLEANUP INCOMPLETE — remove these by hand (each is tagged bakery:bake-id={}):",
            report.bake_id
        );
        for resource in &report.leaked {
            println!("  {}", resource.describe());
        }
    }
}
