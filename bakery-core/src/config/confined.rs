//! The files of a recipe are read from inside its folder only: a link that leads out
//! of it (`steps/setup.sh -> /etc/passwd`) would carry a file of the machine that
//! bakes into the image.

use std::path::{Path, PathBuf};

/// Where `path` leads when that is outside `root` (both followed through links);
/// `None` when it stays inside. A path that does not resolve leads nowhere outside.
pub fn leads_outside(root: &Path, path: &Path) -> Option<PathBuf> {
    let root = root.canonicalize().ok()?;
    let target = path.canonicalize().ok()?;
    (!target.starts_with(&root)).then_some(target)
}

/// The text of the file `relative` in the recipe folder `root`, refused when a link
/// takes it outside the folder.
pub fn read_inside(root: &Path, relative: &Path) -> Result<String, String> {
    let path = root.join(relative);
    if let Some(target) = leads_outside(root, &path) {
        return Err(outside(relative, &target));
    }
    std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

/// The refusal of a link out of the folder, naming the link and its target.
pub fn outside(link: &Path, target: &Path) -> String {
    format!(
        "`{}` leads to {}, outside the recipe folder: a recipe's files must be in its folder",
        link.display(),
        target.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_out_of_the_folder_is_refused_and_one_inside_is_followed() {
        let outside_dir = tempfile::tempdir().unwrap();
        std::fs::write(outside_dir.path().join("secret"), "host file").unwrap();
        let recipe = tempfile::tempdir().unwrap();
        std::fs::create_dir(recipe.path().join("steps")).unwrap();
        std::fs::write(recipe.path().join("steps/real.sh"), "echo real").unwrap();
        std::os::unix::fs::symlink(
            outside_dir.path().join("secret"),
            recipe.path().join("steps/leak.sh"),
        )
        .unwrap();
        std::os::unix::fs::symlink("real.sh", recipe.path().join("steps/alias.sh")).unwrap();

        let refused = read_inside(recipe.path(), Path::new("steps/leak.sh")).unwrap_err();
        assert!(refused.contains("`steps/leak.sh` leads to"), "{refused}");
        assert!(refused.contains("outside the recipe folder"), "{refused}");
        assert_eq!(
            read_inside(recipe.path(), Path::new("steps/alias.sh")).unwrap(),
            "echo real"
        );
    }
}
