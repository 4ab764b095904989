// cargo run --release -p hello            # then: curl http://127.0.0.1:8000/
// RGI_BIND=127.0.0.1:9000 target/release/hello
//! Hello, World! as a binary: embedded by default, a FastCGI daemon when started as one.
fn main() -> std::process::ExitCode {
    rgi::run(hello::Hello)
}
