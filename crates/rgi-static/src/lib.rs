//! Static files as an rgi [`Application`]: mount a directory at a prefix
//! of the production server or the development server.
//!
//! * `GET` and `HEAD` only (others get `405` with `Allow`).
//! * `ETag` and `Last-Modified`, answered with `304` to `If-None-Match` and
//!   `If-Modified-Since`.
//! * One byte range per request (`Range`, `If-Range`); `416` when none of
//!   the file is in it. Several ranges get the whole file, as RFC 9110 allows.
//! * `Content-Type` from the extension, `charset=utf-8` for text.
//! * Files up to 64 KiB are kept in memory (up to 16 MiB in all by
//!   default, [`StaticFiles::cache_size`]) until the kernel reports a change
//!   to them or a directory above them (inotify): serving a kept file costs
//!   no system call.
//! * No way out of the root (DMN-12): a request is resolved from the
//!   decoded segments of PATH_INFO, and a segment that is `.`, `..`, holds a
//!   `/` (from `%2F`), a backslash or a NUL is refused; the resolved path
//!   must lie under the root after symbolic links are followed.
//!
//! ```no_run
//! let files = rgi_static::StaticFiles::new("public").unwrap();
//! ```

mod cache;
mod meta;
mod respond;

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use rgi_core::{async_trait, Application, Error, Request, Response};

use crate::cache::{Cache, Cached, Key};
use crate::meta::Meta;
use crate::respond::{serve, text, Content};

/// A directory served as files.
#[derive(Debug, Clone)]
pub struct StaticFiles {
    root: Arc<Path>,
    index: Option<Arc<str>>,
    cache: Arc<Cache>,
}

impl StaticFiles {
    /// Serves `root`, which must be a directory.
    pub fn new(root: impl AsRef<Path>) -> std::io::Result<Self> {
        let root = root.as_ref().canonicalize()?;
        if !root.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(Self {
            root: root.into(),
            index: Some("index.html".into()),
            cache: Arc::new(Cache::new(DEFAULT_CACHE_SIZE)),
        })
    }

    /// The file served for a directory (default `index.html`); `None`
    /// serves nothing for directories.
    pub fn index(mut self, index: Option<&str>) -> Self {
        self.index = index.map(Into::into);
        self
    }

    /// How many bytes of small files (up to 64 KiB each) to keep in
    /// memory; 0 keeps none, and every request then looks its file up
    /// afresh. Use 0 where files change in ways inotify does not report:
    /// on network file systems, or through hard links from outside the
    /// root (files with several links are never kept).
    ///
    /// ```no_run
    /// let files = rgi_static::StaticFiles::new("public").unwrap().cache_size(0);
    /// ```
    pub fn cache_size(mut self, bytes: usize) -> Self {
        self.cache = Arc::new(Cache::new(bytes));
        self
    }

    /// The served directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// The path a request names under `root`, from the decoded segments of
/// PATH_INFO; `None` when a segment tries to leave the root.
fn join_segments(root: &Path, request: &Request) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    for segment in request.environ().path_segments() {
        if segment.is_empty() {
            continue;
        }
        let safe = segment != "."
            && segment != ".."
            && !segment.contains(['/', '\\', '\0'])
            && Path::new(segment.as_ref()).components().all(|c| matches!(c, Component::Normal(_)));
        if !safe {
            return None;
        }
        path.push(segment.as_ref());
    }
    Some(path)
}

/// What a request's path leads to, found and opened on the blocking pool:
/// `canonicalize`, `is_dir` and `open` wait for the disk.
enum Found {
    File { file: std::fs::File, real: PathBuf, linkless: bool },
    SlashRedirect,
    Outside,
    Missing,
    Forbidden,
}

fn find(root: &Path, index: Option<&str>, path: &Path, has_slash: bool) -> Found {
    let Ok(real) = path.canonicalize() else { return Found::Missing };
    if !real.starts_with(root) {
        return Found::Outside;
    }
    let mut linkless = real == path;
    let file = if real.is_dir() {
        if !has_slash {
            return Found::SlashRedirect;
        }
        let Some(index) = index else { return Found::Missing };
        let named = real.join(index);
        match named.canonicalize() {
            Ok(file) if file.starts_with(root) => {
                linkless &= file == named;
                file
            }
            _ => return Found::Missing,
        }
    } else {
        real
    };
    if !file.is_file() {
        return Found::Missing;
    }
    match std::fs::File::open(&file) {
        Ok(opened) => Found::File { file: opened, real: file, linkless },
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Found::Forbidden,
        Err(_) => Found::Missing,
    }
}

/// A found file, as the blocking pool hands it back.
enum Opened {
    /// All of it, read (and kept, when it may be): small, and wanted whole.
    Read(Arc<Cached>),
    /// Open, to be read as the body is sent.
    File(std::fs::File, Meta),
    /// Not served: why.
    Not(Found),
}

impl StaticFiles {
    /// Finds, opens and (if small) reads the file `key` names, keeping it
    /// in the cache when it may be kept. Blocks: runs on the blocking pool.
    fn open(&self, key: &Key, whole: bool) -> std::io::Result<Opened> {
        let found = find(&self.root, self.index.as_deref(), &key.path, key.slash);
        let Found::File { mut file, real, linkless } = found else { return Ok(Opened::Not(found)) };
        let stat = file.metadata()?;
        let meta =
            Meta::new(&real, stat.len(), stat.modified().unwrap_or(UNIX_EPOCH)).map_err(std::io::Error::other)?;
        if !whole || stat.len() > READ_AT_ONCE {
            return Ok(Opened::File(file, meta));
        }
        // Watches go up before the read, so a change during it is seen.
        let ticket = (linkless && single_link(&stat)).then(|| self.cache.prepare(&self.root, &real, stat.len()));
        let Some(bytes) = read_small(&mut file, stat.len()) else { return Ok(Opened::File(file, meta)) };
        let cached = Arc::new(Cached { bytes, meta, file: real });
        if let Some(Some(ticket)) = ticket {
            self.cache.insert(key.clone(), ticket, Arc::clone(&cached));
        }
        Ok(Opened::Read(cached))
    }
}

/// Whether no other directory entry leads to the file: a change made
/// through another link would not be reported to the directories watched.
fn single_link(stat: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    stat.nlink() == 1
}

#[async_trait]
impl Application for StaticFiles {
    async fn call(&self, request: Request) -> Result<Response, Error> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD are served here");
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return Ok(r);
        }
        let Some(path) = join_segments(&self.root, &request) else {
            tracing::warn!(path = %request.environ().raw_path_info(), "static file request trying to leave its root");
            return Ok(text(StatusCode::NOT_FOUND, "no such file"));
        };
        let key = Key { path, slash: request.environ().path_info().ends_with('/') };
        if let Some(hit) = self.cache.get(&key) {
            return serve(&request, Content::Read(hit.bytes.clone()), &hit.meta);
        }
        // A small file a plain GET wants whole is read in the same trip to
        // the blocking pool that found it: each trip is two thread
        // switches, which cost more than reading a few KiB.
        let whole = request.method() == Method::GET && !request.headers().contains_key(header::RANGE);
        let this = self.clone();
        let opened = tokio::task::spawn_blocking(move || this.open(&key, whole)).await.map_err(Error::new)?;
        match opened.map_err(Error::new)? {
            Opened::Read(cached) => serve(&request, Content::Read(cached.bytes.clone()), &cached.meta),
            Opened::File(file, meta) => serve(&request, Content::File(file), &meta),
            Opened::Not(Found::SlashRedirect) => {
                let env = request.environ();
                let mut location = format!("{}{}/", env.raw_script_name(), env.raw_path_info());
                if !env.query_string().is_empty() {
                    location = format!("{location}?{}", env.query_string());
                }
                let mut r = text(StatusCode::MOVED_PERMANENTLY, "a directory: its address ends with /");
                r.headers_mut().insert(header::LOCATION, HeaderValue::try_from(location).map_err(Error::new)?);
                Ok(r)
            }
            Opened::Not(Found::Outside) => {
                tracing::warn!(path = %request.environ().raw_path_info(), "static file request leads outside its root");
                Ok(text(StatusCode::NOT_FOUND, "no such file"))
            }
            Opened::Not(Found::Forbidden) => Ok(text(StatusCode::FORBIDDEN, "not readable")),
            Opened::Not(_) => Ok(text(StatusCode::NOT_FOUND, "no such file")),
        }
    }
}

/// Files up to this size are read whole with their lookup, and may be
/// kept in the cache.
const READ_AT_ONCE: u64 = 64 * 1024;

/// How many bytes of small files a mount keeps in memory unless told
/// otherwise ([`StaticFiles::cache_size`]).
pub const DEFAULT_CACHE_SIZE: usize = 16 << 20;

/// All of a small file, or `None` if it is not `len` bytes any more (it
/// changed under us: the file body then reads what is there).
fn read_small(file: &mut std::fs::File, len: u64) -> Option<rgi_core::bytes::Bytes> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(usize::try_from(len).ok()?);
    file.read_to_end(&mut buf).ok()?;
    (buf.len() as u64 == len).then(|| rgi_core::bytes::Bytes::from(buf))
}
