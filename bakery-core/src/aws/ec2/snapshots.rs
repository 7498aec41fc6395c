//! Snapshots: their key, finding them by tag, deleting them.

use super::{tag_filter, Ec2};
use crate::aws::error::Context;
use crate::error::Result;

impl Ec2 {
    /// Whether the snapshot is encrypted, and with which key (None: not encrypted).
    pub async fn snapshot_key(&self, snapshot_id: &str) -> Result<Option<String>> {
        let out = self
            .client
            .describe_snapshots()
            .snapshot_ids(snapshot_id)
            .send()
            .await
            .context(self.call("DescribeSnapshots").on(snapshot_id))?;
        let Some(snapshot) = out.snapshots().first() else {
            return Ok(None);
        };
        if !snapshot.encrypted().unwrap_or(false) {
            return Ok(None);
        }
        // Encrypted without a key id: the account's default, the AWS managed aws/ebs.
        Ok(Some(
            snapshot.kms_key_id().unwrap_or("alias/aws/ebs").to_string(),
        ))
    }

    /// Snapshots of this account that carry `key=value`.
    pub async fn snapshots_tagged(&self, key: &str, value: &str) -> Result<Vec<String>> {
        let out = self
            .client
            .describe_snapshots()
            .owner_ids("self")
            .filters(tag_filter(key, value))
            .send()
            .await
            .context(self.call("DescribeSnapshots").on(value))?;
        Ok(out
            .snapshots()
            .iter()
            .filter_map(|s| s.snapshot_id().map(str::to_string))
            .collect())
    }

    pub async fn delete_snapshot(&self, snapshot_id: &str) -> Result<()> {
        self.client
            .delete_snapshot()
            .snapshot_id(snapshot_id)
            .send()
            .await
            .context(self.call("DeleteSnapshot").on(snapshot_id))?;
        Ok(())
    }
}
