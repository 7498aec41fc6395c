//! `bakery cleanup [--yes]`: what crashed bakes left behind in the region; removed
//! only with --yes.

use std::sync::Arc;

use bakery_core::aws::{Aws, AwsSettings};
use bakery_core::janitor;

use crate::output::{fail, print_json};
use crate::render::{Renderer, Style};
use crate::Output;

pub async fn run(yes: bool, output: Output, aws: &AwsSettings) -> u8 {
    let aws = match Aws::connect(aws).await {
        Ok(aws) => aws,
        Err(error) => return fail(output, &error),
    };
    let leftovers = match janitor::find(&aws).await {
        Ok(leftovers) => leftovers,
        Err(error) => return fail(output, &error),
    };
    let failed = if yes && !leftovers.is_empty() {
        let style = if output == Output::Json {
            Style::Json
        } else {
            Style::Plain
        };
        let renderer = Arc::new(Renderer::new(style));
        janitor::remove(&aws, &leftovers, renderer.as_ref()).await
    } else {
        Vec::new()
    };
    if output == Output::Json {
        let failed: Vec<_> = failed
            .iter()
            .map(|(l, why)| serde_json::json!({ "resource": l.resource, "error": why }))
            .collect();
        print_json(
            &serde_json::json!({ "region": aws.region, "leftovers": leftovers, "removed": yes, "failed": failed }),
        );
    } else if leftovers.is_empty() {
        println!("nothing left behind in {}", aws.region);
    } else {
        for leftover in &leftovers {
            println!("{:<48} {}", leftover.resource.describe(), leftover.reason);
        }
        if !yes {
            println!(
                "nothing removed yet: run again with --yes to remove {} resource(s)",
                leftovers.len()
            );
        }
        for (leftover, why) in &failed {
            println!("COULD NOT REMOVE {}: {why}", leftover.resource.describe());
        }
    }
    if failed.is_empty() {
        0
    } else {
        3
    }
}
