//! Record types and constants (FastCGI specification, section 8).

use bytes::Bytes;

/// The only protocol version.
pub const VERSION_1: u8 = 1;
/// Bytes in a record header.
pub const HEADER_LEN: usize = 8;
/// The most content one record carries.
pub const MAX_CONTENT: usize = 65_535;
/// BEGIN_REQUEST flag: keep the connection open after the request.
pub const FLAG_KEEP_CONN: u8 = 1;

/// Record type numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum RecordType {
    /// `FCGI_BEGIN_REQUEST`
    BeginRequest = 1,
    /// `FCGI_ABORT_REQUEST`
    AbortRequest = 2,
    /// `FCGI_END_REQUEST`
    EndRequest = 3,
    /// `FCGI_PARAMS`
    Params = 4,
    /// `FCGI_STDIN`
    Stdin = 5,
    /// `FCGI_STDOUT`
    Stdout = 6,
    /// `FCGI_STDERR`
    Stderr = 7,
    /// `FCGI_DATA`
    Data = 8,
    /// `FCGI_GET_VALUES`
    GetValues = 9,
    /// `FCGI_GET_VALUES_RESULT`
    GetValuesResult = 10,
    /// `FCGI_UNKNOWN_TYPE`
    UnknownType = 11,
}

/// Roles of BEGIN_REQUEST. rgi daemons play the responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Role {
    /// `FCGI_RESPONDER`
    Responder = 1,
    /// `FCGI_AUTHORIZER`
    Authorizer = 2,
    /// `FCGI_FILTER`
    Filter = 3,
}

/// END_REQUEST's protocol status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ProtocolStatus {
    /// `FCGI_REQUEST_COMPLETE`
    RequestComplete = 0,
    /// `FCGI_CANT_MPX_CONN`
    CantMpxConn = 1,
    /// `FCGI_OVERLOADED`
    Overloaded = 2,
    /// `FCGI_UNKNOWN_ROLE`
    UnknownRole = 3,
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    /// A request starts.
    BeginRequest {
        /// Request id (never 0).
        id: u16,
        /// The role number (see [`Role`]).
        role: u16,
        /// Keep the connection after this request.
        keep_conn: bool,
    },
    /// The front gives up on a request.
    AbortRequest {
        /// Request id.
        id: u16,
    },
    /// A request is over.
    EndRequest {
        /// Request id.
        id: u16,
        /// The application's status (a CGI exit code).
        app_status: u32,
        /// The protocol status byte.
        protocol_status: u8,
    },
    /// Part of the name-value stream; empty ends it.
    Params {
        /// Request id.
        id: u16,
        /// The bytes.
        data: Bytes,
    },
    /// Part of the request body; empty ends it.
    Stdin {
        /// Request id.
        id: u16,
        /// The bytes.
        data: Bytes,
    },
    /// Part of the response; empty ends it.
    Stdout {
        /// Request id.
        id: u16,
        /// The bytes.
        data: Bytes,
    },
    /// Error output; empty ends it.
    Stderr {
        /// Request id.
        id: u16,
        /// The bytes.
        data: Bytes,
    },
    /// Filter data (not used by responders).
    Data {
        /// Request id.
        id: u16,
        /// The bytes.
        data: Bytes,
    },
    /// Management: which variables does the application support?
    GetValues {
        /// Name-value pairs with empty values.
        data: Bytes,
    },
    /// Management: the answer to GET_VALUES.
    GetValuesResult {
        /// Name-value pairs.
        data: Bytes,
    },
    /// Management: a record type the peer did not know.
    UnknownType {
        /// The type it did not know.
        kind: u8,
    },
    /// A record type this codec does not know; answer with UNKNOWN_TYPE
    /// when it is a management record (id 0).
    Other {
        /// The type number.
        kind: u8,
        /// Request id.
        id: u16,
    },
}

impl Record {
    /// The request the record belongs to; 0 for management records.
    ///
    /// ```
    /// use rgi_fastcgi::Record;
    /// assert_eq!(Record::AbortRequest { id: 3 }.request_id(), 3);
    /// assert_eq!(Record::UnknownType { kind: 99 }.request_id(), 0);
    /// ```
    pub fn request_id(&self) -> u16 {
        match self {
            Record::BeginRequest { id, .. }
            | Record::AbortRequest { id }
            | Record::EndRequest { id, .. }
            | Record::Params { id, .. }
            | Record::Stdin { id, .. }
            | Record::Stdout { id, .. }
            | Record::Stderr { id, .. }
            | Record::Data { id, .. }
            | Record::Other { id, .. } => *id,
            Record::GetValues { .. } | Record::GetValuesResult { .. } | Record::UnknownType { .. } => 0,
        }
    }
}
