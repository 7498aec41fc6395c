//! Checks of single values, shared by recipe.toml, bakery.toml and the flags: each
//! returns what is wrong and what is accepted, and the caller says where.

pub use crate::model::names::check_region;
use crate::model::Sharing;

/// AWS tag rules, plus the `bakery:` prefix that belongs to bakery's own schema.
pub fn check_tag(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() || key.chars().count() > 128 || key.chars().any(char::is_control) {
        return Err("tag keys are 1 to 128 characters, none of them a control character".into());
    }
    check_tag_value(value)?;
    let lower = key.to_ascii_lowercase();
    if lower.starts_with("aws:") || lower.starts_with("bakery:") {
        return Err("the `aws:` and `bakery:` prefixes are reserved; choose another key".into());
    }
    Ok(())
}

/// A tag value: at most 256 characters, no line breaks or other control characters.
pub fn check_tag_value(value: &str) -> Result<(), String> {
    let length = value.chars().count();
    if length > 256 {
        return Err(format!(
            "tag values are at most 256 characters; this one has {length}"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err("tag values hold no line breaks or other control characters".into());
    }
    Ok(())
}

/// An EC2 instance type: a family with its generation, a dot, a size (`t3.small`,
/// `m7i-flex.large`, `c7i.metal-24xl`).
pub fn check_instance_type(instance_type: &str) -> Result<(), String> {
    let valid = instance_type.split_once('.').is_some_and(|(family, size)| {
        family.starts_with(|c: char| c.is_ascii_lowercase())
            && family.chars().any(|c| c.is_ascii_digit())
            && family
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !size.is_empty()
            && size
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{instance_type}` is not an instance type: write FAMILY.SIZE, e.g. t3.small or m7g.large"
        ))
    }
}

/// An EC2 id of `prefix` (`sg`, `subnet`, `ami`): the prefix, a dash, 8 or 17 hex digits.
pub fn check_ec2_id(prefix: &str, id: &str) -> Result<(), String> {
    let valid = id
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hex| {
            matches!(hex.len(), 8 | 17) && hex.chars().all(|c| c.is_ascii_hexdigit())
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is not a valid {prefix}- id: {prefix}- and 8 or 17 hex digits, e.g. {prefix}-0123456789abcdef0"
        ))
    }
}

/// A KMS key as EC2 takes it: a key id, `alias/NAME`, or a key or alias ARN.
pub fn check_kms_key(key: &str) -> Result<(), String> {
    let is_key_id = |id: &str| {
        let hex = id.strip_prefix("mrk-").unwrap_or(id);
        (hex.len() == 36 || (id.starts_with("mrk-") && hex.len() == 32))
            && hex.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
    };
    let is_alias = |name: &str| {
        name.strip_prefix("alias/").is_some_and(|rest| {
            !rest.is_empty()
                && rest.len() <= 250
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c))
        })
    };
    let is_arn = |arn: &str| {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        parts.len() == 6
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && parts[2] == "kms"
            && check_region(parts[3]).is_ok()
            && parts[4].len() == 12
            && parts[4].chars().all(|c| c.is_ascii_digit())
            && (parts[5].strip_prefix("key/").is_some_and(is_key_id) || is_alias(parts[5]))
    };
    if is_key_id(key) || is_alias(key) || is_arn(key) {
        Ok(())
    } else {
        Err(format!(
            "`{key}` is not a KMS key: give its id, alias/NAME, or its ARN \
             (arn:aws:kms:REGION:ACCOUNT:key/ID)"
        ))
    }
}

/// An instance profile: its name, or its ARN.
pub fn check_instance_profile(profile: &str) -> Result<(), String> {
    let name = match profile.strip_prefix("arn:") {
        Some(rest) => rest
            .split_once(":instance-profile/")
            .map_or("", |(_, path)| path.rsplit('/').next().unwrap_or("")),
        None => profile,
    };
    let valid = (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{profile}` is not an instance profile: give its name (letters, digits, `+=,.@_-`) \
             or its ARN (arn:aws:iam::ACCOUNT:instance-profile/NAME)"
        ))
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
        assert!(check_tag("team", "a\nb")
            .unwrap_err()
            .contains("line breaks"));
        assert!(check_tag_value(&"x".repeat(257))
            .unwrap_err()
            .contains("has 257"));
    }

    #[test]
    fn what_ec2_launches_with_is_checked_by_its_form() {
        for good in [
            "t3.small",
            "m7i-flex.large",
            "c7i.metal-24xl",
            "u-6tb1.112xlarge",
        ] {
            assert!(check_instance_type(good).is_ok(), "{good}");
        }
        for bad in ["", "t3", "t3.small; rm -rf /", "T3.small", "small.t3x"] {
            assert!(check_instance_type(bad).is_err(), "{bad}");
        }
        assert!(check_ec2_id("sg", "sg-0123456789abcdef0").is_ok());
        assert!(check_ec2_id("sg", "sg-12345678").is_ok());
        assert!(check_ec2_id("sg", "not-an-sg")
            .unwrap_err()
            .contains("sg- and 8 or 17"));
        assert!(check_ec2_id("subnet", "sg-12345678").is_err());
        for good in [
            "alias/ebs",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/ebs",
        ] {
            assert!(check_kms_key(good).is_ok(), "{good}");
        }
        for bad in ["", "ebs", "alias/", "arn:aws:kms:eu-west-1:1:key/x"] {
            assert!(check_kms_key(bad).is_err(), "{bad}");
        }
        assert!(check_instance_profile("bakery-builder").is_ok());
        assert!(check_instance_profile(
            "arn:aws:iam::123456789012:instance-profile/ci/bakery-builder"
        )
        .is_ok());
        assert!(check_instance_profile("bakery builder").is_err());
        assert!(check_instance_profile("").is_err());
    }
}
