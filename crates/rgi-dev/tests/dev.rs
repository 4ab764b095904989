//! rgi-dev end to end: a copy of an example crate, edited while a client
//! keeps requesting; compile errors and crashes as pages; --noreload;
//! settings; static files; nothing left running after SIGTERM (DEV-*).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use rgi_test_support::{alive, get, try_get, ws};
use support::*;
use tokio_tungstenite::tungstenite::Message;

/// The first build compiles every dependency.
const FIRST_BUILD: Duration = Duration::from_secs(600);
const REBUILD: Duration = Duration::from_secs(120);

#[test]
fn edits_are_served_with_no_refused_connection_and_errors_are_pages() {
    // DEV-1, DEV-2, DEV-3, DEV-4, DEV-5, DEV-7, DEV-9
    let krate = DevCrate::copy("hello", "dev-hello-a");
    let server = DevServer::start(&krate, &[]);
    server.wait_for("/", FIRST_BUILD, "the first build to be served", |s, b| s == 200 && b == "Hello, World!");

    // A client requests without pause while the source changes.
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = {
        let stop = Arc::clone(&stop);
        let answered = Arc::clone(&answered);
        std::thread::spawn(move || {
            let (mut answers, mut failures) = (0, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                match try_get(addr, "/") {
                    Ok((200, body)) if body == "Hello, World!" || body == "Hello, edited!" => {
                        answers += 1;
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok((status, body)) => failures.push(format!("{status} {body}")),
                    Err(err) => failures.push(format!("connection: {err}")),
                }
            }
            (answers, failures)
        })
    };
    // The client is answered before the edit and after it.
    let answers_reach = |n: usize| {
        let deadline = std::time::Instant::now() + REBUILD;
        while answered.load(Ordering::Relaxed) < n {
            assert!(
                std::time::Instant::now() < deadline,
                "the client got only {} answers",
                answered.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    answers_reach(3);
    let first_pid = server.app_pid();
    let lib = krate.read("src/lib.rs");
    // Saved as many editors do: a temporary file renamed over the real one.
    krate.write("src/lib.rs.tmp-save", &lib.replace("Hello, World!", "Hello, edited!"));
    std::fs::rename(krate.path.join("src/lib.rs.tmp-save"), krate.path.join("src/lib.rs")).unwrap();
    server.wait_for("/", REBUILD, "the edit to be served", |s, b| s == 200 && b == "Hello, edited!");
    server.process.wait_log(REBUILD, "the new process's pid", |log| {
        log.lines()
            .rev()
            .find_map(|l| l.split(" is running (pid ").nth(1))
            .is_some_and(|p| p != format!("{first_pid})"))
    });
    let log = server.log();
    assert!(log.contains("src/lib.rs changed; rebuilding"), "the change names the source file:\n{log}");
    assert!(!log.contains("tmp-save changed"), "the change names the editor's temporary file:\n{log}");
    let new_pid = server.app_pid();
    assert!(alive(new_pid), "the pid printed after the rebuild ({new_pid}) is not the running process");
    answers_reach(answered.load(Ordering::Relaxed) + 3);
    stop.store(true, Ordering::Relaxed);
    let (answers, failures) = client.join().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed requests during the reload: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(answers > 5, "the client made only {answers} requests");

    // A compile error is a page naming the error and where it is.
    let edited = krate.read("src/lib.rs");
    krate.write(
        "src/lib.rs",
        &edited.replace("let mut response", "let unknown: u32 = \"text\";\n        let mut response"),
    );
    let (status, page) = server.wait_for("/", REBUILD, "the compile error page", |s, _| s == 500);
    assert!(page.contains("mismatched types") && page.contains("src/lib.rs"), "{page}");
    assert!(page.contains("<!doctype html>"), "{page}");
    assert_eq!(status, 500);
    assert!(server.log().contains("mismatched types"), "the terminal shows the error too");
    // Fixed, it serves again.
    krate.write("src/lib.rs", &edited);
    server.wait_for("/", REBUILD, "the fixed source to be served", |s, b| s == 200 && b == "Hello, edited!");

    // An application that fails to start: its exit and its last words.
    let main = krate.read("src/main.rs");
    krate.write(
        "src/main.rs",
        "fn main() -> std::process::ExitCode {\n    eprintln!(\"boom at start\");\n    std::process::ExitCode::from(3)\n}\n",
    );
    let (_, page) = server.wait_for("/", REBUILD, "the crash page", |s, b| s == 500 && b.contains("boom at start"));
    assert!(page.contains("exited with status 3"), "{page}");
    krate.write("src/main.rs", &main);
    server.wait_for("/", REBUILD, "the restored application", |s, b| s == 200 && b == "Hello, edited!");

    // One runserver-like line per request.
    let log = server.log();
    assert!(log.lines().any(|l| l.contains("\"GET / HTTP/1.1\" 200 14 ")), "no request log line:\n{log}");

    // SIGTERM stops everything; no child is left.
    let pid = server.app_pid();
    assert!(alive(pid));
    let status = server.stop();
    assert!(status.success(), "{status:?}");
    assert!(!alive(pid), "the application process {pid} outlived rgi-dev");
}

#[test]
fn noreload_serves_the_first_build_whatever_changes() {
    // DEV-6
    let krate = DevCrate::copy("hello", "dev-hello-b");
    let server = DevServer::start(&krate, &["--noreload"]);
    server.wait_for("/", FIRST_BUILD, "the first build to be served", |s, b| s == 200 && b == "Hello, World!");
    // No watcher is started at all (the banner says so), so no change can
    // reach the server: there is no event to wait for.
    assert!(server.log().contains("not watching the source (--noreload)"), "{}", server.log());
    let lib = krate.read("src/lib.rs");
    krate.write("src/lib.rs", &lib.replace("Hello, World!", "Hello, ignored!"));
    assert_eq!(get(server.addr, "/"), (200, "Hello, World!".to_string()));
    assert!(!server.log().contains("rebuilding"), "{}", server.log());
}

#[test]
fn settings_and_static_files_reach_the_application_and_the_banner() {
    // SET-6, DEV-8, DEV-10, DEP-5
    let krate = DevCrate::copy("echo", "dev-echo");
    let extra = tempfile::tempdir().unwrap();
    let settings = extra.path().join("dev.toml");
    std::fs::write(&settings, "[echo]\ngreeting = \"hi\"\n").unwrap();
    let assets = extra.path().join("assets");
    std::fs::create_dir(&assets).unwrap();
    std::fs::write(assets.join("a.css"), "body{}").unwrap();
    let server = DevServer::start(
        &krate,
        &["--settings", &settings.display().to_string(), "--static", &format!("/assets={}", assets.display())],
    );
    let (_, body) = server.wait_for("/x", FIRST_BUILD, "echo to answer", |s, _| s == 200);
    let environ: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(environ["rgi.settings"], settings.display().to_string(), "{body}");
    assert_eq!(environ["rgi.mode"], "dev", "{body}");
    assert!(server.log().contains(&format!("settings: {}", settings.display())), "the banner names the settings file");
    assert_eq!(get(server.addr, "/assets/a.css"), (200, "body{}".to_string()));
    // `..` is resolved before routing (PATH-2): the request reaches echo at
    // /dev.toml, never the file beside the static directory.
    let (_, body) = get(server.addr, "/assets/../dev.toml");
    assert!(!body.contains("greeting"), "a file outside the static directory was served: {body}");
}

#[test]
fn a_rebuild_closes_open_websockets_and_the_new_build_takes_new_ones() {
    // DEV-2, UPG-7, UPG-9: axum's WebSocketUpgrade through rgi-dev; an edit's
    // rebuild closes the sockets the old build held, so a browser
    // reconnects, to the new build.
    let krate = DevCrate::copy("axum", "dev-axum-ws");
    let server = DevServer::start(&krate, &[]);
    let hello = |b: &str| b == "Hello from axum, served by rgi!";
    server.wait_for("/", FIRST_BUILD, "the first build to be served", |s, b| s == 200 && hello(b));
    let url = format!("ws://{}/ws", server.addr);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(ws::conversation(&url)).unwrap();
    let mut open = rt.block_on(ws::connect(&url)).unwrap();
    rt.block_on(ws::echo(&mut open, Message::text("before the edit"))).unwrap();

    let lib = krate.read("src/lib.rs");
    krate.write("src/lib.rs", &lib.replace("Hello from axum, served by rgi!", "Hello, edited!"));
    server.wait_for("/", REBUILD, "the edit to be served", |s, b| s == 200 && b == "Hello, edited!");
    // The old build's socket is closed within the graceful timeout (3 s)
    // of the new build taking over.
    let closed = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), async { while let Some(Ok(_)) = open.next().await {} }).await
    });
    assert!(closed.is_ok(), "the old build's WebSocket is still open\n{}", server.log());
    rt.block_on(ws::conversation(&url)).unwrap();
}
