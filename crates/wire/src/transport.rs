//! Frame readers and writers over any tokio stream.
//!
//! The manager talks only to [`FrameReader`] and [`FrameWriter`], created by [`open`] (v1,
//! plaintext) or [`open_v2`] (BIP324 v2: the handshake runs inside it). The transport is a
//! variant of the private codec enums below; above them both transports yield the same
//! [`Frame`]s, and only [`FrameReader::transport`] / [`FrameReader::session_id`] tell which
//! one is in use.

use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use futures_util::SinkExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::codec::{Decoder, Encoder, FramedWrite};

use crate::codec::{V1Codec, INITIAL_BUFFER};
use crate::v2::{HandshakeProgress, SessionId, TransportKind, V2Decoder, V2Encoder};
use crate::v2_handshake::InitiatorSecrets;
use crate::{Frame, WireConfig, WireError};

/// The reading half of a transport.
#[derive(Debug)]
enum ReadCodec {
    V1(V1Codec),
    V2(Box<V2Decoder>),
}

impl ReadCodec {
    fn mid_frame(&self) -> bool {
        match self {
            ReadCodec::V1(c) => c.mid_frame(),
            ReadCodec::V2(c) => c.mid_frame(),
        }
    }

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, WireError> {
        match self {
            ReadCodec::V1(c) => c.decode(buf),
            ReadCodec::V2(c) => c.decode(buf),
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, WireError> {
        match self {
            ReadCodec::V1(c) => c.decode_eof(buf),
            ReadCodec::V2(c) => c.decode_eof(buf),
        }
    }
}

/// The writing half of a transport.
#[derive(Debug)]
enum WriteCodec {
    V1(V1Codec),
    V2(Box<V2Encoder>),
}

impl Encoder<&Frame> for WriteCodec {
    type Error = WireError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), WireError> {
        match self {
            WriteCodec::V1(c) => c.encode_frame(frame, dst),
            WriteCodec::V2(c) => c.encode_frame(frame, dst),
        }
    }
}
use bitcoin::p2p::message::NetworkMessage;

/// Reads frames from a byte stream.
///
/// Between frames the reader holds no buffer at all: an idle connection costs no read-buffer
/// memory. A read that starts between frames lands in an 8 KiB stack buffer and only what
/// arrived is copied to the heap; a read in the middle of a frame goes straight into the heap
/// buffer, which grows with what arrives (see [`V1Codec`]).
#[derive(Debug)]
pub struct FrameReader<R> {
    reader: R,
    codec: ReadCodec,
    buffer: BytesMut,
    eof: bool,
    session_id: Option<SessionId>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A v1 frame reader over `reader`.
    pub fn new(reader: R, config: &WireConfig) -> FrameReader<R> {
        FrameReader {
            reader,
            codec: ReadCodec::V1(V1Codec::new(config)),
            buffer: BytesMut::new(),
            eof: false,
            session_id: None,
        }
    }

    /// A v2 frame reader over `reader` with the receiving half of an established session;
    /// `buffered` holds bytes already read from `reader` after the handshake.
    pub fn new_v2(
        reader: R,
        decoder: V2Decoder,
        session_id: SessionId,
        buffered: BytesMut,
    ) -> FrameReader<R> {
        FrameReader {
            reader,
            codec: ReadCodec::V2(Box::new(decoder)),
            buffer: buffered,
            eof: false,
            session_id: Some(session_id),
        }
    }

    /// The transport this reader speaks.
    pub fn transport(&self) -> TransportKind {
        match self.codec {
            ReadCodec::V1(_) => TransportKind::V1,
            ReadCodec::V2(_) => TransportKind::V2,
        }
    }

    /// The v2 session id (`None` on v1).
    pub fn session_id(&self) -> Option<SessionId> {
        self.session_id
    }

    /// The next frame; `Ok(None)` when the stream ended cleanly between two frames.
    ///
    /// A stream that ends in the middle of a frame is [`WireError::Truncated`]. After an error
    /// the reader should be dropped: the stream position is no longer at a frame boundary.
    ///
    /// Cancel-safe: if the future is dropped before it completes, no bytes are lost.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>, WireError> {
        std::future::poll_fn(|cx| self.poll_frame(cx)).await
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Frame>, WireError>> {
        loop {
            let decoded = if self.eof {
                self.codec.decode_eof(&mut self.buffer)?
            } else if self.buffer.is_empty() && !self.codec.mid_frame() {
                // Nothing to decode (and the codec would reserve room for a header).
                None
            } else {
                self.codec.decode(&mut self.buffer)?
            };
            if let Some(frame) = decoded {
                if self.buffer.is_empty() {
                    // Whatever the buffer held now belongs to the frames handed out.
                    self.buffer = BytesMut::new();
                }
                return Poll::Ready(Ok(Some(frame)));
            }
            if self.eof {
                return Poll::Ready(Ok(None));
            }
            // Waiting for a header: read into the stack and keep only what arrived. Inside a
            // payload: read straight into the buffer the codec sized for it.
            let n = if !self.codec.mid_frame() {
                let mut stack = [MaybeUninit::<u8>::uninit(); INITIAL_BUFFER];
                let mut read = ReadBuf::uninit(&mut stack);
                ready!(Pin::new(&mut self.reader).poll_read(cx, &mut read))?;
                self.buffer.extend_from_slice(read.filled());
                read.filled().len()
            } else {
                if self.buffer.capacity() == self.buffer.len() {
                    self.buffer.reserve(1);
                }
                ready!(tokio_util::io::poll_read_buf(
                    Pin::new(&mut self.reader),
                    cx,
                    &mut self.buffer
                ))?
            };
            if n == 0 {
                self.eof = true;
            }
        }
    }

    /// Capacity of the read buffer (for memory accounting): 0 between frames.
    pub fn buffer_capacity(&self) -> usize {
        self.buffer.capacity()
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }
}

/// Writes frames to a byte stream.
#[derive(Debug)]
pub struct FrameWriter<W> {
    inner: FramedWrite<W, WriteCodec>,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// A v1 frame writer over `writer`. It holds no buffer until something is written, and
    /// releases it once everything written has been flushed.
    pub fn new(writer: W, config: &WireConfig) -> FrameWriter<W> {
        FrameWriter::with_codec(writer, WriteCodec::V1(V1Codec::new(config)))
    }

    /// A v2 frame writer over `writer` with the sending half of an established session.
    pub fn new_v2(writer: W, encoder: V2Encoder) -> FrameWriter<W> {
        FrameWriter::with_codec(writer, WriteCodec::V2(Box::new(encoder)))
    }

    fn with_codec(writer: W, codec: WriteCodec) -> FrameWriter<W> {
        let mut inner = FramedWrite::new(writer, codec);
        *inner.write_buffer_mut() = BytesMut::new();
        FrameWriter { inner }
    }

    /// The transport this writer speaks.
    pub fn transport(&self) -> TransportKind {
        match self.inner.encoder() {
            WriteCodec::V1(_) => TransportKind::V1,
            WriteCodec::V2(_) => TransportKind::V2,
        }
    }

    /// Writes one frame and flushes it.
    pub async fn write_frame(&mut self, frame: &Frame) -> Result<(), WireError> {
        self.inner.send(frame).await?;
        self.shrink();
        Ok(())
    }

    /// Serializes and writes one message, then flushes.
    pub async fn write_message(&mut self, message: &NetworkMessage) -> Result<(), WireError> {
        let frame = Frame::from_message(message)?;
        self.write_frame(&frame).await
    }

    /// Queues a frame in the write buffer without flushing (the buffer is written out when it
    /// grows past its high-water mark or on [`FrameWriter::flush`]).
    pub async fn feed(&mut self, frame: &Frame) -> Result<(), WireError> {
        self.inner.feed(frame).await
    }

    /// Flushes queued frames to the stream.
    pub async fn flush(&mut self) -> Result<(), WireError> {
        SinkExt::<&Frame>::flush(&mut self.inner).await?;
        self.shrink();
        Ok(())
    }

    /// Releases the write buffer once it is empty: an idle connection holds none.
    fn shrink(&mut self) {
        let buffer = self.inner.write_buffer_mut();
        if buffer.is_empty() && buffer.capacity() > 0 {
            *buffer = BytesMut::new();
        }
    }

    /// Flushes and shuts the write half down.
    pub async fn close(&mut self) -> Result<(), WireError> {
        SinkExt::<&Frame>::close(&mut self.inner).await
    }

    /// Capacity of the write buffer (for memory accounting).
    pub fn buffer_capacity(&self) -> usize {
        self.inner.write_buffer().capacity()
    }
}

/// Sets up the v1 transport over the two halves of a connected stream (no I/O).
///
/// See [`open_v2`] for the BIP324 v2 transport.
pub async fn open<R, W>(
    reader: R,
    writer: W,
    config: &WireConfig,
) -> Result<(FrameReader<R>, FrameWriter<W>), WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    Ok((
        FrameReader::new(reader, config),
        FrameWriter::new(writer, config),
    ))
}

/// Performs the initiator side of the BIP324 v2 handshake over the two halves of a connected
/// stream, then returns the same reader and writer as [`open`], speaking v2.
///
/// Sends our key and random garbage at once, the garbage terminator and version packet on the
/// peer's key, then skips the peer's garbage (up to 4095 bytes) and decoys and authenticates its
/// version packet. `progress` counts the bytes exchanged as the handshake goes.
///
/// There is no timeout inside: wrap the call in one (Core gives a peer 60 seconds). Dropping
/// the future abandons the handshake (the stream is then in no defined state and should be
/// closed); `progress` still holds what was exchanged, for
/// [`HandshakeProgress::should_reconnect_v1`]. A failure is [`WireError::V2Handshake`] (with
/// the same counts, see [`WireError::should_reconnect_v1`]) or [`WireError::V2WrongNetwork`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use btcclient_wire::{open_v2, HandshakeProgress, WireConfig};
/// // A peer that closes at once, as a v1-only node does after reading our key.
/// let (client, server) = tokio::io::duplex(64 * 1024);
/// drop(server);
/// let (rd, wr) = tokio::io::split(client);
/// let mut progress = HandshakeProgress::default();
/// let config = WireConfig::new(bitcoin::Network::Regtest);
/// let err = open_v2(rd, wr, &config, &mut progress).await.unwrap_err();
/// assert_eq!(progress.received, 0);
/// # let _ = err;
/// # }
/// ```
pub async fn open_v2<R, W>(
    reader: R,
    writer: W,
    config: &WireConfig,
    progress: &mut HandshakeProgress,
) -> Result<(FrameReader<R>, FrameWriter<W>), WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    open_v2_inner(reader, writer, config, progress, InitiatorSecrets::random()).await
}

/// [`open_v2`] with our secret key and garbage chosen by the caller instead of drawn at random,
/// so that a test can check the handshake and the packets after it byte for byte against a
/// transcript computed elsewhere. The ElligatorSwift encoding of our key is the one the `bip324`
/// crate derives from the secret key (libsecp256k1's `ellswift_encode` with zero randomness).
///
/// Never for a real connection: the same key and garbage make every session with a given peer
/// key the same. An invalid secret key or more than 4095 bytes of garbage fail the handshake
/// before anything is sent.
#[doc(hidden)]
pub async fn open_v2_with_secrets<R, W>(
    reader: R,
    writer: W,
    config: &WireConfig,
    progress: &mut HandshakeProgress,
    secret_key: [u8; 32],
    garbage: &[u8],
) -> Result<(FrameReader<R>, FrameWriter<W>), WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let secrets = InitiatorSecrets::chosen(secret_key, garbage.to_vec());
    open_v2_inner(reader, writer, config, progress, secrets).await
}

async fn open_v2_inner<R, W>(
    mut reader: R,
    mut writer: W,
    config: &WireConfig,
    progress: &mut HandshakeProgress,
    secrets: InitiatorSecrets,
) -> Result<(FrameReader<R>, FrameWriter<W>), WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let session =
        crate::v2_handshake::initiate(&mut reader, &mut writer, config, progress, secrets).await?;
    Ok((
        FrameReader::new_v2(
            reader,
            V2Decoder::new(session.inbound, config),
            session.session_id,
            session.leftover,
        ),
        FrameWriter::new_v2(writer, V2Encoder::new(session.outbound, config)),
    ))
}
