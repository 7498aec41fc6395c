//! KMS: whether the accounts a release is shared with can use the key of its snapshots.

use aws_sdk_kms::Client;

use super::error::{Call, Context};
use crate::error::Result;

#[derive(Clone)]
pub struct Kms {
    client: Client,
    region: String,
}

/// A key as sharing needs to know it.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub arn: String,
    /// AWS managed keys (such as `aws/ebs`) cannot be used by other accounts.
    pub aws_managed: bool,
}

impl Kms {
    pub fn new(client: Client, region: &str) -> Self {
        Kms {
            client,
            region: region.to_string(),
        }
    }

    pub async fn describe_key(&self, key_id: &str) -> Result<KeyInfo> {
        let out = self
            .client
            .describe_key()
            .key_id(key_id)
            .send()
            .await
            .context(Call::new("DescribeKey", &self.region).on(key_id))?;
        let metadata = out.key_metadata();
        Ok(KeyInfo {
            arn: metadata.and_then(|m| m.arn()).unwrap_or(key_id).to_string(),
            aws_managed: metadata
                .and_then(|m| m.key_manager())
                .is_some_and(|m| m.as_str() == "AWS"),
        })
    }

    /// The key's `default` policy document.
    pub async fn key_policy(&self, key_id: &str) -> Result<String> {
        let out = self
            .client
            .get_key_policy()
            .key_id(key_id)
            .policy_name("default")
            .send()
            .await
            .context(Call::new("GetKeyPolicy", &self.region).on(key_id))?;
        Ok(out.policy().unwrap_or_default().to_string())
    }
}
