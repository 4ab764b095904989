//! Answers as STDOUT records: a CGI response head, then the body.

use bytes::{BufMut, BytesMut};
use futures_util::FutureExt;
use http::header::CONTENT_LENGTH;
use http::{Method, StatusCode};
use http_body::Body as _;
use rgi_core::Response;
use rgi_fastcgi::{encode_empty, encode_end_request, encode_stream, ProtocolStatus, RecordType};

use super::stream::{write, Writer};

/// Flush once this much is buffered even if more frames are ready.
const FLUSH_AT: usize = 64 * 1024;

/// The CGI response head: `Status:` then the fields, then a blank line.
fn head(response: &Response, out: &mut BytesMut) {
    let status = response.status();
    out.put_slice(b"Status: ");
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(status.canonical_reason().unwrap_or("Status").as_bytes());
    out.put_slice(b"\r\n");
    for (name, value) in response.headers() {
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    // A body whose size is known gets its length, as an HTTP server would
    // give it: the front can then keep HTTP/1.0 connections and skip
    // chunked coding.
    if !response.headers().contains_key(CONTENT_LENGTH) && !bodiless(response.status()) {
        if let Some(len) = response.body().size_hint().exact() {
            out.put_slice(b"Content-Length: ");
            out.put_slice(len.to_string().as_bytes());
            out.put_slice(b"\r\n");
        }
    }
    out.put_slice(b"\r\n");
}

fn bodiless(status: StatusCode) -> bool {
    status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED || status.is_informational()
}

/// Writes the response as request `id`'s STDOUT and ends the request.
/// Whatever frames are ready go out in one write: a small response is one
/// write of head, body and END_REQUEST. `Err` means the body failed after
/// the head was sent; the connection must end (BODY-6, ERR-3).
pub(crate) async fn send(id: u16, response: Response, method: &Method, writer: &Writer) -> Result<(), ()> {
    let mut stdout = BytesMut::with_capacity(256);
    head(&response, &mut stdout);
    let mut out = BytesMut::with_capacity(stdout.len() + 64);
    encode_stream(&mut out, RecordType::Stdout, id, &stdout);
    let mut body = response.into_body();
    loop {
        // A frame that is ready now joins the buffer; one that is not
        // flushes what is there and is then awaited.
        let next = match body.frame().now_or_never() {
            Some(next) => next,
            None => {
                if !out.is_empty() {
                    write(writer, &out).await.map_err(|_| ())?;
                    out.clear();
                }
                body.frame().await
            }
        };
        match next {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    encode_stream(&mut out, RecordType::Stdout, id, data);
                }
                // Trailers cannot travel over FastCGI: dropped (BODY-8).
            }
            Some(Err(err)) => {
                tracing::error!(%method, error = %rgi_gateway::respond::Report(&err), "response body failed after the head was sent");
                if !out.is_empty() {
                    let _ = write(writer, &out).await;
                }
                return Err(());
            }
            None => break,
        }
        if out.len() >= FLUSH_AT {
            write(writer, &out).await.map_err(|_| ())?;
            out.clear();
        }
    }
    encode_empty(&mut out, RecordType::Stdout, id);
    encode_end_request(&mut out, id, 0, ProtocolStatus::RequestComplete);
    write(writer, &out).await.map_err(|_| ())
}
