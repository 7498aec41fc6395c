//! How the adapters classify AWS's answers, from the wire: each test gives a client a
//! real HTTP answer (EC2's XML, SSM's JSON) through `aws-smithy-mocks`, and checks what
//! bakery makes of it — an absent resource, a lost race, a retryable error, or an error
//! that names the call, the region, the resource and the service's code and message.

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

use super::ec2::Ec2;
use super::error::dry_run_outcome;
use super::ssm::Ssm;
use crate::error::Error;

const REGION: &str = "eu-west-1";

/// EC2's error document (the Query protocol).
fn ec2_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>{message}</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
    );
    let mut response =
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    // The SDK reads the request id from the header AWS sends with every answer.
    response.headers_mut().insert("x-amzn-requestid", "r-1");
    response
}

/// SSM's error document (the JSON protocol).
fn ssm_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = format!("{{\"__type\":\"{code}\",\"message\":\"{message}\"}}");
    let mut response =
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.1");
    response
}

fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        |interceptor, rule| interceptor.with_rule(rule),
    )
}

/// An EC2 client answered by `rules`.
fn ec2_config(rules: &[&Rule]) -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("a", "b", None, None, "tests"))
        .http_client(create_mock_http_client())
        .interceptor(interceptor(rules))
}

fn ec2(rules: &[&Rule]) -> Ec2 {
    let config = ec2_config(rules)
        .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
        .build();
    Ec2::new(aws_sdk_ec2::Client::from_conf(config), REGION)
}

fn ssm(rules: &[&Rule]) -> Ssm {
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
        .region(aws_sdk_ssm::config::Region::new(REGION))
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            "a", "b", None, None, "tests",
        ))
        .http_client(create_mock_http_client())
        .interceptor(interceptor(rules))
        .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled())
        .build();
    Ssm::new(aws_sdk_ssm::Client::from_conf(config), REGION)
}

fn answer(response: fn() -> HttpResponse) -> impl Fn() -> HttpResponse + Send + Sync {
    move || response()
}

#[tokio::test]
async fn an_image_that_is_not_there_is_an_answer_not_an_error() {
    let not_found = mock!(aws_sdk_ec2::Client::describe_images).then_http_response(answer(|| {
        ec2_error(
            400,
            "InvalidAMIID.NotFound",
            "The image id '[ami-1]' does not exist",
        )
    }));
    assert_eq!(
        ec2(&[&not_found]).describe_image("ami-1").await.unwrap(),
        None
    );
    let malformed = mock!(aws_sdk_ec2::Client::describe_images).then_http_response(answer(|| {
        ec2_error(400, "InvalidAMIID.Malformed", "Invalid id: \"ami-x\"")
    }));
    assert_eq!(
        ec2(&[&malformed]).describe_image("ami-x").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn throttling_and_server_errors_are_transient_and_keep_the_services_words() {
    let throttled = mock!(aws_sdk_ec2::Client::describe_images).then_http_response(answer(|| {
        ec2_error(503, "RequestLimitExceeded", "Request limit exceeded.")
    }));
    let error = ec2(&[&throttled])
        .describe_image("ami-1")
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert_eq!(error.aws_code(), Some("RequestLimitExceeded"));
    assert_eq!(
        error.to_string(),
        "DescribeImages failed in eu-west-1 for ami-1: RequestLimitExceeded: Request limit \
         exceeded. (request id r-1)"
    );
    let ssm_throttled =
        mock!(aws_sdk_ssm::Client::get_parameter).then_http_response(answer(|| {
            ssm_error(400, "ThrottlingException", "Rate exceeded")
        }));
    let error = ssm(&[&ssm_throttled]).parameter("/p").await.unwrap_err();
    assert!(error.is_transient(), "a 400 that says slow down: {error:?}");
}

#[tokio::test]
async fn a_refusal_is_not_transient_and_says_who_refused_what() {
    let denied = mock!(aws_sdk_ec2::Client::stop_instances).then_http_response(answer(|| {
        ec2_error(
            403,
            "UnauthorizedOperation",
            "You are not authorized to perform this operation.",
        )
    }));
    let error = ec2(&[&denied]).stop_instance("i-1").await.unwrap_err();
    assert!(!error.is_transient());
    let sdk = std::error::Error::source(&error).expect("the SDK's error is kept as the source");
    assert!(
        sdk.to_string().contains("service error"),
        "the SDK's own words: {sdk}"
    );
    assert!(
        matches!(&error, Error::Aws(aws) if aws.operation == "StopInstances" && aws.resource.as_deref() == Some("i-1")),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "StopInstances failed in eu-west-1 for i-1: UnauthorizedOperation: You are not \
         authorized to perform this operation. (request id r-1)"
    );
    // What to do about it: the policy that lists every action bakery calls.
    assert!(error.hint().unwrap().contains("docs/iam-policy.json"));
}

#[tokio::test]
async fn a_dry_run_succeeds_by_failing_with_dry_run_operation() {
    let dry_run = |answer: fn() -> HttpResponse| {
        mock!(aws_sdk_ec2::Client::create_security_group).then_http_response(answer)
    };
    let would_succeed = dry_run(|| {
        ec2_error(
            412,
            "DryRunOperation",
            "Request would have succeeded, but DryRun flag is set.",
        )
    });
    let checked = ec2(&[&would_succeed]);
    checked.check_create_security_group("vpc-1").await.unwrap();
    let would_fail = dry_run(|| ec2_error(403, "UnauthorizedOperation", "Not authorized."));
    let error = ec2(&[&would_fail])
        .check_create_security_group("vpc-1")
        .await
        .unwrap_err();
    assert_eq!(error.aws_code(), Some("UnauthorizedOperation"));
    assert!(dry_run_outcome(Ok::<(), Error>(())).is_ok());
}

#[tokio::test]
async fn a_claim_that_exists_is_a_lost_race_and_a_missing_parameter_is_absent() {
    let taken = mock!(aws_sdk_ssm::Client::put_parameter).then_http_response(answer(|| {
        ssm_error(
            400,
            "ParameterAlreadyExists",
            "The parameter already exists.",
        )
    }));
    let created = ssm(&[&taken])
        .create_parameter("/bakery/base/releases/1.0.0", "{}", "claim")
        .await
        .unwrap();
    assert!(!created, "someone else holds it");
    let missing = mock!(aws_sdk_ssm::Client::get_parameter)
        .then_http_response(answer(|| ssm_error(400, "ParameterNotFound", "")));
    assert_eq!(ssm(&[&missing]).parameter("/nope").await.unwrap(), None);
    let gone = mock!(aws_sdk_ssm::Client::delete_parameter)
        .then_http_response(answer(|| ssm_error(400, "ParameterNotFound", "")));
    ssm(&[&gone]).delete_parameter("/nope").await.unwrap();
    let not_yet = mock!(aws_sdk_ssm::Client::get_command_invocation)
        .then_http_response(answer(|| ssm_error(400, "InvocationDoesNotExist", "")));
    assert_eq!(
        ssm(&[&not_yet]).invocation("c-1", "i-1").await.unwrap(),
        None,
        "SSM has not made the invocation yet"
    );
}

#[tokio::test]
async fn a_record_is_written_intelligent_tiered_so_it_may_grow_past_4_kb() {
    let tiered = || {
        mock!(aws_sdk_ssm::Client::put_parameter)
            .match_requests(|r| {
                r.tier() == Some(&aws_sdk_ssm::types::ParameterTier::IntelligentTiering)
            })
            .then_output(|| {
                aws_sdk_ssm::operation::put_parameter::PutParameterOutput::builder()
                    .version(1)
                    .build()
            })
    };
    let (claim, record) = (tiered(), tiered());
    let ssm = ssm(&[&claim, &record]);
    let name = "/bakery/base/releases/1.0.0";
    assert!(ssm
        .create_parameter(name, &"x".repeat(5000), "claim")
        .await
        .unwrap());
    ssm.overwrite_parameter(name, &"x".repeat(5000))
        .await
        .unwrap();
}

/// EC2's answer to CreateTags.
fn tagged() -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(200).unwrap(),
        SdkBody::from("<CreateTagsResponse><requestId>r-2</requestId><return>true</return></CreateTagsResponse>"),
    )
}

/// A client as bakery builds it: retries, and the check before each request is sent.
fn ec2_retrying(rules: &[&Rule]) -> Ec2 {
    let config = ec2_config(rules)
        .interceptor(super::signal::StopNewRequests)
        .retry_config(
            aws_sdk_ec2::config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(std::time::Duration::from_millis(1)),
        )
        .build();
    Ec2::new(aws_sdk_ec2::Client::from_conf(config), REGION)
}

fn tags() -> std::collections::BTreeMap<String, String> {
    [("bakery:role".to_string(), "base".to_string())].into()
}

#[tokio::test]
async fn after_a_signal_a_step_that_creates_sends_nothing_more() {
    use super::signal::{always_sent, no_new_requests_after};
    use tokio_util::sync::CancellationToken;
    let ok = mock!(aws_sdk_ec2::Client::create_tags).then_http_response(tagged);
    let ec2 = ec2_retrying(&[&ok]);
    let step = CancellationToken::new();
    let ids = ["ami-1".to_string()];

    no_new_requests_after(step.clone(), ec2.tag(&ids, &tags()))
        .await
        .expect("sent while the step runs");
    step.cancel();
    let refused = no_new_requests_after(step.clone(), ec2.tag(&ids, &tags())).await;
    assert!(matches!(refused, Err(Error::Interrupted)), "{refused:?}");
    // What removes a half-made thing is sent all the same, and so is every request of
    // a step that was not stopped.
    no_new_requests_after(step.clone(), always_sent(ec2.tag(&ids, &tags())))
        .await
        .expect("a removal's requests are sent");
    ec2.tag(&ids, &tags()).await.expect("outside a step");
}

#[tokio::test]
async fn a_signal_during_a_call_ends_it_instead_of_its_next_retry() {
    use super::signal::no_new_requests_after;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio_util::sync::CancellationToken;
    let step = CancellationToken::new();
    let attempts = Arc::new(AtomicUsize::new(0));
    // The first attempt is answered 503 (the SDK would retry it); the signal comes
    // while it is on the wire.
    let busy = mock!(aws_sdk_ec2::Client::create_tags).then_http_response({
        let (step, attempts) = (step.clone(), attempts.clone());
        move || {
            step.cancel();
            match attempts.fetch_add(1, Ordering::SeqCst) {
                0 => ec2_error(503, "Unavailable", "The service is unavailable."),
                _ => tagged(),
            }
        }
    });
    let ec2 = ec2_retrying(&[&busy]);
    let ids = ["ami-1".to_string()];

    let outcome = no_new_requests_after(step.clone(), ec2.tag(&ids, &tags())).await;

    assert!(matches!(outcome, Err(Error::Interrupted)), "{outcome:?}");
    assert_eq!(attempts.load(Ordering::SeqCst), 1, "no retry was sent");
}
