//! `bakery validate`, `bakery plan` and `bakery firstboot render`: what a bake would
//! do, decided and checked before any AWS call.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bakery_core::aws::{Aws, AwsSettings};
use bakery_core::environment::Environment;
use bakery_core::plan::BakePlan;
use bakery_core::validate;

use crate::bake::{request_of, settings_request};
use crate::output::{fail, print_json};
use crate::{BakeArgs, ConfigShowArgs, Output};

pub fn validate(recipes: &[PathBuf], output: Output) -> u8 {
    let mut code = 0;
    let mut results = Vec::new();
    for dir in recipes {
        match validate::validate(dir) {
            Ok(validation) => {
                if !validation.findings.is_empty() {
                    code = 2;
                }
                if output == Output::Text {
                    let lint = if validation.shellchecked {
                        "shellcheck clean"
                    } else if validation.platform == "windows" {
                        "PowerShell scripts: not linted here"
                    } else {
                        "shellcheck not run"
                    };
                    if validation.findings.is_empty() {
                        println!("{}: ok ({} steps, {lint})", dir.display(), validation.steps);
                    } else {
                        println!("{}: shellcheck found problems:", dir.display());
                        for finding in &validation.findings {
                            println!("  {}", finding.message);
                        }
                    }
                }
                results.push(serde_json::to_value(&validation).expect("serializes"));
            }
            Err(error) => {
                code = 2;
                eprintln!("error: {error}");
                results.push(serde_json::json!({ "recipe": dir.display().to_string(), "error": error.to_string() }));
            }
        }
    }
    if output == Output::Json {
        print_json(&results);
    }
    code
}

pub async fn plan(args: &BakeArgs, environment: Option<Environment>, aws: &AwsSettings) -> u8 {
    let planned = async {
        // Only the region is read from the AWS configuration: no call is made.
        let aws = Aws::connect(aws).await?;
        BakePlan::new(
            &request_of(args, environment),
            &aws.region,
            SystemTime::now(),
        )
    };
    let plan = match planned.await {
        Ok(plan) => plan,
        Err(error) => return fail(args.output, &error),
    };
    if args.output == Output::Json {
        let mut value = serde_json::to_value(&plan).expect("plans serialize");
        value["aws_calls"] = serde_json::json!(plan.aws_calls());
        print_json(&value);
        return 0;
    }
    println!(
        "bake {}@{} in {} ({} {})",
        plan.role,
        plan.version,
        plan.region,
        plan.platform,
        plan.arch.as_str()
    );
    println!(
        "base:     {}",
        serde_json::to_string(&plan.base).expect("serializes")
    );
    let builder = &plan.builder;
    println!(
        "builder:  {} {} GiB {} profile={} subnet={} security groups={}",
        builder.instance_type,
        builder
            .volume_size_gib
            .map_or("base's".to_string(), |s| s.to_string()),
        builder.volume_type,
        builder.instance_profile.as_deref().unwrap_or("-"),
        builder.subnet.as_deref().unwrap_or("default VPC"),
        if builder.security_groups.is_empty() {
            "one made for the bake".to_string()
        } else {
            builder.security_groups.join(",")
        }
    );
    println!(
        "lifetime: {} (dead-man's switch)",
        humantime::format_duration(plan.builder_lifetime)
    );
    if let Some(key) = &plan.builder.kms_key {
        println!("image key: {key}");
    }
    for copy in &plan.copy_to {
        println!(
            "copy to:  {} ({})",
            copy.region,
            copy.kms_key
                .as_deref()
                .unwrap_or("the region's default EBS key")
        );
    }
    let share = &plan.share;
    if !share.is_empty() {
        println!(
            "share:    accounts [{}] organizations [{}] OUs [{}]",
            share.accounts.join(", "),
            share.organizations.join(", "),
            share.organizational_units.join(", ")
        );
    }
    if let Some(topic) = &plan.sns_topic {
        println!("alerts:   {topic}");
    }
    if !plan.secret_parameters.is_empty() {
        println!(
            "secrets:  {} (read on the builder)",
            plan.secret_parameters.join(", ")
        );
    }
    let output = &plan.step_output;
    if output.s3_bucket.is_some() || output.cloudwatch_log_group.is_some() {
        println!(
            "output:   s3://{}/{} cloudwatch {}",
            output.s3_bucket.as_deref().unwrap_or("-"),
            output.s3_prefix.as_deref().unwrap_or(""),
            output.cloudwatch_log_group.as_deref().unwrap_or("-")
        );
    }
    if !plan.promote.is_empty() || plan.update_latest {
        let mut channels = plan.promote.clone();
        if plan.update_latest {
            channels.insert(0, "latest (final releases)".into());
        }
        println!("channels: {}", channels.join(", "));
    }
    println!("steps:");
    for step in &plan.steps {
        println!(
            "  {:<28} timeout {}",
            step.name,
            humantime::format_duration(step.timeout)
        );
    }
    println!("AWS calls, in order:");
    for call in plan.aws_calls() {
        println!("  {call}");
    }
    0
}

pub fn render_firstboot(recipe: &Path, version: &str, output: Output) -> u8 {
    let installation = match bakery_core::firstboot::render(recipe, version) {
        Ok(installation) => installation,
        Err(error) => return fail(output, &error),
    };
    match (installation, output) {
        (None, Output::Json) => print_json(&serde_json::json!({ "firstboot": false })),
        (None, Output::Text) => println!(
            "{}: firstboot = false: a bake installs nothing for the first boot",
            recipe.display()
        ),
        (Some(installation), Output::Json) => print_json(&installation),
        (Some(installation), Output::Text) => {
            println!(
                "{} firstboot agent; started by {}",
                installation.platform, installation.activation
            );
            for file in &installation.files {
                let when = file.when.map_or_else(String::new, |init| {
                    format!(" (only with {})", init.as_str())
                });
                println!("\n==> {} [{}]{when}", file.path, file.access);
                print!("{}", file.content);
                if !file.content.ends_with('\n') {
                    println!();
                }
            }
        }
    }
    0
}

pub async fn show_config(
    args: &ConfigShowArgs,
    environment: Option<Environment>,
    aws: &AwsSettings,
) -> u8 {
    let name = environment.as_ref().map(|e| e.name.clone());
    let merged = async {
        // Only the region is read from the AWS configuration: no call is made.
        let aws = Aws::connect(aws).await?;
        let request = settings_request(&args.recipe, &args.settings, environment);
        let recipe = bakery_core::recipe::Recipe::load(&request.recipe_dir)?;
        bakery_core::plan::merged_settings(&recipe, &request, &aws.region)
    };
    let merged = match merged.await {
        Ok(merged) => merged,
        Err(error) => return fail(args.output, &error),
    };
    let entries = merged.entries();
    if args.output == Output::Json {
        let values: Vec<serde_json::Value> = entries
            .iter()
            .map(|(key, value, source)| {
                serde_json::json!({ "key": key, "value": value, "source": source, "from": source.to_string() })
            })
            .collect();
        print_json(
            &serde_json::json!({ "environment": name, "settings": merged.settings, "values": values }),
        );
        return 0;
    }
    println!(
        "# {} with environment {}",
        args.recipe.display(),
        name.as_deref().unwrap_or("(none)")
    );
    let width = entries
        .iter()
        .map(|(key, value, _)| key.len() + value.to_string().len())
        .max()
        .unwrap_or(0)
        + 3;
    for (key, value, source) in &entries {
        let line = format!("{key} = {value}");
        println!("{line:<width$}  # {source}");
    }
    0
}
