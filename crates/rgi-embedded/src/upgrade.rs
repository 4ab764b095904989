//! The native side of an upgrade (UPG-10): the `OnUpgrade` an application
//! finds in an upgrade request, and, once its `101` is out, the relay
//! between the connection and the application's two streams.

use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use rgi_core::upgrade::OnUpgrade;
use rgi_core::{Body, Error};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tokio_util::io::ReaderStream;

/// What the server keeps of an upgrade it offered: hyper's handle on the
/// connection, and where the client's bytes go once it is handed over.
pub(crate) struct Offered {
    connection: hyper::upgrade::OnUpgrade,
    incoming: oneshot::Sender<Body>,
}

/// Puts an [`OnUpgrade`] in an upgrade request's extensions, next to
/// hyper's own (which the tower adapter's applications use).
pub(crate) fn offer(head: &mut http::request::Parts) -> Option<Offered> {
    let connection = head.extensions.get::<hyper::upgrade::OnUpgrade>()?.clone();
    let (incoming, handed) = oneshot::channel();
    head.extensions.insert(OnUpgrade::new(async move {
        handed.await.map_err(|_| Error::msg("the connection was not upgraded: the answer was not a 101 with a body"))
    }));
    Some(Offered { connection, incoming })
}

impl Offered {
    /// After a `101` whose body is what the application sends: once hyper
    /// hands the connection over, the client's bytes become the
    /// application's incoming body and the body's data goes out; the
    /// sending side closes when the body ends.
    pub(crate) fn relay(self, outgoing: Body) {
        tokio::spawn(async move {
            let upgraded = match self.connection.await {
                Ok(upgraded) => upgraded,
                Err(err) => return tracing::debug!(error = %err, "an upgrade did not complete"),
            };
            let (read, mut write) = tokio::io::split(TokioIo::new(upgraded));
            // The application may have stopped waiting; its loss.
            let _ = self.incoming.send(Body::from_stream(ReaderStream::new(read)));
            let mut data = outgoing.into_data_stream();
            while let Some(chunk) = data.next().await {
                match chunk {
                    Ok(bytes) if write.write_all(&bytes).await.is_ok() => {}
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "an upgraded connection's outgoing stream failed; closing it");
                        break;
                    }
                }
            }
            let _ = write.shutdown().await;
        });
    }
}
