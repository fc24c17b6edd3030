//! Errors a user can meet: one sentence with the fix, and an exit code.

use std::fmt;

/// Exit code for a capture that could not start (privileges, kernel features, arguments).
pub const EXIT_SETUP: i32 = 2;
/// Exit code for a capture that failed after it started (output error).
pub const EXIT_OUTPUT: i32 = 1;
/// Exit code for input that could not be read completely.
pub const EXIT_INPUT: i32 = 3;

/// An expected failure: printed as one line, no backtrace, with its exit code.
#[derive(Debug)]
pub struct Fatal {
    /// The process exit code.
    pub code: i32,
    /// The sentence shown to the user.
    pub message: String,
}

impl Fatal {
    /// A failure to set up the capture (exit code 2).
    pub fn setup(message: impl Into<String>) -> Self {
        Fatal {
            code: EXIT_SETUP,
            message: message.into(),
        }
    }

    /// A failure writing the output after the capture started (exit code 1).
    pub fn output(message: impl Into<String>) -> Self {
        Fatal {
            code: EXIT_OUTPUT,
            message: message.into(),
        }
    }

    /// A failure in the input being read (exit code 3).
    pub fn input(message: impl Into<String>) -> Self {
        Fatal {
            code: EXIT_INPUT,
            message: message.into(),
        }
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Fatal {}
