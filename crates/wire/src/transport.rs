//! Frame readers and writers over any tokio stream.
//!
//! The manager talks only to [`FrameReader`] and [`FrameWriter`], created by [`open`]. Today the
//! transport is always v1 (plaintext); BIP324 v2 will be a second variant of the private codec
//! enums below, negotiated inside [`open`] (which already receives both halves of the stream
//! and is async for that handshake), so the manager will not change.

use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use futures_util::SinkExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::codec::{Decoder, FramedWrite};

use crate::codec::{V1Codec, INITIAL_BUFFER};
use crate::{Frame, WireConfig, WireError};
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
    codec: V1Codec,
    buffer: BytesMut,
    eof: bool,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A v1 frame reader over `reader`.
    pub fn new(reader: R, config: &WireConfig) -> FrameReader<R> {
        FrameReader {
            reader,
            codec: V1Codec::new(config),
            buffer: BytesMut::new(),
            eof: false,
        }
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
    inner: FramedWrite<W, V1Codec>,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// A v1 frame writer over `writer`. It holds no buffer until something is written, and
    /// releases it once everything written has been flushed.
    pub fn new(writer: W, config: &WireConfig) -> FrameWriter<W> {
        let mut inner = FramedWrite::new(writer, V1Codec::new(config));
        *inner.write_buffer_mut() = BytesMut::new();
        FrameWriter { inner }
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
