//! The result of a bake, and the manifest file derived from it.

use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{Error, ErrorKind};
use crate::model::time::rfc3339;
use crate::model::{Resource, Step};
use crate::release::distribute::RegionOutcome;
use crate::release::sharing::ShareOutcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum BakeStatus {
    Succeeded,
    Failed,
    Interrupted,
}

impl BakeStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageRecord {
    pub region: String,
    pub image_id: String,
    pub name: String,
    pub snapshot_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    pub name: Step,
    pub seconds: f64,
    pub status: BakeStatus,
}

/// Everything a caller needs to know about a finished bake.
#[derive(Debug, Clone, Serialize)]
pub struct BakeReport {
    pub status: BakeStatus,
    /// `--dry-run`: checks only, nothing created.
    pub dry_run: bool,
    pub role: String,
    pub version: String,
    pub bake_id: String,
    pub region: String,
    pub builder_instance_id: Option<String>,
    pub base_image: Option<String>,
    /// `role@version` of the base release, for layered roles.
    pub base_release: Option<String>,
    pub images: Vec<ImageRecord>,
    /// What distribution did in each other region.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionOutcome>,
    pub steps: Vec<StepRecord>,
    pub started_at: String,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What to do about the error, when bakery can tell (also at the end of `error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<Step>,
    /// Channels now pointing at the new release.
    pub channels: Vec<String>,
    /// Resources cleanup could not remove: they need a person (or `bakery cleanup`).
    pub leaked: Vec<Resource>,
    /// Resources left in place on purpose (`--keep-on-failure`).
    pub kept: Vec<Resource>,
    /// Where the release was shared, region by region.
    pub shared: Vec<ShareOutcome>,
}

impl BakeReport {
    /// A report for a bake that never started, because its input was refused.
    pub fn refused(role: Option<&str>, version: &str, error: &Error) -> BakeReport {
        BakeReport {
            status: BakeStatus::Failed,
            dry_run: false,
            shared: Vec::new(),
            role: role.unwrap_or_default().to_string(),
            version: version.to_string(),
            bake_id: String::new(),
            region: String::new(),
            builder_instance_id: None,
            base_image: None,
            base_release: None,
            images: Vec::new(),
            regions: Vec::new(),
            steps: Vec::new(),
            started_at: rfc3339(std::time::SystemTime::now()),
            seconds: 0.0,
            error: Some(error.to_string()),
            hint: error.hint().map(str::to_string),
            error_kind: Some(error.kind()),
            failed_step: Some(Step::Plan),
            channels: Vec::new(),
            leaked: Vec::new(),
            kept: Vec::new(),
        }
    }

    /// A manifest in the shape of Packer's manifest post-processor (`builds[]` with
    /// `artifact_id` = `region:ami-id[,region:ami-id]`, `last_run_uuid`), so existing
    /// Jenkins pipelines can read it, plus bakery's own fields under `bakery`.
    /// Like Packer, a bake appends its build to those already in the file.
    pub fn manifest(&self, existing: Option<Value>) -> Value {
        let artifact_id = self
            .images
            .iter()
            .map(|i| format!("{}:{}", i.region, i.image_id))
            .collect::<Vec<_>>()
            .join(",");
        let build_time = humantime::parse_rfc3339(&self.started_at)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let build = json!({
            "name": self.role,
            "builder_type": "bakery",
            "build_time": build_time,
            "files": null,
            "artifact_id": artifact_id,
            "packer_run_uuid": self.bake_id,
            "custom_data": {
                "role": self.role,
                "version": self.version,
                "status": self.status,
            },
            "bakery": self,
        });
        let mut builds = existing
            .as_ref()
            .and_then(|m| m.get("builds"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        builds.push(build);
        json!({ "builds": builds, "last_run_uuid": self.bake_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: BakeStatus) -> BakeReport {
        let mut report = BakeReport::refused(Some("base"), "1.0.0", &Error::input("x"));
        report.status = status;
        report.error_kind = None;
        report.bake_id = "b-1".into();
        report.started_at = "2026-11-22T02:24:38Z".into();
        report.images = vec![
            ImageRecord {
                region: "eu-west-1".into(),
                image_id: "ami-1".into(),
                name: "n".into(),
                snapshot_ids: vec![],
            },
            ImageRecord {
                region: "us-east-1".into(),
                image_id: "ami-2".into(),
                name: "n".into(),
                snapshot_ids: vec![],
            },
        ];
        report
    }

    #[test]
    fn the_manifest_reads_like_packers_and_appends() {
        let first = report(BakeStatus::Succeeded).manifest(None);
        assert_eq!(
            first["builds"][0]["artifact_id"],
            "eu-west-1:ami-1,us-east-1:ami-2"
        );
        assert_eq!(first["builds"][0]["build_time"], 1_795_314_278);
        assert_eq!(first["last_run_uuid"], "b-1");
        assert_eq!(first["builds"][0]["bakery"]["version"], "1.0.0");
        let second = report(BakeStatus::Succeeded).manifest(Some(first));
        assert_eq!(second["builds"].as_array().unwrap().len(), 2);
    }
}
