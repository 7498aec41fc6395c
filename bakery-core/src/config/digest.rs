//! The recipe digest: what the image tag `bakery:recipe-digest` records of the recipe
//! folder a release was baked from.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::confined::{leads_outside, outside, regular_file_size};
use crate::error::{Error, Result};

/// The most files a recipe folder may hold.
pub const MAX_FILES: usize = 10_000;
/// The most its files may hold together: each is read in pieces, never whole.
pub const MAX_FOLDER_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// sha256 over every file of the recipe folder (hidden files excepted), in path order,
/// with each file's relative path: the same recipe gives the same digest anywhere.
/// Only regular files and folders; each file streamed, so memory stays small whatever
/// their size.
pub fn recipe_digest(dir: &Path) -> Result<String> {
    let mut files = Vec::new();
    collect_files(dir, dir, &mut files)?;
    files.sort_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
    let mut sizes = Vec::with_capacity(files.len());
    for relative in &files {
        sizes.push(regular_file_size(&dir.join(relative), relative).map_err(Error::input)?);
    }
    let total: u64 = sizes.iter().sum();
    if total > MAX_FOLDER_BYTES {
        return Err(Error::input(format!(
            "recipe folder {} holds {total} bytes; bakery digests at most {MAX_FOLDER_BYTES}",
            dir.display()
        ))
        .with_hint("keep large artifacts out of the recipe folder: let a step fetch them"));
    }
    let mut hasher = Sha256::new();
    for (relative, size) in files.iter().zip(sizes) {
        hasher.update(relative.as_os_str().as_bytes());
        hasher.update([0]);
        hasher.update(size.to_be_bytes());
        let read = stream(&dir.join(relative), &mut hasher)
            .map_err(|e| Error::input(format!("cannot read {}: {e}", relative.display())))?;
        if read != size {
            return Err(Error::input(format!(
                "{} changed while it was read ({size} bytes, then {read})",
                relative.display()
            )));
        }
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// Feeds a file to the hasher in pieces; how many bytes it held.
fn stream(path: &Path, hasher: &mut Sha256) -> std::io::Result<u64> {
    let mut file = std::fs::File::open(path)?;
    std::io::copy(&mut file, hasher)
}

fn collect_files(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
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
        if files.len() >= MAX_FILES {
            return Err(Error::input(format!(
                "recipe folder {} holds more than {MAX_FILES} files",
                root.display()
            )));
        }
        if let Some(target) = leads_outside(root, &path) {
            return Err(Error::input(outside(relative, &target)));
        }
        // A linked folder is not walked (it may link back up); its files are where
        // it leads, inside the folder, and counted there.
        let linked = entry.file_type().is_ok_and(|t| t.is_symlink());
        if path.is_dir() && !linked {
            collect_files(root, &path, files)?;
        } else if !path.is_dir() {
            files.push(relative.to_path_buf());
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

    #[test]
    fn streaming_keeps_the_digest_releases_were_tagged_with() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("steps")).unwrap();
        std::fs::write(dir.path().join("recipe.toml"), "name = 'a'").unwrap();
        std::fs::write(dir.path().join("steps/a.sh"), "echo a").unwrap();
        let mut expected = Sha256::new();
        for (path, content) in [("recipe.toml", "name = 'a'"), ("steps/a.sh", "echo a")] {
            expected.update(path.as_bytes());
            expected.update([0]);
            expected.update((content.len() as u64).to_be_bytes());
            expected.update(content.as_bytes());
        }
        let expected = format!("sha256:{}", hex::encode(expected.finalize()));
        assert_eq!(recipe_digest(dir.path()).unwrap(), expected);
    }

    #[test]
    fn a_fifo_is_refused_by_name_and_any_file_name_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("recipe.toml"), "name = 'a'").unwrap();
        let odd = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
        std::fs::write(dir.path().join(odd), "latin-1 name").unwrap();
        let digest = recipe_digest(dir.path()).unwrap();
        assert!(
            digest.starts_with("sha256:"),
            "a name that is not UTF-8 is a file too"
        );
        let fifo = dir.path().join("notes.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let refused = recipe_digest(dir.path()).unwrap_err().to_string();
        assert!(
            refused.contains("`notes.fifo` is a FIFO (named pipe)"),
            "{refused}"
        );
    }
}
