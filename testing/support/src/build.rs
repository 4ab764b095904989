//! Binaries of other workspace packages, for tests that run several.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

/// The path of workspace binary `name`, after one `cargo build
/// --workspace --bins` per test process. Cargo builds only the calling
/// package's binaries for its tests; building every binary with the
/// workspace's features (as `cargo test --workspace` already did) is a
/// no-op after it, and rebuilds nothing another test is running.
pub fn workspace_binary(name: &str) -> PathBuf {
    static BUILT: Once = Once::new();
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target/<profile>
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-q", "--workspace", "--bins"]);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().unwrap();
        assert!(status.success(), "cargo build --workspace --bins failed");
    });
    dir.join(name)
}
