//! Checks of single values, shared by recipe.toml, bakery.toml and the flags: each
//! returns what is wrong and what is accepted, and the caller says where.

use crate::model::Sharing;

/// AWS tag rules, plus the `bakery:` prefix that belongs to bakery's own schema.
pub fn check_tag(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err("tag keys are 1 to 128 characters".into());
    }
    if value.chars().count() > 256 {
        return Err("tag values are at most 256 characters".into());
    }
    let lower = key.to_ascii_lowercase();
    if lower.starts_with("aws:") || lower.starts_with("bakery:") {
        return Err("the `aws:` and `bakery:` prefixes are reserved; choose another key".into());
    }
    Ok(())
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

/// Account ids and organization / OU ARNs to share with; an error names the key.
pub fn check_sharing(share: &Sharing) -> Result<(), (&'static str, String)> {
    for account in &share.accounts {
        if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
            return Err((
                "share.accounts",
                format!("`{account}` is not an AWS account id (12 digits)"),
            ));
        }
    }
    for org in &share.organizations {
        if !(org.starts_with("arn:aws") && org.contains(":organization/o-")) {
            return Err((
                "share.organizations",
                format!(
                    "`{org}` is not an organization ARN \
                     (arn:aws:organizations::<account>:organization/o-...)"
                ),
            ));
        }
    }
    for ou in &share.organizational_units {
        if !(ou.starts_with("arn:aws") && ou.contains(":ou/o-")) {
            return Err((
                "share.organizational_units",
                format!(
                    "`{ou}` is not an OU ARN (arn:aws:organizations::<account>:ou/o-.../ou-...)"
                ),
            ));
        }
    }
    Ok(())
}

/// An SNS topic ARN: `arn:<partition>:sns:<region>:<account>:<name>`.
pub fn check_topic_arn(topic: &str) -> Result<(), String> {
    let parts: Vec<&str> = topic.split(':').collect();
    if parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "sns"
        && parts[5..].iter().all(|p| !p.is_empty())
    {
        Ok(())
    } else {
        Err(format!(
            "`{topic}` is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)"
        ))
    }
}

/// An S3 bucket name: 3-63 lower-case letters, digits, `.` and `-`.
pub fn check_bucket(bucket: &str) -> Result<(), String> {
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{bucket}` is not a bucket name (3-63 lower-case letters, digits, `.` and `-`)"
        ))
    }
}

/// A CloudWatch Logs group name: letters, digits and `_-/.#`.
pub fn check_log_group(group: &str) -> Result<(), String> {
    let valid = (1..=512).contains(&group.len())
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-/.#".contains(c));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{group}` is not a log group name (letters, digits, `_-/.#`)"
        ))
    }
}

/// An SSM parameter name: `/a/path` or `name`, of letters, digits and `_.-/`, not in
/// AWS's reserved `aws`/`ssm` namespace.
pub fn check_parameter_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 1011
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
        && !name.to_ascii_lowercase().starts_with("/aws")
        && !name.to_ascii_lowercase().starts_with("aws");
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not an SSM parameter name: write its name or path, e.g. \
             /zookeeper/jaas-password (letters, digits, `_.-/`)"
        ))
    }
}

/// An environment variable name for a step: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn check_env_name(name: &str) -> Result<(), String> {
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        Err(format!(
            "invalid environment variable name `{name}`: use letters, digits and `_`, not starting with a digit"
        ))
    } else if name.to_ascii_uppercase().starts_with(RESERVED_ENV_PREFIX) {
        Err(format!(
            "`{name}` is reserved: bakery sets the {RESERVED_ENV_PREFIX}* variables of every step"
        ))
    } else {
        Ok(())
    }
}

/// The prefix of the variables bakery gives every step (`BAKERY_ROLE`, …).
pub const RESERVED_ENV_PREFIX: &str = "BAKERY_";

/// A runlist location: `s3://bucket/key` whose `{placeholders}` are names of letters,
/// digits, `_`, `.`, `:` and `-`.
pub fn check_runlist(location: &str) -> Result<(), String> {
    let Some(rest) = location.strip_prefix("s3://") else {
        return Err(format!(
            "`{location}` is not an S3 URI: write s3://bucket/key, e.g. \
             s3://company-runlists/{{environment}}/zookeeper.json"
        ));
    };
    match rest.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {}
        _ => {
            return Err(format!(
                "`{location}` names no object: write s3://bucket/key"
            ))
        }
    }
    let mut text = rest;
    while let Some(open) = text.find(['{', '}']) {
        if text[open..].starts_with('}') {
            return Err(format!("`{location}` has a `}}` without its `{{`"));
        }
        let after = &text[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("`{location}` has a `{{` without its `}}`"));
        };
        let name = &after[..close];
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c));
        if !valid {
            return Err(format!(
                "placeholder `{{{name}}}` in `{location}`: a placeholder names an instance tag \
                 or environment variable (letters, digits, `_`, `.`, `:`, `-`), or one of \
                 {{role}}, {{version}}, {{region}}, {{instance_id}}"
            ));
        }
        text = &after[close + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runlist_locations_are_checked() {
        assert!(check_runlist("s3://b/{environment}/{role}.json").is_ok());
        for (bad, says) in [
            ("https://b/k", "not an S3 URI"),
            ("s3://bucket", "names no object"),
            ("s3://b/{env", "without its `}`"),
            ("s3://b/env}", "without its `{`"),
            ("s3://b/{a b}", "placeholder `{a b}`"),
        ] {
            let message = check_runlist(bad).unwrap_err();
            assert!(message.contains(says), "{bad}: {message}");
        }
    }

    #[test]
    fn names_of_aws_things_are_checked_with_what_is_accepted() {
        assert!(check_region("us-gov-west-1").is_ok());
        assert!(check_region("Frankfurt")
            .unwrap_err()
            .contains("e.g. eu-west-1"));
        assert!(check_topic_arn("arn:aws:sns:eu-west-1:123456789012:t").is_ok());
        assert!(check_topic_arn("alerts").is_err());
        assert!(check_bucket("Bake-Logs").is_err());
        assert!(check_log_group("bake logs").is_err());
        assert!(check_parameter_name("/aws/service/x").is_err());
        assert!(check_env_name("_OK9").is_ok() && check_env_name("1X").is_err());
        assert!(check_tag("bakery:role", "x")
            .unwrap_err()
            .contains("reserved"));
    }
}
