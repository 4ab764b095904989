//! The server suite's vectors: language-neutral TOML files (this crate's
//! `vectors/` directory; [`conformance/vectors/`](https://example.invalid/rgi/tree/main/conformance/vectors)
//! in the repository), each a request and what a conforming server must
//! make of it.
//!
//! ```toml
//! [[vector]]
//! id = "path-encoded-slash"
//! description = "an encoded slash is not a path separator"
//! covers = ["PATH-5"]
//! tags = ["rgi-only"]
//! reason = "WSGI servers decode %2F into a separator"
//!
//! [vector.request]
//! target = "{prefix}/a%2Fb"
//!
//! [vector.expect]
//! status = 200
//! environ = { PATH_INFO = "/a%2Fb", SCRIPT_NAME = "{prefix}" }
//! ```
//!
//! Placeholders in strings: `{prefix}` (the mount prefix of the server
//! under test), `{host}` (its `host:port`), `{port}`, `{client_port}` (the
//! client's own port on this connection), `{protocol}` (`HTTP/1.1` or
//! `HTTP/2.0`, as the run sends), `{scheme}` (`http`, or `https` over TLS)
//! and `{default_port}` (80, or 443 over
//! TLS).
//!
//! The same vectors run over HTTP/1.1 and HTTP/2, cleartext and TLS
//! ([`Options`](crate::Options)). Over HTTP/2, a vector whose request is
//! HTTP/1 only (raw bytes, another version, no Host, `100-continue`,
//! connection-specific or Host fields) is skipped; the tags
//! `cleartext-only` and `tls-only` skip by transport.

use std::collections::BTreeMap;

use serde::Deserialize;

mod builtin;
mod file;

pub use builtin::{builtin, FILES as BUILTIN_FILES};
pub use file::{load_dir, parse, VectorFileError};

/// Tag for vectors that encode rgi's own rules beyond WSGI's; a reference
/// WSGI server skips them. Every such vector says why in `reason`.
pub const RGI_ONLY: &str = "rgi-only";
/// Tag for vectors a front server (nginx) rewrites before a daemon sees
/// them; skipped through a front, with the reason written down.
pub const FRONT_NORMALISES: &str = "front-normalises";
/// Tag for vectors that only mean something under a non-empty mount prefix.
pub const NEEDS_PREFIX: &str = "needs-prefix";
/// Tag for vectors that only mean something with echo mounted at the root.
pub const NEEDS_ROOT: &str = "needs-root";
/// Tag for vectors about cleartext connections; skipped over TLS.
pub const CLEARTEXT_ONLY: &str = "cleartext-only";
/// Tag for vectors about TLS connections; skipped over cleartext.
pub const TLS_ONLY: &str = "tls-only";
/// Tag for vectors that need a PROXY protocol listener whose trusted
/// proxies are `127.0.0.1` and `10.0.0.0/8`
/// ([`Options::proxy_listener`](crate::Options)).
pub const PROXY_LISTENER: &str = "proxy-listener";

/// One test vector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Vector {
    /// Unique id, used in reports.
    pub id: String,
    /// What it checks, in a sentence.
    pub description: String,
    /// The spec requirements it checks.
    pub covers: Vec<String>,
    /// Tags, such as [`RGI_ONLY`].
    #[serde(default)]
    pub tags: Vec<String>,
    /// Why a tag applies; required with any skipping tag.
    #[serde(default)]
    pub reason: Option<String>,
    /// Why nginx changes this request, when tagged [`FRONT_NORMALISES`].
    #[serde(default)]
    pub front_reason: Option<String>,
    /// Fronts that change this request before a daemon sees it, each with
    /// the reason (`front-quirks = { apache = "joins Cookie fields with ', '" }`):
    /// skipped through that front ([`Options::front`](crate::Options)).
    #[serde(default)]
    pub front_quirks: BTreeMap<String, String>,
    /// The request.
    pub request: RequestSpec,
    /// What must come back.
    pub expect: Expect,
    /// A second request on the same connection, when keep-alive matters.
    #[serde(default)]
    pub then: Option<Box<FollowUp>>,
}

/// A follow-up request on the same connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FollowUp {
    /// The request.
    pub request: RequestSpec,
    /// What must come back.
    pub expect: Expect,
}

/// A request, either spelt out as raw bytes or built from parts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RequestSpec {
    /// The exact bytes to send (placeholders expanded); when set, the
    /// other fields are ignored.
    pub raw: Option<String>,
    /// The method; default `GET`.
    pub method: Option<String>,
    /// The request target; default `{prefix}/`.
    pub target: Option<String>,
    /// The version; default `HTTP/1.1`.
    pub version: Option<String>,
    /// Header fields in order; `Host: {host}` is added first unless
    /// `no-host` is set or a Host is given.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Send no Host field.
    #[serde(default)]
    pub no_host: bool,
    /// The body.
    pub body: Option<BodySpec>,
    /// Send the body chunked, in these pieces (of the body's bytes).
    pub chunks: Option<Vec<usize>>,
    /// Trailer fields after the last chunk.
    #[serde(default)]
    pub trailers: Vec<(String, String)>,
    /// Send `Expect: 100-continue` and wait for `100 Continue` before the body.
    #[serde(default)]
    pub expect_continue: bool,
    /// Bytes sent first on the connection, before the request: a PROXY
    /// protocol header (vectors tagged `proxy-listener`). Through a PROXY
    /// listener, a vector without one is sent after `PROXY UNKNOWN`.
    pub proxy: Option<BodySpec>,
}

/// A request body.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum BodySpec {
    /// Literal text.
    Text(String),
    /// `count` copies of `byte`.
    Repeat {
        /// The byte, as a one-character string.
        repeat: String,
        /// How many.
        count: usize,
    },
    /// Bytes given in hexadecimal.
    Hex {
        /// The bytes, as hex digits.
        hex: String,
    },
}

/// What the response must be.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Expect {
    /// The status; default 200.
    pub status: Option<u16>,
    /// Gateway variables the echo application reported, by name.
    #[serde(default)]
    pub environ: BTreeMap<String, String>,
    /// Variables that must not be reported.
    #[serde(default)]
    pub absent: Vec<String>,
    /// Check `body_length` and `body_sha256` against the body sent.
    #[serde(default)]
    pub body_digest: bool,
    /// Response header fields (names lower-case) and their values.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Response header fields that must be present, any value.
    #[serde(default)]
    pub has_headers: Vec<String>,
    /// The response carries no body bytes (HEAD).
    #[serde(default)]
    pub no_body: bool,
    /// After this response the connection must be open (`true`) or
    /// closed (`false`).
    pub keep_alive: Option<bool>,
    /// A `100 Continue` must precede the response.
    #[serde(default)]
    pub interim_continue: bool,
    /// The server must close the connection without answering. Replaces
    /// the status check.
    #[serde(default)]
    pub closed: bool,
    /// The request must not reach the echo application at {prefix}:
    /// whatever answers (a 404, another mount), it is not echo's JSON with
    /// that SCRIPT_NAME. Replaces the status check.
    #[serde(default)]
    pub not_echo: bool,
}

impl Vector {
    /// Whether the vector has `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

impl BodySpec {
    /// The bytes.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            BodySpec::Text(t) => t.clone().into_bytes(),
            BodySpec::Repeat { repeat, count } => repeat.as_bytes().iter().copied().cycle().take(*count).collect(),
            BodySpec::Hex { hex } => (0..hex.len() / 2)
                .filter_map(|i| hex.get(2 * i..2 * i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
                .collect(),
        }
    }
}
