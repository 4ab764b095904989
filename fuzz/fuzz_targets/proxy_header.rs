// cargo fuzz run proxy_header      (from the repository root; see fuzz/README.md)
#![no_main]

use rgi_gateway::proxy::header::{parse, Parsed};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Untrusted bytes from a balancer's side of a connection: an answer,
    // never a panic; a header never longer than the input, and a request
    // for more never for fewer bytes than were given.
    match parse(data) {
        Ok(Parsed::Done { len, .. }) => assert!(len <= data.len()),
        Ok(Parsed::Need(n)) => assert!(n > data.len()),
        Err(_) => {}
    }
});
