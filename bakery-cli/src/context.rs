//! What every command gets from the global flags: the `bakery.toml` environment, how
//! to reach AWS, and how to write its result.

use std::path::PathBuf;

use bakery_core::aws::{Aws, AwsSettings};
use bakery_core::config::flags::split_list;
use bakery_core::config::Environment;
use bakery_core::{Bakery, Result};

use crate::output::Output;
use crate::render::Progress;

pub struct Context {
    /// The selected environment (`--env`, `BAKERY_ENV`, or the file's default).
    pub environment: Option<Environment>,
    /// The region (`--region`, else the environment's first) and profile.
    pub aws: AwsSettings,
    pub output: Output,
    /// How events look on stderr (`--progress`, `BAKERY_PROGRESS`).
    pub progress: Progress,
}

impl Context {
    /// Clients for the region; only the configuration is read, no call is made.
    pub async fn connect(&self) -> Result<Aws> {
        Aws::connect(&self.aws).await
    }

    /// The library's front door, connected as the flags say.
    pub async fn bakery(&self) -> Result<Bakery> {
        Bakery::connect(&self.aws).await
    }

    /// Clients for the region, once it and `regions` are known to be regions this
    /// account can use (one read call; a bad region is refused with exit 2).
    pub async fn reach(&self, regions: &[String]) -> Result<Aws> {
        let aws = self.connect().await?;
        aws.check_regions(regions).await?;
        Ok(aws)
    }

    /// The regions a fleet-wide command looks at: `--regions`, else the environment's,
    /// else (empty) the current region only.
    pub fn regions(&self, flag: &[String]) -> Vec<String> {
        let from_flag = split_list(flag);
        if !from_flag.is_empty() {
            return from_flag;
        }
        self.environment
            .as_ref()
            .map(|e| e.settings().regions.clone())
            .unwrap_or_default()
    }
}

/// Where the durations of AWS's transitions seen on this machine are kept, so that the
/// next bake's waits look at the right moments: `BAKERY_TIMINGS` (a file, or `none`),
/// else `$XDG_CACHE_HOME/bakery/timings.json`, else `~/.cache/bakery/timings.json`;
/// nowhere without a home.
pub fn timings_file() -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(file) = set("BAKERY_TIMINGS") {
        return (file != "none").then(|| PathBuf::from(file));
    }
    let cache = set("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| set("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(cache.join("bakery").join("timings.json"))
}
