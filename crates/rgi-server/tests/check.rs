//! `rgi-server --check`: the file's syntax and sense, and what it names
//! on this machine (programs, directories, users), each problem named.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use support::test_app;

/// `--check` on `config` (`{app}` and `{dir}` replaced); its exit code and
/// stderr.
fn check(config: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let text =
        config.replace("{app}", &test_app().display().to_string()).replace("{dir}", &dir.path().display().to_string());
    let path = dir.path().join("rgi.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::create_dir(dir.path().join("static")).unwrap();
    let plain = dir.path().join("plain-file");
    std::fs::write(&plain, "not a program").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_rgi-server")).arg("--config").arg(&path).arg("--check").output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

const MOUNT: &str = "\n[[mounts]]\nprefix = \"/\"\ngroup = \"t\"\n";

#[test]
fn a_sound_file_passes_with_host_names_and_durations_in_units() {
    let (code, stderr) = check(&format!(
        r#"
[server]
listen = ["localhost:0"]
grace-period = "2s"

[server.limits]
header-read-timeout = "500ms"
keep-alive-timeout = 5

[groups.t]
command = ["{{app}}"]
working-dir = "{{dir}}"
graceful-timeout = "1m"
request-timeout = 0.5

[[mounts]]
prefix = "/static"
static = "static"
cache = "4MiB"
{MOUNT}"#
    ));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("configuration is valid"), "{stderr}");
}

#[test]
fn what_the_file_names_must_exist_on_this_machine() {
    for (config, expected) in [
        ("[groups.t]\ncommand = [\"{dir}/no-such-program\"]\n", "[groups.t] command: "),
        ("[groups.t]\ncommand = [\"no-such-program-rgi\"]\n", "\"no-such-program-rgi\" is not in PATH"),
        ("[groups.t]\ncommand = [\"{dir}/plain-file\"]\n", "not executable"),
        ("[groups.t]\ncommand = [\"{dir}\"]\n", "not a file"),
        ("[groups.t]\ncommand = [\"{app}\"]\nworking-dir = \"{dir}/gone\"\n", "[groups.t] working-dir"),
        ("[groups.t]\ncommand = [\"{app}\"]\nsettings = \"{dir}/gone.toml\"\n", "[groups.t] settings"),
        ("[groups.t]\ncommand = [\"{app}\"]\n\n[[mounts]]\nprefix = \"/s\"\nstatic = \"gone\"\n", "static directory"),
        (
            "[groups.t]\ncommand = [\"{app}\"]\n\n[[mounts]]\nprefix = \"/s\"\ngroup = \"t\"\ncache = 0\n",
            "mount \"/s\": `cache` is for `static` mounts",
        ),
        (
            "[groups.t]\ncommand = [\"{app}\"]\n\n[[mounts]]\nprefix = \"/s\"\nstatic = \"static\"\ncache = \"lots\"\n",
            "\"lots\" is not a size",
        ),
    ] {
        let (code, stderr) = check(&format!("{config}{MOUNT}"));
        assert_eq!(code, Some(2), "{config}: {stderr}");
        assert!(stderr.contains(expected), "{config}: expected {expected:?} in:\n{stderr}");
    }
}

#[test]
fn a_bad_duration_names_its_place_and_the_accepted_forms() {
    let (code, stderr) =
        check(&format!("[groups.t]\ncommand = [\"{{app}}\"]\ngraceful-timeout = \"5 parsecs\"\n{MOUNT}"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("rgi.toml: TOML parse error at line 3, column"), "no line: {stderr}");
    assert!(stderr.contains("\"5 parsecs\" is not a duration") && stderr.contains("\"500ms\""), "{stderr}");
}
