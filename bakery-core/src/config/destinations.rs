//! Where a release is copied: the environment's regions after the first, or the
//! flags', each with its KMS key.

use serde::Serialize;

use super::environment::Environment;
use super::flags::{parse_kms_keys, split_list};
use super::settings::Settings;
use crate::error::{Error, Result};

/// A region to copy to, and its KMS key (the account's default EBS key when None).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destination {
    /// The region the image is copied into, e.g. `eu-central-1`.
    pub region: String,
    /// The key (id, alias or ARN) CopyImage encrypts the copy with; None: the account's
    /// default EBS key.
    pub kms_key: Option<String>,
}

impl Destination {
    /// A bake's copies: every region of the merged settings after the first (where the
    /// bake runs), each with its key.
    pub fn of_settings(settings: &Settings) -> Vec<Destination> {
        settings
            .regions
            .iter()
            .skip(1)
            .map(|region| Destination {
                region: region.clone(),
                kms_key: settings.kms_keys.get(region).cloned(),
            })
            .collect()
    }

    /// `bakery distribute`'s targets: the flags, else the environment's regions other
    /// than its first; each with the flag's key, else the environment's.
    pub fn for_release(
        copy_to: &[String],
        kms_keys: &[String],
        environment: Option<&Environment>,
    ) -> Result<Vec<Destination>> {
        let settings = environment.map(|e| e.settings());
        let mut regions = split_list(copy_to);
        if regions.is_empty() {
            regions =
                settings.map_or_else(Vec::new, |s| s.regions.iter().skip(1).cloned().collect());
        }
        let mut destinations = Destination::parse(&regions, kms_keys)?;
        for destination in &mut destinations {
            if destination.kms_key.is_none() {
                destination.kms_key =
                    settings.and_then(|s| s.kms_keys.get(&destination.region).cloned());
            }
        }
        if destinations.is_empty() {
            return Err(Error::input("no region to copy to").with_hint(
                "give --regions (or --copy-to), or set the environment's `regions` in \
                 bakery.toml (--env)",
            ));
        }
        Ok(destinations)
    }

    /// `--copy-to eu-west-1,us-west-2` with `--kms-key eu-west-1=alias/ebs`.
    pub fn parse(regions: &[String], kms_keys: &[String]) -> Result<Vec<Destination>> {
        let mut keys = parse_kms_keys(kms_keys)?;
        let destinations: Vec<Destination> = split_list(regions)
            .into_iter()
            .map(|region| Destination {
                kms_key: keys.remove(&region),
                region,
            })
            .collect();
        if let Some(region) = keys.keys().next() {
            return Err(Error::input(format!(
                "--kms-key for {region}, which is not in --copy-to"
            )));
        }
        Ok(destinations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_the_regions_and_the_environment_fills_in_their_keys() {
        let environment = crate::config::environment::parse(
            std::path::Path::new("bakery.toml"),
            "[environments.prod]\nregions = [\"eu-west-1\", \"us-east-1\", \"ap-south-1\"]\n\
             kms_keys = { us-east-1 = \"alias/us\" }\n",
            Some("prod"),
        )
        .unwrap()
        .unwrap();
        let all = Destination::for_release(&[], &[], Some(&environment)).unwrap();
        assert_eq!(
            all,
            [
                Destination {
                    region: "us-east-1".into(),
                    kms_key: Some("alias/us".into())
                },
                Destination {
                    region: "ap-south-1".into(),
                    kms_key: None
                }
            ]
        );
        let one = Destination::for_release(
            &["ap-south-1".into()],
            &["ap-south-1=alias/ap".into()],
            Some(&environment),
        )
        .unwrap();
        assert_eq!(one[0].kms_key.as_deref(), Some("alias/ap"));
        let stray = Destination::parse(&["eu-west-1".into()], &["us-east-1=k".into()]).unwrap_err();
        assert!(stray.to_string().contains("not in --copy-to"), "{stray}");
        let none = Destination::for_release(&[], &[], None).unwrap_err();
        assert_eq!(none.problem(), "no region to copy to");
    }
}
