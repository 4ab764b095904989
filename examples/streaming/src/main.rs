// cargo run --release -p streaming        # then: curl -N http://127.0.0.1:8000/   (Ctrl-C it: the log says so)
//! A long streamed response that stops as soon as the client goes away.
fn main() -> std::process::ExitCode {
    rgi::run(streaming::Streaming::default())
}
