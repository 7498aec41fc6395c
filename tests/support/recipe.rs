//! Throwaway recipes, and reading step names out of results. Shared by the test
//! binaries; each uses part of it.
#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;

/// A throwaway recipe folder.
pub struct TestRecipe {
    dir: tempfile::TempDir,
    steps: Vec<String>,
}

impl TestRecipe {
    /// A Linux role on the emulator's Amazon Linux 2023, built with the seeded
    /// `bakery-builder` instance profile.
    pub fn new(role: &str) -> TestRecipe {
        let dir = tempfile::Builder::new()
            .prefix(&format!("recipe-{role}-"))
            .tempdir()
            .unwrap();
        std::fs::write(
            dir.path().join("recipe.toml"),
            format!(
                "name = \"{role}\"\nplatform = \"linux\"\narch = \"x86_64\"\n\
                 base = {{ {AL2023} }}\n\
                 [builder]\ninstance_profile = \"bakery-builder\"\n"
            ),
        )
        .unwrap();
        TestRecipe {
            dir,
            steps: Vec::new(),
        }
    }

    /// Adds a step that runs `script`.
    pub fn step(mut self, name: &str, script: &str) -> TestRecipe {
        let path = format!("steps/{name}.sh");
        std::fs::create_dir_all(self.dir.path().join("steps")).unwrap();
        std::fs::write(self.dir.path().join(&path), script).unwrap();
        self.steps.push(format!(
            "[[steps]]\nname = \"{name}\"\nscript = \"{path}\"\ntimeout = \"5m\"\n"
        ));
        let mut text = std::fs::read_to_string(self.path().join("recipe.toml")).unwrap();
        text.push_str(self.steps.last().unwrap());
        std::fs::write(self.dir.path().join("recipe.toml"), text).unwrap();
        self
    }

    /// Adds a test (`[[tests]]`) that runs `script` on the test instance.
    pub fn test(self, name: &str, script: &str) -> TestRecipe {
        let path = format!("tests/{name}.sh");
        std::fs::create_dir_all(self.dir.path().join("tests")).unwrap();
        std::fs::write(self.dir.path().join(&path), script).unwrap();
        self.with_toml(&format!(
            "[[tests]]\nname = \"{name}\"\nscript = \"{path}\"\ntimeout = \"5m\"\n"
        ))
    }

    /// Replaces the recipe's base, e.g. `image = "ami-..."`.
    pub fn with_base(self, base: &str) -> TestRecipe {
        let path = self.path().join("recipe.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let start = text.find("base = {").unwrap();
        let end = start + text[start..].find('\n').unwrap();
        std::fs::write(
            &path,
            format!("{}base = {{ {base} }}{}", &text[..start], &text[end..]),
        )
        .unwrap();
        self
    }

    /// Sets the recipe's `arch` (`x86_64`, `arm64`).
    pub fn with_arch(self, arch: &str) -> TestRecipe {
        let path = self.path().join("recipe.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("arch = \"x86_64\"", &format!("arch = \"{arch}\"")),
        )
        .unwrap();
        self
    }

    /// Bakes the role for both architectures, on Amazon Linux 2023 of each.
    pub fn with_both_architectures(self) -> TestRecipe {
        let path = self.path().join("recipe.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, both_architectures(&text)).unwrap();
        self
    }

    /// Appends raw TOML to recipe.toml.
    pub fn with_toml(self, toml: &str) -> TestRecipe {
        let mut text = std::fs::read_to_string(self.path().join("recipe.toml")).unwrap();
        text.push_str(toml);
        std::fs::write(self.dir.path().join("recipe.toml"), text).unwrap();
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The recipe's `base` of a role on the emulator's Amazon Linux 2023.
pub const AL2023: &str =
    "ssm_parameter = \"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64\"";

/// Amazon Linux 2023 of the architecture a build bakes.
pub const AL2023_ANY_ARCH: &str =
    "ssm_parameter = \"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}\"";

/// recipe.toml's text, baked for x86_64 and arm64 on Amazon Linux 2023 of each.
pub fn both_architectures(recipe: &str) -> String {
    recipe
        .replace("arch = \"x86_64\"", "arch = [\"x86_64\", \"arm64\"]")
        .replace(AL2023, AL2023_ANY_ARCH)
}

/// A folder of recipe folders (`bake --all`), each `(role, base)` with one trivial
/// step, e.g. `("zookeeper", "role = \"base\", channel = \"stable\"")`.
pub fn recipe_folder(recipes: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (role, base) in recipes {
        let folder = dir.path().join(role);
        std::fs::create_dir_all(folder.join("steps")).unwrap();
        std::fs::write(
            folder.join("steps/build.sh"),
            format!("#!/bin/sh\necho building {role}\n"),
        )
        .unwrap();
        std::fs::write(
            folder.join("recipe.toml"),
            format!(
                "name = \"{role}\"\nplatform = \"linux\"\narch = \"x86_64\"\nbase = {{ {base} }}\n\
                 [builder]\ninstance_profile = \"bakery-builder\"\n\
                 [[steps]]\nname = \"build\"\nscript = \"steps/build.sh\"\n"
            ),
        )
        .unwrap();
    }
    dir
}

/// The step names of a bake report or a plan (`steps[].name`), in order.
pub fn step_names(result: &Value) -> Vec<String> {
    result["steps"]
        .as_array()
        .expect("a list of steps")
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}
