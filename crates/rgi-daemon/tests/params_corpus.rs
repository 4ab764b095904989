//! Replays the fuzz corpus of what a front passes (`fuzz/corpus/fastcgi_params/`)
//! on stable: every input goes through the daemon's PARAMS decoding and
//! request building without panicking (FCGI-6, CGI-5), as the fuzz target
//! `fastcgi_params` runs it.

#[test]
fn every_corpus_input_is_taken_or_refused_without_panicking() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/fastcgi_params");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let input = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        rgi_daemon::daemon::fuzz_params(&input);
        count += 1;
    }
    assert!(count >= 10, "the corpus at {} lost its seeds", dir.display());
}
