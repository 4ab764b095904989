//! The README's binary answers as the README says it does.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::process::Command;
use std::time::Duration;

use rgi_test_support::{get, LoggedChild};

#[test]
fn the_readme_binary_greets_as_the_readme_says() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_my-app"));
    command.env("RGI_BIND", "127.0.0.1:0").env("RGI_LOG", "info").env_remove("RGI_SETTINGS");
    let (mut app, addr) =
        LoggedChild::spawn("my-app", command, Duration::from_secs(30), rgi_test_support::listening_addr);
    assert_eq!(get(addr, "/rgi"), (200, "Hello, rgi!".to_string()));
    assert!(app.stop().success());
}
