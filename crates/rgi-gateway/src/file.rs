//! File bodies read on the blocking pool (BODY-7).

use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io::{Read, Seek, SeekFrom};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use rgi_core::Error;
use tokio::task::JoinHandle;

/// How much a file body reads per frame.
const CHUNK: u64 = 64 * 1024;

/// A range of an open file, sent as a response body.
///
/// File reads block: a slow disk (or a network file system) would stall
/// every connection on the runtime thread that read it. Each chunk is
/// therefore read on tokio's blocking pool, as `tokio::fs::File` does, and
/// the body is polled from a tokio runtime. Wrap it with
/// [`Body::wrap`](rgi_core::Body::wrap).
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let file = std::fs::File::open("static/logo.png")?;
/// let body = rgi_core::Body::wrap(rgi_gateway::FileBody::whole(file)?);
/// # Ok(()) }
/// ```
pub struct FileBody {
    state: State,
    offset: u64,
    remaining: u64,
}

enum State {
    /// The file, and whether it still has to be positioned at `offset`.
    Idle(File, bool),
    Reading(JoinHandle<(File, std::io::Result<Bytes>)>),
    Done,
}

impl FileBody {
    /// `len` bytes of `file` from `offset` on.
    pub fn new(file: File, offset: u64, len: u64) -> Self {
        Self { state: State::Idle(file, true), offset, remaining: len }
    }

    /// The whole of `file`.
    pub fn whole(file: File) -> std::io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self::new(file, 0, len))
    }

    /// How many bytes are left to send.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }
}

fn read_chunk(mut file: File, seek_to: Option<u64>, want: u64) -> (File, std::io::Result<Bytes>) {
    let result = (|| {
        if let Some(offset) = seek_to {
            match file.seek(SeekFrom::Start(offset)) {
                // A pipe cannot seek; from its start there is no need to.
                Err(e) if offset == 0 && e.raw_os_error() == Some(libc::ESPIPE) => {}
                other => drop(other?),
            }
        }
        let mut buf = BytesMut::zeroed(usize::try_from(want).unwrap_or(usize::MAX));
        let mut filled = 0;
        while filled < buf.len() {
            match file.read(&mut buf[filled..]) {
                Ok(0) => {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "file shrank while it was sent"))
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(buf.freeze())
    })();
    (file, result)
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Done => return Poll::Ready(None),
                State::Idle(..) if this.remaining == 0 => this.state = State::Done,
                State::Idle(..) => {
                    let State::Idle(file, seek) = std::mem::replace(&mut this.state, State::Done) else {
                        unreachable!("matched Idle above")
                    };
                    let seek_to = seek.then_some(this.offset);
                    let want = this.remaining.min(CHUNK);
                    this.state = State::Reading(tokio::task::spawn_blocking(move || read_chunk(file, seek_to, want)));
                }
                State::Reading(task) => {
                    let joined = ready!(Pin::new(task).poll(cx));
                    this.state = State::Done;
                    let (file, read) = match joined {
                        Ok(done) => done,
                        Err(join) => return Poll::Ready(Some(Err(Error::new(join)))),
                    };
                    let data = match read {
                        Ok(data) => data,
                        Err(err) => return Poll::Ready(Some(Err(err.into()))),
                    };
                    this.offset += data.len() as u64;
                    this.remaining -= data.len() as u64;
                    this.state = State::Idle(file, false);
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

impl fmt::Debug for FileBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileBody").field("offset", &self.offset).field("remaining", &self.remaining).finish()
    }
}

#[cfg(test)]
mod tests;
