//! L1, the only code that calls the AWS SDK. Everything above it sees bakery's own
//! types and [`Error`]s that carry the operation, region and resource ([`error`]).

pub(crate) mod batch;
pub(crate) mod ec2;
pub mod error;
pub(crate) mod kms;
pub(crate) mod signal;
pub(crate) mod sns;
pub(crate) mod ssm;
pub(crate) mod state;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::model::names::check_region;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};

/// How to reach AWS: everything else comes from the standard chain (environment,
/// profiles, SSO, IMDS; `AWS_ENDPOINT_URL` for another endpoint).
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// The region (`--region`, else the environment's build region); `None` leaves it
    /// to the standard chain (`AWS_REGION`, the profile).
    pub region: Option<String>,
    /// The AWS profile (`--profile`); `None` leaves it to the standard chain
    /// (`AWS_PROFILE`, else the default profile).
    pub profile: Option<String>,
}

/// Clients for one region.
#[derive(Clone)]
pub struct Aws {
    /// The region these clients call.
    pub region: String,
    /// EC2: images, builder instances, networks, snapshots and launch permissions.
    pub ec2: ec2::Ec2,
    /// SSM: parameters, managed-instance status and Run Command.
    pub ssm: ssm::Ssm,
    /// SNS: the bake's alerts.
    pub sns: sns::Sns,
    /// KMS: whether the accounts a release is shared with can use its snapshots' key.
    pub kms: kms::Kms,
    sts: aws_sdk_sts::Client,
    config: aws_config::SdkConfig,
    shared: Arc<Shared>,
}

/// What every region's clients of one process share.
struct Shared {
    /// `aws`, or the endpoint set instead (`AWS_ENDPOINT_URL`).
    endpoint: String,
    /// One set of clients per region, so that the waits of every bake in a region
    /// batch their looks together ([`batch`]).
    regions: Mutex<HashMap<String, Clients>>,
}

#[derive(Clone)]
struct Clients {
    ec2: ec2::Ec2,
    ssm: ssm::Ssm,
    sns: sns::Sns,
    kms: kms::Kms,
    sts: aws_sdk_sts::Client,
}

impl Aws {
    /// Loads the SDK's configuration from the standard chain, with `settings` on top,
    /// and makes the clients for its region. Refuses an empty `AWS_ENDPOINT_URL*`, no
    /// region, or a region that is not a region's name.
    pub async fn connect(settings: &AwsSettings) -> Result<Aws> {
        // The SDK panics on an endpoint that is set but empty.
        if let Some((name, _)) = std::env::vars_os().find(|(name, value)| {
            name.to_string_lossy().starts_with("AWS_ENDPOINT_URL") && value.is_empty()
        }) {
            return Err(
                Error::input(format!("{} is set but empty", name.to_string_lossy()))
                    .with_hint("unset it to reach AWS, or give the endpoint's URL"),
            );
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            // Throttling and 5xx answers are retried by the SDK with backoff, up to
            // ten attempts within the call's deadline: the backoff stops growing at
            // 5 s (the SDK's 20 s would spend the deadline in three sleeps and report
            // a timeout instead of the service's last answer). The waits retry them
            // again on top (see wait.rs).
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(10)
                    .with_max_backoff(Duration::from_secs(5)),
            )
            // Every call ends within a minute, retries included: an endpoint that
            // does not answer fails the command instead of hanging it.
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(20))
                    .operation_timeout(Duration::from_secs(55))
                    .build(),
            );
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        let config = loader.load().await;
        let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
            Error::input("no AWS region")
                .with_hint("pass --region, set AWS_REGION, or set `region` in the AWS profile")
        })?;
        check_region(&region).map_err(|message| {
            Error::input(format!(
                "region (from --region, the environment, AWS_REGION or the profile): {message}"
            ))
        })?;
        let clients = Clients::new(&config, &region);
        let shared = Arc::new(Shared {
            endpoint: config.endpoint_url().unwrap_or("aws").to_string(),
            regions: Mutex::new(HashMap::from([(region.clone(), clients.clone())])),
        });
        Ok(Aws::of(clients, config, region, shared))
    }

    /// Which AWS this reaches: `aws`, or the endpoint set instead (`AWS_ENDPOINT_URL`).
    pub fn endpoint(&self) -> &str {
        &self.shared.endpoint
    }

    /// Refuses, before anything is made, a region this account cannot use: one that
    /// is not a region of its partition, one it has not opted in to, or (this one)
    /// one whose EC2 does not answer.
    pub async fn check_regions(&self, regions: &[String]) -> Result<()> {
        let known = self.ec2.account_regions().await.map_err(|error| {
            if error.aws_code().is_some() {
                return error;
            }
            if error::lacks_credentials(&error) {
                return Error::input(format!(
                    "no AWS credentials to reach EC2 in region `{}`: {}",
                    self.region,
                    error.problem()
                ))
                .with_hint(
                    "set AWS_PROFILE (a profile of ~/.aws/config), AWS_ACCESS_KEY_ID and \
                     AWS_SECRET_ACCESS_KEY, or run where an instance or task role is attached",
                );
            }
            Error::input(format!(
                "cannot reach EC2 in region `{}`: {}",
                self.region,
                error.problem()
            ))
            .with_hint("check the region's name (e.g. eu-west-1), the endpoint and the network")
        })?;
        let mut problems = Vec::new();
        for region in std::iter::once(&self.region).chain(regions) {
            match known.iter().find(|r| &r.name == region) {
                Some(found) if found.enabled => {}
                Some(_) => problems.push(format!(
                    "region `{region}` is not enabled for this account (an opt-in region): \
                     enable it under Account › AWS Regions, or leave it out"
                )),
                None => problems.push(format!(
                    "`{region}` is not a region of this account's partition"
                )),
            }
        }
        problems.dedup();
        let enabled: Vec<&str> = known
            .iter()
            .filter(|r| r.enabled)
            .map(|r| r.name.as_str())
            .collect();
        Error::refusing_all("with the regions", problems)
            .map_err(|e| e.with_hint(format!("the account's regions: {}", enabled.join(", "))))
    }

    /// Clients for each region (this one alone when `regions` is empty).
    pub fn in_regions(&self, regions: &[String]) -> Vec<Aws> {
        if regions.is_empty() {
            return vec![self.clone()];
        }
        regions.iter().map(|r| self.in_region(r)).collect()
    }

    /// The same credentials and settings, in another region (this one: a clone); the
    /// same clients for a region every time.
    pub fn in_region(&self, region: &str) -> Aws {
        if region == self.region {
            return self.clone();
        }
        let config = self
            .config
            .to_builder()
            .region(Region::new(region.to_string()))
            .build();
        let clients = self
            .shared
            .regions
            .lock()
            .expect("not poisoned")
            .entry(region.to_string())
            .or_insert_with(|| Clients::new(&config, region))
            .clone();
        Aws::of(clients, config, region.to_string(), self.shared.clone())
    }

    fn of(
        clients: Clients,
        config: aws_config::SdkConfig,
        region: String,
        shared: Arc<Shared>,
    ) -> Aws {
        Aws {
            region,
            ec2: clients.ec2,
            ssm: clients.ssm,
            sns: clients.sns,
            kms: clients.kms,
            sts: clients.sts,
            config,
            shared,
        }
    }
}

impl Clients {
    fn new(config: &aws_config::SdkConfig, region: &str) -> Clients {
        // The SDK's default retry quota is one bucket per service for the whole
        // process: 500 tokens, 5 per throttled retry and 14 per 5xx retry, 1 back per
        // success. A brownout of a few minutes (a third of the calls throttled) empties
        // it within a few bakes, and from then on no call is retried — `bake --all`
        // would fail every bake at once. bakery bounds its calls otherwise (attempts,
        // backoff, a deadline per call), so its clients retry without that quota.
        // One partition per service, as the SDK's own are. After a signal, a step
        // that creates sends no other request ([`signal`]).
        macro_rules! client {
            ($sdk:ident, $name:literal) => {
                $sdk::Client::from_conf(
                    $sdk::config::Builder::from(config)
                        .retry_partition(unlimited_retries($name))
                        .interceptor(signal::StopNewRequests)
                        .build(),
                )
            };
        }
        Clients {
            ec2: ec2::Ec2::new(client!(aws_sdk_ec2, "bakery-ec2"), region),
            ssm: ssm::Ssm::new(client!(aws_sdk_ssm, "bakery-ssm"), region),
            sns: sns::Sns::new(client!(aws_sdk_sns, "bakery-sns"), region),
            kms: kms::Kms::new(client!(aws_sdk_kms, "bakery-kms"), region),
            sts: client!(aws_sdk_sts, "bakery-sts"),
        }
    }
}

impl Aws {
    /// The ARN of whoever runs the bake. It is also the first call of a bake, so a
    /// missing credential or an unreachable endpoint shows up before anything exists.
    pub async fn caller_arn(&self) -> Result<String> {
        let call = error::Call::new("GetCallerIdentity", &self.region);
        let identity = self.sts.get_caller_identity().send().await.map_err(|e| {
            let cause = match error::sdk_error(call, e) {
                Error::Aws(aws) => aws.message,
                other => other.problem(),
            };
            Error::input(format!(
                "cannot reach AWS as any identity in {}: {cause}",
                self.region
            ))
            .with_hint(
                "check the credentials (AWS_PROFILE or --profile, AWS_ACCESS_KEY_ID, SSO login) \
                 and AWS_ENDPOINT_URL",
            )
        })?;
        Ok(identity.arn().unwrap_or("unknown").to_string())
    }
}

#[cfg(test)]
mod tests;

/// A retry partition of its own, without the SDK's process-wide retry quota.
fn unlimited_retries(name: &'static str) -> aws_sdk_ec2::config::retry::RetryPartition {
    use aws_sdk_ec2::config::retry::{RetryPartition, TokenBucket};
    RetryPartition::custom(name)
        .token_bucket(TokenBucket::unlimited())
        .build()
}
