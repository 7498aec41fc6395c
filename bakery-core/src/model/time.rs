//! Points in time as AWS and bakery write them: RFC 3339.

use std::time::SystemTime;

use crate::error::{Error, Result};

/// `2026-11-22T02:24:38Z`.
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// True when RFC 3339 time `a` is before `b`; false when either does not parse.
/// How long before `now` an RFC 3339 time (EC2's creation dates) was; None when it
/// does not parse or lies ahead.
pub fn age_at(time: &str, now: SystemTime) -> Option<std::time::Duration> {
    let then = humantime::parse_rfc3339_weak(time).ok()?;
    now.duration_since(then).ok()
}

pub fn rfc3339_before(a: &str, b: &str) -> bool {
    match (
        humantime::parse_rfc3339_weak(a),
        humantime::parse_rfc3339_weak(b),
    ) {
        (Ok(a), Ok(b)) => a < b,
        _ => false,
    }
}

/// `2027-03-01`, `2027-03-01T12:00:00Z`, or `now`.
pub fn parse_when(text: &str) -> Result<SystemTime> {
    if text == "now" {
        return Ok(SystemTime::now());
    }
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_string()
    };
    humantime::parse_rfc3339_weak(&full).map_err(|_| {
        Error::input(format!(
            "invalid date `{text}`: give YYYY-MM-DD, an RFC 3339 time (2027-03-01T12:00:00Z) or `now`"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_from_aws_compare_with_or_without_fractions() {
        assert!(rfc3339_before(
            "2027-02-21T02:50:00.000Z",
            "2027-02-21T02:51:00Z"
        ));
        assert!(!rfc3339_before(
            "2027-02-21T02:50:00Z",
            "2026-01-01T00:00:00Z"
        ));
        assert!(!rfc3339_before("soon", "2026-01-01T00:00:00Z"));
    }

    #[test]
    fn dates_are_days_times_or_now() {
        assert_eq!(
            rfc3339(parse_when("2027-03-01").unwrap()),
            "2027-03-01T00:00:00Z"
        );
        assert!(parse_when("next week")
            .unwrap_err()
            .to_string()
            .contains("give YYYY-MM-DD"));
    }
}
