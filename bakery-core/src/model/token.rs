//! Client tokens: what makes a RunInstances or CopyImage a retry of one request rather
//! than a new one. EC2 answers a token repeated with the same parameters with the first
//! request's result, and refuses it with other parameters (`IdempotentParameterMismatch`;
//! EC2 Developer Guide, "Ensuring idempotency in Amazon EC2 API requests"). So a token
//! names exactly one request of one build: the run that sends it (a bake, a `bakery
//! test`, a `bakery distribute`), the build's architecture, and whatever else tells its
//! requests apart. Tokens are at most 64 ASCII characters.

use std::fmt;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::inputs::field;
use super::Arch;

/// EC2's limit on a client token's length.
const MAX_LEN: usize = 64;

/// Which instance of a build a launch makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// The builder the image is made from.
    Builder,
    /// The release gate's test instance, booted from the image.
    TestInstance,
}

/// A client token for one request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientToken(String);

impl ClientToken {
    /// RunInstances of `run`'s build of `arch`.
    pub fn launch(run: &str, arch: Arch, launch: Launch) -> ClientToken {
        let text = match launch {
            Launch::Builder => format!("bakery-{run}-{arch}"),
            Launch::TestInstance => format!("bakery-test-{run}-{arch}"),
        };
        ClientToken::fitted(text, &[run, arch.as_str(), launch.name()])
    }

    /// CopyImage of `source` into `region` (with `kms_key`, when one is asked) by `run`:
    /// a later run, another region or another key is another request.
    pub fn copy(run: &str, source: &str, region: &str, kms_key: Option<&str>) -> ClientToken {
        let digest = digest(&[run, source, region, kms_key.unwrap_or("")]);
        ClientToken(format!("bakery-copy-{}", &digest[..40]))
    }

    /// The token as sent to EC2 (`ClientToken`): at most 64 ASCII characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `text`, or when it is longer than EC2 takes, a digest of what it is made of.
    fn fitted(text: String, parts: &[&str]) -> ClientToken {
        if text.len() <= MAX_LEN && text.is_ascii() {
            return ClientToken(text);
        }
        ClientToken(format!("bakery-{}", &digest(parts)[..40]))
    }
}

impl Launch {
    fn name(self) -> &'static str {
        match self {
            Launch::Builder => "builder",
            Launch::TestInstance => "test-instance",
        }
    }
}

impl fmt::Display for ClientToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        field(&mut hasher, part);
    }
    hex::encode(hasher.finalize())
}

/// A run id that sorts by time and is unique enough to tag and find resources by:
/// `20261122t022438-3f9a1c`. Bakes, `bakery test` and `bakery distribute` each have one.
pub fn new_run_id(now: SystemTime) -> String {
    let stamp = humantime::format_rfc3339_seconds(now)
        .to_string()
        .replace(['-', ':'], "")
        .trim_end_matches('Z')
        .to_ascii_lowercase();
    format!("{stamp}-{:06x}", fastrand::u32(..0x0100_0000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_s_launches_are_two_requests_and_another_build_s_are_others() {
        let tokens = [
            ClientToken::launch("20261207t111351-abcdef", Arch::X86_64, Launch::Builder),
            ClientToken::launch("20261207t111351-abcdef", Arch::X86_64, Launch::TestInstance),
            ClientToken::launch("20261207t111351-abcdef", Arch::Arm64, Launch::Builder),
            ClientToken::launch("20261207t111351-abcdef", Arch::Arm64, Launch::TestInstance),
            ClientToken::launch("20261207t120000-123456", Arch::X86_64, Launch::TestInstance),
        ];
        let distinct: std::collections::BTreeSet<_> = tokens.iter().collect();
        assert_eq!(distinct.len(), tokens.len());
        assert_eq!(tokens[0].as_str(), "bakery-20261207t111351-abcdef-x86_64");
        assert_eq!(
            tokens[3].as_str(),
            "bakery-test-20261207t111351-abcdef-arm64"
        );
    }

    #[test]
    fn a_copy_s_token_changes_with_the_run_the_region_and_the_key() {
        let copy = |run, region, key| ClientToken::copy(run, "ami-1", region, key);
        let tokens = [
            copy("run-1", "eu-west-1", None),
            copy("run-2", "eu-west-1", None),
            copy("run-1", "eu-west-2", None),
            copy("run-1", "eu-west-1", Some("alias/other")),
            ClientToken::copy("run-1", "ami-2", "eu-west-1", None),
        ];
        let distinct: std::collections::BTreeSet<_> = tokens.iter().collect();
        assert_eq!(distinct.len(), tokens.len());
        assert_eq!(
            copy("run-1", "eu-west-1", None),
            tokens[0],
            "a retry: the same"
        );
    }

    #[test]
    fn every_token_fits_ec2_s_limit() {
        let long_run = "r".repeat(80);
        for token in [
            ClientToken::launch(&long_run, Arch::Arm64, Launch::TestInstance),
            ClientToken::copy(
                &long_run,
                "ami-0123456789abcdef0",
                "ap-southeast-4",
                Some(&long_run),
            ),
        ] {
            assert!(token.as_str().len() <= MAX_LEN, "{token}");
            assert!(token.as_str().is_ascii());
        }
        assert_ne!(
            ClientToken::launch(&long_run, Arch::Arm64, Launch::TestInstance),
            ClientToken::launch(&long_run, Arch::Arm64, Launch::Builder)
        );
    }
}
