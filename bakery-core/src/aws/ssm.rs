//! SSM: parameters, managed-instance status, Run Command.

use std::sync::Arc;

use aws_sdk_ssm::types::{InstanceInformationStringFilter, ParameterTier, ParameterType};
use aws_sdk_ssm::Client;

use super::batch::{Answer, Batch};
use super::error::{Call, Context, OrAbsent};
use super::state::CommandStatus;
use crate::error::{AwsError, Result};
use crate::model::Document;

#[derive(Clone)]
pub struct Ssm {
    client: Client,
    region: String,
    /// The looks of every wait for an SSM agent in this region, one call at a time.
    watched_agents: Arc<Batch<String>>,
}

/// DescribeInstanceInformation answers at most 50 instances a page.
const AGENTS_PER_CALL: usize = 50;

/// The ping status of each instance of `ids` whose agent has registered (a filter:
/// an unknown id is simply not answered).
async fn ping_statuses(client: Client, region: String, ids: Vec<String>) -> Answer<String> {
    let call = Call::new("DescribeInstanceInformation", &region).on_the_one(&ids);
    let filter = InstanceInformationStringFilter::builder()
        .key("InstanceIds")
        .set_values(Some(ids.clone()))
        .build()
        .expect("key and values are set");
    let out = client
        .describe_instance_information()
        .filters(filter)
        .max_results(AGENTS_PER_CALL as i32)
        .send()
        .await
        .context(call)?;
    Ok(Some(
        out.instance_information_list()
            .iter()
            .filter_map(|i| {
                let status = i.ping_status()?.as_str().to_string();
                Some((i.instance_id()?.to_string(), status))
            })
            .collect(),
    ))
}

/// One command's run on one instance, as GetCommandInvocation reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub status: CommandStatus,
    /// The script's exit code; -1 while it runs.
    pub exit_code: i32,
    /// Inline output: AWS keeps the first 24,000 characters here.
    pub stdout: String,
    pub stderr: String,
}

impl Invocation {
    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
    }
}

/// A script for SSM Run Command, and how long it may run.
#[derive(Debug, Clone)]
pub struct ScriptCommand<'a> {
    pub document: Document,
    pub script: &'a str,
    pub execution_timeout_secs: u64,
    /// Shown in the SSM console's command history; unique per command of a bake, since
    /// it is how a command whose answer was lost is found again.
    pub comment: String,
    /// Where SSM also writes the whole output (beyond its 24,000 inline characters).
    pub output: Option<OutputDestination>,
}

impl ScriptCommand<'_> {
    /// The comment as SSM keeps it: at most 100 characters.
    pub fn comment(&self) -> String {
        self.comment.chars().take(100).collect()
    }
}

/// S3 and/or CloudWatch Logs destinations for a command's output.
#[derive(Debug, Clone, Default)]
pub struct OutputDestination {
    pub s3_bucket: Option<String>,
    pub s3_key_prefix: Option<String>,
    pub s3_region: Option<String>,
    pub cloudwatch_log_group: Option<String>,
}

/// The tier of a release's claim and record: Intelligent-Tiering keeps one of up to
/// 4 KB standard (free) and makes a larger one advanced, up to 8 KB (Systems Manager
/// User Guide, "Managing parameter tiers").
const RECORD_TIER: ParameterTier = ParameterTier::IntelligentTiering;

/// What GetCommandInvocation returns of a command's output: the first 24,000
/// characters of standard output and 8,000 of standard error (SSM API Reference,
/// GetCommandInvocation); the rest only in S3 or CloudWatch Logs.
pub const INVOCATION_STDOUT_CHARS: usize = 24_000;
pub const INVOCATION_STDERR_CHARS: usize = 8_000;

/// The largest value a record may have: an advanced parameter's 8 KB.
pub const MAX_RECORD_BYTES: usize = 8 * 1024;

impl Ssm {
    pub fn new(client: Client, region: &str) -> Self {
        let (for_agents, agents_region) = (client.clone(), region.to_string());
        Ssm {
            watched_agents: Batch::new(AGENTS_PER_CALL, move |ids| {
                ping_statuses(for_agents.clone(), agents_region.clone(), ids)
            }),
            client,
            region: region.to_string(),
        }
    }

    /// The instance's SSM agent status (`Online`, `ConnectionLost`...), None while it
    /// has not registered; from the process's next batched look in this region.
    pub async fn watched_ping_status(&self, instance_id: &str) -> Result<Option<String>> {
        self.watched_agents.get(instance_id).await
    }

    /// The call `operation` in this client's region, for its error.
    fn call(&self, operation: &'static str) -> Call<'_> {
        Call::new(operation, &self.region)
    }

    /// The value of a parameter, or None when it does not exist.
    pub async fn parameter(&self, name: &str) -> Result<Option<String>> {
        let out = self
            .client
            .get_parameter()
            .name(name)
            .send()
            .await
            .context(self.call("GetParameter").on(name))
            .or_absent()?;
        Ok(out.and_then(|out| out.parameter()?.value().map(str::to_string)))
    }

    /// A parameter's type (`String`, `StringList`, `SecureString`), from its metadata
    /// only: the value is never read. None when there is no such parameter.
    pub async fn parameter_type(&self, name: &str) -> Result<Option<String>> {
        let out = self
            .client
            .describe_parameters()
            .parameter_filters(
                aws_sdk_ssm::types::ParameterStringFilter::builder()
                    .key("Name")
                    .option("Equals")
                    .values(name)
                    .build()
                    .expect("key is set"),
            )
            .send()
            .await
            .context(self.call("DescribeParameters").on(name))?;
        Ok(out
            .parameters()
            .first()
            .and_then(|p| p.r#type())
            .map(|t| t.as_str().to_string()))
    }

    /// Creates a String parameter unless it exists: the atomic claim. Returns false
    /// when another writer got there first.
    pub async fn create_parameter(
        &self,
        name: &str,
        value: &str,
        description: &str,
    ) -> Result<bool> {
        let result = self
            .client
            .put_parameter()
            .name(name)
            .value(value)
            .description(description)
            .r#type(ParameterType::String)
            .tier(RECORD_TIER)
            .overwrite(false)
            .send()
            .await
            .context(self.call("PutParameter").on(name));
        match result {
            Ok(_) => Ok(true),
            Err(error) if error.aws_code() == Some("ParameterAlreadyExists") => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Writes a new value (a new version in the parameter's history).
    pub async fn overwrite_parameter(&self, name: &str, value: &str) -> Result<()> {
        self.client
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::String)
            .tier(RECORD_TIER)
            .overwrite(true)
            .send()
            .await
            .context(self.call("PutParameter").on(name))?;
        Ok(())
    }

    /// Deletes a parameter; one that is already gone counts as deleted.
    pub async fn delete_parameter(&self, name: &str) -> Result<()> {
        self.client
            .delete_parameter()
            .name(name)
            .send()
            .await
            .context(self.call("DeleteParameter").on(name))
            .or_gone()
    }

    /// The parameters below `path`: name and value.
    pub async fn parameters_under(&self, path: &str) -> Result<Vec<(String, String)>> {
        let mut found = Vec::new();
        let mut pages = self
            .client
            .get_parameters_by_path()
            .path(path)
            .recursive(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.context(self.call("GetParametersByPath").on(path))?;
            found.extend(
                page.parameters()
                    .iter()
                    .filter_map(|p| Some((p.name()?.to_string(), p.value()?.to_string()))),
            );
        }
        Ok(found)
    }

    /// Points a parameter of data type `aws:ec2:image` at an image (a new version in
    /// its history); EC2 checks that the image exists. Returns the previous value.
    pub async fn put_image_parameter(
        &self,
        name: &str,
        image_id: &str,
        description: &str,
    ) -> Result<Option<String>> {
        let previous = self.parameter(name).await?;
        self.point_image_parameter(name, image_id, description)
            .await?;
        Ok(previous)
    }

    /// [`Ssm::put_image_parameter`] without reading the value it replaces.
    pub async fn point_image_parameter(
        &self,
        name: &str,
        image_id: &str,
        description: &str,
    ) -> Result<()> {
        self.client
            .put_parameter()
            .name(name)
            .value(image_id)
            .description(description)
            .r#type(ParameterType::String)
            .data_type("aws:ec2:image")
            .overwrite(true)
            .send()
            .await
            .context(self.call("PutParameter").on(name))?;
        Ok(())
    }

    /// Sends a script to one instance; returns the command id. SendCommand has no
    /// idempotency token, so the SDK does not retry it (a retry after a lost answer would
    /// run the step twice): the caller looks for the command by its comment first
    /// ([`Ssm::command_commented`]) and sends again only when it is not there.
    pub async fn send_script(
        &self,
        instance_id: &str,
        command: &ScriptCommand<'_>,
    ) -> Result<String> {
        let request = self
            .client
            .send_command()
            .document_name(command.document.name())
            .instance_ids(instance_id)
            .parameters("commands", vec![command.script.to_string()])
            .parameters(
                "executionTimeout",
                vec![command.execution_timeout_secs.to_string()],
            )
            .timeout_seconds(600)
            .comment(command.comment());
        let request = match &command.output {
            None => request,
            Some(output) => request
                .set_output_s3_bucket_name(output.s3_bucket.clone())
                .set_output_s3_key_prefix(output.s3_key_prefix.clone())
                .set_output_s3_region(output.s3_region.clone())
                .set_cloud_watch_output_config(output.cloudwatch_log_group.as_ref().map(|group| {
                    aws_sdk_ssm::types::CloudWatchOutputConfig::builder()
                        .cloud_watch_log_group_name(group)
                        .cloud_watch_output_enabled(true)
                        .build()
                })),
        };
        let out = request
            .customize()
            .config_override(
                aws_sdk_ssm::Config::builder()
                    .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .context(self.call("SendCommand").on(instance_id))?;
        out.command()
            .and_then(|c| c.command_id())
            .map(str::to_string)
            .ok_or_else(|| {
                AwsError {
                    operation: "SendCommand",
                    region: self.region.clone(),
                    resource: Some(instance_id.to_string()),
                    code: None,
                    message: "the answer carried no command id".into(),
                    request_id: None,
                    transient: false,
                    source: None,
                }
                .into()
            })
    }

    /// The id of a command sent to the instance with `comment`, if one was.
    pub async fn command_commented(
        &self,
        instance_id: &str,
        comment: &str,
    ) -> Result<Option<String>> {
        let mut pages = self
            .client
            .list_commands()
            .instance_id(instance_id)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.context(self.call("ListCommands").on(instance_id))?;
            if let Some(command) = page
                .commands()
                .iter()
                .find(|c| c.comment() == Some(comment))
            {
                return Ok(command.command_id().map(str::to_string));
            }
        }
        Ok(None)
    }

    /// The command's run on the instance, or None while SSM has not created it yet.
    pub async fn invocation(
        &self,
        command_id: &str,
        instance_id: &str,
    ) -> Result<Option<Invocation>> {
        let out = self
            .client
            .get_command_invocation()
            .command_id(command_id)
            .instance_id(instance_id)
            .send()
            .await
            .context(self.call("GetCommandInvocation").on(command_id))
            .or_absent()?;
        Ok(out.map(|out| Invocation {
            status: CommandStatus::parse(out.status().map(|s| s.as_str()).unwrap_or_default()),
            exit_code: out.response_code(),
            stdout: out
                .standard_output_content()
                .unwrap_or_default()
                .to_string(),
            stderr: out.standard_error_content().unwrap_or_default().to_string(),
        }))
    }

    pub async fn cancel_command(&self, command_id: &str, instance_id: &str) -> Result<()> {
        self.client
            .cancel_command()
            .command_id(command_id)
            .instance_ids(instance_id)
            .send()
            .await
            .context(self.call("CancelCommand").on(command_id))?;
        Ok(())
    }
}
