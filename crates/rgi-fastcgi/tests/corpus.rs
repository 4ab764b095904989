//! Replays the fuzz corpus (`fuzz/corpus/fastcgi_decode/`) on stable: every
//! input the fuzzer was given or found must decode without a panic.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

#[test]
fn every_corpus_input_decodes_without_panicking() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/fastcgi_decode");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let input = std::fs::read(&path).unwrap();
        rgi_fastcgi::fuzz_decode(&input);
        count += 1;
    }
    assert!(count >= 9, "the corpus at {} lost its seeds", dir.display());
}
