//! The validator's rules. Each cites the requirement it checks; the
//! traceability test counts these citations.

/// How binding a rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// A MUST: a violation is an error.
    Must,
    /// A SHOULD: a violation is a warning.
    Should,
}

/// Who broke the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The server, in what it supplied to the application.
    Server,
    /// The application, in what it returned.
    Application,
}

/// One checked requirement.
#[derive(Debug)]
pub struct Rule {
    /// The spec id, e.g. `APP-6`.
    pub id: &'static str,
    /// MUST or SHOULD.
    pub severity: Severity,
    /// Who must keep it.
    pub side: Side,
    /// What the rule says.
    pub summary: &'static str,
    /// How to fix a violation.
    pub fix: &'static str,
}

macro_rules! rules {
    ($($name:ident = $id:literal, $severity:ident, $side:ident, $summary:literal, $fix:literal;)*) => {
        $(
            #[doc = $summary]
            pub static $name: Rule = Rule {
                id: $id,
                severity: Severity::$severity,
                side: Side::$side,
                summary: $summary,
                fix: $fix,
            };
        )*
        /// Every rule, in order.
        pub static ALL: &[&Rule] = &[$(&$name),*];
    };
}

rules! {
    SCRIPT_NAME_SHAPE = "PATH-4", Must, Server,
        "SCRIPT_NAME is empty or starts with '/', and never ends with '/'",
        "build the environ with Environ::from_http or from_cgi, passing the mount prefix without a trailing slash";
    PATH_INFO_SHAPE = "PATH-4", Must, Server,
        "PATH_INFO is empty or starts with '/' ('*' only for OPTIONS *, PATH-7)",
        "split the path at a segment boundary of the mount prefix";
    SPLIT_RECONSTRUCTS = "PATH-1", Must, Server,
        "raw SCRIPT_NAME + raw PATH_INFO is the request's normalised path",
        "derive both from the same RequestTarget the request's URI gives";
    DECODED_FORMS = "PATH-5", Must, Server,
        "SCRIPT_NAME and PATH_INFO are their raw forms decoded, %2F kept (PATH-5, PATH-6)",
        "use rgi_core::path::decode; never decode %2F into a separator";
    NO_DOT_SEGMENTS = "PATH-2", Must, Server,
        "PATH_INFO holds no '.' or '..' segment",
        "normalise the path (RequestTarget::parse) before splitting it";
    QUERY_RAW = "ENV-3", Must, Server,
        "QUERY_STRING is the raw query of the request target",
        "pass the bytes after the first '?' undecoded";
    CONTENT_LENGTH_SHAPE = "ENV-11", Must, Server,
        "CONTENT_LENGTH is one non-negative decimal integer",
        "refuse requests whose Content-Length is not a single decimal number (SRV-1)";
    BODY_MATCHES_CONTENT_LENGTH = "ENV-11", Must, Server,
        "the request body has exactly CONTENT_LENGTH bytes",
        "frame the body by its Content-Length; end it there";
    NO_UNDERSCORE_HEADERS = "HDR-1", Must, Server,
        "no request header name contains '_'",
        "sanitise request headers (rgi_gateway::headers::sanitize_request_headers)";
    NO_PROXY_HEADER = "HDR-2", Must, Server,
        "no Proxy request header reaches the application",
        "sanitise request headers; drop HTTP_PROXY from CGI variables";
    NO_REPEATED_HEADERS = "HDR-3", Must, Server,
        "each request header name appears once, repeated fields joined",
        "sanitise request headers, which joins repeats with ', ' ('; ' for Cookie)";
    NO_HOP_BY_HOP_REQUEST = "HDR-4", Must, Server,
        "no hop-by-hop request header reaches the application",
        "sanitise request headers, which removes them and what Connection names";
    SERVER_NAME_PRESENT = "ENV-6", Must, Server,
        "an HTTP/1.1 request has a SERVER_NAME (it had a valid Host)",
        "refuse HTTP/1.1 requests without a valid Host with 400";
    PROCESS_ID = "ENV-9", Must, Server,
        "the deployment's process id is the process calling the application",
        "make the Deployment in the process that runs the application";
    BODY_NOT_POLLED_AFTER_END = "BODY-9", Must, Server,
        "a body is not polled again after it ended or failed",
        "stop polling a body once it returned None or an error";
    UPGRADE_WITHOUT_BODY = "UPG-2", Must, Server,
        "an upgrade request reaches the application without a body",
        "refuse an upgrade request with a body (400) before any application sees it";
    FINAL_STATUS = "APP-3", Must, Application,
        "the response status is a final status, 200 to 599 (or a 101 to an upgrade request)",
        "return 200-599; 100 Continue and other 1xx are the server's";
    SWITCH_ONLY_WHEN_ASKED = "UPG-3", Must, Application,
        "a 101 answers an upgrade request only, and names its protocol in Upgrade",
        "answer 101 only when the request carries Upgrade and Connection: upgrade (an OnUpgrade is in its extensions), with an Upgrade field";
    HEADER_VALUE_BYTES = "APP-10", Must, Application,
        "response header values hold no CR, LF or NUL",
        "build header values with HeaderValue::from_str or from_bytes, which refuse them";
    NO_HOP_BY_HOP_RESPONSE = "APP-5", Must, Application,
        "the response sets no hop-by-hop header",
        "remove Connection, Keep-Alive, Proxy-Connection, TE, Transfer-Encoding and Upgrade; the server manages connections";
    CONTENT_LENGTH_MATCHES = "APP-6", Must, Application,
        "a response's Content-Length equals the bytes its body yields",
        "drop the Content-Length header (the server frames the body) or make the body match it";
    NO_BODY_FOR_HEAD = "APP-11", Should, Application,
        "a response to HEAD, or a 204 or 304, has an empty body",
        "return Body::empty() for HEAD, 204 and 304; keep Content-Length for HEAD";
    TRAILERS_LAST = "BODY-8", Must, Application,
        "trailers are the last frame of a body",
        "send data frames first and the trailers frame once, at the end";
    TRAILER_FIELDS = "BODY-11", Must, Application,
        "trailers carry no framing, routing, authentication or content-describing fields",
        "send Content-Length, Transfer-Encoding, Host, Content-Type, Set-Cookie and the like as headers, not trailers";
}
