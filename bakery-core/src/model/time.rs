//! Points in time as AWS and bakery write them: RFC 3339.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// `2026-11-22T02:24:38Z`.
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// An RFC 3339 time from AWS (`2026-11-23T19:32:06.000Z`) to the second, in UTC
/// (`2026-11-23T19:32:06Z`); as it came when it does not parse.
pub fn utc_seconds(time: &str) -> String {
    humantime::parse_rfc3339_weak(time)
        .map(rfc3339)
        .unwrap_or_else(|_| time.to_string())
}

/// How long bakery waits for a new image to become available, unless `[deadlines]
/// image` says otherwise: large images take half an hour and more on AWS.
pub const DEFAULT_IMAGE_WAIT: Duration = Duration::from_secs(60 * 60);

/// A duration as people count it: `91 days`, `1 day 12h`, `2h 30m`, `45s`; past a day,
/// to the minute; never in months of 30.44 days, as `humantime` would (`2months 29days
/// 17h…` for 91 days).
pub fn human(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let rest = humantime::format_duration(Duration::from_secs(rest - rest % 60)).to_string();
    match days {
        0 => humantime::format_duration(Duration::from_secs(seconds)).to_string(),
        1 if rest == "0s" => "1 day".to_string(),
        1 => format!("1 day {rest}"),
        n if rest == "0s" => format!("{n} days"),
        n => format!("{n} days {rest}"),
    }
}

/// How long before `now` an RFC 3339 time (EC2's creation dates) was; None when it
/// does not parse or lies ahead.
pub fn age_at(time: &str, now: SystemTime) -> Option<std::time::Duration> {
    let then = humantime::parse_rfc3339_weak(time).ok()?;
    now.duration_since(then).ok()
}

/// True when RFC 3339 time `a` is before `b`; false when either does not parse.
pub fn rfc3339_before(a: &str, b: &str) -> bool {
    match (
        humantime::parse_rfc3339_weak(a),
        humantime::parse_rfc3339_weak(b),
    ) {
        (Ok(a), Ok(b)) => a < b,
        _ => false,
    }
}

/// How far ahead EnableImageDeprecation takes a date: 10 years (EC2 API Reference,
/// EnableImageDeprecation, `DeprecateAt`).
const DEPRECATION_HORIZON: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// When a release's images are deprecated, as EnableImageDeprecation takes it: a date
/// after `now` (AWS refuses one in the past and rounds to the minute) and within 10
/// years; `now` is the next whole minute.
pub fn deprecation_time(text: &str, now: SystemTime) -> Result<SystemTime> {
    let minute = 60;
    if text == "now" {
        let seconds = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        return Ok(UNIX_EPOCH + Duration::from_secs((seconds / minute + 1) * minute));
    }
    let at = parse_when(text).map_err(|e| {
        Error::input(format!("--at: {e}")).with_hint("e.g. --at 2027-03-01, or now")
    })?;
    if at <= now + Duration::from_secs(minute) {
        return Err(Error::input(format!(
            "--at `{text}` is in the past: AWS deprecates an image from a later time only"
        ))
        .with_hint("give a later date, or `now`"));
    }
    if at > now + DEPRECATION_HORIZON {
        return Err(Error::input(format!(
            "--at `{text}` is more than 10 years ahead, later than AWS takes"
        )));
    }
    Ok(at)
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
        assert_eq!(
            utc_seconds("2026-11-23T19:32:06.000Z"),
            "2026-11-23T19:32:06Z"
        );
    }

    #[test]
    fn durations_read_in_days_never_in_months() {
        let day = 86_400;
        assert_eq!(human(Duration::from_secs(91 * day)), "91 days");
        assert_eq!(human(Duration::from_secs(day + 12 * 3600)), "1 day 12h");
        assert_eq!(human(Duration::from_secs(7 * day + 90)), "7 days 1m");
        assert_eq!(human(Duration::from_secs(2 * 3600 + 30 * 60)), "2h 30m");
        assert_eq!(human(Duration::from_secs(45)), "45s");
    }

    #[test]
    fn a_deprecation_time_is_later_than_now_and_within_ten_years() {
        let now = parse_when("2026-12-07T11:13:51Z").unwrap();
        let at = |text| deprecation_time(text, now).map(rfc3339);
        assert_eq!(
            at("now").unwrap(),
            "2026-12-07T11:14:00Z",
            "the next whole minute"
        );
        assert_eq!(at("2027-03-01").unwrap(), "2027-03-01T00:00:00Z");
        let past = at("2020-01-01").unwrap_err();
        assert!(
            past.to_string().contains("`2020-01-01` is in the past"),
            "{past}"
        );
        assert_eq!(past.kind(), crate::error::ErrorKind::InvalidInput);
        assert!(
            at("2026-12-07T11:14:00Z").is_err(),
            "within the minute AWS rounds to"
        );
        assert!(at("2036-12-01").is_ok());
        assert!(at("2037-01-01")
            .unwrap_err()
            .to_string()
            .contains("10 years"));
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
