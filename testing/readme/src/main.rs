//! The README's `main`: the text of its `// src/main.rs` block.
include!(concat!(env!("OUT_DIR"), "/main.rs"));
