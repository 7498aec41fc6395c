//! The recipe's `base`: a fixed image, an SSM parameter, the newest image matching an
//! owner and a name, or another role's release; from recipe.toml or `--base`.

use serde::Serialize;

use super::raw::RawBase;
use crate::error::{Error, Result};
use crate::model::names::is_name;
use crate::model::{Arch, Release, RoleName};

/// Where the architecture goes in a base's SSM parameter or name pattern.
pub const ARCH_PLACEHOLDER: &str = "{arch}";

/// Where the builder's image comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseImage {
    /// A fixed AMI id.
    Image(String),
    /// An SSM parameter holding an AMI id, such as AWS's public
    /// `/aws/service/ami-amazon-linux-latest/...` parameters.
    SsmParameter(String),
    /// The most recent available image of an owner whose name matches a pattern.
    Filter {
        /// `base.owner`: the account that owns the image, as EC2's DescribeImages takes it.
        owner: String,
        /// `base.name`: a name pattern (`*` matches any text; `{arch}` the architecture).
        name: String,
    },
    /// Another role's release: the one a channel points to, or the newest matching a
    /// version requirement.
    Release {
        /// `base.role`: the role this one is layered on.
        role: RoleName,
        /// Which of its releases: a channel's, or the newest matching a version requirement.
        selector: BaseSelector,
    },
    /// A release that `bake --all --dry-run` only checked, so that it does not exist:
    /// the role layered on it is checked against the image the release would have
    /// been built from.
    DryRunRelease {
        /// The release the dry run would have made.
        release: Release,
        /// The id of the image that release would have been built from.
        built_from: String,
    },
}

/// Which release of the base role: `base.channel` or `base.version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseSelector {
    /// The release a channel (`base.channel`, e.g. `stable`) points to.
    Channel(String),
    /// The newest release matching `base.version`; a whole version pins that release.
    #[serde(serialize_with = "requirement_text")]
    Version(semver::VersionReq),
}

fn requirement_text<S: serde::Serializer>(
    req: &semver::VersionReq,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&req.to_string())
}

/// A base's version: a whole version (`1.4.1`, `2.0.0-rc.1`) pins that release; a
/// range is written as one (`^1.4`, `~1.4`, `>=1.2, <2`). A bare partial version
/// (`1.4`), which semver would read as `^1.4`, is refused: it reads like a pin.
pub fn version_requirement(text: &str) -> std::result::Result<semver::VersionReq, String> {
    let text = text.trim();
    if let Ok(version) = semver::Version::parse(text) {
        return Ok(semver::VersionReq {
            comparators: vec![semver::Comparator {
                op: semver::Op::Exact,
                major: version.major,
                minor: Some(version.minor),
                patch: Some(version.patch),
                pre: version.pre,
            }],
        });
    }
    let written_as_range = text.starts_with(['=', '^', '~', '>', '<', '*']) || text.contains(',');
    let hint =
        "e.g. `2.4.0` (that release), `^2.3` (its newest 2.x from 2.3), `~2.3` (its newest 2.3.x)";
    if !written_as_range {
        return Err(format!(
            "`{text}` is not a version requirement: neither a whole version nor a range; {hint}"
        ));
    }
    semver::VersionReq::parse(text)
        .map_err(|e| format!("`{text}` is not a version requirement ({e}); {hint}"))
}

/// The version a requirement pins, when it names exactly one (`=1.4.1`).
pub fn pinned(requirement: &semver::VersionReq) -> Option<semver::Version> {
    match requirement.comparators.as_slice() {
        [c] if c.op == semver::Op::Exact => Some(semver::Version {
            major: c.major,
            minor: c.minor?,
            patch: c.patch?,
            pre: c.pre.clone(),
            build: semver::BuildMetadata::EMPTY,
        }),
        _ => None,
    }
}

/// How `plan` and errors say which base: `SSM parameter /aws/service/…`,
/// `base@stable`, `base@^2.3 (its newest match)`.
impl std::fmt::Display for BaseImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BaseImage::Image(id) => write!(f, "image {id}"),
            BaseImage::SsmParameter(path) => write!(f, "SSM parameter {path}"),
            BaseImage::Filter { owner, name } => {
                write!(f, "the newest image of owner {owner} named {name}")
            }
            BaseImage::Release {
                role,
                selector: BaseSelector::Channel(channel),
            } => write!(f, "{role}@{channel} (the release its channel names)"),
            BaseImage::Release {
                role,
                selector: BaseSelector::Version(requirement),
            } => match pinned(requirement) {
                Some(version) => write!(f, "{role}@{version} (that release, pinned)"),
                None => write!(f, "{role}@{requirement} (its newest release that matches)"),
            },
            BaseImage::DryRunRelease {
                release,
                built_from,
            } => write!(
                f,
                "{release} (not made by a dry run: checked on {built_from})"
            ),
        }
    }
}

impl BaseImage {
    /// `--base`: `ami-…`, an SSM parameter path `/…`, `OWNER:NAME-PATTERN`, or another
    /// role's release `ROLE@CHANNEL` / `ROLE@VERSION-REQUIREMENT`.
    pub fn parse_flag(text: &str, own_role: &RoleName) -> Result<BaseImage> {
        let refused = |message: String| Error::input(format!("--base `{text}`: {message}"));
        let raw = if text.starts_with("ami-") {
            RawBase {
                image: Some(text.into()),
                ..RawBase::default()
            }
        } else if text.starts_with('/') {
            RawBase {
                ssm_parameter: Some(text.into()),
                ..RawBase::default()
            }
        } else if let Some((role, which)) = text.split_once('@') {
            let channel = is_name(which);
            RawBase {
                role: Some(role.into()),
                channel: channel.then(|| which.to_string()),
                version: (!channel).then(|| which.to_string()),
                ..RawBase::default()
            }
        } else if let Some((owner, name)) = text.split_once(':') {
            RawBase {
                owner: Some(owner.into()),
                name: Some(name.into()),
                ..RawBase::default()
            }
        } else {
            return Err(refused(
                "give ami-…, an SSM parameter path (/aws/service/…), OWNER:NAME-PATTERN, or \
                 ROLE@CHANNEL / ROLE@VERSION (e.g. base@stable, base@^2.3)"
                    .into(),
            ));
        };
        base_image(raw, Some(own_role)).map_err(refused)
    }

    /// The base of one architecture: `{arch}` in an SSM parameter or a name pattern
    /// becomes `x86_64` or `arm64`, as AWS's public parameters name them.
    pub fn for_arch(&self, arch: Arch) -> BaseImage {
        let put = |text: &str| text.replace(ARCH_PLACEHOLDER, arch.as_str());
        match self {
            BaseImage::SsmParameter(path) => BaseImage::SsmParameter(put(path)),
            BaseImage::Filter { owner, name } => BaseImage::Filter {
                owner: owner.clone(),
                name: put(name),
            },
            other => other.clone(),
        }
    }

    /// A base for several architectures must be able to name an image of each.
    pub fn check_architectures(&self, architectures: &[Arch]) -> std::result::Result<(), String> {
        if architectures.len() < 2 {
            return Ok(());
        }
        let several = architectures
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(" and ");
        match self {
            BaseImage::Image(id) => Err(format!(
                "key `base.image`: {id} is one image of one architecture, and the recipe is \
                 baked for {several}: use `ssm_parameter` or `name` with `{ARCH_PLACEHOLDER}` \
                 where the architecture goes"
            )),
            BaseImage::SsmParameter(path) if !path.contains(ARCH_PLACEHOLDER) => Err(format!(
                "key `base.ssm_parameter`: {path} names one image for {several}: put \
                 `{ARCH_PLACEHOLDER}` where the architecture goes, e.g. \
                 /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{ARCH_PLACEHOLDER}"
            )),
            _ => Ok(()),
        }
    }

    /// The role this base is a release of, when it is layered on another role.
    pub fn role(&self) -> Option<&RoleName> {
        match self {
            BaseImage::Release { role, .. } => Some(role),
            BaseImage::DryRunRelease { release, .. } => Some(&release.role),
            _ => None,
        }
    }
}

const BASE_FORMS: &str = "table `base`: give exactly one of `image = \"ami-...\"`, \
    `ssm_parameter = \"/path\"`, `owner` together with `name` (a name pattern), or `role` \
    together with `channel` or `version` (another role's release, e.g. \
    `{ role = \"base\", channel = \"stable\" }`, `{ role = \"base\", version = \"^2.3\" }`)";

/// `own_role` is None when the recipe's own name is invalid (reported on its own).
pub(super) fn base_image(
    raw: RawBase,
    own_role: Option<&RoleName>,
) -> std::result::Result<BaseImage, String> {
    let RawBase {
        image,
        ssm_parameter,
        owner,
        name,
        role,
        channel,
        version,
    } = raw;
    match (image, ssm_parameter, owner, name, role, channel, version) {
        (Some(image), None, None, None, None, None, None) => {
            match crate::config::checks::check_ec2_id("ami", &image) {
                Ok(()) => Ok(BaseImage::Image(image)),
                Err(message) => Err(format!("key `base.image`: {message}")),
            }
        }
        (None, Some(path), None, None, None, None, None) => {
            if path.starts_with('/') {
                Ok(BaseImage::SsmParameter(path))
            } else {
                Err(format!("key `base.ssm_parameter`: `{path}` is not a parameter path; it starts with `/`"))
            }
        }
        (None, None, Some(owner), Some(name), None, None, None) => {
            Ok(BaseImage::Filter { owner, name })
        }
        (None, None, None, None, Some(role), channel, version)
            if channel.is_some() != version.is_some() =>
        {
            let role = RoleName::parse(&role).map_err(|e| format!("key `base.role`: {e}"))?;
            if Some(&role) == own_role {
                return Err(format!(
                    "key `base.role`: role `{role}` cannot be layered on itself"
                ));
            }
            let selector = match (channel, version) {
                (Some(channel), _) if is_name(&channel) => BaseSelector::Channel(channel),
                (Some(channel), _) => {
                    return Err(format!("key `base.channel`: invalid channel `{channel}`"))
                }
                (_, Some(version)) => BaseSelector::Version(
                    version_requirement(&version)
                        .map_err(|e| format!("key `base.version`: {e}"))?,
                ),
                _ => unreachable!("one of the two is set"),
            };
            Ok(BaseImage::Release { role, selector })
        }
        _ => Err(BASE_FORMS.to_string()),
    }
}
