//! The recipe digest: what the image tag `bakery:recipe-digest` records of the recipe
//! folder a release was baked from.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::confined::{leads_outside, outside};
use crate::error::{Error, Result};

/// sha256 over every file of the recipe folder (hidden files excepted), in path order,
/// with each file's relative path: the same recipe gives the same digest anywhere.
pub fn recipe_digest(dir: &Path) -> Result<String> {
    let mut files = Vec::new();
    collect_files(dir, dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for relative in files {
        let content = std::fs::read(dir.join(&relative)).map_err(|e| {
            Error::input(format!(
                "cannot read {}: {e}",
                dir.join(&relative).display()
            ))
        })?;
        hasher.update(relative.as_bytes());
        hasher.update([0]);
        hasher.update((content.len() as u64).to_be_bytes());
        hasher.update(&content);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

fn collect_files(root: &Path, dir: &Path, files: &mut Vec<String>) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::input(format!("cannot list {}: {e}", dir.display())))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| Error::input(format!("cannot list {}: {e}", dir.display())))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let relative = path.strip_prefix(root).expect("listed below the root");
        if let Some(target) = leads_outside(root, &path) {
            return Err(Error::input(outside(relative, &target)));
        }
        // A linked folder is not walked (it may link back up); its files are where
        // it leads, inside the folder, and counted there.
        let linked = entry.file_type().is_ok_and(|t| t.is_symlink());
        if path.is_dir() && !linked {
            collect_files(root, &path, files)?;
        } else if !path.is_dir() {
            files.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recipe_digest_follows_content_and_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("steps")).unwrap();
        std::fs::write(dir.path().join("recipe.toml"), "name = 'a'").unwrap();
        std::fs::write(dir.path().join("steps/a.sh"), "echo a").unwrap();
        std::fs::write(dir.path().join(".swp"), "ignored").unwrap();
        let first = recipe_digest(dir.path()).unwrap();
        assert!(first.starts_with("sha256:"));
        assert_eq!(first, recipe_digest(dir.path()).unwrap());
        std::fs::write(dir.path().join(".swp"), "still ignored").unwrap();
        assert_eq!(first, recipe_digest(dir.path()).unwrap());
        std::fs::write(dir.path().join("steps/a.sh"), "echo b").unwrap();
        assert_ne!(first, recipe_digest(dir.path()).unwrap());
    }
}
