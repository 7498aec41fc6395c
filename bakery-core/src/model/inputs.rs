//! What a release is made of, as one fingerprint: the recipe folder's digest, the
//! merged settings that shape the image, the firstboot agents bakery embeds (all three
//! known to the plan, `plan::inputs`), and the base image the bake resolved. Two bakes
//! with the same fingerprint make the same image; `bake --if-changed` and `outdated`
//! compare it. The image tag `bakery:inputs` holds the fingerprint, the release
//! record every part.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The image tag that carries the inputs' fingerprint ([`ReleaseInputs::fingerprint`]).
pub const TAG_INPUTS: &str = "bakery:inputs";

/// The inputs a plan knows before any AWS call; the base image comes with the bake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// `bakery:recipe-digest`: every file of the recipe folder.
    pub recipe_digest: String,
    /// The merged settings that shape the image.
    pub settings: String,
    /// The firstboot agents and their init files, as this bakery embeds them.
    pub agent: String,
}

/// The inputs of a release, its base image included, and their fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseInputs {
    /// `sha256:` over the recipe digest, the settings, the agents and the base image.
    pub fingerprint: String,
    /// The inputs the plan knew (flattened into this record's JSON).
    #[serde(flatten)]
    pub inputs: Inputs,
    /// The base image id the bake resolved and launched the builder from.
    pub base_image: String,
}

impl Inputs {
    /// With the base image the bake resolved: the release's inputs.
    pub fn with_base(&self, base_image: &str) -> ReleaseInputs {
        let mut hasher = Sha256::new();
        for part in [
            &self.recipe_digest,
            &self.settings,
            &self.agent,
            &base_image.to_string(),
        ] {
            field(&mut hasher, part);
        }
        ReleaseInputs {
            fingerprint: format!("sha256:{}", hex::encode(hasher.finalize())),
            inputs: self.clone(),
            base_image: base_image.to_string(),
        }
    }
}

/// One length-prefixed field: no two lists of fields hash alike.
pub fn field(hasher: &mut Sha256, text: &str) {
    hasher.update((text.len() as u64).to_be_bytes());
    hasher.update(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_changes_with_any_input_and_only_then() {
        let inputs = Inputs {
            recipe_digest: "sha256:r".into(),
            settings: "sha256:s".into(),
            agent: "sha256:a".into(),
        };
        let release = inputs.with_base("ami-1");
        assert_eq!(release, inputs.with_base("ami-1"));
        assert!(release.fingerprint.starts_with("sha256:"));
        assert_ne!(release.fingerprint, inputs.with_base("ami-2").fingerprint);
        let other = Inputs {
            settings: "sha256:t".into(),
            ..inputs.clone()
        };
        assert_ne!(release.fingerprint, other.with_base("ami-1").fingerprint);
        let json = serde_json::to_value(&release).unwrap();
        assert_eq!(json["base_image"], "ami-1");
        assert_eq!(json["recipe_digest"], "sha256:r", "flattened");
    }
}
