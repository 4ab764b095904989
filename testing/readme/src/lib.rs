//! The README's application: the text of its `// src/lib.rs` block.
// A user's crate does not have this workspace's lints; the README's
// example stays as short as a first example should be.
#![allow(missing_debug_implementations, reason = "the README's example stays minimal")]
include!(concat!(env!("OUT_DIR"), "/lib.rs"));
