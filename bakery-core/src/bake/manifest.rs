//! The `--manifest` file, in the shape of Packer's manifest post-processor so that
//! pipelines written for Packer read it unchanged: `builds[]` with `artifact_id` =
//! `region:ami-id[,region:ami-id]`, `build_time`, `packer_run_uuid`, `custom_data`,
//! and `last_run_uuid`; bakery's whole result under each build's `bakery`.
//!
//! The file is checked before a bake creates anything and written once after it, by
//! a rename, so that a reader never sees half a manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::report::{BakeReport, BakeStatus};
use crate::config::flags::parse_pairs;
use crate::error::{Error, Result};
use crate::model::Arch;

/// Keys of `custom_data` that bakery fills itself.
const OWN_CUSTOM_DATA: [&str; 4] = ["role", "version", "arch", "status"];

/// A manifest file that can be written: its folder exists and takes files, and a
/// file already there is a manifest.
#[derive(Debug, Clone)]
pub struct ManifestFile {
    path: PathBuf,
    custom_data: BTreeMap<String, String>,
}

impl ManifestFile {
    /// Checks `path` before anything is created; `custom_data` are the
    /// `--manifest-data KEY=VALUE` pairs every build carries.
    pub fn check(path: &Path, custom_data: &[String]) -> Result<ManifestFile> {
        let custom_data =
            parse_pairs("--manifest-data", "KEY=VALUE", "ticket=OPS-42", custom_data)?;
        if let Some(key) = custom_data
            .keys()
            .find(|k| OWN_CUSTOM_DATA.contains(&k.as_str()))
        {
            return Err(Error::input(format!(
                "--manifest-data `{key}`: bakery writes `{key}` in custom_data itself"
            ))
            .with_hint(format!("Use any key but {}.", OWN_CUSTOM_DATA.join(", "))));
        }
        let manifest = ManifestFile {
            path: path.to_path_buf(),
            custom_data,
        };
        let folder = manifest.folder();
        if !folder.is_dir() {
            return Err(manifest
                .problem(format!("the folder {} does not exist", folder.display()))
                .with_hint(format!(
                    "Create it first (mkdir -p {}) or point --manifest elsewhere.",
                    folder.display()
                )));
        }
        if path.is_dir() {
            return Err(manifest
                .problem("is a folder; --manifest names the file bakery writes".into())
                .with_hint(format!(
                    "e.g. --manifest {}",
                    path.join("manifest.json").display()
                )));
        }
        manifest.read()?;
        let probe = manifest.scratch_file();
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| manifest.problem(format!("cannot write in {}: {e}", folder.display())))?;
        Ok(manifest)
    }

    /// The manifest file's path, as given to `--manifest`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one build per architecture of each succeeded bake that made a release
    /// (a dry run makes none); returns how many. Writes nothing when there are none.
    pub fn append(&self, reports: &[&BakeReport]) -> Result<usize> {
        let builds: Vec<Value> = reports
            .iter()
            // An unchanged role points at the release it already has.
            .filter(|r| matches!(r.status, BakeStatus::Succeeded | BakeStatus::Unchanged))
            .filter(|r| !r.dry_run)
            .flat_map(|r| builds_of(r, &self.custom_data))
            .collect();
        if builds.is_empty() {
            return Ok(0);
        }
        let count = builds.len();
        let manifest = appended(self.read()?, builds);
        let text = serde_json::to_string_pretty(&manifest).expect("manifests serialize") + "\n";
        let scratch = self.scratch_file();
        std::fs::write(&scratch, text)
            .and_then(|()| std::fs::rename(&scratch, &self.path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&scratch);
                self.problem(e.to_string())
            })?;
        Ok(count)
    }

    /// The manifest already in the file, if any.
    fn read(&self) -> Result<Option<Value>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.problem(e.to_string())),
        };
        let not_a_manifest = |why: String| {
            self.problem(format!("the file exists but is not a manifest: {why}"))
                .with_hint("Point --manifest at a new file or at one that bakery or Packer wrote.")
        };
        let value: Value =
            serde_json::from_str(&text).map_err(|e| not_a_manifest(e.to_string()))?;
        match value.get("builds") {
            _ if !value.is_object() => Err(not_a_manifest("not a JSON object".into())),
            Some(builds) if !builds.is_array() => {
                Err(not_a_manifest("`builds` is not a list".into()))
            }
            _ => Ok(Some(value)),
        }
    }

    fn folder(&self) -> PathBuf {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// A file beside the manifest that is renamed over it.
    fn scratch_file(&self) -> PathBuf {
        let name = self
            .path
            .file_name()
            .map_or_else(|| "manifest".into(), |n| n.to_string_lossy().into_owned());
        self.folder()
            .join(format!(".{name}.bakery-{}", std::process::id()))
    }

    fn problem(&self, what: String) -> Error {
        Error::input(format!("--manifest {}: {what}", self.path.display()))
    }
}

/// A bake's builds, one per architecture, as Packer writes one per source: each
/// `artifact_id` lists that architecture's images, `region:ami-id,...`.
fn builds_of(report: &BakeReport, custom: &BTreeMap<String, String>) -> Vec<Value> {
    let mut architectures: Vec<Arch> = Vec::new();
    for image in &report.images {
        if !architectures.contains(&image.arch) {
            architectures.push(image.arch);
        }
    }
    architectures
        .into_iter()
        .map(|arch| build(report, arch, custom))
        .collect()
}

/// One architecture's build: `build_time` is when the bake finished (seconds since
/// the epoch), `packer_run_uuid` the run's UUID, `custom_data` the role, version,
/// architecture and status with `custom` added.
fn build(report: &BakeReport, arch: Arch, custom: &BTreeMap<String, String>) -> Value {
    let artifact_id = report
        .images
        .iter()
        .filter(|i| i.arch == arch)
        .map(|i| format!("{}:{}", i.region, i.image_id))
        .collect::<Vec<_>>()
        .join(",");
    let build_time = report
        .finished_at()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let mut custom_data = json!({
        "role": report.role,
        "version": report.version,
        "arch": arch,
        "status": report.status,
    });
    for (key, value) in custom {
        custom_data[key] = Value::String(value.clone());
    }
    json!({
        "name": report.role,
        "builder_type": "bakery",
        "build_time": build_time,
        "files": null,
        "artifact_id": artifact_id,
        "packer_run_uuid": report.run_uuid,
        "custom_data": custom_data,
        "bakery": report,
    })
}

/// `existing` with `builds` appended (as Packer appends), its `last_run_uuid` that of
/// the run they belong to.
fn appended(existing: Option<Value>, builds: Vec<Value>) -> Value {
    let last_run_uuid = builds
        .last()
        .map_or(Value::Null, |b| b["packer_run_uuid"].clone());
    let mut all = existing
        .as_ref()
        .and_then(|m| m.get("builds"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    all.extend(builds);
    json!({ "builds": all, "last_run_uuid": last_run_uuid })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bake::report::ImageRecord;

    fn succeeded(role: &str) -> BakeReport {
        let mut report = BakeReport::refused(Some(role), "1.0.0", &Error::input("x"));
        report.status = BakeStatus::Succeeded;
        report.ending = Default::default();
        report.bake_id = "b-1".into();
        report.run_uuid = "6f1c0e1e-4a5b-4c2d-9e8f-0a1b2c3d4e5f".into();
        report.started_at = "2026-11-22T02:24:38Z".into();
        report.seconds = 60.0;
        report.images = ["eu-west-1", "us-east-1"]
            .iter()
            .enumerate()
            .map(|(i, region)| ImageRecord {
                region: region.to_string(),
                arch: Arch::X86_64,
                image_id: format!("ami-{}", i + 1),
                name: "n".into(),
                snapshot_ids: vec![],
            })
            .collect();
        report
    }

    fn read(path: &Path) -> Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_manifest_reads_like_packers_and_appends() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("manifest.json");
        let manifest = ManifestFile::check(&path, &["ticket=OPS-42".into()]).unwrap();
        assert!(!path.exists(), "checking writes nothing");

        assert_eq!(manifest.append(&[&succeeded("base")]).unwrap(), 1);
        let first = read(&path);
        let build = &first["builds"][0];
        assert_eq!(build["artifact_id"], "eu-west-1:ami-1,us-east-1:ami-2");
        assert_eq!(build["build_time"], 1_795_314_338, "the finish time");
        assert_eq!(
            build["packer_run_uuid"],
            "6f1c0e1e-4a5b-4c2d-9e8f-0a1b2c3d4e5f"
        );
        assert_eq!(first["last_run_uuid"], build["packer_run_uuid"]);
        assert_eq!(build["custom_data"]["ticket"], "OPS-42");
        assert_eq!(build["custom_data"]["role"], "base");
        assert_eq!(build["bakery"]["version"], "1.0.0");

        let zookeeper = succeeded("zookeeper");
        assert_eq!(manifest.append(&[&zookeeper]).unwrap(), 1);
        assert_eq!(read(&path)["builds"].as_array().unwrap().len(), 2);
        let leftovers: Vec<_> = std::fs::read_dir(folder.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no scratch file stays behind");
    }

    #[test]
    fn dry_runs_and_failures_write_no_build() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("manifest.json");
        let manifest = ManifestFile::check(&path, &[]).unwrap();
        let mut dry = succeeded("base");
        dry.dry_run = true;
        let mut failed = succeeded("base");
        failed.status = BakeStatus::Failed;
        assert_eq!(manifest.append(&[&dry, &failed]).unwrap(), 0);
        assert!(!path.exists());
    }

    #[test]
    fn a_manifest_that_cannot_be_written_is_refused_before_the_bake() {
        let folder = tempfile::tempdir().unwrap();
        let missing = ManifestFile::check(&folder.path().join("out/manifest.json"), &[]);
        let error = missing.unwrap_err();
        assert!(error.problem().contains("does not exist"), "{error}");
        assert!(error.hint().unwrap().contains("mkdir -p"));

        let garbage = folder.path().join("notes.txt");
        std::fs::write(&garbage, "not json").unwrap();
        let error = ManifestFile::check(&garbage, &[]).unwrap_err();
        assert!(error.problem().contains("is not a manifest"), "{error}");

        let error =
            ManifestFile::check(&folder.path().join("m.json"), &["status=ok".into()]).unwrap_err();
        assert!(
            error.problem().contains("--manifest-data `status`"),
            "{error}"
        );
        let error =
            ManifestFile::check(&folder.path().join("m.json"), &["ticket".into()]).unwrap_err();
        assert!(error.problem().contains("write KEY=VALUE"), "{error}");
    }
}
