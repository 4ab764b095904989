//! Traceability: every MUST in `spec/` is cited by a test, and every id a
//! test cites exists in `spec/`.
//!
//! Requirements are list items `- **APP-1** (MUST) ...` in `spec/*.md`.
//! A citation is the id written anywhere in a file that checks behaviour:
//! integration tests (`crates/*/tests/`), unit-test modules
//! (`crates/*/src/**/tests.rs`), conformance vectors (`conformance/vectors/`)
//! and the validator's rules (`crates/rgi-conformance/src/validate/`).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
#![allow(clippy::print_stdout, reason = "the suite reports what it ran, as its runner does")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

struct Requirement {
    keyword: String,
    place: String,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn requirements(root: &Path) -> BTreeMap<String, Requirement> {
    let mut out = BTreeMap::new();
    let mut files: Vec<_> = std::fs::read_dir(root.join("spec")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for file in files.iter().filter(|p| p.extension().is_some_and(|e| e == "md")) {
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            // Requirements start at the margin; indented ones are examples.
            let Some(rest) = line.strip_prefix("- **") else { continue };
            let place = format!("{}:{}", file.file_name().unwrap().to_string_lossy(), n + 1);
            let Some((id, rest)) = rest.split_once("**") else { continue };
            // Bold list items in lower case are terms, not requirements.
            if id.bytes().any(|b| b.is_ascii_lowercase()) {
                continue;
            }
            assert!(is_id(id), "{place}: {id:?} is not an id like APP-1");
            let keyword = rest
                .trim_start()
                .strip_prefix('(')
                .and_then(|r| r.split_once(')'))
                .map(|(k, _)| k.to_string())
                .unwrap_or_else(|| panic!("{place}: {id} lacks its (MUST|SHOULD|MAY) keyword"));
            assert!(
                ["MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY"].contains(&keyword.as_str()),
                "{place}: {id} has keyword {keyword:?}"
            );
            // The tag is for tools; the sentence itself says what is required
            // (RFC 2119 keywords stand in the text, as in an RFC).
            let body = rest.trim_start().split_once(')').map_or("", |(_, b)| b).to_string();
            let continued = lines[n + 1..].iter().take_while(|l| l.starts_with("  ")).map(|l| l.trim());
            let sentence = std::iter::once(body.as_str()).chain(continued).collect::<Vec<_>>().join(" ");
            assert!(
                sentence.contains(keyword.as_str()),
                "{place}: {id} is tagged {keyword} but its text does not say {keyword}"
            );
            let previous = out.insert(id.to_string(), Requirement { keyword, place: place.clone() });
            assert!(previous.is_none(), "{place}: {id} is defined twice");
        }
    }
    out
}

fn is_id(s: &str) -> bool {
    let Some((prefix, number)) = s.split_once('-') else { return false };
    (2..=5).contains(&prefix.len())
        && prefix.bytes().all(|b| b.is_ascii_uppercase())
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// Files whose ids count as citations.
fn citing_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(root, &mut |path| {
        let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        let counts = (rel.starts_with("crates/") && rel.contains("/tests/"))
            || (rel.starts_with("crates/") && rel.contains("/src/") && rel.ends_with("/tests.rs"))
            || rel.starts_with("conformance/vectors/")
            || rel.starts_with("crates/rgi-conformance/src/validate/")
            || (rel.starts_with("examples/") && rel.contains("/tests/"));
        if counts && !rel.ends_with("tests/traceability.rs") {
            out.push(path.to_path_buf());
        }
    });
    out.sort();
    out
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk(&path, f);
        } else {
            f(&path);
        }
    }
}

/// Every `PREFIX-N` with a known prefix in `text`, with its line number.
fn ids_in(text: &str, prefixes: &BTreeSet<String>) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_uppercase() && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_uppercase() {
                    i += 1;
                }
                if i < bytes.len() && bytes[i] == b'-' && prefixes.contains(&line[start..i]) {
                    let digits = i + 1;
                    let mut j = digits;
                    while j < bytes.len() && bytes[j].is_ascii_digit() {
                        j += 1;
                    }
                    if j > digits && (j == bytes.len() || !bytes[j].is_ascii_alphanumeric()) {
                        out.push((line[start..j].to_string(), n + 1));
                    }
                    i = j;
                }
            } else {
                i += 1;
            }
        }
    }
    out
}

#[test]
fn every_must_is_cited_and_every_citation_exists() {
    let root = root();
    let reqs = requirements(&root);
    assert!(!reqs.is_empty(), "no requirements found in spec/");
    let prefixes: BTreeSet<String> = reqs.keys().map(|id| id.split('-').next().unwrap().to_string()).collect();

    let mut cited: BTreeMap<String, usize> = BTreeMap::new();
    let mut unknown = Vec::new();
    for file in citing_files(&root) {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        for (id, line) in ids_in(&text, &prefixes) {
            if reqs.contains_key(&id) {
                *cited.entry(id).or_default() += 1;
            } else {
                unknown.push(format!("{}:{line}: {id}", file.strip_prefix(&root).unwrap().display()));
            }
        }
    }
    let uncited: Vec<String> = reqs
        .iter()
        .filter(|(id, r)| r.keyword.starts_with("MUST") && !cited.contains_key(*id))
        .map(|(id, r)| format!("{id} ({})", r.place))
        .collect();
    assert!(unknown.is_empty(), "tests cite ids the spec does not define:\n  {}", unknown.join("\n  "));
    assert!(uncited.is_empty(), "MUST requirements no test cites:\n  {}", uncited.join("\n  "));
    let musts = reqs.values().filter(|r| r.keyword.starts_with("MUST")).count();
    println!("{} requirements ({musts} MUST), {} cited", reqs.len(), cited.len());
}

#[test]
fn vectors_and_validator_rules_cite_only_known_ids() {
    let root = root();
    let reqs = requirements(&root);
    for v in rgi_conformance::vectors::builtin().unwrap() {
        for id in &v.covers {
            assert!(reqs.contains_key(id), "vector {} covers unknown {id}", v.id);
        }
    }
    for rule in rgi_conformance::rules() {
        assert!(reqs.contains_key(rule.id), "validator rule cites unknown {}", rule.id);
    }
}

#[test]
fn id_scanner_finds_only_whole_ids() {
    let prefixes: BTreeSet<String> = ["APP", "SRV"].iter().map(ToString::to_string).collect();
    let found = ids_in("APP-1, (SRV-12) XAPP-3 APP-4a UTF-8 APP-", &prefixes);
    assert_eq!(found, [("APP-1".to_string(), 1), ("SRV-12".to_string(), 1)]);
}
