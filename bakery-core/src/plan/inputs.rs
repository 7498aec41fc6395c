//! The inputs a plan knows before any AWS call (`model::inputs` has the release's
//! fingerprint): the recipe folder's digest, the merged settings that shape the image
//! (the builder's type and disk, every Run Command's script, environment and secrets'
//! names, the firstboot config), and the firstboot agents bakery embeds.

use sha2::{Digest, Sha256};

use super::{BakePlan, CommandStep, StepCommand};
use crate::config::BuilderSettings;
use crate::model::inputs::{field, Inputs};
use crate::model::Arch;
use crate::script::firstboot::{LINUX_AGENT, LINUX_INIT, LINUX_UNIT, WINDOWS_AGENT, WINDOWS_TASK};

/// The inputs of the plan's build of `arch` on `builder`: all but the base image.
pub fn inputs_of(plan: &BakePlan, arch: Arch, builder: &BuilderSettings) -> Inputs {
    Inputs {
        recipe_digest: plan.recipe_digest.clone(),
        settings: settings_digest(plan, arch, builder),
        agent: agent_digest(),
    }
}

fn command(hasher: &mut Sha256, command: &CommandStep) {
    field(hasher, &command.step.to_string());
    field(hasher, command.document.name());
    match &command.command {
        StepCommand::Script {
            script,
            env,
            secrets,
            ..
        } => {
            field(hasher, script);
            for (name, value) in env {
                field(hasher, name);
                field(hasher, value);
            }
            // The parameters' names: their values are read on the builder.
            for (name, parameter) in secrets {
                field(hasher, name);
                field(hasher, parameter);
            }
        }
        StepCommand::Firstboot { settings, .. } => {
            field(
                hasher,
                &serde_json::to_string(settings).expect("serializes"),
            );
        }
    }
}

fn settings_digest(plan: &BakePlan, arch: Arch, builder: &BuilderSettings) -> String {
    let mut hasher = Sha256::new();
    for part in [
        plan.platform.to_string(),
        arch.to_string(),
        builder.instance_type().to_string(),
        builder.volume_size.map_or("base".into(), |s| s.to_string()),
        builder.volume_type().to_string(),
        builder.kms_key.clone().unwrap_or_default(),
        builder.installs_ssm_agent().to_string(),
    ] {
        field(&mut hasher, &part);
    }
    for step in &plan.steps {
        command(&mut hasher, step);
    }
    // The gate's tests and [test] are the recipe folder's (its digest), and get the
    // steps' variables: `--skip-tests` makes the same image, and the same inputs.
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

fn agent_digest() -> String {
    let mut hasher = Sha256::new();
    for file in [
        LINUX_AGENT,
        LINUX_UNIT,
        LINUX_INIT,
        WINDOWS_AGENT,
        WINDOWS_TASK,
    ] {
        field(&mut hasher, file);
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}
