//! How a command ends. Every command returns an [`Exit`] (or an error); `main` turns it into
//! the process's exit code in one place, so the codes the README promises — 0 nothing wrong,
//! 1 a problem found (or a fix that could not be applied), 2 bad usage or unreadable input —
//! cannot drift apart between commands.

/// The outcome of a command that ran to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Nothing wrong (exit 0).
    Clean,
    /// At least one error-severity finding, a host not found, a fix refused (exit 1).
    Problem,
    /// Bad usage, found by the command itself rather than by the argument parser (exit 2).
    Usage,
    /// The dashboard's terminal went away (exit 129, 128 + SIGHUP, as a shell reports it).
    Hangup,
}

impl Exit {
    /// `Problem` when `problem` holds, else `Clean`.
    pub fn problem_if(problem: bool) -> Exit {
        if problem {
            Exit::Problem
        } else {
            Exit::Clean
        }
    }

    /// The process exit code.
    pub fn code(self) -> i32 {
        match self {
            Exit::Clean => 0,
            Exit::Problem => 1,
            Exit::Usage => 2,
            Exit::Hangup => 128 + libc::SIGHUP,
        }
    }
}

/// A mistake in how sshdoctor was called: exit code 2 whatever the command.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A [`UsageError`] as an `anyhow::Error`, for `?` in command code and in the core's request
/// builders (an unparsable target is the caller's mistake, not the network's).
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// Whether an error is bad usage.
pub fn is_usage(e: &anyhow::Error) -> bool {
    e.downcast_ref::<UsageError>().is_some()
}

/// The exit code of a command that failed with `e`: 2 for bad usage; otherwise 1 when the
/// command changes files (a fix that could not be applied, a file that changed under it: the
/// user's input was fine) and 2 when it only reads (its input could not be read).
pub fn error_code(e: &anyhow::Error, changes_files: bool) -> i32 {
    if is_usage(e) || !changes_files {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_two_for_every_command_and_other_errors_depend_on_the_command() {
        let u = usage("bad port");
        assert_eq!(error_code(&u, true), 2);
        assert_eq!(error_code(&u, false), 2);
        let io = anyhow::anyhow!("the file changed since it was read");
        assert_eq!(error_code(&io, true), 1);
        assert_eq!(error_code(&io, false), 2);
        assert_eq!(Exit::problem_if(true).code(), 1);
        assert_eq!(Exit::problem_if(false).code(), 0);
    }
}
