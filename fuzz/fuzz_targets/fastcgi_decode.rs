// cargo fuzz run fastcgi_decode      (from the repository root; see fuzz/README.md)
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rgi_fastcgi::fuzz_decode(data);
});
