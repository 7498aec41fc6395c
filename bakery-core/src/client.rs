//! The library's front door: [`Bakery`], a bakery in one AWS account and region, with
//! what a program that bakes images needs — plan a bake, run it while watching its
//! events, test a release again, list releases, move a channel.
//!
//! ```no_run
//! use bakery_core::{AwsSettings, BakeRequest, Bakery, Event};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn example() -> bakery_core::Result<()> {
//! let bakery = Bakery::connect(&AwsSettings::default()).await?;
//! let request = BakeRequest {
//!     recipe_dir: "recipes/base".into(),
//!     version: Some("1.0.0".into()),
//!     ..BakeRequest::default()
//! };
//! let plan = bakery.plan(&request).await?;
//! let report = bakery
//!     .bake(&plan, &|event: Event| eprintln!("{event:?}"), CancellationToken::new())
//!     .await;
//! println!("{}@{}: {}", report.role, report.version, report.status.as_str());
//! # Ok(())
//! # }
//! ```
//!
//! The modules below it (`plan`, `bake`, `release`, `fleet`, …) are public too, for the
//! CLI's finer needs; this is the part meant to stay put.

#![deny(missing_docs)]

use std::time::SystemTime;

use tokio_util::sync::CancellationToken;

use crate::aws::{Aws, AwsSettings};
use crate::bake::report::BakeReport;
use crate::bake::retest::{self, RetestReport};
use crate::bake::{self, rebuild};
use crate::error::Result;
use crate::events::EventSink;
use crate::model::{Release, RoleName};
use crate::plan::{BakePlan, BakeRequest};
use crate::release::catalog::{self, ReleaseSummary, Scope};
use crate::release::channels::{self, Gap, Promotion};

/// A bakery in one AWS account and region (the standard AWS chain's, or
/// [`AwsSettings`]'): every call of the library goes through its clients.
pub struct Bakery {
    aws: Aws,
}

impl Bakery {
    /// Connects to AWS (credentials, region and endpoint as the AWS CLI finds them,
    /// unless `settings` say otherwise). Nothing is called yet.
    pub async fn connect(settings: &AwsSettings) -> Result<Bakery> {
        Ok(Bakery {
            aws: Aws::connect(settings).await?,
        })
    }

    /// A bakery on clients already made.
    pub fn with(aws: Aws) -> Bakery {
        Bakery { aws }
    }

    /// The region it bakes in.
    pub fn region(&self) -> &str {
        &self.aws.region
    }

    /// Its AWS clients, for the modules below this one.
    pub fn aws(&self) -> &Aws {
        &self.aws
    }

    /// Every decision of a bake of `request`, made before anything exists: the
    /// recipe read and checked, the version chosen (the variables its role's newest
    /// release kept, with `if_changed`), and the plan's regions checked against the
    /// account's.
    pub async fn plan(&self, request: &BakeRequest) -> Result<BakePlan> {
        let plan = rebuild::plan(request, &self.aws, SystemTime::now()).await?;
        self.in_the_account(plan).await
    }

    /// Runs `plan`'s chain, telling `events` what happens as it happens. `cancel`
    /// interrupts it (what it created is still removed). It does not fail: the report
    /// says how it ended, what it released and what, if anything, it left behind.
    pub async fn bake(
        &self,
        plan: &BakePlan,
        events: &dyn EventSink,
        cancel: CancellationToken,
    ) -> BakeReport {
        bake::bake(plan, &self.aws, events, cancel).await
    }

    /// The plan of a test run of `request`'s release (`request.version`): its recipe's
    /// gate, given the variables the release was baked with, its regions checked.
    pub async fn test_plan(&self, request: &BakeRequest) -> Result<BakePlan> {
        let plan = retest::plan(request, &self.aws, SystemTime::now()).await?;
        self.in_the_account(plan).await
    }

    /// Runs the release gate of `plan` (from [`Bakery::test_plan`]) again on its
    /// release, and records the outcome on the release. Like [`Bakery::bake`], it does
    /// not fail: the report says how it ended.
    pub async fn test(
        &self,
        plan: &BakePlan,
        events: &dyn EventSink,
        cancel: CancellationToken,
    ) -> RetestReport {
        retest::retest(plan, &self.aws, events, cancel).await
    }

    /// `plan`, once its regions are known to be regions this account can use.
    async fn in_the_account(&self, plan: BakePlan) -> Result<BakePlan> {
        self.aws
            .check_regions(&plan.settings.settings.regions)
            .await?;
        Ok(plan)
    }

    /// The releases of `role` in this region, newest version first.
    pub async fn releases(&self, role: &str) -> Result<Vec<ReleaseSummary>> {
        let role = RoleName::parse(role).map_err(crate::Error::input)?;
        catalog::list(&self.aws, &role).await
    }

    /// Points `channel` at `role@version` in every region the role is in, refusing
    /// to leave it on another release anywhere (a release not yet in every region is
    /// refused: distribute it first).
    pub async fn promote(&self, role: &str, version: &str, channel: &str) -> Result<Promotion> {
        let release = Release::parse(role, version)?;
        channels::check_tested(&self.aws, &release).await?;
        let scope = Scope::Everywhere(Vec::new());
        channels::promote(&self.aws, &release, channel, &scope, Gap::Refuse).await
    }
}
