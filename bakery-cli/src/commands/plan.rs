//! `bakery plan`: every decision of a bake and each AWS call it would make, decided
//! and checked before any AWS call.

use std::time::SystemTime;

use bakery_core::bake::rebuild;
use bakery_core::plan::command::BAKE_VARIABLES;
use bakery_core::plan::{BakePlan, BuildPlan, CommandStep};

use super::args::ReleaseArgs;
use crate::context::Context;
use crate::exit::Exit;
use crate::output::{fail, outln, print_json, Output};

pub async fn run(args: &ReleaseArgs, context: &Context) -> Exit {
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
    print_release(&plan);
    print_builds(&plan);
    print_publishing(&plan);
    print_steps(&plan);
    print_calls(&plan);
    Exit::Success
}

/// The release the bake makes, where, of which architectures.
fn print_release(plan: &BakePlan) {
    let architectures: Vec<&str> = plan.builds.iter().map(|b| b.arch().as_str()).collect();
    outln!(
        "bake {}@{} in {} ({} {})",
        plan.role,
        plan.version,
        plan.region,
        plan.platform,
        architectures.join(" and ")
    );
}

/// Each build's base and builder; the builder's settings they share.
fn print_builds(plan: &BakePlan) {
    let of = |build: &BuildPlan| match plan.makes_several() {
        true => format!("{}: ", build.arch()),
        false => String::new(),
    };
    for build in &plan.builds {
        outln!("base:     {}{}", of(build), build.base);
    }
    let builder = plan.shared_builder();
    let instance_types: Vec<String> = plan
        .builds
        .iter()
        .map(|build| match plan.makes_several() {
            true => format!("{}={}", build.arch(), build.builder.instance_type()),
            false => build.builder.instance_type().to_string(),
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
    if let Some(key) = &builder.kms_key {
        outln!("image key: {key}");
    }
    for build in &plan.builds {
        let inputs = &build.inputs;
        outln!(
            "inputs:   {}recipe {}, settings {}, agent {}",
            of(build),
            inputs.recipe_digest,
            inputs.settings,
            inputs.agent
        );
    }
    outln!("          with the base image once resolved (`bake --if-changed` compares them)");
}

/// Where the release goes once made: copies, shares, alerts, channels.
fn print_publishing(plan: &BakePlan) {
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
    let channels = plan.channels_to_move();
    if !channels.is_empty() {
        outln!("channels: {}", channels.join(", "));
    }
}

/// What runs on the builder, with what, and the gate.
fn print_steps(plan: &BakePlan) {
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
    outln!("steps:");
    print_commands(&plan.steps);
    let Some(test) = &plan.test else {
        outln!("tests:    {} (no release gate runs)", plan.gate);
        return;
    };
    let types: Vec<String> = plan
        .builds
        .iter()
        .filter_map(|build| build.test_instance_type.clone())
        .collect();
    outln!(
        "tests:    on a test instance {} from each new image; firstboot runlist: {}; \
         stage timeout {}",
        types.join(" and "),
        test.runlist.as_str(),
        humantime::format_duration(test.timeout)
    );
    print_commands(&test.commands);
}

fn print_commands(commands: &[CommandStep]) {
    use bakery_core::model::time::human;
    for command in commands {
        let retries = match command.retries {
            0 => String::new(),
            1 => format!(", 1 more try {} later", human(command.retry_delay)),
            n => format!(", {n} more tries {} apart", human(command.retry_delay)),
        };
        let reboot = match command.reboots.after {
            true => ", then reboots",
            false => "",
        };
        outln!(
            "  {:<28} timeout {}{retries}{reboot}",
            command.step.to_string(),
            human(command.timeout)
        );
    }
}

fn print_calls(plan: &BakePlan) {
    outln!("AWS calls, in order:");
    for call in plan.aws_calls() {
        outln!("  {call}");
    }
    outln!("AWS calls when it fails or is interrupted:");
    for call in plan.aws_calls_on_failure() {
        outln!("  {call}");
    }
    outln!("(docs/iam-policy.json allows exactly these, and those of the other commands)");
}
