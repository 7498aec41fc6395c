//! Sharing a release: launch permissions on its images for accounts, organizations
//! and OUs; create-volume permissions on its snapshots for accounts; and a check that
//! those accounts can use the KMS key the snapshots are encrypted with, since an
//! encrypted image they cannot decrypt is shared in name only.

use serde::Serialize;
use serde_json::Value;

use super::catalog::release_images;
use crate::aws::Aws;
use crate::error::{Error, Result};
use crate::model::{PermissionChange, Release, Sharing};

/// What sharing (or unsharing) did in one region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ShareStatus {
    /// Launch permissions on its images (and for accounts, create-volume permissions on
    /// their snapshots) were granted.
    Shared,
    /// Those permissions were revoked.
    Unshared,
    /// No image of the release in the region.
    Absent,
    /// Granting or revoking failed; the outcome's `error` says why.
    Failed,
}

impl ShareStatus {
    /// The status as the report gives it: `shared`, `unshared`, `absent`, `failed`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One region's share or unshare: what it changed, and who still cannot use the images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShareOutcome {
    /// The region.
    pub region: String,
    /// How the region ended.
    pub status: ShareStatus,
    /// The release's images in the region; empty when it has none or the region failed.
    pub image_ids: Vec<String>,
    /// The snapshots behind those images.
    pub snapshot_ids: Vec<String>,
    /// Accounts that cannot use the snapshots' KMS key, and why.
    pub key_problems: Vec<String>,
    /// Why the region failed; None unless `status` is `failed`.
    pub error: Option<String>,
}

impl ShareOutcome {
    /// True when the region ended as asked, with every account able to use the image.
    pub fn complete(&self) -> bool {
        self.status != ShareStatus::Failed && self.key_problems.is_empty()
    }
}

/// The KMS actions an account needs on a snapshot's key to launch a shared AMI.
const KEY_ACTIONS: [&str; 4] = [
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:ReEncryptFrom",
];

/// Grants or revokes the release's permissions in each region, every region at once
/// (the outcomes in the order of `regions`).
pub async fn share(
    aws: &Aws,
    release: &Release,
    regions: &[String],
    with: &Sharing,
    change: PermissionChange,
) -> Vec<ShareOutcome> {
    let shares = regions.iter().map(|region| async move {
        let regional = aws.in_region(region);
        match share_in_region(&regional, release, with, change).await {
            Ok(outcome) => outcome,
            Err(error) => ShareOutcome {
                region: region.clone(),
                status: ShareStatus::Failed,
                image_ids: Vec::new(),
                snapshot_ids: Vec::new(),
                key_problems: Vec::new(),
                error: Some(error.to_string()),
            },
        }
    });
    futures_util::future::join_all(shares).await
}

async fn share_in_region(
    aws: &Aws,
    release: &Release,
    with: &Sharing,
    change: PermissionChange,
) -> Result<ShareOutcome> {
    let images = release_images(aws, release).await?;
    let mut outcome = ShareOutcome {
        region: aws.region.clone(),
        status: match change {
            _ if images.is_empty() => ShareStatus::Absent,
            PermissionChange::Grant => ShareStatus::Shared,
            PermissionChange::Revoke => ShareStatus::Unshared,
        },
        image_ids: images.iter().map(|i| i.id.clone()).collect(),
        snapshot_ids: images.iter().flat_map(|i| i.snapshot_ids.clone()).collect(),
        key_problems: Vec::new(),
        error: None,
    };
    // The snapshots of each key: a key is checked once, however many use it.
    let mut keys: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for image in &images {
        aws.ec2
            .change_launch_permission(&image.id, with, change)
            .await?;
        for snapshot in &image.snapshot_ids {
            if !with.accounts.is_empty() {
                aws.ec2
                    .change_create_volume_permission(snapshot, &with.accounts, change)
                    .await?;
            }
            if change == PermissionChange::Grant {
                if let Some(key) = aws.ec2.snapshot_key(snapshot).await? {
                    keys.entry(key).or_default().push(snapshot.clone());
                }
            }
        }
    }
    for (key, snapshots) in &keys {
        outcome
            .key_problems
            .extend(key_problems(aws, &snapshots.join(", "), key, with).await?);
    }
    Ok(outcome)
}

/// Why the grantees cannot use `key` (of `snapshot`: one id or several), one line
/// per grantee; empty when they can.
async fn key_problems(aws: &Aws, snapshot: &str, key: &str, with: &Sharing) -> Result<Vec<String>> {
    let info = aws.kms.describe_key(key).await?;
    if info.aws_managed {
        return Ok(vec![format!(
            "snapshot {snapshot} is encrypted with the AWS managed key {} ({key}), which no \
             other account can use: bake or copy the release with a customer managed key \
             (`kms_keys` in bakery.toml, or --kms-key) to share it",
            info.arn
        )]);
    }
    // GetKeyPolicy takes a key id or ARN, never an alias (KMS API Reference,
    // GetKeyPolicy): the ARN DescribeKey resolved.
    let policy = aws.kms.key_policy(&info.arn).await?;
    let mut problems = Vec::new();
    for account in &with.accounts {
        if let Some(missing) = missing_actions(&policy, Some(account)) {
            problems.push(format!(
                "account {account} cannot use key {} of snapshot {snapshot}: its key policy does \
                 not allow it {missing}; add a statement allowing arn:aws:iam::{account}:root \
                 kms:Decrypt, kms:DescribeKey, kms:CreateGrant and kms:ReEncrypt*",
                info.arn
            ));
        }
    }
    if !with.organizations.is_empty() || !with.organizational_units.is_empty() {
        if let Some(missing) = missing_actions(&policy, None) {
            problems.push(format!(
                "the organizations and OUs shared with cannot use key {} of snapshot {snapshot}: \
                 its key policy has no statement for principal `*` conditioned on \
                 aws:PrincipalOrgID / aws:PrincipalOrgPaths allowing {missing}",
                info.arn
            ));
        }
    }
    Ok(problems)
}

/// The key actions `account` (None: an organization-wide `*` principal) is not
/// allowed by the policy, as text; None when every one is allowed.
pub fn missing_actions(policy: &str, account: Option<&str>) -> Option<String> {
    let policy: Value = serde_json::from_str(policy).unwrap_or(Value::Null);
    let statements = match &policy["Statement"] {
        Value::Array(items) => items.clone(),
        single @ Value::Object(_) => vec![single.clone()],
        _ => Vec::new(),
    };
    let allowed: Vec<&Value> = statements
        .iter()
        .filter(|s| s["Effect"] == "Allow" && names_principal(&s["Principal"], account))
        .collect();
    let missing: Vec<&str> = KEY_ACTIONS
        .into_iter()
        .filter(|action| !allowed.iter().any(|s| allows_action(&s["Action"], action)))
        .collect();
    if missing.is_empty() {
        None
    } else {
        Some(missing.join(", "))
    }
}

fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(text) => vec![text.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn names_principal(principal: &Value, account: Option<&str>) -> bool {
    let names = match principal {
        Value::String(text) => vec![text.as_str()],
        Value::Object(map) => map.get("AWS").map(strings).unwrap_or_default(),
        _ => Vec::new(),
    };
    names.iter().any(|name| match account {
        Some(account) => {
            *name == account
                || *name == format!("arn:aws:iam::{account}:root")
                || name.starts_with(&format!("arn:aws:iam::{account}:"))
        }
        None => *name == "*",
    })
}

fn allows_action(actions: &Value, wanted: &str) -> bool {
    strings(actions).iter().any(|action| {
        let action = action.to_ascii_lowercase();
        let wanted = wanted.to_ascii_lowercase();
        action == "*"
            || action == wanted
            || action
                .strip_suffix('*')
                .is_some_and(|prefix| wanted.starts_with(prefix))
    })
}

/// Refuses an empty list of grantees.
pub fn check_grantees(with: &Sharing) -> Result<()> {
    if with.is_empty() {
        return Err(Error::input("nothing to share with").with_hint(
            "give --account, --organization or --ou, or set `share` in the bakery.toml \
             environment",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"{
      "Version": "2012-10-17",
      "Statement": [
        {"Sid": "owner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "fleet", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111122223333:root"]},
         "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant", "kms:ReEncrypt*"], "Resource": "*"},
        {"Sid": "half", "Effect": "Allow", "Principal": {"AWS": "444455556666"},
         "Action": ["kms:Decrypt"], "Resource": "*"}
      ]
    }"#;

    #[test]
    fn an_account_the_key_policy_allows_can_use_the_key() {
        assert_eq!(missing_actions(POLICY, Some("111122223333")), None);
        assert_eq!(missing_actions(POLICY, Some("123456789012")), None);
    }

    #[test]
    fn a_missing_or_partial_grant_names_what_is_missing() {
        assert_eq!(
            missing_actions(POLICY, Some("444455556666")).as_deref(),
            Some("kms:DescribeKey, kms:CreateGrant, kms:ReEncryptFrom")
        );
        assert!(missing_actions(POLICY, Some("999999999999")).is_some());
        assert!(
            missing_actions(POLICY, None).is_some(),
            "no org-wide statement"
        );
        let org = r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}}"#;
        assert_eq!(missing_actions(org, None), None);
    }
}
