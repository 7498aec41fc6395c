//! The SSM parameter `/bakery/<role>/releases/<version>`: the claim while a bake runs
//! (created with overwrite disabled, so two bakes can never make one release), and the
//! record of the release once it is made. One type, [`ReleaseRecord`], is the only
//! way bakery writes or reads it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aws::Aws;
use crate::error::Result;
use crate::model::Release;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum RecordState {
    /// A bake holds the release and is making it.
    Baking,
    /// The release exists; `images` says where.
    Released,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    #[serde(default)]
    pub bake_id: String,
    /// `role@version`.
    #[serde(default)]
    pub release: String,
    pub state: RecordState,
    #[serde(default)]
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Where a baking bake runs and until when: `bakery cleanup` tells a dead bake
    /// from a running one by these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// Region -> image id, once released.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
}

impl ReleaseRecord {
    /// The record as stored, or None when the parameter holds something else.
    pub fn parse(text: &str) -> Option<ReleaseRecord> {
        serde_json::from_str(text).ok()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("records serialize")
    }

    /// The same bake's record of its finished release, with its images by region.
    pub fn released(&self, images: BTreeMap<String, String>) -> ReleaseRecord {
        ReleaseRecord {
            state: RecordState::Released,
            host: None,
            pid: None,
            deadline: None,
            images,
            ..self.clone()
        }
    }

    /// "bake <id> (baking, since <time>)", for messages about who holds a release.
    pub fn holder(&self) -> String {
        format!(
            "bake {} ({}, since {})",
            self.bake_id, self.state, self.started_at
        )
    }
}

/// This machine's name, as a claim records it.
pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// What the claim call found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claimed {
    /// The parameter is ours now.
    Ours,
    /// Another writer got there first; its record, when it is one.
    Held(Option<ReleaseRecord>),
}

/// Creates the claim parameter unless it exists. A claim that exists and names this
/// bake is this bake's: its PutParameter took effect and the answer was lost (the SDK's
/// retry then met ParameterAlreadyExists).
pub async fn claim(aws: &Aws, release: &Release, record: &ReleaseRecord) -> Result<Claimed> {
    let name = release.claim_parameter();
    let description = format!("bakery: claim of {release}");
    if aws
        .ssm
        .create_parameter(&name, &record.to_json(), &description)
        .await?
    {
        return Ok(Claimed::Ours);
    }
    Ok(match read(aws, release).await? {
        Some(holder) if holder.bake_id == record.bake_id => Claimed::Ours,
        holder => Claimed::Held(holder),
    })
}

/// The release's record in the region, if there is one.
pub async fn read(aws: &Aws, release: &Release) -> Result<Option<ReleaseRecord>> {
    let text = aws.ssm.parameter(&release.claim_parameter()).await?;
    Ok(text.as_deref().and_then(ReleaseRecord::parse))
}

/// Writes the record in every region it lists an image in: a release's record lives
/// wherever the release does.
pub async fn write_everywhere(aws: &Aws, release: &Release, record: &ReleaseRecord) -> Result<()> {
    let name = release.claim_parameter();
    for region in record.images.keys() {
        aws.in_region(region)
            .ssm
            .overwrite_parameter(&name, &record.to_json())
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim_record() -> ReleaseRecord {
        ReleaseRecord {
            bake_id: "20261122t022438-3f9a1c".into(),
            release: "base@2.4.0".into(),
            state: RecordState::Baking,
            started_at: "2026-11-22T02:24:38Z".into(),
            created_by: Some("arn:aws:iam::123456789012:user/ci".into()),
            host: Some("jenkins-7".into()),
            pid: Some(4242),
            deadline: Some("2026-11-22T04:24:38Z".into()),
            images: BTreeMap::new(),
        }
    }

    #[test]
    fn a_claim_reads_back_as_written_and_becomes_the_record_of_its_release() {
        let claim = claim_record();
        assert_eq!(ReleaseRecord::parse(&claim.to_json()), Some(claim.clone()));
        let json: serde_json::Value = serde_json::from_str(&claim.to_json()).unwrap();
        assert_eq!(json["state"], "baking");
        assert_eq!(json["pid"], 4242);
        let released = claim.released(BTreeMap::from([(
            "eu-west-1".to_string(),
            "ami-1".to_string(),
        )]));
        let json: serde_json::Value = serde_json::from_str(&released.to_json()).unwrap();
        assert_eq!(json["state"], "released");
        assert_eq!(json["images"]["eu-west-1"], "ami-1");
        assert!(json.get("pid").is_none(), "a release is not a running bake");
        assert_eq!(
            claim.holder(),
            "bake 20261122t022438-3f9a1c (baking, since 2026-11-22T02:24:38Z)"
        );
    }

    #[test]
    fn records_written_before_this_type_still_read() {
        let older = r#"{"bake_id":"b-1","release":"base@1.0.0","state":"released",
            "started_at":"2026-11-01T00:00:00Z","images":{"eu-west-1":"ami-1"}}"#;
        let record = ReleaseRecord::parse(older).unwrap();
        assert_eq!(record.state, RecordState::Released);
        assert_eq!(record.images["eu-west-1"], "ami-1");
        assert_eq!(ReleaseRecord::parse("not json"), None);
        let by_hand =
            r#"{"bake_id": "b-2", "state": "baking", "started_at": "2026-11-22T01:00:00Z"}"#;
        assert_eq!(
            ReleaseRecord::parse(by_hand).unwrap().holder(),
            "bake b-2 (baking, since 2026-11-22T01:00:00Z)"
        );
    }
}
