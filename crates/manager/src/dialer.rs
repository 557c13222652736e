//! How the client opens a TCP connection to a peer: a replaceable [`Dialer`].
//!
//! The default, [`TcpDialer`], is `TcpStream::connect`. A test that maps routable addresses
//! to local listeners implements the trait and sets [`Config::dialer`](crate::Config::dialer).
//! With a SOCKS5 proxy ([`Config::proxy`](crate::Config::proxy)) the dialer opens the TCP
//! connection to the proxy, over which the client then speaks SOCKS5.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;

use tokio::net::TcpStream;

/// A boxed future of a dialled connection.
pub type DialFuture<'a> = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send + 'a>>;

/// Opens the TCP connection to a peer's address. The client bounds every call with its
/// connection timeout, and runs the handshake over the stream returned.
pub trait Dialer: Send + Sync + 'static {
    /// Connects to `addr`: the peer's address as the client knows it, or the proxy's.
    fn connect(&self, addr: SocketAddr) -> DialFuture<'_>;
}

impl fmt::Debug for dyn Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dialer")
    }
}

/// The default dialer: a direct `TcpStream::connect`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpDialer;

impl Dialer for TcpDialer {
    fn connect(&self, addr: SocketAddr) -> DialFuture<'_> {
        Box::pin(TcpStream::connect(addr))
    }
}
