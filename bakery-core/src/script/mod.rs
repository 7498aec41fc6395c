//! L1, text that runs on an instance: a step's script wrapped for Run Command
//! ([`step`]), the builder's user data and the generalize scripts (`user_data`), and
//! the firstboot agents with their config ([`firstboot`]).

pub mod firstboot;
pub mod step;
pub(crate) mod user_data;

/// Runs `text` with `sh -c`: its exit code and stdout.
#[cfg(test)]
pub(crate) fn run_sh(text: &str) -> (i32, String) {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(text)
        .output()
        .expect("sh runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}
