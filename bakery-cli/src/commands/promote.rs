//! `bakery promote <role> <version> --channel <name>`: point a channel at a release.

use bakery_core::model::names::check_channel;
use bakery_core::model::Release;
use bakery_core::release::channels;

use crate::context::Context;
use crate::exit::Exit;
use crate::output::outln;
use crate::output::{fail, print_json, Output};

#[derive(clap::Args)]
pub struct Args {
    role: String,
    version: String,
    #[arg(long)]
    channel: String,
}

pub async fn run(args: &Args, context: &Context) -> Exit {
    let promoted = async {
        let release = Release::parse(&args.role, &args.version)?;
        check_channel(&args.channel)?;
        let aws = context.connect().await?;
        channels::promote(&aws, &release, &args.channel).await
    };
    match promoted.await {
        Ok(promotion) if context.output == Output::Json => {
            print_json(&promotion);
            Exit::Success
        }
        Ok(p) => {
            let before = p
                .previous
                .as_deref()
                .map(|id| format!(" (was {id})"))
                .unwrap_or_default();
            outln!(
                "{}: channel {} -> {} in {}{before}",
                p.release,
                p.channel,
                p.image_id,
                p.region
            );
            Exit::Success
        }
        Err(error) => fail(context.output, &error),
    }
}
