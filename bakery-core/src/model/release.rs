//! A release is `role@version`: its AMI name, its SSM paths, and the one tag schema of
//! images, snapshots and builders. docs/tags.md documents the same schema for people.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::inputs::TAG_INPUTS;
use crate::model::names::{Arch, RoleName};

/// On images, snapshots, builders and test instances: the role, e.g. `base`.
pub const TAG_ROLE: &str = "bakery:role";
/// On images, snapshots, builders and test instances: the semver version, e.g. `2.4.0`.
pub const TAG_VERSION: &str = "bakery:version";
/// On images and snapshots: the AMI id the builder was launched from.
pub const TAG_BASE_IMAGE: &str = "bakery:base-image";
/// On images and snapshots: `role@version` of the base, when it is another role's release.
pub const TAG_BASE_RELEASE: &str = "bakery:base-release";
/// On images and snapshots: `sha256:` over every file of the recipe folder.
pub const TAG_RECIPE_DIGEST: &str = "bakery:recipe-digest";
/// On images, snapshots, builders and test instances: the bake (or run) that made them.
pub const TAG_BAKE_ID: &str = "bakery:bake-id";
/// On images and snapshots: the ARN of the identity that ran the bake.
pub const TAG_CREATED_BY: &str = "bakery:created-by";
/// On images and snapshots: `--source-commit` / `GIT_COMMIT`, when known.
pub const TAG_SOURCE_COMMIT: &str = "bakery:source-commit";
/// On images and snapshots: `--build-url` / `BUILD_URL`, when known.
pub const TAG_BUILD_URL: &str = "bakery:build-url";
/// On a builder instance, its volumes and security group: `true`.
pub const TAG_BUILDER: &str = "bakery:builder";
/// On builders and test instances: the RFC 3339 time after which they power themselves
/// off and are terminated.
pub const TAG_DEADLINE: &str = "bakery:deadline";
/// On a builder kept with `--keep-on-failure`: `bakery cleanup` spares it until its
/// deadline.
pub const TAG_KEPT: &str = "bakery:kept";
/// On the release gate's test instance (`bakery cleanup` finds it by this tag).
pub const TAG_TEST_INSTANCE: &str = "bakery:test-instance";
/// On a test instance: the runlist its firstboot agent fetches instead of the image's
/// (an S3 location, or `none`).
pub const TAG_FIRSTBOOT_RUNLIST: &str = "bakery:firstboot-runlist";

/// `role@version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Release {
    /// The role, e.g. `base`.
    pub role: RoleName,
    /// The version, e.g. `2.4.0` (a string in JSON).
    #[serde(serialize_with = "as_text")]
    pub version: semver::Version,
}

fn as_text<S: serde::Serializer>(
    v: &semver::Version,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

impl Release {
    /// `role` and `version` as given on a command line.
    pub fn parse(role: &str, version: &str) -> Result<Release> {
        Ok(Release {
            role: RoleName::parse(role).map_err(Error::input)?,
            version: parse_version_argument(version)?,
        })
    }
    /// The AMI name: unique per region and account, so a second bake of the same
    /// release cannot register a second image.
    pub fn image_name(&self, arch: Arch) -> String {
        format!("bakery/{}/{}/{}", self.role, self.version, arch.as_str())
    }

    /// The SSM parameter that claims the release, created with overwrite disabled so
    /// that two bakes can never produce the same release.
    pub fn claim_parameter(&self) -> String {
        format!("{}{}", claims_path(&self.role), self.version)
    }

    /// The release a claim parameter `/bakery/<role>/releases/<version>` names.
    pub fn of_claim_parameter(name: &str) -> Option<Release> {
        let (role, version) = name.strip_prefix("/bakery/")?.split_once("/releases/")?;
        Some(Release {
            role: RoleName::parse(role).ok()?,
            version: version.parse().ok()?,
        })
    }

    /// A DescribeImages name filter for the release's images of every architecture.
    pub fn image_name_pattern(&self) -> String {
        format!("bakery/{}/{}/*", self.role, self.version)
    }

    /// The SSM parameter of one of the role's channels, or of one of its keys
    /// ([`channel_keys`]): `stable`, `stable/arm64`.
    pub fn channel_parameter(role: &RoleName, channel: &str) -> String {
        format!("{}{channel}", channels_path(role))
    }
}

/// An image id, and its architecture when it is one bakery bakes.
pub type ArchImage = (String, Option<Arch>);

/// What a channel writes in a region, given the release's images there (id and
/// architecture): `<channel>/<arch>` for each architecture, and `<channel>` itself for
/// the x86_64 image, or the only one — where the channel pointed before channels had
/// architectures, so launch templates that name it keep resolving the same image.
/// Keys relative to [`channels_path`], each with its image.
pub fn channel_keys(channel: &str, images: &[ArchImage]) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = images
        .iter()
        .filter_map(|(id, arch)| Some((format!("{channel}/{}", (*arch)?), id.clone())))
        .collect();
    let plain = images
        .iter()
        .find(|(_, arch)| *arch == Some(Arch::X86_64))
        .or(images.first());
    if let Some((id, _)) = plain {
        keys.insert(0, (channel.to_string(), id.clone()));
    }
    keys
}

/// The channel a key under [`channels_path`] belongs to: `stable` for `stable` and
/// `stable/arm64`.
pub fn channel_of_key(key: &str) -> &str {
    key.split_once('/').map_or(key, |(channel, _)| channel)
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.role, self.version)
    }
}

/// Where a role's release claims live: `/bakery/<role>/releases/`.
pub fn claims_path(role: &RoleName) -> String {
    format!("/bakery/{role}/releases/")
}

/// Where a role's channels live: `/bakery/<role>/channels/<name>` and
/// `/bakery/<role>/channels/<name>/<arch>` ([`channel_keys`]), data type
/// `aws:ec2:image`, so launch templates can use `resolve:ssm:`.
pub fn channels_path(role: &RoleName) -> String {
    format!("/bakery/{role}/channels/")
}

/// Parses a release version: semver `X.Y.Z` with an optional pre-release (`-rc.1`).
/// Build metadata (`+...`) is refused: `+` is not allowed in AMI names.
pub fn parse_version(text: &str) -> Result<semver::Version> {
    parse_version_named(text, "--version")
}

/// [`parse_version`] of a command's VERSION argument (`promote base 2.4.0`), named so.
pub fn parse_version_argument(text: &str) -> Result<semver::Version> {
    parse_version_named(text, "version")
}

fn parse_version_named(text: &str, what: &str) -> Result<semver::Version> {
    let hint = "give a semantic version X.Y.Z or X.Y.Z-pre, e.g. 2.4.0 or 2.5.0-rc.1";
    if let Some(bare) = text.strip_prefix(['v', 'V']) {
        // A tag name, not a version: the AMI name and tags would say something else.
        return Err(Error::input(format!(
            "invalid {what} `{text}`: a version has no `{}` prefix",
            &text[..1]
        ))
        .with_hint(format!("write {bare}")));
    }
    let version = semver::Version::parse(text)
        .map_err(|e| Error::input(format!("invalid {what} `{text}`: {e}")).with_hint(hint))?;
    if !version.build.is_empty() {
        return Err(Error::input(format!(
            "invalid {what} `{text}`: build metadata (`+{}`) cannot be part of an AMI name",
            version.build
        ))
        .with_hint(hint));
    }
    Ok(version)
}

/// What the image tags record about where a bake came from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Provenance {
    /// `bakery:bake-id`: the bake that made the image.
    pub bake_id: String,
    /// `bakery:base-image`: the AMI id the builder was launched from.
    pub base_image: String,
    /// `role@version` when the base is another role's release.
    pub base_release: Option<String>,
    /// `bakery:recipe-digest`: `sha256:` over every file of the recipe folder.
    pub recipe_digest: String,
    /// The fingerprint of every input (`model::inputs`).
    pub inputs: Option<String>,
    /// `bakery:created-by`: the ARN of the identity that ran the bake; no tag when None.
    pub created_by: Option<String>,
    /// `bakery:source-commit` (`--source-commit` / `GIT_COMMIT`), when known.
    pub source_commit: Option<String>,
    /// `bakery:build-url` (`--build-url` / `BUILD_URL`), when known.
    pub build_url: Option<String>,
}

/// The tags of a release's AMI and of its snapshots: the recipe's own tags first, so
/// that bakery's schema always wins.
pub fn image_tags(
    release: &Release,
    provenance: &Provenance,
    recipe_tags: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut tags = recipe_tags.clone();
    let mut put = |k: &str, v: &str| {
        tags.insert(k.to_string(), truncate_tag_value(v));
    };
    put("Name", &release.to_string());
    put(TAG_ROLE, release.role.as_str());
    put(TAG_VERSION, &release.version.to_string());
    put(TAG_BASE_IMAGE, &provenance.base_image);
    if let Some(base_release) = &provenance.base_release {
        put(TAG_BASE_RELEASE, base_release);
    }
    put(TAG_RECIPE_DIGEST, &provenance.recipe_digest);
    if let Some(inputs) = &provenance.inputs {
        put(TAG_INPUTS, inputs);
    }
    put(TAG_BAKE_ID, &provenance.bake_id);
    if let Some(who) = &provenance.created_by {
        put(TAG_CREATED_BY, who);
    }
    if let Some(commit) = &provenance.source_commit {
        put(TAG_SOURCE_COMMIT, commit);
    }
    if let Some(url) = &provenance.build_url {
        put(TAG_BUILD_URL, url);
    }
    tags
}

/// The tags of the builder instance and its volumes: enough for `bakery cleanup` to
/// find a builder whose bake died, and to know when it should have been gone.
pub fn builder_tags(
    release: &Release,
    bake_id: &str,
    deadline_rfc3339: &str,
    recipe_tags: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    // The recipe's and environment's tags too (an account's tag policy may require one
    // on every instance it launches); bakery's win.
    let mut tags = recipe_tags.clone();
    tags.extend([
        ("Name".to_string(), format!("bakery builder {release}")),
        (TAG_ROLE.to_string(), release.role.to_string()),
        (TAG_VERSION.to_string(), release.version.to_string()),
        (TAG_BAKE_ID.to_string(), bake_id.to_string()),
        (TAG_BUILDER.to_string(), "true".to_string()),
        (TAG_DEADLINE.to_string(), deadline_rfc3339.to_string()),
    ]);
    tags
}

/// The tags of a release gate's test instance and its volume: the recipe's `[test]
/// tags (the firstboot agent reads placeholders from them), then bakery's, which win.
pub fn test_instance_tags(
    release: &Release,
    bake_id: &str,
    deadline_rfc3339: &str,
    runlist: Option<&str>,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut tags = extra.clone();
    tags.extend([
        ("Name".to_string(), format!("bakery test {release}")),
        (TAG_ROLE.to_string(), release.role.to_string()),
        (TAG_VERSION.to_string(), release.version.to_string()),
        (TAG_BAKE_ID.to_string(), bake_id.to_string()),
        (TAG_TEST_INSTANCE.to_string(), "true".to_string()),
        (TAG_DEADLINE.to_string(), deadline_rfc3339.to_string()),
    ]);
    if let Some(runlist) = runlist {
        tags.insert(TAG_FIRSTBOOT_RUNLIST.to_string(), runlist.to_string());
    }
    tags
}

fn truncate_tag_value(value: &str) -> String {
    value.chars().take(256).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, arch: Option<Arch>) -> ArchImage {
        (id.to_string(), arch)
    }

    #[test]
    fn a_channel_has_a_key_per_architecture_and_its_plain_name_for_x86_64_or_the_only_one() {
        let both = [
            image("ami-arm", Some(Arch::Arm64)),
            image("ami-x86", Some(Arch::X86_64)),
        ];
        assert_eq!(
            channel_keys("stable", &both),
            [
                ("stable".to_string(), "ami-x86".to_string()),
                ("stable/arm64".to_string(), "ami-arm".to_string()),
                ("stable/x86_64".to_string(), "ami-x86".to_string()),
            ]
        );
        let arm_only = [image("ami-arm", Some(Arch::Arm64))];
        assert_eq!(
            channel_keys("latest", &arm_only),
            [
                ("latest".to_string(), "ami-arm".to_string()),
                ("latest/arm64".to_string(), "ami-arm".to_string()),
            ]
        );
        assert_eq!(
            channel_keys("stable", &[image("ami-mac", None)]),
            [("stable".to_string(), "ami-mac".to_string())],
            "an architecture bakery does not bake keeps the plain name only"
        );
        assert!(channel_keys("stable", &[]).is_empty());
        assert_eq!(channel_of_key("stable/arm64"), "stable");
        assert_eq!(channel_of_key("stable"), "stable");
        assert_eq!(
            Release::channel_parameter(&RoleName::parse("base").unwrap(), "stable/arm64"),
            "/bakery/base/channels/stable/arm64"
        );
    }

    fn release(version: &str) -> Release {
        Release {
            role: RoleName::parse("base").unwrap(),
            version: parse_version(version).unwrap(),
        }
    }

    #[test]
    fn versions_are_semver_with_optional_pre_release() {
        assert_eq!(parse_version("2.4.0").unwrap().to_string(), "2.4.0");
        assert_eq!(parse_version("2.5.0-rc.1").unwrap().pre.as_str(), "rc.1");
        let tag = parse_version("v1.0.0").unwrap_err();
        assert!(tag.problem().contains("has no `v` prefix"), "{tag}");
        assert_eq!(tag.hint(), Some("write 1.0.0"));
    }

    #[test]
    fn incomplete_versions_and_build_metadata_are_refused() {
        let error = parse_version("1.4").unwrap_err().to_string();
        assert!(error.contains("invalid --version `1.4`"), "{error}");
        assert!(error.contains("X.Y.Z"), "{error}");
        let error = parse_version("1.4.0+build.7").unwrap_err().to_string();
        assert!(error.contains("build metadata"), "{error}");
        let argument = Release::parse("base", "1.4").unwrap_err().to_string();
        assert!(
            argument.contains("invalid version `1.4`"),
            "a command's VERSION argument is no --version flag: {argument}"
        );
    }

    #[test]
    fn image_names_follow_role_version_arch() {
        assert_eq!(
            release("1.5.0-rc.1").image_name(Arch::Arm64),
            "bakery/base/1.5.0-rc.1/arm64"
        );
        assert_eq!(release("1.5.0").image_name_pattern(), "bakery/base/1.5.0/*");
    }

    #[test]
    fn a_claim_parameter_names_its_release() {
        let claim = release("2.0.0-rc.1").claim_parameter();
        assert_eq!(claim, "/bakery/base/releases/2.0.0-rc.1");
        assert_eq!(
            Release::of_claim_parameter(&claim),
            Some(release("2.0.0-rc.1"))
        );
        assert_eq!(
            Release::of_claim_parameter("/bakery/base/channels/stable"),
            None
        );
    }

    #[test]
    fn bakery_tags_win_over_recipe_tags() {
        let recipe_tags = BTreeMap::from([
            ("team".to_string(), "platform".to_string()),
            ("Name".to_string(), "mine".to_string()),
        ]);
        let provenance = Provenance {
            bake_id: "b-1".into(),
            base_image: "ami-1".into(),
            recipe_digest: "sha256:ab".into(),
            build_url: Some("https://jenkins/job/1".into()),
            ..Default::default()
        };
        let tags = image_tags(&release("1.0.0"), &provenance, &recipe_tags);
        assert_eq!(tags["Name"], "base@1.0.0");
        assert_eq!(tags["team"], "platform");
        assert_eq!(tags[TAG_VERSION], "1.0.0");
        assert_eq!(tags[TAG_BUILD_URL], "https://jenkins/job/1");
        assert!(!tags.contains_key(TAG_SOURCE_COMMIT));
    }
}
