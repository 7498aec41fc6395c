//! Which version a bake releases: given (`--version 2.4.0`), or the next one after the
//! role's newest release (`--bump minor`, `--bump minor --pre rc`).

use std::fmt;

use semver::{Prerelease, Version};

use crate::error::{Error, Result};
use crate::model::release::parse_version;

/// `--bump`: which part of the version the next release raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, strum::Display)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Bump {
    /// `major`: 1.4.2 → 2.0.0.
    Major,
    /// `minor`: 1.4.2 → 1.5.0.
    Minor,
    /// `patch`: 1.4.2 → 1.4.3.
    Patch,
}

/// The version a bake asks for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionRequest {
    /// `--version`: this version exactly (a string in JSON).
    #[serde(serialize_with = "as_text")]
    Exact(Version),
    /// The next version after the newest release; a pre-release `<pre>.N` when `pre`
    /// is set.
    Next {
        /// Which part of the newest final release's version goes up.
        bump: Bump,
        /// `--pre`: the pre-release's name (`rc`, `beta`); None for a final release.
        pre: Option<String>,
    },
}

fn as_text<S: serde::Serializer>(v: &Version, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

impl VersionRequest {
    /// From the command line: `--version X.Y.Z[-pre]`, or `--bump LEVEL [--pre NAME]`.
    pub fn parse(
        version: Option<&str>,
        bump: Option<Bump>,
        pre: Option<&str>,
    ) -> Result<VersionRequest> {
        match (version, bump, pre) {
            (Some(version), None, None) => Ok(VersionRequest::Exact(parse_version(version)?)),
            (None, Some(bump), pre) => {
                if let Some(pre) = pre {
                    check_pre_name(pre)?;
                }
                Ok(VersionRequest::Next { bump, pre: pre.map(str::to_string) })
            }
            (Some(_), Some(_), _) => Err(Error::input(
                "give either --version X.Y.Z or --bump major|minor|patch, not both",
            )),
            (None, None, Some(_)) | (Some(_), None, Some(_)) => Err(Error::input(
                "--pre goes with --bump (e.g. --bump minor --pre rc); for an exact pre-release give --version 1.5.0-rc.1",
            )),
            (None, None, None) => Err(Error::input(
                "no version: give --version X.Y.Z (e.g. 2.4.0) or --bump major|minor|patch",
            )),
        }
    }

    /// The longest version this request can resolve to (six-digit numbers), so that
    /// names made from it are checked against AWS's limits before anything exists.
    pub fn longest(&self) -> Version {
        let text = match self {
            VersionRequest::Exact(version) => return version.clone(),
            VersionRequest::Next { pre: Some(pre), .. } => {
                format!("999999.999999.999999-{pre}.999999")
            }
            VersionRequest::Next { pre: None, .. } => "999999.999999.999999".to_string(),
        };
        Version::parse(&text).expect("a checked pre-release name")
    }

    /// True when the release will be a pre-release (`1.5.0-rc.1`), which never moves
    /// the `latest` channel.
    pub fn is_prerelease(&self) -> bool {
        match self {
            VersionRequest::Exact(version) => !version.pre.is_empty(),
            VersionRequest::Next { pre, .. } => pre.is_some(),
        }
    }

    /// The version to bake, given the versions the role already has (released or
    /// claimed). Pre-releases do not move the base: after 1.4.2 and 1.5.0-rc.1,
    /// `--bump minor --pre rc` gives 1.5.0-rc.2 and `--bump minor` gives 1.5.0.
    pub fn resolve(&self, taken: &[Version]) -> Result<Version> {
        let (bump, pre) = match self {
            VersionRequest::Exact(version) => return Ok(version.clone()),
            VersionRequest::Next { bump, pre } => (*bump, pre),
        };
        let newest = taken
            .iter()
            .filter(|v| v.pre.is_empty())
            .max()
            .cloned()
            .unwrap_or(Version::new(0, 0, 0));
        let past = |part: &str| {
            Error::input(format!(
                "cannot bump the {part} version of {newest}: it is the largest number a version holds"
            ))
            .with_hint("give the version with --version")
        };
        let mut next = match bump {
            Bump::Major => Version::new(
                newest.major.checked_add(1).ok_or_else(|| past("major"))?,
                0,
                0,
            ),
            Bump::Minor => Version::new(
                newest.major,
                newest.minor.checked_add(1).ok_or_else(|| past("minor"))?,
                0,
            ),
            Bump::Patch => Version::new(
                newest.major,
                newest.minor,
                newest.patch.checked_add(1).ok_or_else(|| past("patch"))?,
            ),
        };
        if let Some(name) = pre {
            let prefix = format!("{name}.");
            let last = taken
                .iter()
                .filter(|v| (v.major, v.minor, v.patch) == (next.major, next.minor, next.patch))
                .filter_map(|v| v.pre.as_str().strip_prefix(&prefix)?.parse::<u64>().ok())
                .max()
                .unwrap_or(0);
            let count = last
                .checked_add(1)
                .ok_or_else(|| past(&format!("`{name}` pre-release")))?;
            next.pre =
                Prerelease::new(&format!("{name}.{count}")).expect("checked pre-release name");
        }
        Ok(next)
    }
}

impl fmt::Display for VersionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionRequest::Exact(version) => write!(f, "{version}"),
            VersionRequest::Next {
                bump,
                pre: Some(pre),
            } => write!(f, "(next {bump} {pre})"),
            VersionRequest::Next { bump, pre: None } => write!(f, "(next {bump})"),
        }
    }
}

fn check_pre_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.chars().all(|c| c.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(Error::input(format!(
            "invalid --pre `{name}`: use letters, digits and dashes, not only digits (e.g. rc, beta)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(list: &[&str]) -> Vec<Version> {
        list.iter().map(|v| v.parse().unwrap()).collect()
    }

    fn next(bump: Bump, pre: Option<&str>, taken: &[&str]) -> String {
        VersionRequest::Next {
            bump,
            pre: pre.map(str::to_string),
        }
        .resolve(&versions(taken))
        .unwrap()
        .to_string()
    }

    #[test]
    fn bumps_start_from_the_newest_release() {
        let taken = ["1.2.0", "1.4.2", "1.3.9", "0.9.0"];
        assert_eq!(next(Bump::Patch, None, &taken), "1.4.3");
        assert_eq!(next(Bump::Minor, None, &taken), "1.5.0");
        assert_eq!(next(Bump::Major, None, &taken), "2.0.0");
        assert_eq!(next(Bump::Minor, None, &[]), "0.1.0");
    }

    #[test]
    fn pre_releases_count_up_and_sort_numerically() {
        assert_eq!(next(Bump::Minor, Some("rc"), &["1.4.2"]), "1.5.0-rc.1");
        assert_eq!(
            next(Bump::Minor, Some("rc"), &["1.4.2", "1.5.0-rc.1"]),
            "1.5.0-rc.2"
        );
        let many = ["1.4.2", "1.5.0-rc.2", "1.5.0-rc.10", "1.5.0-beta.4"];
        assert_eq!(next(Bump::Minor, Some("rc"), &many), "1.5.0-rc.11");
        assert_eq!(next(Bump::Minor, Some("beta"), &many), "1.5.0-beta.5");
        assert_eq!(
            next(Bump::Minor, None, &many),
            "1.5.0",
            "the final release of the candidates"
        );
        let mut sorted = versions(&many);
        sorted.sort();
        assert_eq!(sorted.last().unwrap().to_string(), "1.5.0-rc.10");
    }

    #[test]
    fn a_bump_past_the_largest_number_is_refused() {
        let max = u64::MAX;
        let newest = format!("1.{max}.{max}");
        let taken = versions(&[newest.as_str()]);
        let bump = |bump| VersionRequest::Next { bump, pre: None }.resolve(&taken);
        assert_eq!(bump(Bump::Major).unwrap().to_string(), "2.0.0");
        let refusal = bump(Bump::Minor).unwrap_err().to_string();
        assert!(
            refusal.contains("cannot bump the minor version"),
            "{refusal}"
        );
    }

    #[test]
    fn exactly_one_way_of_giving_the_version_is_accepted() {
        assert_eq!(
            VersionRequest::parse(Some("2.4.0"), None, None).unwrap(),
            VersionRequest::Exact("2.4.0".parse().unwrap())
        );
        assert!(
            VersionRequest::parse(Some("2.4.0"), Some(Bump::Patch), None)
                .unwrap_err()
                .to_string()
                .contains("not both")
        );
        assert!(VersionRequest::parse(None, None, Some("rc"))
            .unwrap_err()
            .to_string()
            .contains("--pre goes with --bump"));
        assert!(VersionRequest::parse(None, None, None)
            .unwrap_err()
            .to_string()
            .contains("no version"));
        assert!(VersionRequest::parse(None, Some(Bump::Minor), Some("r.c"))
            .unwrap_err()
            .to_string()
            .contains("invalid --pre"));
        assert_eq!(
            VersionRequest::parse(None, Some(Bump::Minor), Some("rc"))
                .unwrap()
                .to_string(),
            "(next minor rc)"
        );
    }
}
