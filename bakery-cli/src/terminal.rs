//! The terminal's echo of control keys, off while live lines are drawn. indicatif
//! leaves the cursor just past the right edge of its last line; the `^C` a terminal
//! echoes for Ctrl-C lands on a new line that indicatif does not know of, so its next
//! redraw clears one line too few and a live line stays on screen for good.

use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions, Termios};
use std::sync::Mutex;

/// The terminal's settings as they were, restored once (or when dropped).
pub struct ControlEchoOff {
    saved: Mutex<Option<Termios>>,
}

impl ControlEchoOff {
    /// Turns off the echo of control keys (`ECHOCTL`) on stderr's terminal, if stderr
    /// is one; keys typed are still read as before, Ctrl-C still interrupts.
    pub fn on_stderr() -> ControlEchoOff {
        let stderr = std::io::stderr();
        let saved = tcgetattr(&stderr).ok().filter(|t| {
            let mut quiet = t.clone();
            quiet.local_modes.remove(LocalModes::ECHOCTL);
            t.local_modes.contains(LocalModes::ECHOCTL)
                && tcsetattr(&stderr, OptionalActions::Now, &quiet).is_ok()
        });
        ControlEchoOff {
            saved: Mutex::new(saved),
        }
    }

    /// Gives the terminal its settings back.
    pub fn restore(&self) {
        let saved = self.saved.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(saved) = saved {
            let _ = tcsetattr(std::io::stderr(), OptionalActions::Now, &saved);
        }
    }
}

impl Drop for ControlEchoOff {
    fn drop(&mut self) {
        self.restore();
    }
}
