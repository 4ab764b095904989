// cargo run --release -p axum-example     # then: curl http://127.0.0.1:8000/users/7
//! An axum `Router` served through rgi unchanged, in whichever mode the binary is started.
fn main() -> std::process::ExitCode {
    rgi::run(rgi::tower::from_service(axum_example::router()))
}
