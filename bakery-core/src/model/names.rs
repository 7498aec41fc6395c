//! Names every layer shares: a role, a platform, an architecture, a channel, and the
//! durations written in recipes and flags.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

/// A role name: lower-case letters, digits and dashes, starting with a letter. It is
/// part of AMI names and SSM parameter paths, so it is kept to what both accept.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RoleName(String);

impl RoleName {
    /// The role name `text`, or why it is not one.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        if is_name(text) {
            Ok(RoleName(text.to_string()))
        } else {
            Err(format!(
                "invalid role name `{text}`: use 1-64 lower-case letters, digits and dashes, \
                 starting with a letter (e.g. `base`, `zookeeper`)"
            ))
        }
    }

    /// The name as written (`base`, `zookeeper`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The shape of role, step and channel names: 1-64 lower-case letters, digits and
/// dashes, starting with a letter.
pub fn is_name(text: &str) -> bool {
    text.len() <= 64
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RoleName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        RoleName::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The name among `known` that `word` most likely misspells (at most two edits), if any.
pub fn nearest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|name| (strsim::damerau_levenshtein(word, name), name))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// A channel name (`stable`, `latest`, `canary`): the same shape as a role name.
pub fn check_channel(name: &str) -> crate::Result<()> {
    if is_name(name) {
        Ok(())
    } else {
        Err(crate::Error::input(format!(
            "invalid channel `{name}`: use lower-case letters, digits and dashes, e.g. stable"
        )))
    }
}

/// The recipe's `platform`: which OS the image runs, and so which SSM document runs its scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, strum::Display)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Platform {
    /// `linux`: scripts run with `AWS-RunShellScript`.
    Linux,
    /// `windows`: scripts run with `AWS-RunPowerShellScript`.
    Windows,
}

/// The SSM document that runs a platform's scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display, strum::IntoStaticStr)]
pub enum Document {
    /// `AWS-RunShellScript`, for Linux.
    #[serde(rename = "AWS-RunShellScript")]
    #[strum(to_string = "AWS-RunShellScript")]
    RunShellScript,
    /// `AWS-RunPowerShellScript`, for Windows.
    #[serde(rename = "AWS-RunPowerShellScript")]
    #[strum(to_string = "AWS-RunPowerShellScript")]
    RunPowerShellScript,
}

impl Document {
    /// The document that runs `platform`'s scripts.
    pub fn for_platform(platform: Platform) -> Document {
        match platform {
            Platform::Linux => Document::RunShellScript,
            Platform::Windows => Document::RunPowerShellScript,
        }
    }

    /// The document's name as SSM knows it (`AWS-RunShellScript`).
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// An architecture, as EC2 names it (`DescribeImages`' `architecture`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Deserialize,
    Serialize,
    strum::Display,
    strum::IntoStaticStr,
)]
pub enum Arch {
    /// `x86_64`.
    #[serde(rename = "x86_64")]
    #[strum(to_string = "x86_64")]
    X86_64,
    /// `arm64` (AWS Graviton).
    #[serde(rename = "arm64")]
    #[strum(to_string = "arm64")]
    Arm64,
}

impl Arch {
    /// Every architecture bakery bakes.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Arm64];

    /// EC2's name of the architecture: `x86_64` or `arm64`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// EC2's name of an architecture (`x86_64`, `arm64`); None for the others
    /// (`i386`, `x86_64_mac`...), which bakery does not bake.
    pub fn of_ec2(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|arch| arch.as_str() == name)
    }
}

/// Parses `90s`, `20m`, `1h 30m`, `90d`; refuses zero and bare numbers.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d > MAX_DURATION => Err(format!(
            "duration `{text}` is longer than bakery takes anywhere (100 years)"
        )),
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(format!(
            "duration `{text}` is zero: give a time longer than that, e.g. `10s`"
        )),
        Err(_) => Err(format!(
            "invalid duration `{text}`: write a number with a unit, e.g. `90s`, `20m`, `1h 30m`, `90d`"
        )),
    }
}

/// The longest duration any setting takes (a century): times computed from durations
/// can then never overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A duration of at most `limit`, which `why` explains.
pub fn parse_duration_up_to(
    text: &str,
    limit: Duration,
    why: &str,
) -> std::result::Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration > limit {
        return Err(format!(
            "`{text}` is longer than {}: {why}",
            crate::model::time::human(limit)
        ));
    }
    Ok(duration)
}

/// `eu-west-1`, `us-gov-west-1`, `ap-southeast-7`: letters-and-dashes, a number.
pub fn check_region(region: &str) -> Result<(), String> {
    let parts: Vec<&str> = region.split('-').collect();
    let valid = parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if valid {
        Ok(())
    } else {
        Err(format!("`{region}` is not a region name (e.g. eu-west-1)"))
    }
}

/// Serializes a duration as text (`1h 30m`), for recipes shown back to people.
pub mod duration_text {
    use std::time::Duration;

    /// Writes `d` as text, e.g. `1h 30m`.
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}

/// Serializes a duration as whole seconds, for plans and configs read by programs.
pub mod seconds {
    use std::time::Duration;

    /// Writes `d` as a number of whole seconds.
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

/// An optional duration as whole seconds (null when unset), for JSON.
pub mod optional_seconds {
    use std::time::Duration;

    /// Writes `d` as a number of whole seconds, or null when it is None.
    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_name_finds_the_one_it_misspells() {
        let channels = ["latest", "stable", "canary"];
        assert_eq!(nearest("stabel", channels), Some("stable"));
        assert_eq!(nearest("lates", channels), Some("latest"));
        assert_eq!(nearest("production", channels), None);
    }

    #[test]
    fn role_step_and_channel_names_share_one_shape() {
        assert!(RoleName::parse("zookeeper-3").is_ok());
        assert!(RoleName::parse("Base Image")
            .unwrap_err()
            .contains("invalid role name"));
        assert!(check_channel("stable").is_ok());
        assert!(check_channel("Stable")
            .unwrap_err()
            .to_string()
            .contains("invalid channel `Stable`"));
        assert!(!is_name(&"a".repeat(65)));
    }

    #[test]
    fn durations_need_a_unit_and_cannot_be_zero() {
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("90").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
