//! Command-line values that change a bake's settings, and the list flags' syntax.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// Flags that win over the environment and the recipe (the last layer of a merge).
#[derive(Debug, Clone, Default)]
pub struct SettingsFlags {
    pub instance_type: Option<String>,
    pub instance_profile: Option<String>,
    pub subnet: Option<String>,
    pub security_groups: Vec<String>,
    /// An SNS topic ARN for the alert of a failed or interrupted bake.
    pub sns_topic: Option<String>,
    /// `--copy-to`: other regions the release is copied to.
    pub copy_to: Vec<String>,
    /// `--kms-key REGION=KEY`.
    pub kms_keys: Vec<String>,
}

/// A list flag given comma-separated or repeated (`--regions a,b --regions c`).
pub fn split_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// `--kms-key REGION=KEY` values, by region.
pub fn parse_kms_keys(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut keys = BTreeMap::new();
    for pair in pairs {
        let (region, key) = pair
            .split_once('=')
            .filter(|(region, key)| !region.is_empty() && !key.is_empty())
            .ok_or_else(|| {
                Error::input(format!(
                    "--kms-key `{pair}`: write REGION=KEY, e.g. eu-west-1=alias/ebs"
                ))
            })?;
        keys.insert(region.to_string(), key.to_string());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_flags_may_be_repeated_or_comma_separated() {
        let given = ["eu-west-1,us-east-1".to_string(), "ap-south-1".to_string()];
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
