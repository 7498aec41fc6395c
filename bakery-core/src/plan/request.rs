//! What the caller asks for; the recipe and the environment supply the rest.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::vars::KeptVars;
use crate::config::{Environment, SettingsFlags};
use crate::model::Bump;

/// What the caller asks of a bake (`bakery bake`, `plan`, `test`, `outdated`): the
/// recipe, the version, the flags.
#[derive(Debug, Clone, Default)]
pub struct BakeRequest {
    /// The recipe folder, e.g. `recipes/zookeeper`.
    pub recipe_dir: PathBuf,
    /// `--version X.Y.Z[-pre]`.
    pub version: Option<String>,
    /// `--bump major|minor|patch`.
    pub bump: Option<Bump>,
    /// `--pre NAME` with `--bump`.
    pub pre: Option<String>,
    /// Flags that win over the environment and the recipe.
    pub flags: SettingsFlags,
    /// Recorded as `bakery:source-commit` (Jenkins sets GIT_COMMIT).
    pub source_commit: Option<String>,
    /// Recorded as `bakery:build-url` (Jenkins sets BUILD_URL).
    pub build_url: Option<String>,
    /// Leave the builder running when the bake fails, for debugging.
    pub keep_on_failure: bool,
    /// A channel to point at the new release after a successful bake.
    pub promote: Option<String>,
    /// Do not move the `latest` channel (it follows every final release otherwise).
    pub no_latest: bool,
    /// Also publish to the topic when the bake succeeds.
    pub notify_success: bool,
    /// The `bakery.toml` environment (`--env`), if any.
    pub environment: Option<Environment>,
    /// Check everything with read calls and EC2 DryRun; create nothing.
    pub dry_run: bool,
    /// `--base`: another base image than the recipe's (see `BaseImage::parse_flag`).
    pub base: Option<String>,
    /// `--skip-tests`: make the release without its recipe's tests (recorded).
    pub skip_tests: bool,
    /// `--if-changed`: bake only when the inputs differ from the newest release's.
    pub if_changed: bool,
    /// By role: the variables its newest release was given with `--var`, which a
    /// rebuild keeps (read by `bake::rebuilt`).
    pub kept: BTreeMap<String, KeptVars>,
}
