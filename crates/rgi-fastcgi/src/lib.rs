//! FastCGI 1.0 records, the wire protocol between a front server (rgi's,
//! nginx, Apache, Caddy, HAProxy) and rgi daemons.
//!
//! Sans-I/O: [`Decoder`] takes bytes as they arrive and yields whole
//! [`Record`]s; the `encode_*` functions append records to a buffer. The
//! decoder trusts nothing: it never panics on any input, and never holds
//! more than one record's content (at most 65 535 + 255 bytes) at a time.
//! PARAMS streams are assembled by [`ParamsDecoder`] up to a limit the
//! caller sets.
//!
//! ```
//! use bytes::BytesMut;
//! use rgi_fastcgi::{encode_begin_request, Decoder, Record, Role};
//!
//! let mut wire = BytesMut::new();
//! encode_begin_request(&mut wire, 1, Role::Responder, true);
//! let record = Decoder::new().decode(&mut wire).unwrap().unwrap();
//! assert_eq!(record, Record::BeginRequest { id: 1, role: 1, keep_conn: true });
//! ```

mod decode;
mod encode;
mod pairs;
mod record;

pub use decode::{DecodeError, Decoder};
pub use encode::{
    encode_abort_request, encode_begin_request, encode_empty, encode_end_request, encode_get_values,
    encode_get_values_result, encode_params, encode_stream, encode_stream_with, encode_unknown_type, push_framed,
    stream_framing, Framing,
};
pub use pairs::{encode_pair, pair_len, parse_pairs, Pairs, Params, ParamsDecoder, ParamsError};
pub use record::{ProtocolStatus, Record, RecordType, Role, FLAG_KEEP_CONN, HEADER_LEN, MAX_CONTENT, VERSION_1};

/// What the fuzz target runs on each input (`fuzz/fuzz_targets/`), kept
/// here so the corpus replay test runs exactly the same code on stable:
/// decode everything, assemble PARAMS under a limit, parse management
/// pairs. It must never panic and never buffer more than a record.
#[doc(hidden)]
pub fn fuzz_decode(input: &[u8]) {
    let decoder = Decoder::new();
    let mut buf = bytes::BytesMut::new();
    let mut params = ParamsDecoder::new(16 * 1024);
    // Feed in uneven pieces, as a socket would.
    for piece in input.chunks(97) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(Record::Params { data, .. })) if data.is_empty() => {
                    let done = std::mem::replace(&mut params, ParamsDecoder::new(16 * 1024));
                    let _ = done.finish();
                }
                Ok(Some(Record::Params { data, .. })) => {
                    if params.push(data).is_err() {
                        params = ParamsDecoder::new(16 * 1024);
                    }
                }
                Ok(Some(Record::GetValues { data } | Record::GetValuesResult { data })) => {
                    let _ = parse_pairs(data);
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(buf.len() <= Decoder::MAX_RECORD + 97, "decoder buffered {} bytes", buf.len());
    }
}
