//! `bakery plan`: every decision of a bake and each AWS call it would make, decided
//! and checked before any AWS call.

use std::time::SystemTime;

use bakery_core::bake::rebuild;
use bakery_core::plan::command::BAKE_VARIABLES;

use super::bake;
use crate::context::Context;
use crate::exit::Exit;
use crate::output::{fail, outln, print_json, Output};

pub async fn run(args: &bake::Args, context: &Context) -> Exit {
    let planned = async {
        // Only the region is read from the AWS configuration: no call is made, but
        // with --if-changed the newest release's record (the values it keeps).
        let aws = context.connect().await?;
        rebuild::plan(&args.request(context), &aws, SystemTime::now()).await
    };
    let plan = match planned.await {
        Ok(plan) => plan,
        Err(error) => return fail(context.output, &error),
    };
    if context.output == Output::Json {
        let mut value = serde_json::to_value(&plan).expect("plans serialize");
        value["aws_calls"] = serde_json::json!(plan.aws_calls());
        value["aws_calls_on_failure"] = serde_json::json!(plan.aws_calls_on_failure());
        print_json(&value);
        return Exit::Success;
    }
    let architectures: Vec<&str> = plan.architectures().map(|p| p.arch.as_str()).collect();
    outln!(
        "bake {}@{} in {} ({} {})",
        plan.role,
        plan.version,
        plan.region,
        plan.platform,
        architectures.join(" and ")
    );
    for build in plan.architectures() {
        let arch = build.arch.as_str();
        match architectures.len() {
            1 => outln!("base:     {}", build.base),
            _ => outln!("base:     {arch}: {}", build.base),
        }
    }
    let builder = &plan.builder;
    let instance_types: Vec<String> = plan
        .architectures()
        .map(|build| match architectures.len() {
            1 => build.builder.instance_type().to_string(),
            _ => format!("{}={}", build.arch, build.builder.instance_type()),
        })
        .collect();
    outln!(
        "builder:  {} {} {} profile={} subnet={} security groups={}",
        instance_types.join(" "),
        builder
            .volume_size
            .map_or("the base image's size".to_string(), |s| format!("{s} GiB")),
        builder.volume_type(),
        builder.instance_profile.as_deref().unwrap_or("-"),
        builder.subnet.as_deref().unwrap_or("default VPC"),
        if builder.security_groups.is_empty() {
            "one made for the bake".to_string()
        } else {
            builder.security_groups.join(",")
        }
    );
    outln!(
        "lifetime: {} (dead-man's switch)",
        bakery_core::model::time::human(plan.builder_lifetime)
    );
    if let Some(key) = &plan.builder.kms_key {
        outln!("image key: {key}");
    }
    for copy in &plan.copy_to {
        outln!(
            "copy to:  {} ({})",
            copy.region,
            copy.kms_key
                .as_deref()
                .unwrap_or("the region's default EBS key")
        );
    }
    let share = &plan.share;
    if !share.is_empty() {
        outln!(
            "share:    accounts [{}] organizations [{}] OUs [{}]",
            share.accounts.join(", "),
            share.organizations.join(", "),
            share.organizational_units.join(", ")
        );
    }
    if let Some(topic) = &plan.sns_topic {
        outln!("alerts:   {topic}");
    }
    if !plan.secret_parameters.is_empty() {
        outln!(
            "secrets:  {} (read on the builder)",
            plan.secret_parameters.join(", ")
        );
    }
    let output = &plan.step_output;
    if output.is_set() {
        outln!(
            "output:   s3://{}/{} cloudwatch {}",
            output.s3_bucket.as_deref().unwrap_or("-"),
            output.s3_prefix.as_deref().unwrap_or(""),
            output.cloudwatch_log_group.as_deref().unwrap_or("-")
        );
    }
    for (name, value) in &plan.vars {
        let source = plan
            .settings
            .source_of(&format!("vars.{name}"))
            .map_or_else(String::new, |s| format!("  ({s})"));
        outln!("var:      {name}={value}{source}");
    }
    outln!("step env: {} (of the bake)", BAKE_VARIABLES.join(", "));
    let channels = plan.channels_to_move();
    if !channels.is_empty() {
        outln!("channels: {}", channels.join(", "));
    }
    outln!("steps:");
    for step in &plan.steps {
        outln!(
            "  {:<28} timeout {}",
            step.step.to_string(),
            bakery_core::model::time::human(step.timeout)
        );
    }
    outln!(
        "inputs:   recipe {}, settings {}, agent {}; with the base image once resolved \
         (`bake --if-changed` compares them)",
        plan.inputs.recipe_digest,
        plan.inputs.settings,
        plan.inputs.agent
    );
    match &plan.test {
        Some(test) => {
            outln!(
                "tests:    on a test instance {} from the new image; firstboot runlist: {}; \
                 stage timeout {}",
                test.instance_type,
                test.runlist.as_str(),
                humantime::format_duration(test.timeout)
            );
            for command in &test.commands {
                outln!(
                    "  {:<28} timeout {}",
                    command.step.to_string(),
                    bakery_core::model::time::human(command.timeout)
                );
            }
        }
        None => outln!("tests:    {} (no release gate runs)", plan.gate),
    }
    outln!("AWS calls, in order:");
    for call in plan.aws_calls() {
        outln!("  {call}");
    }
    outln!("AWS calls when it fails or is interrupted:");
    for call in plan.aws_calls_on_failure() {
        outln!("  {call}");
    }
    outln!("(docs/iam-policy.json allows exactly these, and those of the other commands)");
    Exit::Success
}
