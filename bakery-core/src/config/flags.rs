//! Command-line values that change a bake's settings, and the list flags' syntax.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// Flags that win over the environment and the recipe (the last layer of a merge).
#[derive(Debug, Clone, Default)]
pub struct SettingsFlags {
    /// `--instance-type`: the builder's instance type.
    pub instance_type: Option<String>,
    /// `--instance-profile`: the builder's and test instance's profile, a name or an ARN.
    pub instance_profile: Option<String>,
    /// `--subnet`: the builder's and test instance's subnet.
    pub subnet: Option<String>,
    /// `--security-group`, repeated: the builder's and test instance's groups; empty
    /// when none is given.
    pub security_groups: Vec<String>,
    /// An SNS topic ARN for the alert of a failed or interrupted bake.
    pub sns_topic: Option<String>,
    /// `--copy-to`: other regions the release is copied to.
    pub copy_to: Vec<String>,
    /// `--kms-key REGION=KEY`.
    pub kms_keys: Vec<String>,
    /// `--var NAME=VALUE`: values of the recipe's variables.
    pub vars: Vec<String>,
}

/// `--var NAME=VALUE` values, by name.
pub fn parse_vars(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    parse_pairs("--var", "NAME=VALUE", "APP_VERSION=2.4.1", pairs)
}

/// A list flag given comma-separated or repeated (`--regions a,b --regions c`).
pub fn split_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// `--kms-key REGION=KEY` values, by region.
pub fn parse_kms_keys(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    let keys = parse_pairs("--kms-key", "REGION=KEY", "eu-west-1=alias/ebs", pairs)?;
    match keys.iter().find(|(_, key)| key.is_empty()) {
        Some((region, _)) => Err(Error::input(format!(
            "--kms-key `{region}=`: write REGION=KEY, e.g. eu-west-1=alias/ebs"
        ))),
        None => Ok(keys),
    }
}

/// Repeated `FLAG KEY=VALUE` values, by key (the last one given wins); a pair without
/// `=` or with an empty key is refused with the flag's `syntax` and an `example`; an
/// empty value is a value.
pub fn parse_pairs(
    flag: &str,
    syntax: &str,
    example: &str,
    pairs: &[String],
) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .filter(|(key, _)| !key.is_empty())
            .ok_or_else(|| {
                Error::input(format!("{flag} `{pair}`: write {syntax}, e.g. {example}"))
            })?;
        values.insert(key.to_string(), value.to_string());
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_flags_may_be_repeated_or_comma_separated() {
        let given = ["eu-west-1, us-east-1".to_string(), "ap-south-1".to_string()];
        assert_eq!(split_list(&given), ["eu-west-1", "us-east-1", "ap-south-1"]);
        assert_eq!(
            parse_kms_keys(&["eu-west-1=alias/ebs".into()]).unwrap()["eu-west-1"],
            "alias/ebs"
        );
        assert!(parse_kms_keys(&["alias/ebs".into()])
            .unwrap_err()
            .to_string()
            .contains("write REGION=KEY"));
    }
}
