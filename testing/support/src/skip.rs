//! Saying that a test did not run, where a person running `cargo test`
//! sees it.

use std::io::Write;

/// Reports on the terminal that the calling test did not run, and why.
///
/// libtest captures `println!` and `eprintln!` of a passing test, so a
/// skip said that way is never seen; this writes to the process's stderr
/// directly.
pub fn skip(test: &str, reason: &str) {
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {reason}");
}

/// Like [`skip`], for a test whose server CI installs (`.ci/run` does):
/// under CI (`CI` set) the test must not skip, so this fails it instead.
pub fn skip_unless_ci(test: &str, reason: &str) {
    assert!(std::env::var_os("CI").is_none(), "CI must run {test}, but {reason}; .ci/run installs what it needs");
    skip(test, reason);
}
