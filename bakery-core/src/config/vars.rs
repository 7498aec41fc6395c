//! A recipe's variables (`[vars]`): values a bake is given, from the recipe's defaults,
//! the environment's `vars` and `--var KEY=VALUE`, in that order; each step gets them
//! as environment variables and the release record keeps them.

use std::collections::BTreeMap;

use serde::Serialize;

use super::settings::{Merged, Source};
use crate::error::{Error, Result};

/// What the variables of one bake may take in the release record: a release record
/// is an SSM parameter of at most 4 KiB, and its own fields need the rest.
pub const MAX_VARS_BYTES: usize = 2048;

/// The variables a release was given with `--var`, as its record keeps them: what a
/// rebuild of its role keeps unless `--var` or the environment changes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeptVars {
    /// `role@version`.
    pub release: String,
    /// The values given.
    pub vars: BTreeMap<String, String>,
    /// What each would otherwise have been then (none: no value).
    pub otherwise: BTreeMap<String, Option<String>>,
}

impl KeptVars {
    /// The values still kept: those whose environment (or recipe default) value is
    /// what it was when they were given (`otherwise`: what it is now).
    pub fn still_kept(&self, otherwise: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        self.vars
            .iter()
            .filter(|(name, _)| {
                self.otherwise.get(*name).map(Option::as_ref) == Some(otherwise.get(*name))
            })
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }
}

/// A variable the recipe declares.
#[derive(Debug, Clone, Serialize)]
pub struct Variable {
    pub description: Option<String>,
    /// The value when neither the environment nor a flag sets one.
    pub default: Option<String>,
    /// A value must be given: the bake is refused without one.
    pub required: bool,
    /// Every value must match this (the whole value).
    #[serde(serialize_with = "pattern_text")]
    pub pattern: Option<Pattern>,
}

/// A regular expression a value must match as a whole.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    whole: regex_lite::Regex,
}

impl Pattern {
    pub fn parse(text: &str) -> std::result::Result<Pattern, String> {
        let whole = regex_lite::Regex::new(&format!("^(?:{text})$"))
            .map_err(|e| format!("`{text}` is not a regular expression: {e}"))?;
        Ok(Pattern {
            text: text.to_string(),
            whole,
        })
    }

    pub fn matches(&self, value: &str) -> bool {
        self.whole.is_match(value)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn pattern_text<S: serde::Serializer>(
    pattern: &Option<Pattern>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match pattern {
        Some(pattern) => s.serialize_str(pattern.as_str()),
        None => s.serialize_none(),
    }
}

impl Variable {
    /// Why `value` is not a value of this variable, if it is not.
    pub fn refuses(&self, value: &str) -> Option<String> {
        let pattern = self.pattern.as_ref()?;
        (!pattern.matches(value)).then(|| {
            format!(
                "`{value}` does not match the pattern `{}`",
                pattern.as_str()
            )
        })
    }
}

/// Settles the merged `vars` against the recipe's declarations: a value the
/// environment sets for a variable this recipe does not declare is dropped (an
/// environment serves many roles); one a flag sets is refused, as is a required
/// variable without a value and a value that does not match its pattern. Every
/// mistake is reported at once, each naming where its value came from.
// Long on purpose: one pass over the layers in order (recipe, environment, flags).
pub fn settle(
    declared: &BTreeMap<String, Variable>,
    recipe_file: &std::path::Path,
    merged: &mut Merged,
) -> Result<()> {
    let mut problems = Vec::new();
    let undeclared: Vec<String> = merged
        .settings
        .vars
        .keys()
        .filter(|name| !declared.contains_key(*name))
        .cloned()
        .collect();
    for name in undeclared {
        let key = format!("vars.{name}");
        match merged.source_of(&key) {
            Some(Source::Flag { flag }) => problems.push(format!(
                "{flag} {name}: {} declares no variable {name} ({})",
                recipe_file.display(),
                declared_list(declared)
            )),
            _ => {
                merged.settings.vars.remove(&name);
                merged.sources.remove(&key);
            }
        }
    }
    for (name, variable) in declared {
        let key = format!("vars.{name}");
        match merged.settings.vars.get(name) {
            None if variable.required => problems.push(format!(
                "variable {name}{} is required by {} and has no value: give --var {name}=VALUE \
                 or set vars.{name} in the environment",
                variable
                    .description
                    .as_ref()
                    .map_or_else(String::new, |d| format!(" ({d})")),
                recipe_file.display(),
            )),
            Some(value) => {
                if let Some(why) = variable.refuses(value) {
                    let from = merged
                        .source_of(&key)
                        .map_or_else(String::new, |s| format!(" (from {s})"));
                    problems.push(format!("{key}{from}: {why}"));
                }
            }
            None => {}
        }
    }
    let size = serde_json::to_string(&merged.settings.vars)
        .expect("strings serialize")
        .len();
    if size > MAX_VARS_BYTES {
        problems.push(format!(
            "the variables take {size} bytes; a release records at most {MAX_VARS_BYTES}: \
             put large values in a file of the recipe"
        ));
    }
    Error::refusing_all("with the variables", problems)
}

fn declared_list(declared: &BTreeMap<String, Variable>) -> String {
    if declared.is_empty() {
        "it has no [vars]".to_string()
    } else {
        format!(
            "it declares {}",
            declared.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    }
}
