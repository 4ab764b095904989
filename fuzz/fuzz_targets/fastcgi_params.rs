// cargo fuzz run fastcgi_params      (from the repository root; see fuzz/README.md)
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rgi_daemon::daemon::fuzz_params(data);
});
