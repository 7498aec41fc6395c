//! `bake --all`, planned: one plan per recipe folder (or the roles `--only` /
//! `--except` select), in an order where every base in the run comes before the roles
//! layered on it. Cycles, unknown role names and recipes that do not read are refused
//! before anything is created.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{BakePlan, BakeRequest};
use crate::config::flags::parse_vars;
use crate::config::recipe::RECIPE_FILE;
use crate::config::Recipe;
use crate::error::{Error, Result};

/// Which roles of the folder a `bake --all` bakes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Selection {
    /// Every role of the folder.
    #[default]
    All,
    /// `--only ROLE,…`
    Only(BTreeSet<String>),
    /// `--except ROLE,…`
    Except(BTreeSet<String>),
}

impl Selection {
    fn takes(&self, role: &str) -> bool {
        match self {
            Selection::All => true,
            Selection::Only(roles) => roles.contains(role),
            Selection::Except(roles) => !roles.contains(role),
        }
    }

    fn named(&self) -> Option<(&'static str, &BTreeSet<String>)> {
        match self {
            Selection::All => None,
            Selection::Only(roles) => Some(("--only", roles)),
            Selection::Except(roles) => Some(("--except", roles)),
        }
    }
}

/// A `bake --all`'s plans, and the roles it leaves out with the reason.
#[derive(Debug)]
pub struct Planned {
    /// The plans to run, every base before the roles layered on it.
    pub plans: Vec<BakePlan>,
    /// The roles left out, each with the reason; empty when every selected role bakes.
    pub skipped: Vec<SkippedRole>,
}

/// A role of the folder that cannot be baked as things are, and why: its own problem,
/// never every role's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRole {
    /// The role's name.
    pub role: String,
    /// Why it is left out, e.g. a required variable without a value, or a skipped base.
    pub reason: String,
    /// The required variables it has no value for.
    pub needs: Vec<String>,
}

/// One plan per selected recipe folder below `dir`, in an order where every base in
/// the run comes before the roles layered on it; all of them one run (one run UUID).
/// A recipe that is not selected is not planned, so a broken one can be left out by
/// its folder's name. A role with a required variable that nothing gives a value is
/// skipped with the reason, as is every role layered on it.
pub fn plan_all(
    dir: &Path,
    request: &BakeRequest,
    selection: &Selection,
    region: &str,
    now: SystemTime,
) -> Result<Planned> {
    let recipes = selected_recipes(dir, selection)?;
    // A --var is for the roles that declare it, and at least one must.
    let flag_vars = parse_vars(&request.flags.vars)?;
    let undeclared: Vec<&str> = flag_vars
        .keys()
        .filter(|name| !recipes.iter().any(|r| r.vars.contains_key(*name)))
        .map(String::as_str)
        .collect();
    if !undeclared.is_empty() {
        return Err(Error::input(format!(
            "--var {}: no role of the run declares it in its [vars]",
            undeclared.join(",")
        )));
    }
    let mut recipes = recipes;
    let skipped = without_values(&mut recipes, request, &flag_vars);
    let mut plans = Vec::new();
    for recipe in recipes {
        let mut request = BakeRequest {
            recipe_dir: recipe.dir.clone(),
            ..request.clone()
        };
        request.flags.vars = flag_vars
            .iter()
            .filter(|(name, _)| recipe.vars.contains_key(*name))
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        plans.push(BakePlan::for_recipe(recipe, &request, region, now)?);
    }
    // One run: the manifest groups its builds by this.
    let run_uuid = super::new_run_uuid();
    for plan in &mut plans {
        plan.run_uuid = run_uuid.clone();
    }
    let order = bake_order(&plans)?;
    let mut by_index: Vec<Option<BakePlan>> = plans.into_iter().map(Some).collect();
    let plans = order
        .into_iter()
        .map(|i| by_index[i].take().expect("each once"))
        .collect();
    Ok(Planned { plans, skipped })
}

/// The recipes below `dir` that `selection` takes; a recipe that does not read is an
/// error only when it is selected, and `--only`/`--except` must name roles there.
fn selected_recipes(dir: &Path, selection: &Selection) -> Result<Vec<Recipe>> {
    let mut recipes = Vec::new();
    let mut roles_seen = BTreeSet::new();
    for folder in recipe_folders(dir)? {
        match Recipe::load(&folder) {
            Ok(recipe) => {
                roles_seen.insert(recipe.name.to_string());
                if selection.takes(recipe.name.as_str()) {
                    recipes.push(recipe);
                }
            }
            Err(error) => {
                let folder_name = folder
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if selection.takes(&folder_name) {
                    return Err(error);
                }
                roles_seen.insert(folder_name);
            }
        }
    }
    let Some((flag, roles)) = selection.named() else {
        return Ok(recipes);
    };
    let unknown: Vec<&str> = roles
        .iter()
        .filter(|r| !roles_seen.contains(*r))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(Error::input(format!(
            "{flag} {}: no recipe in {} has that role",
            unknown.join(","),
            dir.display()
        ))
        .with_hint(format!(
            "The roles there: {}.",
            roles_seen.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    if recipes.is_empty() {
        return Err(Error::input(format!(
            "{flag} {}: leaves no role of {} to bake",
            roles.iter().cloned().collect::<Vec<_>>().join(","),
            dir.display()
        )));
    }
    Ok(recipes)
}

/// Takes out of `recipes` each one with a required variable that neither the
/// environment nor a `--var` gives a value, and then each one layered on a role taken
/// out; says why for each.
fn without_values(
    recipes: &mut Vec<Recipe>,
    request: &BakeRequest,
    flag_vars: &BTreeMap<String, String>,
) -> Vec<SkippedRole> {
    let environment = request.environment.as_ref().map(|e| &e.settings().vars);
    let given = |name: &String| {
        flag_vars.contains_key(name) || environment.is_some_and(|vars| vars.contains_key(name))
    };
    let mut skipped: Vec<SkippedRole> = Vec::new();
    recipes.retain(|recipe| {
        let needs: Vec<String> = recipe
            .vars
            .iter()
            .filter(|(name, variable)| variable.required && !given(name))
            .map(|(name, _)| name.clone())
            .collect();
        if needs.is_empty() {
            return true;
        }
        skipped.push(SkippedRole {
            role: recipe.name.to_string(),
            reason: format!(
                "variable {} is required and has no value: give --var {}=VALUE or set it in \
                 the environment's vars",
                needs.join(", "),
                needs[0]
            ),
            needs,
        });
        false
    });
    // Then the roles layered on them, until none is left to take out.
    loop {
        let before = skipped.len();
        recipes.retain(|recipe| {
            let base = match &recipe.base {
                crate::config::BaseImage::Release { role, .. } => role.to_string(),
                _ => return true,
            };
            if !skipped.iter().any(|s| s.role == base) {
                return true;
            }
            skipped.push(SkippedRole {
                role: recipe.name.to_string(),
                reason: format!("its base {base} is skipped"),
                needs: Vec::new(),
            });
            false
        });
        if skipped.len() == before {
            return skipped;
        }
    }
}

/// The folders below `dir` that hold a recipe, sorted.
fn recipe_folders(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Error::input(format!(
            "recipes folder {}: cannot list it: {e}",
            dir.display()
        ))
    })?;
    let mut folders: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(RECIPE_FILE).is_file())
        .collect();
    folders.sort();
    if folders.is_empty() {
        return Err(Error::input(format!(
            "recipes folder {}: no folder with a {RECIPE_FILE} in it",
            dir.display()
        )));
    }
    Ok(folders)
}

/// The role a plan is layered on, if any.
pub fn base_role(plan: &BakePlan) -> Option<&str> {
    plan.builds[0].base.role().map(|role| role.as_str())
}

/// A topological order of the plans (indices), stable by role name. A base outside
/// the plans is no dependency: it is resolved in AWS.
pub fn bake_order(plans: &[BakePlan]) -> Result<Vec<usize>> {
    let index: BTreeMap<&str, usize> = plans
        .iter()
        .enumerate()
        .map(|(i, p)| (p.role.as_str(), i))
        .collect();
    if index.len() != plans.len() {
        return Err(Error::input(
            "--all: two recipes have the same role name".to_string(),
        ));
    }
    let base_in_run = |i: usize| base_role(&plans[i]).and_then(|b| index.get(b).copied());
    let mut order = Vec::new();
    let mut placed = BTreeSet::new();
    while order.len() < plans.len() {
        let ready: Vec<usize> = index
            .values()
            .copied()
            .filter(|&i| !placed.contains(&i))
            .filter(|&i| base_in_run(i).is_none_or(|b| placed.contains(&b)))
            .collect();
        if ready.is_empty() {
            let stuck: Vec<&str> = index
                .iter()
                .filter(|(_, i)| !placed.contains(*i))
                .map(|(r, _)| *r)
                .collect();
            return Err(Error::input(format!(
                "--all: the bases of {} form a cycle",
                stuck.join(", ")
            )));
        }
        for i in ready {
            placed.insert(i);
            order.push(i);
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Recipe;
    use crate::model::VersionRequest;

    fn plan(role: &str, base: &str) -> BakePlan {
        let text = format!(
            "name = \"{role}\"\nplatform = \"linux\"\narch = \"x86_64\"\nbase = {{ {base} }}\n"
        );
        let recipe = Recipe::parse(Path::new("/x"), Path::new("recipe.toml"), &text).unwrap();
        let version = VersionRequest::Exact("1.0.0".parse().unwrap());
        let request = BakeRequest::default();
        let merges = crate::plan::settings_per_arch(&recipe, &request, "eu-west-1").unwrap();
        BakePlan::from_recipe(
            recipe,
            version,
            "sha256:0".into(),
            &request,
            merges,
            role.into(),
        )
    }

    fn roles(plans: &[BakePlan], order: &[usize]) -> Vec<String> {
        order.iter().map(|&i| plans[i].role.to_string()).collect()
    }

    #[test]
    fn bases_come_before_the_roles_layered_on_them() {
        let plans = [
            plan("zookeeper", "role = \"java\", channel = \"stable\""),
            plan("base", "image = \"ami-11111111\""),
            plan("java", "role = \"base\", version = \"^1\""),
            plan("metrics", "image = \"ami-22222222\""),
        ];
        let order = bake_order(&plans).unwrap();
        assert_eq!(
            roles(&plans, &order),
            ["base", "metrics", "java", "zookeeper"]
        );
    }

    #[test]
    fn a_base_outside_the_run_is_no_dependency_and_a_cycle_is_refused() {
        let outside = [
            plan("zookeeper", "role = \"base\", channel = \"stable\""),
            plan("kafka", "role = \"zookeeper\", version = \"^1\""),
        ];
        let order = bake_order(&outside).unwrap();
        assert_eq!(roles(&outside, &order), ["zookeeper", "kafka"]);
        let cycle = [
            plan("a", "role = \"b\", channel = \"stable\""),
            plan("b", "role = \"a\", channel = \"stable\""),
            plan("c", "image = \"ami-11111111\""),
        ];
        let error = bake_order(&cycle).unwrap_err().to_string();
        assert!(error.contains("the bases of a, b form a cycle"), "{error}");
    }

    fn folder(recipes: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (folder, text) in recipes {
            std::fs::create_dir_all(dir.path().join(folder)).unwrap();
            std::fs::write(dir.path().join(folder).join(RECIPE_FILE), text).unwrap();
        }
        dir
    }

    #[test]
    fn a_role_without_a_required_value_is_skipped_with_the_roles_on_it_and_only_them() {
        let base = "name = \"base\"\nplatform = \"linux\"\narch = \"x86_64\"\n\
                    base = { image = \"ami-11111111\" }\n";
        let zookeeper = "name = \"zookeeper\"\nplatform = \"linux\"\narch = \"x86_64\"\n\
                         base = { image = \"ami-11111111\" }\n\
                         [vars.ZK]\nrequired = true\n";
        let app = "name = \"app\"\nplatform = \"linux\"\narch = \"x86_64\"\n\
                   base = { role = \"zookeeper\", channel = \"stable\" }\n";
        let recipes = folder(&[("base", base), ("zookeeper", zookeeper), ("app", app)]);
        let mut request = BakeRequest {
            version: Some("1.0.0".into()),
            ..BakeRequest::default()
        };
        let planned = |request: &BakeRequest| {
            plan_all(
                recipes.path(),
                request,
                &Selection::All,
                "eu-west-1",
                SystemTime::now(),
            )
            .unwrap()
        };

        let without = planned(&request);
        let roles: Vec<&str> = without.plans.iter().map(|p| p.role.as_str()).collect();
        assert_eq!(roles, ["base"]);
        assert_eq!(without.skipped[0].role, "zookeeper");
        assert_eq!(without.skipped[0].needs, ["ZK"]);
        assert!(without.skipped[0].reason.contains("--var ZK=VALUE"));
        assert_eq!(without.skipped[1].role, "app");
        assert_eq!(without.skipped[1].reason, "its base zookeeper is skipped");

        request.flags.vars = vec!["ZK=3.9.4".into()];
        let with = planned(&request);
        assert_eq!(with.plans.len(), 3);
        assert!(with.skipped.is_empty());
    }

    #[test]
    fn only_and_except_pick_roles_and_a_left_out_recipe_is_not_read() {
        let role = |name: &str| {
            format!("name = \"{name}\"\nplatform = \"linux\"\narch = \"x86_64\"\nbase = {{ image = \"ami-11111111\" }}\n")
        };
        let recipes = folder(&[
            ("base", &role("base")),
            ("zookeeper", &role("zookeeper")),
            ("wip", "name = \"wip\"\nplatform = "),
        ]);
        let request = BakeRequest {
            version: Some("1.0.0".into()),
            ..BakeRequest::default()
        };
        let plan = |selection: Selection| {
            plan_all(
                recipes.path(),
                &request,
                &selection,
                "eu-west-1",
                SystemTime::now(),
            )
        };
        let names = |selection: &[&str]| selection.iter().map(|s| s.to_string()).collect();

        let error = plan(Selection::All).unwrap_err().to_string();
        assert!(error.contains("wip"), "{error}");
        let except = plan(Selection::Except(names(&["wip"]))).unwrap().plans;
        assert_eq!(except.len(), 2);
        assert_eq!(except[0].run_uuid, except[1].run_uuid, "one run");
        let only = plan(Selection::Only(names(&["zookeeper"]))).unwrap().plans;
        assert_eq!(only[0].role.as_str(), "zookeeper");

        let unknown = plan(Selection::Only(names(&["zookeper"]))).unwrap_err();
        assert!(
            unknown.problem().contains("--only zookeper: no recipe"),
            "{unknown}"
        );
        assert_eq!(
            unknown.hint(),
            Some("The roles there: base, wip, zookeeper.")
        );
    }
}
