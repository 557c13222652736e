//! Frame readers and writers over any tokio stream.
//!
//! The manager talks only to [`FrameReader`] and [`FrameWriter`], created by [`open`]. Today the
//! transport is always v1 (plaintext); BIP324 v2 will be a second variant of the private codec
//! enums below, negotiated inside [`open`] (which already receives both halves of the stream
//! and is async for that handshake), so the manager will not change.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::codec::{V1Codec, INITIAL_BUFFER, SHRINK_ABOVE};
use crate::{Frame, WireConfig, WireError};
use bitcoin::p2p::message::NetworkMessage;

/// Reads frames from a byte stream.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: FramedRead<R, V1Codec>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A v1 frame reader over `reader`.
    pub fn new(reader: R, config: &WireConfig) -> FrameReader<R> {
        FrameReader {
            inner: FramedRead::with_capacity(reader, V1Codec::new(config), INITIAL_BUFFER),
        }
    }

    /// The next frame; `Ok(None)` when the stream ended cleanly between two frames.
    ///
    /// A stream that ends in the middle of a frame is [`WireError::Truncated`]. After an error
    /// the reader should be dropped: the stream position is no longer at a frame boundary.
    ///
    /// Cancel-safe: if the future is dropped before it completes, no bytes are lost.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>, WireError> {
        self.inner.next().await.transpose()
    }

    /// Capacity of the read buffer (for memory accounting).
    pub fn buffer_capacity(&self) -> usize {
        self.inner.read_buffer().capacity()
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        self.inner.get_ref()
    }
}

/// Writes frames to a byte stream.
#[derive(Debug)]
pub struct FrameWriter<W> {
    inner: FramedWrite<W, V1Codec>,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// A v1 frame writer over `writer`.
    pub fn new(writer: W, config: &WireConfig) -> FrameWriter<W> {
        FrameWriter {
            inner: FramedWrite::new(writer, V1Codec::new(config)),
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

    /// Releases a write buffer that grew for a large frame once it is empty again.
    fn shrink(&mut self) {
        let buffer = self.inner.write_buffer_mut();
        if buffer.is_empty() && buffer.capacity() > SHRINK_ABOVE {
            *buffer = bytes::BytesMut::new();
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

/// Sets up the transport over the two halves of a connected stream.
///
/// For v1 this does no I/O; it is async so that a BIP324 v2 handshake can take place here.
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
