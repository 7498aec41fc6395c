//! The recipe's release gate: `[test]` settings, read with its `[[tests]]` by
//! `recipe.rs`. A test instance is launched from the new image, boots through the
//! firstboot agent as any instance would, and runs each test before the image can
//! become a release.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::model::names::duration_text;

/// How long the whole test stage may take, unless `[test] timeout` says otherwise.
pub const DEFAULT_TEST_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// What the firstboot agent fetches on the test instance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TestRunlist {
    /// The image's own runlist: the path every instance of the fleet takes.
    #[default]
    Image,
    /// Nothing: the agent runs no runlist on the test instance.
    Nothing,
    /// Another location (`s3://bucket/key`, placeholders as in `[firstboot]`).
    Location(String),
}

impl TestRunlist {
    /// As written in recipe.toml and shown by `plan`: `image`, `none` or the location.
    pub fn as_str(&self) -> &str {
        match self {
            TestRunlist::Image => "image",
            TestRunlist::Nothing => "none",
            TestRunlist::Location(location) => location,
        }
    }

    /// The value of the instance tag the agent reads its override from, if any.
    pub fn override_tag(&self) -> Option<&str> {
        match self {
            TestRunlist::Image => None,
            other => Some(other.as_str()),
        }
    }
}

impl Serialize for TestRunlist {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// `[test]`: the test instance and the stage's limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct TestSettings {
    /// The test instance's type; the builder's when absent.
    pub instance_type: Option<String>,
    pub runlist: TestRunlist,
    /// The whole stage: launch, boot, firstboot and every test.
    #[serde(with = "duration_text")]
    pub timeout: Duration,
    /// Extra tags of the test instance (the agent reads placeholders from them).
    pub tags: BTreeMap<String, String>,
}

impl TestSettings {
    pub fn new() -> TestSettings {
        TestSettings {
            timeout: DEFAULT_TEST_TIMEOUT,
            ..TestSettings::default()
        }
    }
}
