//! The release gate's outcome, as the image tag `bakery:tests`, the release record,
//! the bake's result and `bakery releases` say it.

use serde::{Deserialize, Serialize};

/// The image tag that carries the release gate's state (see [`GateState::tag_value`]).
pub const TAG_TESTS: &str = "bakery:tests";

/// Where a release stands with its tests: the state in the `bakery:tests` tag and the
/// release record (lowercase: `none`, `pending`, `passed`, `failed`, `skipped`).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum GateState {
    /// The recipe has no tests: nothing to pass.
    #[default]
    None,
    /// The image was made; its tests have not finished.
    Pending,
    /// Every test passed: `passed (name, …)`.
    Passed,
    /// A test failed: `failed (name, …)`; promoting the release then takes `--force`.
    Failed,
    /// `--skip-tests`: the recipe has tests and the bake was told not to run them.
    Skipped,
}

impl GateState {
    /// True when a channel may point at the release without `--force`.
    pub fn may_be_promoted(self) -> bool {
        matches!(self, GateState::None | GateState::Passed)
    }

    /// The `bakery:tests` tag: the state, and the tests' names when they ran.
    pub fn tag_value(self, tests: &[String]) -> String {
        let text = match self {
            GateState::Passed | GateState::Failed if !tests.is_empty() => {
                format!("{self} ({})", tests.join(", "))
            }
            _ => self.to_string(),
        };
        if text.chars().count() <= 256 {
            return text;
        }
        // AWS takes 256 characters: the names cut short, the state kept.
        text.chars().take(255).chain(['…']).collect()
    }

    /// The state a `bakery:tests` tag says; `None` on images made before the gate.
    pub fn of_tag(value: &str) -> Option<GateState> {
        value.split([' ', '(']).next()?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_says_the_state_and_the_tests_and_reads_back() {
        let tests = vec!["sshd-config".to_string(), "agents".to_string()];
        let tag = GateState::Passed.tag_value(&tests);
        assert_eq!(tag, "passed (sshd-config, agents)");
        assert_eq!(GateState::of_tag(&tag), Some(GateState::Passed));
        assert_eq!(GateState::Skipped.tag_value(&tests), "skipped");
        assert_eq!(GateState::of_tag("skipped"), Some(GateState::Skipped));
        assert_eq!(GateState::of_tag("whatever"), None);
        let many: Vec<String> = (0..100).map(|i| format!("test-number-{i}")).collect();
        let long = GateState::Passed.tag_value(&many);
        assert!(long.chars().count() <= 256 && long.ends_with('…'), "{long}");
        assert!(GateState::Passed.may_be_promoted() && GateState::None.may_be_promoted());
        assert!(!GateState::Skipped.may_be_promoted() && !GateState::Failed.may_be_promoted());
    }
}
