//! docs/iam-policy.json is proven against the code: the baker's policy allows exactly
//! the calls bakery-core makes, its `Bake` statement exactly what `bakery plan` lists
//! for a bake, and the builder's policy exactly what runs on the instance (the
//! firstboot agents and the steps' secrets) besides the SSM agent.

use std::collections::BTreeSet;
use std::path::Path;

use regex_lite::Regex;
use serde_json::Value;

use crate::support::{repo_root, Bakery, TestRecipe};

fn policy() -> Value {
    let text = std::fs::read_to_string(repo_root().join("docs/iam-policy.json")).unwrap();
    serde_json::from_str(&text).expect("docs/iam-policy.json is JSON")
}

/// The actions of the statements of `principal` (`baker`, `builder`), by Sid.
fn actions(principal: &str, sids: &[&str]) -> BTreeSet<String> {
    let policy = policy();
    let statements = policy[principal]["Statement"].as_array().unwrap();
    let mut actions = BTreeSet::new();
    for statement in statements {
        let sid = statement["Sid"].as_str().unwrap();
        if !sids.is_empty() && !sids.contains(&sid) {
            continue;
        }
        match &statement["Action"] {
            Value::String(action) => {
                actions.insert(action.clone());
            }
            Value::Array(list) => {
                actions.extend(list.iter().map(|a| a.as_str().unwrap().to_string()))
            }
            other => panic!("{principal} {sid}: Action is {other}"),
        }
    }
    actions
}

fn rust_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// Every SDK call in bakery-core, as an IAM action. Each `.send()` ends a call chain
/// that starts at a client (`client.describe_images()`, `sts.get_caller_identity()`,
/// or a request built by a helper) and is labelled for its errors
/// (`.context(self.call("DescribeImages"))`, `Call::new("GetCallerIdentity", …)`); the
/// label names the operation, the client method (when in sight) must agree with it,
/// and the service is the adapter's (`aws/ec2/`, `aws/ssm.rs`…).
fn actions_the_code_calls() -> BTreeSet<String> {
    let core = repo_root().join("bakery-core/src");
    let mut files = Vec::new();
    rust_files(&core, &mut files);
    let method = Regex::new(r"\b(client|sts)\s*\.\s*([a-z][a-z0-9_]*)\s*\(").unwrap();
    let label = Regex::new(r#"(?:\bcall|Call::new)\(\s*"([A-Za-z]+)""#).unwrap();
    let mut actions = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let relative = file
            .strip_prefix(&core)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let chunks: Vec<&str> = text.split(".send()").collect();
        if chunks.len() == 1 {
            continue;
        }
        assert!(
            relative.starts_with("aws/"),
            "{relative} calls AWS itself; only the adapters in aws/ do"
        );
        for (before, after) in chunks.iter().zip(&chunks[1..]) {
            // The label follows the call (`.await.context(…)`, or in the paginator's
            // loop) or, rarely, precedes it, in the same function.
            let function_after = &after[..after.find("fn ").unwrap_or(after.len())];
            let function_before = &before[before.rfind("fn ").unwrap_or(0)..];
            let client_method = method.captures_iter(before).last();
            let operation = label
                .captures(function_after)
                .or_else(|| label.captures_iter(function_before).last())
                .map(|c| c[1].to_string())
                .unwrap_or_else(|| panic!("{relative}: a .send() without a call label"));
            // A request a helper built (`run_builder_request(…)`) has its client call
            // in another function; in the same function, the two must agree.
            if let Some(called) = &client_method {
                let end = called.get(0).unwrap().end();
                if !before[end..].contains("fn ") {
                    let called = pascal_case(&called[2]);
                    assert_eq!(
                        called, operation,
                        "{relative}: {called} labelled {operation}"
                    );
                }
            }
            let receiver = client_method.as_ref().map(|c| c[1].to_string());
            let service = match (receiver.as_deref(), relative.as_str()) {
                (Some("sts"), _) => "sts",
                (_, path) if path.starts_with("aws/ec2/") => "ec2",
                (_, "aws/ssm.rs") => "ssm",
                (_, "aws/sns.rs") => "sns",
                (_, "aws/kms.rs") => "kms",
                (_, path) => panic!("{path}: which service is its client?"),
            };
            actions.insert(format!("{service}:{operation}"));
        }
    }
    actions
}

#[test]
fn the_bakers_policy_allows_exactly_the_calls_the_code_makes() {
    let mut called = actions_the_code_calls();
    assert!(called.contains("ec2:RunInstances") && called.contains("sts:GetCallerIdentity"));
    // RunInstances with an instance profile passes the profile's role to EC2.
    let instances =
        std::fs::read_to_string(repo_root().join("bakery-core/src/aws/ec2/instances.rs")).unwrap();
    assert!(instances.contains("set_iam_instance_profile"));
    called.insert("iam:PassRole".to_string());

    let allowed = actions("baker", &[]);
    let unlisted: Vec<_> = called.difference(&allowed).collect();
    let unused: Vec<_> = allowed.difference(&called).collect();
    assert!(
        unlisted.is_empty() && unused.is_empty(),
        "docs/iam-policy.json's baker policy: add {unlisted:?}, remove {unused:?}"
    );
}

/// The actions named in `bakery plan`'s lists of calls.
fn actions_in(calls: &Value) -> BTreeSet<String> {
    let action = Regex::new(r"\b(ec2|ssm|sts|sns|kms|iam):[A-Z][A-Za-z]+").unwrap();
    calls
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|call| {
            action
                .find_iter(call.as_str().unwrap())
                .map(|m| m.as_str().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_plan_lists_the_actions_of_the_policys_bake_statement() {
    // A bake that uses everything: a layered base, secrets, tests, a version bump,
    // copies with a KMS key, sharing, an alert topic, a success notice, a channel.
    let config = tempfile::tempdir().unwrap();
    std::fs::write(
        config.path().join("bakery.toml"),
        "[environments.all]\nregions = [\"us-east-1\", \"eu-west-1\"]\n\
         sns_topic = \"arn:aws:sns:us-east-1:123456789012:bakes\"\n\
         kms_keys = { eu-west-1 = \"alias/ebs\" }\n\
         share = { accounts = [\"111122223333\"] }\n",
    )
    .unwrap();
    let recipe = TestRecipe::new("app")
        .with_base("role = \"base\", channel = \"stable\"")
        .step("install", "echo installing\n")
        .with_toml("secrets = { TOKEN = \"/app/token\" }\n")
        .test("works", "true\n");
    let plan = Bakery::new("us-east-1")
        .current_dir(config.path())
        .args(["plan"])
        .arg_path(recipe.path())
        .args(["--bump", "minor", "--env", "all", "--notify-success"])
        .args(["--promote", "stable", "--output", "json"])
        .run();
    plan.expect_code(0);
    let plan = plan.json();
    let mut listed = actions_in(&plan["aws_calls"]);
    listed.extend(actions_in(&plan["aws_calls_on_failure"]));

    let allowed = actions("baker", &["Bake", "PassTheBuilderRole"]);
    let unlisted: Vec<_> = listed.difference(&allowed).collect();
    let unplanned: Vec<_> = allowed.difference(&listed).collect();
    assert!(
        unlisted.is_empty() && unplanned.is_empty(),
        "plan lists {unlisted:?} that the Bake statement lacks; the statement has \
         {unplanned:?} that plan never lists"
    );
}

/// The AWS calls made on the instance: the firstboot agents (AWS CLI on Linux, AWS
/// Tools for PowerShell on Windows) and the steps' secrets, as IAM actions.
fn actions_on_the_instance() -> BTreeSet<String> {
    let sources = [
        "firstboot/linux/bakery-firstboot",
        "firstboot/windows/bakery-firstboot.ps1",
        "bakery-core/src/script/step.rs",
    ];
    let cli = Regex::new(r#"(?:"\$aws"|\baws) ([a-z0-9]+) ([a-z][a-z-]+)"#).unwrap();
    let cmdlet = Regex::new(r"\b[A-Z][a-z]+-(?:S3|SNS|SSM|EC2|KMS)[A-Za-z]*\b").unwrap();
    let mut actions = BTreeSet::new();
    for source in sources {
        let text = std::fs::read_to_string(repo_root().join(source)).unwrap();
        let text: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        for call in cli.captures_iter(&text) {
            actions.insert(match (&call[1], &call[2]) {
                ("s3", "cp") => "s3:GetObject",
                ("sns", "publish") => "sns:Publish",
                ("ssm", "get-parameter") => "ssm:GetParameter",
                (service, command) => panic!("{source}: `aws {service} {command}`: which action?"),
            });
        }
        for call in cmdlet.find_iter(&text) {
            actions.insert(match call.as_str() {
                "Read-S3Object" => "s3:GetObject",
                "Publish-SNSMessage" => "sns:Publish",
                "Get-SSMParameter" => "ssm:GetParameter",
                other => panic!("{source}: `{other}`: which action?"),
            });
        }
        if text.contains("--with-decryption") || text.contains("-WithDecryption") {
            // A SecureString under a customer managed key.
            actions.insert("kms:Decrypt");
        }
    }
    actions.into_iter().map(str::to_string).collect()
}

#[test]
fn the_builders_policy_allows_what_runs_on_the_instance() {
    let used = actions_on_the_instance();
    assert!(used.contains("s3:GetObject") && used.contains("sns:Publish"));
    assert_eq!(used, actions("builder", &["BakeryOnTheInstance"]));
    // The SSM agent's own statement is AWS's AmazonSSMManagedInstanceCore.
    let agent = actions("builder", &["SsmAgent"]);
    assert!(
        agent.contains("ssm:UpdateInstanceInformation")
            && agent.contains("ssmmessages:OpenControlChannel")
    );
}
