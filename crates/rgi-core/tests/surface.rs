//! The contract stays small and self-contained: its public API names no
//! type of a crate outside the allow-list (as hyper keeps one), and its
//! code stays under 1,050 lines.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails by panicking")]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The crates whose items may appear in `rgi-core`'s public API, and why.
const ALLOWED: &[&str] = &[
    "std",
    "core",
    "alloc",
    "rgi_core",
    // The request, response, header and URI types applications use.
    "http",
    // The body trait every server speaks.
    "http_body",
    "bytes",
    // `Stream`, for `Body::from_stream` and `Body::into_data_stream`: the
    // trait `http-body-util` and every stream crate share.
    "futures_core",
    // `DeserializeOwned`, for typed settings sections.
    "serde",
    "serde_core",
    // The `#[async_trait]` macro, re-exported.
    "async_trait",
];

/// The most lines of code (not comments, not blank, not tests) the
/// contract may have: 1,000 until upgrades (`OnUpgrade`, UPG-10) added a
/// concept of their own. A new concept raises it; growth within one does
/// not.
const MAX_LINES: usize = 1050;

#[test]
fn public_api_names_only_allowed_crates() {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("public-api");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // rustdoc's JSON output is unstable; RUSTC_BOOTSTRAP lets the stable
    // toolchain write it, in a target directory of its own.
    let status = Command::new(cargo)
        .args(["rustdoc", "--lib", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .args(["--", "-Z", "unstable-options", "--output-format", "json"])
        .env("RUSTC_BOOTSTRAP", "1")
        .env_remove("RUSTDOCFLAGS")
        .status()
        .expect("run cargo rustdoc");
    assert!(status.success(), "cargo rustdoc failed");
    let json: Value = serde_json::from_slice(&std::fs::read(target.join("doc/rgi_core.json")).unwrap()).unwrap();

    let mut foreign = BTreeSet::new();
    for item in json["index"].as_object().unwrap().values() {
        if item["crate_id"] != 0 {
            continue;
        }
        // Impls every type gets (`impl<T> From<T> for T`, auto traits) are
        // not the crate's API.
        let imp = &item["inner"]["impl"];
        if imp.is_object() && (!imp["blanket_impl"].is_null() || imp["is_synthetic"] == true) {
            continue;
        }
        collect_paths(&item["inner"], &json, &mut foreign);
    }
    assert!(foreign.is_empty(), "rgi-core's public API names items of crates outside the allow-list:\n{foreign:#?}");
}

/// Every item a JSON subtree refers to by id whose crate is not allowed.
fn collect_paths(value: &Value, json: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let (Some(id), Some(_)) = (map.get("id"), map.get("path")) {
                let summary = &json["paths"][id_key(id)];
                if let Some(krate) = summary["crate_id"].as_u64() {
                    let name = json["external_crates"][krate.to_string()]["name"].as_str().unwrap_or("rgi_core");
                    if !ALLOWED.contains(&name) {
                        out.insert(summary["path"].as_array().map_or(String::new(), |p| {
                            p.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("::")
                        }));
                    }
                }
            }
            for child in map.values() {
                collect_paths(child, json, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_paths(v, json, out)),
        _ => {}
    }
}

fn id_key(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn the_contract_stays_under_its_size() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lines = code_lines(&src);
    assert!(lines <= MAX_LINES, "rgi-core has {lines} lines of code; the contract's budget is {MAX_LINES}");
}

/// Lines that are not blank, not comments, not in a `tests.rs` file and not
/// in a `#[cfg(test)]` module.
fn code_lines(dir: &Path) -> usize {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            total += code_lines(&path);
        } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests.rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or("");
            total += code.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//")).count();
        }
    }
    total
}
