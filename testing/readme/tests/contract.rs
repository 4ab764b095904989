//! The README's conformance test: the text of its `// tests/contract.rs`
//! block.
include!(concat!(env!("OUT_DIR"), "/contract.rs"));
