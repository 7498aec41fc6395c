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
        Ok(self
            .snapshots_tagged_for(key, value)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    /// Snapshots of this account that carry `key=value`, each with the image it was
    /// made for when its description says (EC2 describes the snapshots it makes for
    /// an image "Created by CreateImage(i-…) for ami-…", and copies "Copied for
    /// DestinationAmi ami-… from SourceAmi ami-…").
    pub async fn snapshots_tagged_for(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<(String, Option<String>)>> {
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
            .filter_map(|s| {
                let image = s.description().and_then(image_made_for);
                Some((s.snapshot_id()?.to_string(), image))
            })
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

/// The image a snapshot's description says it was made for: the one after ` for `
/// (CreateImage) or `DestinationAmi ` (CopyImage).
fn image_made_for(description: &str) -> Option<String> {
    let rest = description
        .split_once("DestinationAmi ")
        .or_else(|| description.split_once(") for "))?
        .1;
    let id: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    id.starts_with("ami-").then_some(id)
}

#[cfg(test)]
mod tests {
    use super::image_made_for;

    #[test]
    fn a_snapshot_description_names_the_image_it_was_made_for() {
        assert_eq!(
            image_made_for("Created by CreateImage(i-0abc) for ami-0123456789abcdef0").as_deref(),
            Some("ami-0123456789abcdef0")
        );
        assert_eq!(
            image_made_for("Copied for DestinationAmi ami-0aa from SourceAmi ami-0bb for SourceSnapshot snap-1. Task created on 1,700,000,000.").as_deref(),
            Some("ami-0aa")
        );
        assert_eq!(image_made_for("nightly backup"), None);
    }
}
