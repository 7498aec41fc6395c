//! The only code that calls the AWS SDK. Everything above it sees bakery's own types
//! and [`Error`]s that carry the operation, region and resource.

pub mod ec2;
pub mod kms;
pub mod sns;
pub mod ssm;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{Error, Result};

/// How to reach AWS: everything else comes from the standard chain (environment,
/// profiles, SSO, IMDS; `AWS_ENDPOINT_URL` for another endpoint).
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
}

/// Clients for one region.
#[derive(Clone)]
pub struct Aws {
    pub region: String,
    pub ec2: ec2::Ec2,
    pub ssm: ssm::Ssm,
    pub sns: sns::Sns,
    pub kms: kms::Kms,
    sts: aws_sdk_sts::Client,
    config: aws_config::SdkConfig,
}

impl Aws {
    pub async fn connect(settings: &AwsSettings) -> Result<Aws> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            // Throttling and 5xx answers are retried by the SDK with backoff; the
            // waits retry them again on top (see wait.rs).
            .retry_config(RetryConfig::standard().with_max_attempts(5))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(60))
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
            Error::input(
                "no AWS region: pass --region, set AWS_REGION, or set `region` in the AWS profile",
            )
        })?;
        Ok(Aws::from_config(config, region))
    }

    /// Clients for each region (this one alone when `regions` is empty).
    pub fn in_regions(&self, regions: &[String]) -> Vec<Aws> {
        if regions.is_empty() {
            return vec![self.clone()];
        }
        regions.iter().map(|r| self.in_region(r)).collect()
    }

    /// The same credentials and settings, in another region.
    pub fn in_region(&self, region: &str) -> Aws {
        let config = self
            .config
            .to_builder()
            .region(Region::new(region.to_string()))
            .build();
        Aws::from_config(config, region.to_string())
    }

    fn from_config(config: aws_config::SdkConfig, region: String) -> Aws {
        Aws {
            ec2: ec2::Ec2::new(aws_sdk_ec2::Client::new(&config), &region),
            ssm: ssm::Ssm::new(aws_sdk_ssm::Client::new(&config), &region),
            sns: sns::Sns::new(aws_sdk_sns::Client::new(&config), &region),
            kms: kms::Kms::new(aws_sdk_kms::Client::new(&config), &region),
            sts: aws_sdk_sts::Client::new(&config),
            config,
            region,
        }
    }

    /// The ARN of whoever runs the bake. It is also the first call of a bake, so a
    /// missing credential or an unreachable endpoint shows up before anything exists.
    pub async fn caller_arn(&self) -> Result<String> {
        let identity = self.sts.get_caller_identity().send().await.map_err(|e| {
            Error::input(format!(
                "cannot reach AWS as any identity in {}: {}; check the credentials \
                 (AWS_PROFILE or --profile, AWS_ACCESS_KEY_ID, SSO login) and AWS_ENDPOINT_URL",
                self.region,
                DisplayErrorContext(&e)
            ))
        })?;
        Ok(identity.arn().unwrap_or("unknown").to_string())
    }
}

/// Error codes AWS uses for "slow down".
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Turns an SDK error into bakery's, keeping the AWS code and whether a retry may help.
pub(crate) fn sdk_error<E>(
    operation: &'static str,
    region: &str,
    resource: Option<&str>,
    error: SdkError<E, HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = error.code().map(str::to_string);
    let transient = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            service.raw().status().as_u16() >= 500
                || code
                    .as_deref()
                    .is_some_and(|c| THROTTLING_CODES.contains(&c))
        }
        _ => false,
    };
    let message = match (&code, error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.clone(),
        _ => DisplayErrorContext(&error).to_string(),
    };
    Error::Aws {
        operation,
        region: region.to_string(),
        resource: resource.map(str::to_string),
        code,
        message,
        transient,
    }
}

/// True when an error says the resource does not exist (any more).
pub(crate) fn is_not_found(error: &Error) -> bool {
    error.aws_code().is_some_and(|code| {
        code.ends_with(".NotFound")
            || code.ends_with(".Unavailable")
            || code == "InvalidAMIID.Unavailable"
    })
}
