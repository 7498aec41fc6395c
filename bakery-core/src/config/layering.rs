//! The layers of one bake's settings, in the one order they merge: built-in defaults
//! → the environment's chain → the recipe → the flags; the bake runs in `region`.

use toml::Value;

use super::environment::Environment;
use super::flags::{parse_kms_keys, parse_vars, split_list, SettingsFlags};
use super::recipe::{Recipe, RECIPE_FILE};
use super::settings::{merge, Layer, Merged, Source};
use super::vars::{self, KeptVars};
use crate::error::{Error, Result};
use crate::model::Arch;

/// The builder's instance type when nothing else names one.
pub fn default_instance_type(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "t3.small",
        Arch::Arm64 => "t4g.small",
    }
}

/// Merges the settings of the bake of one of the recipe's architectures, and checks
/// them once the regions are final.
pub fn for_bake(
    recipe: &Recipe,
    environment: Option<&Environment>,
    flags: &SettingsFlags,
    kept: Option<&KeptVars>,
    region: &str,
    arch: Arch,
) -> Result<Merged> {
    let mut layers = vec![Layer::of(
        Source::Default,
        vec![
            ("builder.instance_type", default_instance_type(arch).into()),
            ("builder.volume_type", "gp3".into()),
            ("builder.install_ssm_agent", false.into()),
            ("builder.metadata_hop_limit", 1.into()),
        ],
    )];
    // A variable's default is the recipe's, but the environment's value wins over it.
    layers.push(var_defaults_layer(recipe));
    if let Some(environment) = environment {
        layers.extend(environment.layers().iter().cloned());
    }
    layers.push(recipe_layer(recipe));
    // What the variables would be without `--var`, now.
    let otherwise = vars_of(&layers);
    if let Some(kept) = kept {
        layers.push(kept_layer(kept, &otherwise));
    }
    layers.extend(flag_layers(flags, region)?);
    // The bake runs in `region` (--region, or the environment's first): the others
    // are where the release is copied.
    let mut merged = merge(&layers)?;
    vars::settle(&recipe.vars, &recipe.dir.join(RECIPE_FILE), &mut merged)?;
    merged.overrides = merged
        .settings
        .vars
        .keys()
        .filter(|name| {
            let source = merged.sources.get(&format!("vars.{name}"));
            matches!(source, Some(Source::Flag { .. } | Source::Kept { .. }))
        })
        .map(|name| (name.clone(), otherwise.get(name).cloned()))
        .collect();
    let regions = &mut merged.settings.regions;
    if regions.first().map(String::as_str) != Some(region) {
        regions.retain(|r| r != region);
        regions.insert(0, region.to_string());
        merged.sources.insert("regions".into(), flag("--region"));
    }
    merged.check_kms_regions()?;
    instance_type_of(&mut merged, arch, recipe.architectures.len())?;
    Ok(merged)
}

/// The builder's type for `arch`. With several architectures, the type
/// `[builder.instance_types]` names for it, else its default; an `instance_type` set
/// anywhere is refused, since no instance type runs both. With one, `instance_type`
/// or the table's entry, whichever comes from the later layer (a flag over the recipe).
fn instance_type_of(merged: &mut Merged, arch: Arch, architectures: usize) -> Result<()> {
    let key = format!("builder.instance_types.{arch}");
    let own = merged.sources.get(&key).cloned();
    let source = merged.sources.get("builder.instance_type").cloned();
    let builder = &mut merged.settings.builder;
    if architectures > 1 {
        if let Some(source) = source.as_ref().filter(|s| **s != Source::Default) {
            let instance_type = builder.instance_type.as_deref().unwrap_or_default();
            return Err(Error::input(format!(
                "builder.instance_type = {instance_type}, from {source}, would be the builder \
                 of every architecture, and the recipe is baked for several: an instance type \
                 runs one"
            ))
            .with_hint(format!(
                "name one per architecture in `[builder.instance_types]` (e.g. x86_64 = \
                 \"t3.large\", arm64 = \"t4g.large\"), or leave it out for {} and {}",
                default_instance_type(Arch::X86_64),
                default_instance_type(Arch::Arm64)
            )));
        }
    }
    let own_wins = match (&own, &source) {
        (Some(own), Some(source)) => architectures > 1 || own.layer() >= source.layer(),
        (own, _) => own.is_some(),
    };
    if let (true, Some(instance_type)) = (own_wins, builder.instance_types.get(&arch)) {
        builder.instance_type = Some(instance_type.clone());
        let own = own.expect("a value has its source");
        merged.sources.insert("builder.instance_type".into(), own);
    }
    Ok(())
}

fn recipe_layer(recipe: &Recipe) -> Layer {
    let mut layer = Layer::of(
        Source::Recipe {
            file: recipe.dir.join(RECIPE_FILE),
        },
        vec![],
    );
    let builder = Value::try_from(&recipe.builder).expect("builder settings serialize");
    if builder.as_table().is_some_and(|t| !t.is_empty()) {
        layer.table.insert("builder".into(), builder);
    }
    if !recipe.tags.is_empty() {
        let tags = Value::try_from(&recipe.tags).expect("tags serialize");
        layer.table.insert("tags".into(), tags);
    }
    if !recipe.deadlines.is_empty() {
        let deadlines = Value::try_from(&recipe.deadlines).expect("deadlines serialize");
        layer.table.insert("deadlines".into(), deadlines);
    }
    layer
}

fn var_defaults_layer(recipe: &Recipe) -> Layer {
    let defaults: Vec<(String, Value)> = recipe
        .vars
        .iter()
        .filter_map(|(name, var)| Some((format!("vars.{name}"), var.default.clone()?.into())))
        .collect();
    Layer::of(
        Source::Recipe {
            file: recipe.dir.join(RECIPE_FILE),
        },
        defaults
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect(),
    )
}

/// The variables the layers set, the last layer winning.
fn vars_of(layers: &[Layer]) -> std::collections::BTreeMap<String, String> {
    let mut vars = std::collections::BTreeMap::new();
    for layer in layers {
        let Some(Value::Table(table)) = layer.table.get("vars") else {
            continue;
        };
        for (name, value) in table {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            vars.insert(name.clone(), text);
        }
    }
    vars
}

fn kept_layer(kept: &KeptVars, otherwise: &std::collections::BTreeMap<String, String>) -> Layer {
    let source = Source::Kept {
        release: kept.release.clone(),
    };
    let values: Vec<(String, Value)> = kept
        .still_kept(otherwise)
        .into_iter()
        .map(|(name, value)| (format!("vars.{name}"), value.into()))
        .collect();
    Layer::of(
        source,
        values
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect(),
    )
}

fn flag(name: &str) -> Source {
    Source::Flag {
        flag: name.to_string(),
    }
}

fn flag_layers(flags: &SettingsFlags, region: &str) -> Result<Vec<Layer>> {
    let mut layers = Vec::new();
    for (name, key, value) in [
        (
            "--instance-type",
            "builder.instance_type",
            &flags.instance_type,
        ),
        (
            "--instance-profile",
            "builder.instance_profile",
            &flags.instance_profile,
        ),
        ("--subnet", "builder.subnet", &flags.subnet),
        ("--sns-topic", "sns_topic", &flags.sns_topic),
    ] {
        if let Some(value) = value {
            layers.push(Layer::of(flag(name), vec![(key, value.clone().into())]));
        }
    }
    if !flags.security_groups.is_empty() {
        layers.push(Layer::of(
            flag("--security-group"),
            vec![(
                "builder.security_groups",
                flags.security_groups.clone().into(),
            )],
        ));
    }
    let copy_to = split_list(&flags.copy_to);
    if copy_to.iter().any(|r| r == region) {
        return Err(Error::input(format!(
            "--copy-to names {region}, where the bake runs"
        )));
    }
    if !copy_to.is_empty() {
        let mut regions = vec![region.to_string()];
        regions.extend(copy_to);
        layers.push(Layer::of(
            flag("--copy-to"),
            vec![("regions", regions.into())],
        ));
    }
    let vars = parse_vars(&flags.vars)?;
    if !vars.is_empty() {
        let vars = Value::try_from(&vars).expect("vars serialize");
        let mut layer = Layer::of(flag("--var"), vec![]);
        layer.table.insert("vars".into(), vars);
        layers.push(layer);
    }
    // A key for the build region encrypts the image itself; the others, the copies.
    let keys = parse_kms_keys(&flags.kms_keys)?;
    if !keys.is_empty() {
        let keys = Value::try_from(&keys).expect("keys serialize");
        let mut layer = Layer::of(flag("--kms-key"), vec![]);
        layer.table.insert("kms_keys".into(), keys);
        layers.push(layer);
    }
    Ok(layers)
}
