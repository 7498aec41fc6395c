//! The states AWS reports for images, instances and Run Commands, as types: the waits
//! match on these instead of on strings.

use std::fmt;

/// `DescribeImages`' `State`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageState {
    Pending,
    Available,
    Transient,
    Failed,
    Invalid,
    Deregistered,
    Error,
    Disabled,
    Other(String),
}

impl ImageState {
    pub fn parse(text: &str) -> Self {
        match text {
            "pending" => ImageState::Pending,
            "available" => ImageState::Available,
            "transient" => ImageState::Transient,
            "failed" => ImageState::Failed,
            "invalid" => ImageState::Invalid,
            "deregistered" => ImageState::Deregistered,
            "error" => ImageState::Error,
            "disabled" => ImageState::Disabled,
            other => ImageState::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ImageState::Pending => "pending",
            ImageState::Available => "available",
            ImageState::Transient => "transient",
            ImageState::Failed => "failed",
            ImageState::Invalid => "invalid",
            ImageState::Deregistered => "deregistered",
            ImageState::Error => "error",
            ImageState::Disabled => "disabled",
            ImageState::Other(other) => other,
        }
    }

    /// Still on its way to `available`.
    pub fn is_pending(&self) -> bool {
        matches!(self, ImageState::Pending | ImageState::Transient)
    }
}

/// `DescribeInstances`' `State.Name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceState {
    Pending,
    Running,
    Stopping,
    Stopped,
    ShuttingDown,
    Terminated,
    Other(String),
}

impl InstanceState {
    pub fn parse(text: &str) -> Self {
        match text {
            "pending" => InstanceState::Pending,
            "running" => InstanceState::Running,
            "stopping" => InstanceState::Stopping,
            "stopped" => InstanceState::Stopped,
            "shutting-down" => InstanceState::ShuttingDown,
            "terminated" => InstanceState::Terminated,
            other => InstanceState::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
            InstanceState::Other(other) => other,
        }
    }
}

/// `GetCommandInvocation`'s `Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandStatus {
    Pending,
    InProgress,
    Delayed,
    Cancelling,
    Success,
    Cancelled,
    TimedOut,
    Failed,
    Other(String),
}

impl CommandStatus {
    pub fn parse(text: &str) -> Self {
        match text {
            "Pending" => CommandStatus::Pending,
            "InProgress" => CommandStatus::InProgress,
            "Delayed" => CommandStatus::Delayed,
            "Cancelling" => CommandStatus::Cancelling,
            "Success" => CommandStatus::Success,
            "Cancelled" => CommandStatus::Cancelled,
            "TimedOut" => CommandStatus::TimedOut,
            "Failed" => CommandStatus::Failed,
            other => CommandStatus::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            CommandStatus::Pending => "Pending",
            CommandStatus::InProgress => "InProgress",
            CommandStatus::Delayed => "Delayed",
            CommandStatus::Cancelling => "Cancelling",
            CommandStatus::Success => "Success",
            CommandStatus::Cancelled => "Cancelled",
            CommandStatus::TimedOut => "TimedOut",
            CommandStatus::Failed => "Failed",
            CommandStatus::Other(other) => other,
        }
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

macro_rules! display_as_aws_names_it {
    ($($state:ty),*) => {$(
        impl fmt::Display for $state {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}

display_as_aws_names_it!(ImageState, InstanceState, CommandStatus);

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
        assert_eq!(
            InstanceState::parse("rebooting"),
            InstanceState::Other("rebooting".into())
        );
        assert!(!CommandStatus::parse("InProgress").is_finished());
        assert!(CommandStatus::parse("TimedOut").is_finished());
        assert!(ImageState::Transient.is_pending());
    }
}
