//! The SSM parameter `/bakery/<role>/releases/<version>`: the claim while a bake runs
//! (created with overwrite disabled, so two bakes can never make one release), and the
//! record of the release once it is made. One type, [`ReleaseRecord`], is the only
//! way bakery writes or reads it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::lock::LockNote;
use crate::aws::Aws;
use crate::config::vars::KeptVars;
use crate::error::Result;
use crate::model::inputs::ReleaseInputs;
use crate::model::release::claims_path;
use crate::model::time::rfc3339;
use crate::model::{Arch, GateState, Release, RoleName};

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
    /// The lock the baking bake holds while it runs ([`super::lock`]): free once it
    /// has ended, as `bakery cleanup` on the same host and boot can tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockNote>,
    /// After this the builder has powered itself off, whatever happened to the bake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// A running bake renews this; once it has passed, the bake is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<String>,
    /// Region -> image id, once released: the x86_64 images, or those of the release's
    /// only architecture.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
    /// Architecture -> region -> image id, for every architecture of the release;
    /// absent from releases recorded before releases had several (`images` is all).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub architectures: BTreeMap<Arch, BTreeMap<String, String>>,
    /// The values of the recipe's variables the release was baked with.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
    /// Those of `vars` given with `--var`, each with the value the environment or the
    /// recipe would have given it then: a rebuild keeps them while that stays so.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<String, Option<String>>,
    /// What the release gate said, last; absent on releases made before the gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<TestRecord>,
    /// What the release is made of (`bakery:inputs` is its fingerprint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<ReleaseInputs>,
    /// A `bakery test` running against the release: its run id and lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retest: Option<RunLease>,
    /// A `bakery distribute` copying the release: its run id, lease and lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distributing: Option<RunLease>,
}

/// The release gate's outcome, as the record keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRecord {
    pub state: GateState,
    /// The recipe's tests that ran (or were skipped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<String>,
    /// When the gate ended.
    pub at: String,
    /// The bake or `bakery test` run that said so.
    pub by: String,
    /// The test (or firstboot phase) that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// A run working on a released release — a `bakery test`, a `bakery distribute`:
/// `bakery cleanup` spares what it makes while its lease runs and its lock is held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLease {
    pub run: String,
    pub lease_until: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockNote>,
}

impl RunLease {
    /// Run `run`, holding `lock`, its lease running until `until`.
    pub fn new(run: &str, until: SystemTime, lock: Option<&LockNote>) -> RunLease {
        RunLease {
            run: run.to_string(),
            lease_until: rfc3339(until),
            lock: lock.cloned(),
        }
    }
}

impl ReleaseRecord {
    /// What the gate says of the release: records made before the gate had none.
    pub fn gate(&self) -> GateState {
        self.tests.as_ref().map_or(GateState::None, |t| t.state)
    }
    /// The record as stored, or None when the parameter holds something else.
    pub fn parse(text: &str) -> Option<ReleaseRecord> {
        serde_json::from_str(text).ok()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("records serialize")
    }

    /// The largest this claim's record can grow to: released with an image of each
    /// architecture in each region, the gate's outcome naming `tests` (the last as the
    /// one that failed), its inputs, and the leases of a `bakery test` and a `bakery
    /// distribute` on it.
    pub fn fullest(
        &self,
        architectures: &[Arch],
        regions: &[String],
        tests: &[String],
        inputs: ReleaseInputs,
    ) -> ReleaseRecord {
        const IMAGE: &str = "ami-0123456789abcdef0";
        let images = regions.iter().map(|r| (r.clone(), IMAGE.to_string()));
        let images: BTreeMap<String, String> = images.collect();
        let by_arch = architectures.iter().map(|a| (*a, images.clone())).collect();
        let now = SystemTime::now();
        ReleaseRecord {
            inputs: Some(inputs),
            tests: Some(TestRecord {
                state: GateState::Passed,
                tests: tests.to_vec(),
                at: rfc3339(now),
                by: self.bake_id.clone(),
                failed: tests.last().cloned(),
            }),
            retest: Some(RunLease::new(&self.bake_id, now, self.lock.as_ref())),
            distributing: Some(RunLease::new(&self.bake_id, now, self.lock.as_ref())),
            ..self.released(by_arch, now)
        }
    }

    /// The same bake's record of its finished release, with its images by
    /// architecture and region. The bake still runs a while (its builders terminate
    /// beside the record): its lock and a last lease, to `until`, say so to cleanup.
    pub fn released(
        &self,
        architectures: BTreeMap<Arch, BTreeMap<String, String>>,
        until: SystemTime,
    ) -> ReleaseRecord {
        let plain = architectures
            .get(&Arch::X86_64)
            .or(architectures.values().next());
        ReleaseRecord {
            state: RecordState::Released,
            deadline: None,
            lease_until: Some(rfc3339(until)),
            images: plain.cloned().unwrap_or_default(),
            architectures,
            ..self.clone()
        }
    }

    /// Every image of the release the record names, of every architecture.
    pub fn image_ids(&self) -> std::collections::BTreeSet<&String> {
        self.images
            .values()
            .chain(self.architectures.values().flat_map(BTreeMap::values))
            .collect()
    }

    /// The regions the release is recorded in.
    pub fn regions(&self) -> std::collections::BTreeSet<&String> {
        self.images
            .keys()
            .chain(self.architectures.values().flat_map(BTreeMap::keys))
            .collect()
    }

    /// The same claim, its lease running until `until`.
    pub fn leased_until(&self, until: SystemTime) -> ReleaseRecord {
        ReleaseRecord {
            lease_until: Some(rfc3339(until)),
            ..self.clone()
        }
    }

    /// "bake `<id>` (baking, since `<time>`)", for messages about who holds a release.
    pub fn holder(&self) -> String {
        format!(
            "bake {} ({}, since {})",
            self.bake_id, self.state, self.started_at
        )
    }
}

/// What the claim call found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claimed {
    /// The parameter is ours now.
    Ours,
    /// Another writer got there first; its record, when it is one.
    Held(Option<Box<ReleaseRecord>>),
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
        holder => Claimed::Held(holder.map(Box::new)),
    })
}

/// The release's record in the region, if there is one.
pub async fn read(aws: &Aws, release: &Release) -> Result<Option<ReleaseRecord>> {
    let text = aws.ssm.parameter(&release.claim_parameter()).await?;
    Ok(text.as_deref().and_then(ReleaseRecord::parse))
}

/// The variables the role's newest release was given with `--var`, for a rebuild to
/// keep; None when it was given none (or the role has no release).
pub async fn kept_vars(aws: &Aws, role: &RoleName) -> Result<Option<KeptVars>> {
    let records = aws.ssm.parameters_under(&claims_path(role)).await?;
    Ok(newest_kept(records).remove(role.as_str()))
}

/// [`kept_vars`] of every role with releases in the region, in one listing (`bake --all`
/// over many roles pays one call, not one per role).
pub async fn kept_vars_of_every_role(aws: &Aws) -> Result<BTreeMap<String, KeptVars>> {
    let records = aws.ssm.parameters_under("/bakery/").await?;
    Ok(newest_kept(records))
}

/// By role: what the newest released record of each keeps, when it keeps anything.
fn newest_kept(parameters: Vec<(String, String)>) -> BTreeMap<String, KeptVars> {
    let mut newest: BTreeMap<String, (semver::Version, ReleaseRecord)> = BTreeMap::new();
    for (name, text) in parameters {
        let (Some(release), Some(record)) = (
            Release::of_claim_parameter(&name),
            ReleaseRecord::parse(&text),
        ) else {
            continue;
        };
        if record.state != RecordState::Released {
            continue;
        }
        let role = release.role.to_string();
        if newest.get(&role).is_none_or(|(v, _)| *v < release.version) {
            newest.insert(role, (release.version, record));
        }
    }
    newest
        .into_iter()
        .filter(|(_, (_, record))| !record.overrides.is_empty())
        .map(|(role, (_, record))| {
            let kept = KeptVars {
                vars: record
                    .vars
                    .iter()
                    .filter(|(name, _)| record.overrides.contains_key(*name))
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect(),
                otherwise: record.overrides.clone(),
                release: record.release,
            };
            (role, kept)
        })
        .collect()
}

/// Renews a running bake's lease on its claim (in the build region).
pub async fn renew(aws: &Aws, release: &Release, record: &ReleaseRecord) -> Result<()> {
    aws.ssm
        .overwrite_parameter(&release.claim_parameter(), &record.to_json())
        .await
}

/// Writes the record in every region it lists an image in: a release's record lives
/// wherever the release does.
pub async fn write_everywhere(aws: &Aws, release: &Release, record: &ReleaseRecord) -> Result<()> {
    let name = release.claim_parameter();
    for region in record.regions() {
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
            lock: Some(LockNote {
                host: "jenkins-7".into(),
                boot_id: "b00t".into(),
                path: "/tmp/bakery-run-20261122t022438-3f9a1c.lock".into(),
                dev: 64769,
                ino: 4242,
            }),
            deadline: Some("2026-11-22T04:24:38Z".into()),
            lease_until: Some("2026-11-22T02:29:38Z".into()),
            images: BTreeMap::new(),
            architectures: BTreeMap::new(),
            vars: BTreeMap::from([("APP_VERSION".into(), "7.1.0".into())]),
            overrides: BTreeMap::from([("APP_VERSION".into(), Some("7.0.0".into()))]),
            tests: None,
            inputs: None,
            retest: None,
            distributing: None,
        }
    }

    #[test]
    fn the_fullest_record_of_every_region_two_architectures_and_the_most_variables_fits() {
        let mut claim = claim_record();
        claim.vars = BTreeMap::from([("BIG".into(), "x".repeat(2040))]);
        let regions: Vec<String> = (0..34).map(|n| format!("xx-region-{n}")).collect();
        let tests: Vec<String> = (0..10)
            .map(|n| format!("a-test-named-at-length-{n}"))
            .collect();
        let inputs = ReleaseInputs {
            fingerprint: format!("sha256:{}", "f".repeat(64)),
            inputs: crate::model::inputs::Inputs {
                recipe_digest: format!("sha256:{}", "r".repeat(64)),
                settings: format!("sha256:{}", "s".repeat(64)),
                agent: format!("sha256:{}", "a".repeat(64)),
            },
            base_image: "ami-0123456789abcdef0".into(),
        };
        let fullest = claim.fullest(&Arch::ALL, &regions, &tests, inputs);
        let bytes = fullest.to_json().len();
        assert!(bytes > 4096, "past a standard parameter: {bytes}");
        assert!(bytes <= crate::aws::ssm::MAX_RECORD_BYTES, "{bytes}");
    }

    #[test]
    fn a_claim_reads_back_as_written_and_becomes_the_record_of_its_release() {
        let claim = claim_record();
        assert_eq!(ReleaseRecord::parse(&claim.to_json()), Some(claim.clone()));
        let json: serde_json::Value = serde_json::from_str(&claim.to_json()).unwrap();
        assert_eq!(json["state"], "baking");
        assert_eq!(json["lock"]["ino"], 4242);
        let in_region = |id: &str| BTreeMap::from([("eu-west-1".to_string(), id.to_string())]);
        let released = claim.released(
            BTreeMap::from([
                (Arch::Arm64, in_region("ami-2")),
                (Arch::X86_64, in_region("ami-1")),
            ]),
            SystemTime::UNIX_EPOCH,
        );
        let json: serde_json::Value = serde_json::from_str(&released.to_json()).unwrap();
        assert_eq!(json["state"], "released");
        assert_eq!(
            json["images"]["eu-west-1"], "ami-1",
            "`images` is the x86_64 one, as readers of earlier records expect"
        );
        assert_eq!(json["architectures"]["arm64"]["eu-west-1"], "ami-2");
        assert_eq!(released.image_ids().len(), 2);
        assert!(json.get("deadline").is_none(), "a release is not a bake");
        assert_eq!(
            json["lease_until"], "1970-01-01T00:00:00Z",
            "its bake's last lease"
        );
        assert_eq!(json["lock"], serde_json::to_value(&claim.lock).unwrap());
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
        // Claims named a pid until the lock took its place: the lease judges them.
        let with_pid = r#"{"bake_id":"b-3","state":"baking","started_at":"2026-11-22T01:00:00Z",
            "host":"ci-1","pid":4242,"lease_until":"2026-11-22T01:05:00Z"}"#;
        assert_eq!(ReleaseRecord::parse(with_pid).unwrap().lock, None);
        let by_hand =
            r#"{"bake_id": "b-2", "state": "baking", "started_at": "2026-11-22T01:00:00Z"}"#;
        assert_eq!(
            ReleaseRecord::parse(by_hand).unwrap().holder(),
            "bake b-2 (baking, since 2026-11-22T01:00:00Z)"
        );
    }
}
