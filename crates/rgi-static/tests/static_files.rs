//! Static files: the traversal spellings, symbolic links out of the root,
//! conditional requests and ranges (DMN-12).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use rgi_core::{Application, Body, Response};
use rgi_static::StaticFiles;

struct Site {
    _dir: tempfile::TempDir,
    files: StaticFiles,
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("public");
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::write(root.join("hello.txt"), "hello, static world\n").unwrap();
    std::fs::write(root.join("docs/index.html"), "<h1>docs</h1>").unwrap();
    std::fs::write(root.join("app.js"), "let x = 1;").unwrap();
    std::fs::write(root.join("data.bin"), (0..=255u8).collect::<Vec<u8>>()).unwrap();
    std::fs::write(dir.path().join("secret.txt"), "outside the root").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("escape.txt")).unwrap();
    std::os::unix::fs::symlink(dir.path(), root.join("updir")).unwrap();
    std::os::unix::fs::symlink(root.join("hello.txt"), root.join("inside.txt")).unwrap();
    let files = StaticFiles::new(&root).unwrap();
    Site { _dir: dir, files }
}

fn get(app: &StaticFiles, method: &str, uri: &str, headers: &[(&str, &str)]) -> (u16, http::HeaderMap, Vec<u8>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut b = rgi_gateway::testing::RequestBuilder::new().method(method).uri(uri).mount("/static");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        // A path that normalises out of the mount never reaches the
        // application: the server routes it elsewhere (404 here).
        let Ok(request) = b.body(Body::empty()) else { return (404, http::HeaderMap::new(), Vec::new()) };
        let resp: Response = app.call(request).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.into_body().collect(1 << 20).await.unwrap().to_vec())
    })
}

#[test]
fn files_are_served_with_their_type_and_validators() {
    let s = site();
    let (status, h, body) = get(&s.files, "GET", "/static/hello.txt", &[]);
    assert_eq!(status, 200);
    assert_eq!(body, b"hello, static world\n");
    assert_eq!(h["content-type"], "text/plain; charset=utf-8");
    assert_eq!(h["content-length"], "20");
    assert!(h.contains_key("etag") && h.contains_key("last-modified"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(get(&s.files, "GET", "/static/app.js", &[]).1["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(get(&s.files, "GET", "/static/data.bin", &[]).1["content-type"], "application/octet-stream");
    // A link inside the root is fine.
    assert_eq!(get(&s.files, "GET", "/static/inside.txt", &[]).2, b"hello, static world\n");
}

#[test]
fn nothing_outside_the_root_can_be_reached() {
    let s = site();
    for uri in [
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2e/secret.txt",
        "/static/..%2fsecret.txt",
        "/static/..%2Fsecret.txt",
        "/static/%252e%252e/secret.txt",
        "/static/..%5csecret.txt",
        "/static/docs/..%5c..%5csecret.txt",
        "/static/a%00b",
        "/static/escape.txt",
        "/static/updir/secret.txt",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
    ] {
        let (status, _, body) = get(&s.files, "GET", uri, &[]);
        assert!(status == 404 || status == 400, "{uri}: {status}");
        assert!(!String::from_utf8_lossy(&body).contains("outside the root"), "{uri} leaked the secret");
    }
}

#[test]
fn directories_serve_their_index_or_redirect() {
    let s = site();
    assert_eq!(get(&s.files, "GET", "/static/docs/", &[]).2, b"<h1>docs</h1>");
    let (status, h, _) = get(&s.files, "GET", "/static/docs?x=1", &[]);
    assert_eq!(status, 301);
    assert_eq!(h["location"], "/static/docs/?x=1");
    assert_eq!(get(&s.files, "GET", "/static/", &[]).0, 404, "no index.html at the root");
}

#[test]
fn conditional_requests_get_304() {
    let s = site();
    let (_, h, _) = get(&s.files, "GET", "/static/hello.txt", &[]);
    let etag = h["etag"].to_str().unwrap().to_string();
    let modified = h["last-modified"].to_str().unwrap().to_string();
    assert_eq!(get(&s.files, "GET", "/static/hello.txt", &[("if-none-match", &etag)]).0, 304);
    assert_eq!(get(&s.files, "GET", "/static/hello.txt", &[("if-none-match", "\"other\", *")]).0, 304);
    assert_eq!(get(&s.files, "GET", "/static/hello.txt", &[("if-none-match", "\"other\"")]).0, 200);
    assert_eq!(get(&s.files, "GET", "/static/hello.txt", &[("if-modified-since", &modified)]).0, 304);
    assert_eq!(
        get(&s.files, "GET", "/static/hello.txt", &[("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT")]).0,
        200
    );
}

#[test]
fn ranges_are_served() {
    let s = site();
    let (status, h, body) = get(&s.files, "GET", "/static/data.bin", &[("range", "bytes=10-19")]);
    assert_eq!(status, 206);
    assert_eq!(h["content-range"], "bytes 10-19/256");
    assert_eq!(body, (10..20u8).collect::<Vec<_>>());
    let (status, _, body) = get(&s.files, "GET", "/static/data.bin", &[("range", "bytes=-3")]);
    assert_eq!((status, body), (206, vec![253, 254, 255]));
    let (status, h, _) = get(&s.files, "GET", "/static/data.bin", &[("range", "bytes=300-")]);
    assert_eq!(status, 416);
    assert_eq!(h["content-range"], "bytes */256");
    assert_eq!(get(&s.files, "GET", "/static/data.bin", &[("range", "bytes=0-1,5-6")]).0, 200);
    // A weak validator in If-Range means the whole file.
    let (_, h, _) = get(&s.files, "GET", "/static/data.bin", &[]);
    let etag = h["etag"].to_str().unwrap().to_string();
    assert_eq!(get(&s.files, "GET", "/static/data.bin", &[("range", "bytes=0-1"), ("if-range", &etag)]).0, 200);
}

#[test]
fn only_get_and_head() {
    let s = site();
    let (status, h, _) = get(&s.files, "POST", "/static/hello.txt", &[]);
    assert_eq!(status, 405);
    assert_eq!(h["allow"], "GET, HEAD");
    let (status, h, body) = get(&s.files, "HEAD", "/static/hello.txt", &[]);
    assert_eq!((status, h["content-length"].to_str().unwrap()), (200, "20"));
    assert_eq!(body.len(), 20, "the application returns the body; the server drops it for HEAD");
}
