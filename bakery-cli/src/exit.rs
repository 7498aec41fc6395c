//! The exit codes of `bakery`, by name.

use std::process::ExitCode;

use bakery_core::bake::report::{BakeReport, BakeStatus, Ending};
use bakery_core::{Error, ErrorKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done: baked, listed, promoted...
    Success,
    /// The bake (or command) failed; what a bake created has been removed.
    Failed,
    /// Bad input or configuration; nothing was created.
    InvalidInput,
    /// Cleanup could not remove everything: the leaked resources are printed.
    Leaked,
    /// `bakery audit`: some fleet breaks the policy.
    PolicyBroken,
    /// The release was made, but the bake stopped (interrupted or failed) before its
    /// copies, sharing or channels: the result says which, and the commands that finish.
    Unfinished,
    /// SIGINT/SIGTERM; cleaned up.
    Interrupted,
}

impl Exit {
    /// Every exit, in the order of their codes (the manual pages list them).
    pub const ALL: [Exit; 7] = [
        Exit::Success,
        Exit::Failed,
        Exit::InvalidInput,
        Exit::Leaked,
        Exit::PolicyBroken,
        Exit::Unfinished,
        Exit::Interrupted,
    ];

    /// What the exit means, for the manual pages.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Success => "Done: baked, listed, promoted...",
            Exit::Failed => "The command failed; what a bake created has been removed.",
            Exit::InvalidInput => {
                "Bad input or configuration (a file, line, key, flag or region named); nothing \
                 was created."
            }
            Exit::Leaked => {
                "Cleanup could not remove everything: the leaked resources are printed."
            }
            Exit::PolicyBroken => {
                "`bakery audit` or `bakery outdated` found a fleet that breaks the policy or a \
                 role out of date."
            }
            Exit::Unfinished => {
                "The release was made, but the bake stopped before its copies, sharing or \
                 channels: the result names the commands that finish it."
            }
            Exit::Interrupted => "Interrupted (SIGINT, SIGTERM); what it created has been removed.",
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::InvalidInput => 2,
            Exit::Leaked => 3,
            Exit::PolicyBroken => 4,
            Exit::Unfinished => 5,
            Exit::Interrupted => 130,
        }
    }

    pub fn of_error(error: &Error) -> Exit {
        match error.kind() {
            ErrorKind::InvalidInput => Exit::InvalidInput,
            ErrorKind::Interrupted => Exit::Interrupted,
            ErrorKind::Failed => Exit::Failed,
        }
    }

    /// A bake's exit: a release made but left unfinished (its leaks among what is left
    /// to finish), then leaks, then how it ended.
    pub fn of_report(report: &BakeReport) -> Exit {
        if !report.unfinished.is_empty() {
            return Exit::Unfinished;
        }
        Exit::of_run(report.status, &report.ending)
    }

    /// A run's exit (a bake, `bakery test`): leaks win, then how it ended.
    pub fn of_run(status: BakeStatus, ending: &Ending) -> Exit {
        if !ending.leaked.is_empty() {
            return Exit::Leaked;
        }
        match (status, ending.error_kind) {
            (BakeStatus::Succeeded | BakeStatus::Unchanged, _) => Exit::Success,
            (BakeStatus::Interrupted, _) => Exit::Interrupted,
            (_, Some(ErrorKind::InvalidInput)) => Exit::InvalidInput,
            _ => Exit::Failed,
        }
    }

    /// The more serious of two outcomes (`bake --all`): interrupted, then leaks, then
    /// bad input, then failures.
    pub fn worst(self, other: Exit) -> Exit {
        let rank = |exit: Exit| match exit {
            Exit::Interrupted => 6,
            Exit::Leaked => 5,
            Exit::Unfinished => 4,
            Exit::PolicyBroken => 3,
            Exit::InvalidInput => 2,
            Exit::Failed => 1,
            Exit::Success => 0,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use bakery_core::bake::report::BakeReport;
    use bakery_core::model::Resource;

    use super::*;

    #[test]
    fn exit_codes_follow_the_outcome_and_leaks_win() {
        let refused = BakeReport::refused(Some("base"), "1.0.0", &Error::input("bad"));
        let ended = |status| BakeReport {
            status,
            ending: Ending::default(),
            ..refused.clone()
        };
        assert_eq!(Exit::of_report(&ended(BakeStatus::Succeeded)).code(), 0);
        assert_eq!(Exit::of_report(&ended(BakeStatus::Failed)).code(), 1);
        assert_eq!(Exit::of_report(&ended(BakeStatus::Interrupted)).code(), 130);
        assert_eq!(Exit::of_report(&refused).code(), 2);
        let leaky = BakeReport {
            ending: Ending {
                leaked: vec![Resource::Instance {
                    id: "i-1".into(),
                    region: "eu-west-1".into(),
                }],
                ..Ending::default()
            },
            ..ended(BakeStatus::Failed)
        };
        assert_eq!(Exit::of_report(&leaky).code(), 3);
        let released_then_stopped = BakeReport {
            unfinished: vec![bakery_core::model::Step::Promote],
            ..ended(BakeStatus::Interrupted)
        };
        assert_eq!(Exit::of_report(&released_then_stopped).code(), 5);
        let released_then_leaked = BakeReport {
            unfinished: vec![bakery_core::model::Step::Cleanup],
            ..leaky
        };
        assert_eq!(Exit::of_report(&released_then_leaked).code(), 5);
    }

    #[test]
    fn the_most_serious_outcome_of_several_bakes_decides() {
        assert_eq!(Exit::Success.worst(Exit::Failed), Exit::Failed);
        assert_eq!(Exit::Leaked.worst(Exit::InvalidInput), Exit::Leaked);
        assert_eq!(Exit::Failed.worst(Exit::Interrupted), Exit::Interrupted);
    }
}
