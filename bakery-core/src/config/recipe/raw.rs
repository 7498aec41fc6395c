//! recipe.toml as written. Only its structure is checked while it is read (unknown
//! keys, types, enumerations); values keep their position ([`Spanned`]) so that every
//! bad value can be reported at its place, all at once, by the reader in `recipe.rs`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::model::{Arch, Platform, PublicAddress};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecipe {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub platform: Platform,
    /// `"x86_64"`, or a list: `["x86_64", "arm64"]`; checked by the reader.
    pub arch: Spanned<toml::Value>,
    pub base: Spanned<RawBase>,
    #[serde(default)]
    pub builder: RawBuilder,
    #[serde(default)]
    pub steps: Vec<RawStep>,
    #[serde(default)]
    pub tests: Vec<RawStep>,
    pub test: Option<RawTestSettings>,
    #[serde(default = "yes")]
    pub generalize: bool,
    #[serde(default)]
    pub tags: BTreeMap<Spanned<String>, String>,
    pub deprecate_after: Option<Spanned<String>>,
    pub deadlines: Option<RawDeadlines>,
    pub firstboot: Option<RawFirstboot>,
    #[serde(default)]
    pub vars: BTreeMap<Spanned<String>, Spanned<RawVar>>,
}

/// `[deadlines]`: how long to wait for the image, an instance, the whole bake.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDeadlines {
    pub image: Option<Spanned<String>>,
    pub instance: Option<Spanned<String>>,
    pub bake: Option<Spanned<String>>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawBase {
    pub image: Option<String>,
    pub ssm_parameter: Option<String>,
    pub owner: Option<String>,
    pub name: Option<String>,
    pub role: Option<String>,
    pub channel: Option<String>,
    pub version: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawBuilder {
    pub instance_type: Option<Spanned<String>>,
    #[serde(default)]
    pub instance_types: BTreeMap<Arch, Spanned<String>>,
    pub volume_size: Option<Spanned<i64>>,
    pub volume_type: Option<Spanned<VolumeType>>,
    /// io1/io2 (required), gp3: provisioned IOPS.
    pub volume_iops: Option<Spanned<i64>>,
    /// gp3 only: MiB/s.
    pub volume_throughput: Option<Spanned<i64>>,
    pub subnet: Option<Spanned<String>>,
    #[serde(default)]
    pub security_groups: Vec<Spanned<String>>,
    pub instance_profile: Option<Spanned<String>>,
    pub kms_key: Option<Spanned<String>>,
    #[serde(default)]
    pub install_ssm_agent: bool,
    pub public_address: Option<PublicAddress>,
    pub metadata_hop_limit: Option<Spanned<i64>>,
}

/// The EBS volume types a builder's root volume may have.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    Gp2,
    Gp3,
    Io1,
    Io2,
}

impl VolumeType {
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeType::Gp2 => "gp2",
            VolumeType::Gp3 => "gp3",
            VolumeType::Io1 => "io1",
            VolumeType::Io2 => "io2",
        }
    }

    /// The IOPS a volume of this type takes, and whether it must be given (EC2 API
    /// Reference, EbsBlockDevice, `Iops`: required for io1 and io2; gp3 3,000 to 16,000;
    /// io1 100 to 64,000; io2 100 to 256,000; not supported for gp2).
    pub fn iops(self) -> Option<(std::ops::RangeInclusive<i64>, bool)> {
        match self {
            VolumeType::Gp2 => None,
            VolumeType::Gp3 => Some((3_000..=16_000, false)),
            VolumeType::Io1 => Some((100..=64_000, true)),
            VolumeType::Io2 => Some((100..=256_000, true)),
        }
    }

    /// The throughput (MiB/s) a volume of this type takes: gp3 only, 125 to 1,000 (EC2
    /// API Reference, EbsBlockDevice, `Throughput`).
    pub fn throughput(self) -> Option<std::ops::RangeInclusive<i64>> {
        match self {
            VolumeType::Gp3 => Some(125..=1_000),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub name: Spanned<String>,
    pub script: Spanned<String>,
    pub timeout: Option<Spanned<String>>,
    pub retries: Option<Spanned<i64>>,
    pub retry_delay: Option<Spanned<String>>,
    pub reboot: Option<bool>,
    pub max_reboots: Option<Spanned<i64>>,
    #[serde(default)]
    pub env: BTreeMap<Spanned<String>, String>,
    #[serde(default)]
    pub secrets: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// `[test]`: the release gate's test instance and limit.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTestSettings {
    pub instance_type: Option<Spanned<String>>,
    pub runlist: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub tags: BTreeMap<Spanned<String>, String>,
}

/// `firstboot = false`, or a `[firstboot]` table.
pub enum RawFirstboot {
    Off,
    On(Box<RawFirstbootSettings>),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawFirstbootSettings {
    pub runlist: Option<Spanned<String>>,
    pub runner: Option<Spanned<String>>,
    pub region: Option<String>,
    pub sns_topic: Option<Spanned<String>>,
    pub retry: Option<bool>,
    pub fetch_attempts: Option<Spanned<i64>>,
    pub fetch_timeout: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawFirstboot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = RawFirstboot;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "`firstboot = false`, or a [firstboot] table with runlist, runner, region, \
                     sns_topic, retry, fetch_attempts, fetch_timeout",
                )
            }
            fn visit_bool<E: serde::de::Error>(
                self,
                on: bool,
            ) -> std::result::Result<RawFirstboot, E> {
                Ok(if on {
                    RawFirstboot::On(Box::default())
                } else {
                    RawFirstboot::Off
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<RawFirstboot, A::Error> {
                RawFirstbootSettings::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|settings| RawFirstboot::On(Box::new(settings)))
            }
        }
        deserializer.deserialize_any(Either)
    }
}

/// `NAME = "default"`, or a `[vars.NAME]` table.
pub struct RawVar(pub RawVarTable);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawVarTable {
    pub description: Option<String>,
    pub default: Option<String>,
    pub required: Option<bool>,
    pub pattern: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawVar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = RawVar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a default value (`NAME = \"value\"`), or a [vars.NAME] table with \
                     description, default, required, pattern",
                )
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> std::result::Result<RawVar, E> {
                Ok(RawVar(RawVarTable {
                    default: Some(value.to_string()),
                    ..RawVarTable::default()
                }))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<RawVar, A::Error> {
                RawVarTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawVar)
            }
        }
        deserializer.deserialize_any(Either)
    }
}
