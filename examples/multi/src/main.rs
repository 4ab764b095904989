// cargo run --release -p multi            # then: curl http://127.0.0.1:8000/a/  and  curl http://127.0.0.1:8000/b/x
//! Two applications mounted under `/a` and `/b` in one binary.
fn main() -> std::process::ExitCode {
    rgi::run_mounts(multi::mounts())
}
