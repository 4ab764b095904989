//! Extracts the README's application files: each ```rust block whose
//! first line is `// FILE` (src/lib.rs, src/main.rs, tests/contract.rs)
//! becomes $OUT_DIR/<file name>, which this crate's targets include.

use std::path::Path;

const FILES: [&str; 3] = ["src/lib.rs", "src/main.rs", "tests/contract.rs"];

fn main() {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    println!("cargo:rerun-if-changed={}", readme_path.display());
    let readme = std::fs::read_to_string(&readme_path).expect("the workspace README.md");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for file in FILES {
        let marker = format!("```rust\n// {file}\n");
        let start = readme.find(&marker).unwrap_or_else(|| {
            panic!("README.md has no ```rust block starting with `// {file}`; the README's example must show it")
        }) + "```rust\n".len();
        let len = readme[start..].find("\n```").expect("a closed code block");
        let name = Path::new(file).file_name().expect("a file name");
        std::fs::write(Path::new(&out).join(name), &readme[start..start + len + 1]).expect("write to OUT_DIR");
    }
}
