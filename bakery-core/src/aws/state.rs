//! The states AWS reports for images, instances and Run Commands, as types: the waits
//! match on these instead of on strings. Each prints as AWS names it; a state AWS adds
//! later is kept as `Other`.

use strum::{Display, EnumString};

/// `DescribeImages`' `State`.
#[derive(Debug, Clone, PartialEq, Eq, Display, EnumString)]
#[strum(serialize_all = "lowercase")]
pub enum ImageState {
    Pending,
    Available,
    Transient,
    Failed,
    Invalid,
    Deregistered,
    Error,
    Disabled,
    #[strum(default, to_string = "{0}")]
    Other(String),
}

impl ImageState {
    pub fn parse(text: &str) -> Self {
        text.parse().expect("every text is a state")
    }

    /// Still on its way to `available`.
    pub fn is_pending(&self) -> bool {
        matches!(self, ImageState::Pending | ImageState::Transient)
    }
}

/// `DescribeInstances`' `State.Name`.
#[derive(Debug, Clone, PartialEq, Eq, Display, EnumString)]
#[strum(serialize_all = "kebab-case")]
pub enum InstanceState {
    Pending,
    Running,
    Stopping,
    Stopped,
    ShuttingDown,
    Terminated,
    #[strum(default, to_string = "{0}")]
    Other(String),
}

impl InstanceState {
    pub fn parse(text: &str) -> Self {
        text.parse().expect("every text is a state")
    }
}

/// `GetCommandInvocation`'s `Status`.
#[derive(Debug, Clone, PartialEq, Eq, Display, EnumString)]
pub enum CommandStatus {
    Pending,
    InProgress,
    Delayed,
    Cancelling,
    Success,
    Cancelled,
    TimedOut,
    Failed,
    #[strum(default, to_string = "{0}")]
    Other(String),
}

impl CommandStatus {
    pub fn parse(text: &str) -> Self {
        text.parse().expect("every text is a status")
    }

    /// The command will not change any more.
    pub fn is_finished(&self) -> bool {
        !matches!(
            self,
            CommandStatus::Pending
                | CommandStatus::InProgress
                | CommandStatus::Delayed
                | CommandStatus::Cancelling
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_and_print_as_aws_names_them() {
        for name in ["pending", "available", "failed", "deregistered", "disabled"] {
            assert_eq!(ImageState::parse(name).to_string(), name);
        }
        assert_eq!(
            InstanceState::parse("shutting-down"),
            InstanceState::ShuttingDown
        );
        assert_eq!(InstanceState::ShuttingDown.to_string(), "shutting-down");
        assert_eq!(
            InstanceState::parse("rebooting"),
            InstanceState::Other("rebooting".into())
        );
        assert_eq!(InstanceState::parse("rebooting").to_string(), "rebooting");
        assert_eq!(CommandStatus::parse("TimedOut").to_string(), "TimedOut");
        assert!(!CommandStatus::parse("InProgress").is_finished());
        assert!(CommandStatus::parse("TimedOut").is_finished());
        assert!(ImageState::Transient.is_pending());
    }
}
