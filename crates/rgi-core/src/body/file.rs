//! File bodies: the `wsgi.file_wrapper` idea (BODY-7).

use std::fmt;
use std::io::{Read, Seek, SeekFrom};

use bytes::{Bytes, BytesMut};

use crate::error::Error;

/// How much a file body reads per frame when it is polled as a plain body.
const CHUNK: u64 = 64 * 1024;

/// A range of an open file, sent as a response body.
///
/// A server that can do better than reading chunks into memory (a
/// `sendfile`, an async file, a front that sends the file itself) takes the
/// file with [`Body::into_file`](super::Body::into_file). Polled as an
/// ordinary body it still works: it reads 64 KiB per frame with blocking
/// reads, which is what an async runtime's file type does on a worker
/// thread anyway, and is correct for every server (BODY-7).
pub struct FileBody {
    file: std::fs::File,
    offset: u64,
    len: u64,
    read: u64,
    seeked: bool,
}

impl FileBody {
    pub(super) fn new(file: std::fs::File, offset: u64, len: u64) -> Self {
        Self { file, offset, len, read: 0, seeked: false }
    }

    /// Where in the file the body starts.
    pub fn offset(&self) -> u64 {
        self.offset + self.read
    }

    /// How many bytes are left to send.
    pub fn remaining(&self) -> u64 {
        self.len - self.read
    }

    /// The open file, its offset and the length to send, for a server that
    /// sends it its own way.
    pub fn into_parts(self) -> (std::fs::File, u64, u64) {
        let offset = self.offset();
        let remaining = self.remaining();
        (self.file, offset, remaining)
    }

    pub(super) fn read_chunk(&mut self) -> Option<Result<Bytes, Error>> {
        if self.remaining() == 0 {
            return None;
        }
        Some(self.try_read_chunk())
    }

    fn try_read_chunk(&mut self) -> Result<Bytes, Error> {
        if !self.seeked {
            self.file.seek(SeekFrom::Start(self.offset))?;
            self.seeked = true;
        }
        let want = self.remaining().min(CHUNK);
        let mut buf = BytesMut::zeroed(want as usize);
        let mut filled = 0;
        while filled < buf.len() {
            match self.file.read(&mut buf[filled..]) {
                Ok(0) => {
                    let short = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "file shrank while it was sent");
                    return Err(Error::io(short));
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(e)),
            }
        }
        self.read += want;
        Ok(buf.freeze())
    }
}

impl fmt::Debug for FileBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileBody").field("offset", &self.offset()).field("remaining", &self.remaining()).finish()
    }
}
