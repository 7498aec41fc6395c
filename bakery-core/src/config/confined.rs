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

/// The most a text file of a recipe (recipe.toml, a script) may hold: read whole, and
/// a script travels in one Run Command of 64 KiB anyway.
pub const MAX_TEXT_BYTES: u64 = 1024 * 1024;

/// The text of the file `relative` in the recipe folder `root`, refused when a link
/// takes it outside the folder, when it is no regular file, or larger than
/// [`MAX_TEXT_BYTES`].
pub fn read_inside(root: &Path, relative: &Path) -> Result<String, String> {
    let path = root.join(relative);
    if let Some(target) = leads_outside(root, &path) {
        return Err(outside(relative, &target));
    }
    read_text(&path, relative)
}

/// A regular file's text, `shown` as its name: never a FIFO (reading one waits for a
/// writer forever), a device or a socket, and at most [`MAX_TEXT_BYTES`].
pub fn read_text(path: &Path, shown: &Path) -> Result<String, String> {
    let size = regular_file_size(path, shown)?;
    if size > MAX_TEXT_BYTES {
        return Err(format!(
            "`{}` has {size} bytes; a recipe's text files take at most {MAX_TEXT_BYTES}",
            shown.display()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", shown.display()))
}

/// The size of a regular file (through links); what else it is, refused by name.
pub fn regular_file_size(path: &Path, shown: &Path) -> Result<u64, String> {
    let metadata =
        std::fs::metadata(path).map_err(|e| format!("cannot read `{}`: {e}", shown.display()))?;
    if metadata.is_file() {
        return Ok(metadata.len());
    }
    Err(format!(
        "`{}` is {}: a recipe folder holds only regular files and folders",
        shown.display(),
        kind(&metadata.file_type())
    ))
}

fn kind(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a folder"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else {
        "no regular file"
    }
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
