//! The small-file cache against real changes on disk: whatever changes a
//! kept file (a rewrite, a removal, a directory moved above it, a rewrite
//! racing with reads) is served within moments, and what the cache cannot
//! watch (hard links, a cache of size 0) is never kept.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::path::Path;
use std::time::{Duration, Instant};

use rgi_core::{Application, Body};
use rgi_static::StaticFiles;

/// How long a change may take to show: inotify delivers in microseconds,
/// a loaded CI machine may hold the watcher thread for a while.
const NOTICED_WITHIN: Duration = Duration::from_secs(10);

fn get(app: &StaticFiles, uri: &str) -> (u16, Vec<u8>) {
    let (status, body) = try_get(app, uri);
    (status, body.unwrap())
}

/// The status, and the body unless it failed: a file rewritten in place
/// while it is read ends short of its announced length.
fn try_get(app: &StaticFiles, uri: &str) -> (u16, Result<Vec<u8>, rgi_core::Error>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let request =
            rgi_gateway::testing::RequestBuilder::new().uri(uri).mount("/static").body(Body::empty()).unwrap();
        let response = app.call(request).await.unwrap();
        let status = response.status().as_u16();
        (status, response.into_body().collect(1 << 20).await.map(|b| b.to_vec()))
    })
}

/// Waits for `uri` to answer `status` with `body` (any body for a 404),
/// failing after [`NOTICED_WITHIN`].
fn served_soon(app: &StaticFiles, uri: &str, (want_status, want_body): (u16, &[u8])) {
    let deadline = Instant::now() + NOTICED_WITHIN;
    loop {
        let (status, body) = get(app, uri);
        if status == want_status && (status == 404 || body == want_body) {
            return;
        }
        assert!(Instant::now() < deadline, "{uri} still answers {status} {:?}", String::from_utf8_lossy(&body));
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn public(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("public");
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::write(root.join("a.txt"), "first").unwrap();
    std::fs::write(root.join("docs/index.html"), "<h1>one</h1>").unwrap();
    root
}

#[test]
fn a_rewritten_or_removed_file_is_served_as_it_now_is() {
    let dir = tempfile::tempdir().unwrap();
    let root = public(dir.path());
    let files = StaticFiles::new(&root).unwrap();
    assert_eq!(get(&files, "/static/a.txt"), (200, b"first".to_vec()));
    assert_eq!(get(&files, "/static/a.txt"), (200, b"first".to_vec()), "a hit");

    std::fs::write(root.join("a.txt"), "second, longer").unwrap();
    served_soon(&files, "/static/a.txt", (200, b"second, longer"));
    // The same length: only the bytes and the time differ.
    std::fs::write(root.join("a.txt"), "third, longer!").unwrap();
    served_soon(&files, "/static/a.txt", (200, b"third, longer!"));
    // Replaced by a rename, as deploy tools do.
    std::fs::write(dir.path().join("new"), "fourth").unwrap();
    std::fs::rename(dir.path().join("new"), root.join("a.txt")).unwrap();
    served_soon(&files, "/static/a.txt", (200, b"fourth"));

    std::fs::remove_file(root.join("a.txt")).unwrap();
    served_soon(&files, "/static/a.txt", (404, b""));
}

#[test]
fn directories_moved_or_removed_above_kept_files_are_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let root = public(dir.path());
    let files = StaticFiles::new(&root).unwrap();
    assert_eq!(get(&files, "/static/docs/").1, b"<h1>one</h1>");

    std::fs::rename(root.join("docs"), root.join("old")).unwrap();
    served_soon(&files, "/static/docs/", (404, b""));
    std::fs::create_dir(root.join("docs")).unwrap();
    std::fs::write(root.join("docs/index.html"), "<h1>two</h1>").unwrap();
    served_soon(&files, "/static/docs/", (200, b"<h1>two</h1>"));
    // The new directory is watched in its turn.
    std::fs::write(root.join("docs/index.html"), "<h1>three</h1>").unwrap();
    served_soon(&files, "/static/docs/", (200, b"<h1>three</h1>"));
    // So is one made where a removed one was.
    std::fs::remove_dir_all(root.join("docs")).unwrap();
    served_soon(&files, "/static/docs/", (404, b""));
    std::fs::create_dir(root.join("docs")).unwrap();
    std::fs::write(root.join("docs/index.html"), "<h1>four</h1>").unwrap();
    served_soon(&files, "/static/docs/", (200, b"<h1>four</h1>"));
    std::fs::write(root.join("docs/index.html"), "<h1>five</h1>").unwrap();
    served_soon(&files, "/static/docs/", (200, b"<h1>five</h1>"));
    assert_eq!(get(&files, "/static/old/").1, b"<h1>one</h1>");
    // The index is kept under the address with the slash only.
    assert_eq!(get(&files, "/static/docs").0, 301);
}

#[test]
fn rewrites_racing_with_reads_end_with_the_last_version() {
    let dir = tempfile::tempdir().unwrap();
    let root = public(dir.path());
    let files = StaticFiles::new(&root).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let (status, _) = try_get(&files, "/static/a.txt");
                    assert_eq!(status, 200);
                }
            });
        }
        for version in 0..300 {
            std::fs::write(root.join("a.txt"), format!("version {version}")).unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    served_soon(&files, "/static/a.txt", (200, b"version 299"));
}

#[test]
fn files_the_cache_cannot_watch_are_read_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let root = public(dir.path());
    // A change made through a link outside the root reaches no watched
    // directory: such a file is never kept.
    std::fs::hard_link(root.join("a.txt"), dir.path().join("outside-link")).unwrap();
    let files = StaticFiles::new(&root).unwrap();
    assert_eq!(get(&files, "/static/a.txt").1, b"first");
    std::fs::write(dir.path().join("outside-link"), "changed outside").unwrap();
    assert_eq!(get(&files, "/static/a.txt").1, b"changed outside");

    // Size 0: nothing is kept, every change shows at once.
    let uncached = StaticFiles::new(&root).unwrap().cache_size(0);
    assert_eq!(get(&uncached, "/static/docs/").1, b"<h1>one</h1>");
    std::fs::write(root.join("docs/index.html"), "<h1>now</h1>").unwrap();
    assert_eq!(get(&uncached, "/static/docs/").1, b"<h1>now</h1>");
}

#[test]
fn a_kept_file_replaced_by_a_link_out_of_the_root_never_leaks() {
    // DMN-12 holds across the cache: the link is noticed, then refused.
    let dir = tempfile::tempdir().unwrap();
    let root = public(dir.path());
    std::fs::write(dir.path().join("secret.txt"), "outside the root").unwrap();
    let files = StaticFiles::new(&root).unwrap();
    assert_eq!(get(&files, "/static/a.txt"), (200, b"first".to_vec()));
    std::fs::remove_file(root.join("a.txt")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("a.txt")).unwrap();
    let deadline = Instant::now() + NOTICED_WITHIN;
    loop {
        let (status, body) = get(&files, "/static/a.txt");
        assert!(!String::from_utf8_lossy(&body).contains("outside"), "the link's target leaked");
        if status == 404 {
            break;
        }
        assert_eq!(body, b"first", "only the old copy may show until the change is noticed");
        assert!(Instant::now() < deadline, "the link never replaced the kept file");
        std::thread::sleep(Duration::from_millis(5));
    }
    // And stays refused: a link is never kept.
    assert_eq!(get(&files, "/static/a.txt").0, 404);
}

#[test]
fn past_its_limits_the_cache_serves_correctly_uncached() {
    // More directories than one mount watches (1,024), and more bytes than
    // the cache holds: every file is still served as it is on disk.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("public");
    for i in 0..1100 {
        std::fs::create_dir_all(root.join(format!("d{i}"))).unwrap();
        std::fs::write(root.join(format!("d{i}/f.txt")), format!("file {i} {}", "x".repeat(900))).unwrap();
    }
    let files = StaticFiles::new(&root).unwrap().cache_size(64 * 1024);
    for round in 0..2 {
        for i in 0..1100 {
            let (status, body) = get(&files, &format!("/static/d{i}/f.txt"));
            assert_eq!(status, 200);
            assert!(body.starts_with(format!("file {i} ").as_bytes()), "round {round}, file {i}");
        }
    }
    // Unwatched (past the limit): a change shows at once.
    std::fs::write(root.join("d1099/f.txt"), "changed").unwrap();
    assert_eq!(get(&files, "/static/d1099/f.txt").1, b"changed");
    // Watched: within moments.
    std::fs::write(root.join("d5/f.txt"), "changed too").unwrap();
    served_soon(&files, "/static/d5/f.txt", (200, b"changed too"));
}
