//! Threadline's own diagnostics, written to standard error.
//!
//! `THREADLINE_LOG` sets the level: `off`, `warn` (default) or `debug`.

use std::fmt;
use std::sync::OnceLock;

fn level() -> u8 {
    static LEVEL: OnceLock<u8> = OnceLock::new();
    *LEVEL.get_or_init(|| match std::env::var("THREADLINE_LOG").as_deref() {
        Ok("off") | Ok("none") => 0,
        Ok("debug") => 2,
        _ => 1,
    })
}

/// Prints a warning: something was wrong and a fallback is in use.
pub(crate) fn warn(message: fmt::Arguments<'_>) {
    if level() >= 1 {
        eprintln!("threadline: warning: {message}");
    }
}

/// Prints a debug message: something was ignored on purpose, such as a malformed header.
pub(crate) fn debug(message: fmt::Arguments<'_>) {
    if level() >= 2 {
        eprintln!("threadline: debug: {message}");
    }
}
