// cargo run --release -p streaming        # then: curl -N http://127.0.0.1:8000/   (Ctrl-C it: the log says so)
fn main() -> std::process::ExitCode {
    rgi::run(streaming::Streaming::default())
}
