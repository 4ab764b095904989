//! Replays the PROXY header fuzzer's corpus (`fuzz/corpus/proxy_header/`)
//! on stable, so whatever the fuzzer found and was saved stays fixed
//! (PRX-1).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use rgi_gateway::proxy::header::{parse, Parsed};

#[test]
fn the_fuzz_corpus_parses_without_panicking() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/proxy_header");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        match parse(&bytes) {
            Ok(Parsed::Done { len, .. }) => assert!(len <= bytes.len()),
            Ok(Parsed::Need(n)) => assert!(n > bytes.len()),
            Err(_) => {}
        }
        seen += 1;
    }
    assert!(seen >= 7, "the corpus at {} has {seen} files", dir.display());
}
