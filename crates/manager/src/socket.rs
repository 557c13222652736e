//! The write half of a peer's TCP socket, written without ever raising `SIGPIPE`.
//!
//! A write to a socket whose peer has gone raises `SIGPIPE` in the writing process unless the
//! write says otherwise. Rust programs ignore that signal, but C and Go programs that embed
//! the library keep it at its default, which ends the process. tokio's write half writes
//! vectored buffers with `writev`, which has no flag to suppress the signal, so every write
//! here goes through `send`/`sendmsg` with `MSG_NOSIGNAL` (on Apple systems, which lack the
//! flag, the socket gets `SO_NOSIGPIPE` instead). The host's signal dispositions are never
//! touched.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncWrite, Interest};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// The `send` flags of every write: no signal when the peer has gone.
#[cfg(not(target_vendor = "apple"))]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(target_vendor = "apple")]
const SEND_FLAGS: libc::c_int = 0;

/// Splits a connected stream into its read half and a write half that never raises a signal.
pub(crate) fn split(stream: TcpStream) -> io::Result<(OwnedReadHalf, SocketWriter)> {
    #[cfg(target_vendor = "apple")]
    socket2::SockRef::from(&stream).set_nosigpipe(true)?;
    let (r, w) = stream.into_split();
    Ok((r, SocketWriter(w)))
}

/// The write half of a peer's socket. Dropping it shuts the write direction down, as tokio's
/// write half does.
#[derive(Debug)]
pub(crate) struct SocketWriter(OwnedWriteHalf);

impl SocketWriter {
    /// Writes with `f` once the socket is writable, retrying after spurious readiness.
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        f: impl Fn(&socket2::SockRef<'_>) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let stream: &TcpStream = self.0.as_ref();
        loop {
            ready!(stream.poll_write_ready(cx))?;
            match stream.try_io(Interest::WRITABLE, || f(&socket2::SockRef::from(stream))) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }
}

impl AsyncWrite for SocketWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_send(cx, |s| s.send_with_flags(buf, SEND_FLAGS))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_send(cx, |s| s.send_vectored_with_flags(bufs, SEND_FLAGS))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// A write to a peer that closed with unread data gets `EPIPE`/`ECONNRESET` as an error.
    /// (The signal itself is tested from C and Go, whose runtimes keep `SIGPIPE` at its
    /// default; a Rust test process ignores it.)
    #[tokio::test]
    async fn writes_to_a_closed_peer_fail_with_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let (_r, mut w) = split(client).expect("split");
        w.write_all(b"unread").await.expect("first write");
        drop(server); // closes with unread data: the kernel answers our next segments with RST
        let chunk = vec![0u8; 64 * 1024];
        let mut failed = None;
        for _ in 0..1000 {
            let bufs = [IoSlice::new(&chunk), IoSlice::new(&chunk)];
            if let Err(e) = w.write_vectored(&bufs).await {
                failed = Some(e);
                break;
            }
            tokio::task::yield_now().await;
        }
        let e = failed.expect("writes to a closed peer fail");
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
            "{e}"
        );
    }
}
