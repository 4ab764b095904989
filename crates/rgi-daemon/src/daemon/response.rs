//! Answers as STDOUT records: a CGI response head, then the body.

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::FutureExt;
use http::header::CONTENT_LENGTH;
use http::{Method, StatusCode};
use http_body::Body as _;
use rgi_core::{Body, Response};
use rgi_fastcgi::{
    encode_empty, encode_end_request, encode_stream, encode_stream_with, ProtocolStatus, RecordType, MAX_CONTENT,
};

use super::stream::{write, write_framed, Writer};

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
/// Whatever frames are ready go out in one write, packed into records as
/// full as they allow: a small response is one write of head, body and
/// END_REQUEST, and a body of many small frames (a stream of lines) costs
/// the front one record per 64 KiB, not one per frame. `Err` means the
/// body failed after the head was sent; the connection must end (BODY-6,
/// ERR-3).
pub(crate) async fn send(id: u16, response: Response, method: &Method, writer: &Writer) -> Result<(), ()> {
    let mut stdout = BytesMut::with_capacity(256);
    head(&response, &mut stdout);
    let mut out = BytesMut::with_capacity(stdout.len() + 64);
    encode_stream(&mut out, RecordType::Stdout, id, &stdout);
    let mut body = response.into_body();
    let mut held = None;
    loop {
        // A frame larger than a record goes out from where it lies, after
        // what is packed so far.
        if let Some(data) = held.take_if(|data: &mut Bytes| data.len() > MAX_CONTENT) {
            write_framed(writer, &out, RecordType::Stdout, id, &data).await.map_err(|_| ())?;
            out.clear();
        }
        let step = match pack(&mut body, id, &mut out, &mut held) {
            // Nothing more is ready: what is there goes out while the
            // next frame is awaited.
            Step::Pending => {
                if !out.is_empty() {
                    write(writer, &out).await.map_err(|_| ())?;
                    out.clear();
                }
                match body.frame().await {
                    Some(Ok(frame)) => {
                        // It opens the next record (`pack` left nothing
                        // held). Trailers cannot travel over FastCGI:
                        // dropped (BODY-8).
                        held = frame.into_data().ok();
                        Step::More
                    }
                    Some(Err(err)) => Step::Failed(err),
                    None => Step::End,
                }
            }
            step => step,
        };
        match step {
            Step::More | Step::Pending => {}
            Step::End => break,
            Step::Failed(err) => {
                tracing::error!(%method, error = %rgi_gateway::respond::Report(&err), "response body failed after the head was sent");
                if !out.is_empty() {
                    let _ = write(writer, &out).await;
                }
                return Err(());
            }
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

/// Where packing the ready frames stopped.
enum Step {
    /// A record is full: more may be ready.
    More,
    /// No frame is ready now.
    Pending,
    End,
    Failed(rgi_core::Error),
}

/// Appends the frames ready now to `out` as one STDOUT record. A frame
/// that does not fit what is left of the record is `held` for the next
/// one (`send` writes one larger than any record from where it lies; here
/// it would be split into records).
fn pack(body: &mut Body, id: u16, out: &mut BytesMut, held: &mut Option<Bytes>) -> Step {
    let mut step = Step::More;
    encode_stream_with(out, RecordType::Stdout, id, |record| {
        let start = record.len();
        if let Some(data) = held.take() {
            record.put_slice(&data);
        }
        step = loop {
            let data = match body.frame().now_or_never() {
                None => break Step::Pending,
                Some(None) => break Step::End,
                Some(Some(Err(err))) => break Step::Failed(err),
                // Trailers cannot travel over FastCGI: dropped (BODY-8).
                Some(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue,
                },
            };
            if record.len() - start + data.len() > MAX_CONTENT {
                *held = Some(data);
                break Step::More;
            }
            record.put_slice(&data);
        };
    });
    step
}

#[cfg(test)]
mod tests {
    use super::*;
    use rgi_fastcgi::{Decoder, Record};

    /// The STDOUT records `out` holds, as their lengths, and all their data.
    fn records(mut out: BytesMut) -> (Vec<usize>, Vec<u8>) {
        let (mut lengths, mut data) = (Vec::new(), Vec::new());
        while let Some(record) = Decoder::new().decode(&mut out).expect("well-formed records") {
            let Record::Stdout { id: 7, data: chunk } = record else { panic!("not request 7's STDOUT: {record:?}") };
            lengths.push(chunk.len());
            data.extend_from_slice(&chunk);
        }
        (lengths, data)
    }

    #[test]
    fn ready_frames_are_packed_into_full_records() {
        let line: Vec<u8> = (0..1024).map(|i| (i % 251) as u8).collect();
        let lines = (0..200).map(|_| Ok::<_, std::io::Error>(line.clone()));
        let mut body = Body::from_stream(futures_util::stream::iter(lines.collect::<Vec<_>>()));
        let (mut out, mut held) = (BytesMut::new(), None);
        while let Step::More = pack(&mut body, 7, &mut out, &mut held) {}
        let (lengths, data) = records(out);
        assert_eq!(lengths, [63 * 1024, 63 * 1024, 63 * 1024, 11 * 1024], "as full as whole frames allow");
        assert_eq!(data, line.repeat(200));
    }

    /// `send` over a real socket pair: frames around and larger than a
    /// record, streamed with pauses, arrive whole and in order, then the
    /// request ends.
    #[test]
    fn send_writes_large_frames_from_where_they_lie() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async {
            let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("a socket pair");
            ours.set_nonblocking(true).expect("non-blocking");
            let socket = crate::socket::Socket::new(crate::socket::StdStream::Unix(ours)).expect("registered");
            let (reader, writer) = super::super::stream::split(socket);
            let sizes = [10, 65_535, 65_536, 300_000, 7, 1_000_000, 3];
            let frames: Vec<Vec<u8>> =
                sizes.iter().enumerate().map(|(n, &len)| (0..len).map(|i| ((i + n) % 251) as u8).collect()).collect();
            let want = frames.concat();
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
            let feeder = tokio::spawn(async move {
                for frame in frames {
                    tx.send(frame).expect("the body is read");
                    tokio::task::yield_now().await;
                }
            });
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|frame| (Ok::<_, std::io::Error>(frame), rx))
            });
            let response = Response::new(Body::from_stream(stream));
            let reading = tokio::task::spawn_blocking(move || {
                let mut wire = Vec::new();
                std::io::Read::read_to_end(&mut &theirs, &mut wire).expect("read");
                wire
            });
            send(7, response, &Method::GET, &writer).await.expect("sent");
            feeder.await.expect("fed");
            // The socket closes (EOF) with its last side.
            drop((reader, writer));
            let mut wire = BytesMut::from(&reading.await.expect("read all")[..]);
            let (mut stdout, mut ended) = (Vec::new(), false);
            while let Some(record) = Decoder::new().decode(&mut wire).expect("well-formed records") {
                match record {
                    Record::Stdout { id: 7, data } => stdout.extend_from_slice(&data),
                    Record::EndRequest { id: 7, .. } => ended = true,
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert!(ended, "END_REQUEST sent");
            let body_at = stdout.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
            assert!(stdout[body_at..] == want[..], "the body arrives whole and in order");
        });
    }

    #[test]
    fn a_frame_larger_than_a_record_is_split() {
        let big = vec![9u8; 200_000];
        let frames = vec![Ok::<_, std::io::Error>(vec![1u8; 10]), Ok(big.clone()), Ok(vec![2u8; 10])];
        let mut body = Body::from_stream(futures_util::stream::iter(frames));
        let (mut out, mut held) = (BytesMut::new(), None);
        let mut steps = 0;
        while let Step::More = pack(&mut body, 7, &mut out, &mut held) {
            steps += 1;
            assert!(steps < 10, "no progress");
        }
        let (lengths, data) = records(out);
        assert!(lengths.iter().all(|&n| n <= MAX_CONTENT), "{lengths:?}");
        assert_eq!(data, [vec![1u8; 10], big, vec![2u8; 10]].concat());
    }
}
