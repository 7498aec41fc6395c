//! `bakery prune <role> --keep N [--older-than 180d] [--yes]`: shows what it would
//! retire, and retires it only with --yes.

use bakery_core::aws::{Aws, AwsSettings};
use bakery_core::prune::{self, Action, PrunePolicy};
use bakery_core::recipe::RoleName;
use bakery_core::Error;

use crate::output::{fail, print_json};
use crate::Output;

pub async fn run(
    role: &str,
    keep: usize,
    older_than: Option<&str>,
    yes: bool,
    output: Output,
    aws: &AwsSettings,
) -> u8 {
    let pruned = async {
        let role = RoleName::parse(role).map_err(Error::input)?;
        let policy = PrunePolicy::parse(keep, older_than)?;
        let aws = Aws::connect(aws).await?;
        let items = prune::plan(&aws, &role, policy).await?;
        if yes {
            prune::apply(&aws, &role, &items).await?;
        }
        Ok::<_, Error>((role, items))
    };
    let (role, items) = match pruned.await {
        Ok(done) => done,
        Err(error) => return fail(output, &error),
    };
    if output == Output::Json {
        print_json(&serde_json::json!({ "role": role, "applied": yes, "releases": items }));
        return 0;
    }
    for item in &items {
        match item.action {
            Action::Delete => println!(
                "{:<10} {:<16} {} and {}",
                if yes { "deleted" } else { "would delete" },
                item.version,
                item.image_id,
                item.snapshot_ids.join(", ")
            ),
            Action::Keep => println!(
                "{:<10} {:<16} {} ({})",
                "keep", item.version, item.image_id, item.reason
            ),
        }
    }
    let doomed = items.iter().filter(|i| i.action == Action::Delete).count();
    if !yes && doomed > 0 {
        println!("nothing deleted yet: run again with --yes to delete {doomed} release(s)");
    }
    0
}
