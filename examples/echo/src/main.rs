// cargo run --release -p echo             # then: curl -d hi 'http://127.0.0.1:8000/a%20b?x=1'
// RGI_BIND=127.0.0.1:9000 target/release/echo
//! The echo application as a binary: answers with the gateway variables it saw, as JSON.
fn main() -> std::process::ExitCode {
    rgi::run(echo::Echo)
}
