//! The regions of the account's partition, and whether the account may use each.

use aws_config::retry::RetryConfig;

use super::Ec2;
use crate::aws::error::Context;
use crate::error::Result;

/// A region as EC2 lists it for this account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRegion {
    pub name: String,
    /// Opt-in not required, or opted in: calls there are answered.
    pub enabled: bool,
}

impl Ec2 {
    /// Every region of the partition (`AllRegions`), with its opt-in status. Asked
    /// before anything else, so it is tried twice at most: a region that does not
    /// exist has no endpoint to retry against.
    pub async fn account_regions(&self) -> Result<Vec<AccountRegion>> {
        let out = self
            .client
            .describe_regions()
            .all_regions(true)
            .customize()
            .config_override(
                aws_sdk_ec2::config::Config::builder()
                    .retry_config(RetryConfig::standard().with_max_attempts(2)),
            )
            .send()
            .await
            .context(self.call("DescribeRegions"))?;
        Ok(out
            .regions()
            .iter()
            .filter_map(|r| {
                Some(AccountRegion {
                    name: r.region_name()?.to_string(),
                    enabled: r.opt_in_status() != Some("not-opted-in"),
                })
            })
            .collect())
    }
}
