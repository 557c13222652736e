//! However the bytes of a stream are cut into reads, the same frames come out; and the read
//! buffer gives memory back after a large message.

mod common;

use btcclient_wire::{Command, Frame, FrameReader, FrameWriter, NetworkMessage, WireConfig};
use common::*;

fn config() -> WireConfig {
    WireConfig::new(bitcoin::Network::Bitcoin)
}

/// A few KB of assorted frames, including empty payloads and an unknown command.
fn small_frames() -> Vec<Frame> {
    let mut messages = vec![
        NetworkMessage::Verack,
        NetworkMessage::Ping(1),
        NetworkMessage::SendHeaders,
        NetworkMessage::Tx(transaction(5, 2, 2, true)),
        NetworkMessage::Headers((0..12).map(block_header).collect()),
        NetworkMessage::GetAddr,
    ];
    messages.insert(0, every_message().remove(0)); // version
    let mut frames: Vec<Frame> = messages
        .iter()
        .map(|m| Frame::from_message(m).expect("frame"))
        .collect();
    frames.push(Frame::raw("blob", vec![0xab; 1500]).expect("frame"));
    frames.push(Frame::raw("empty", Vec::new()).expect("frame"));
    frames.push(Frame::from_message(&NetworkMessage::Pong(1)).expect("frame"));
    frames
}

/// A large block between small messages.
fn large_frames() -> Vec<Frame> {
    let mut frames = small_frames();
    let block = NetworkMessage::Block(big_block(1_000_000));
    frames.insert(3, Frame::from_message(&block).expect("frame"));
    frames
}

#[test]
fn split_at_every_single_boundary() {
    let rt = runtime();
    let config = config();
    let frames = small_frames();
    let bytes = rt.block_on(write_all(&frames, &config));
    assert!(
        bytes.len() > 3_000 && bytes.len() < 8_000,
        "{}",
        bytes.len()
    );
    for cut in 0..=bytes.len() {
        let reader = ChunkedReader::split_at(bytes.clone(), &[cut]);
        let got = rt
            .block_on(read_all(reader, &config))
            .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(got, frames, "cut at {cut}");
    }
}

#[test]
fn split_at_every_single_boundary_with_pending_reads() {
    let rt = runtime();
    let config = config();
    let frames = small_frames();
    let bytes = rt.block_on(write_all(&frames, &config));
    for cut in 0..=bytes.len() {
        let reader = ChunkedReader::split_at(bytes.clone(), &[cut]).with_pending();
        let got = rt
            .block_on(read_all(reader, &config))
            .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(got, frames, "cut at {cut}");
    }
}

#[test]
fn whole_stream_in_one_read() {
    let rt = runtime();
    let config = config();
    let frames = large_frames();
    let bytes = rt.block_on(write_all(&frames, &config));
    let got = rt
        .block_on(read_all(ChunkedReader::split_at(bytes, &[]), &config))
        .expect("read");
    assert_eq!(got, frames);
}

#[test]
fn one_byte_at_a_time() {
    let rt = runtime();
    let config = config();
    let frames = large_frames();
    let bytes = rt.block_on(write_all(&frames, &config));
    assert!(bytes.len() > 1_000_000);
    let got = rt
        .block_on(read_all(ChunkedReader::every(bytes, 1), &config))
        .expect("read");
    assert_eq!(got, frames);
    let NetworkMessage::Block(block) = got[3].decode().expect("decode") else {
        panic!("not a block");
    };
    assert!(block.check_merkle_root());
}

#[test]
fn odd_chunk_sizes_with_pending_reads() {
    let rt = runtime();
    let config = config();
    let frames = large_frames();
    let bytes = rt.block_on(write_all(&frames, &config));
    for chunk in [2, 3, 23, 24, 25, 1_000, 4_096, 65_537] {
        let reader = ChunkedReader::every(bytes.clone(), chunk).with_pending();
        let got = rt.block_on(read_all(reader, &config)).expect("read");
        assert_eq!(got, frames, "chunk {chunk}");
    }
}

#[tokio::test]
async fn over_a_socket_pair() {
    let config = config();
    let frames = large_frames();
    let (client, server) = tokio::io::duplex(4096);
    let to_send = frames.clone();
    let sender = tokio::spawn(async move {
        let mut writer = btcclient_wire::FrameWriter::new(client, &WireConfig::default());
        for frame in &to_send {
            writer.write_frame(frame).await.expect("write");
        }
        writer.close().await.expect("close");
    });
    let got = read_all(server, &config).await.expect("read");
    sender.await.expect("sender");
    assert_eq!(got, frames);
}

#[test]
fn read_buffer_shrinks_after_a_large_message() {
    let rt = runtime();
    let config = config();
    let mut frames = vec![Frame::raw("big", vec![0x5a; 2_000_000]).expect("frame")];
    for i in 0..20u64 {
        frames.push(Frame::from_message(&NetworkMessage::Ping(i)).expect("frame"));
    }
    let bytes = rt.block_on(write_all(&frames, &config));

    for chunk in [1_460, 65_536, bytes.len()] {
        rt.block_on(async {
            let mut reader = FrameReader::new(ChunkedReader::every(bytes.clone(), chunk), &config);
            let initial = reader.buffer_capacity();
            assert!(initial <= 64 * 1024, "initial capacity {initial}");
            let big = reader.read_frame().await.expect("read").expect("big");
            assert_eq!(big.payload.len(), 2_000_000);
            drop(big);
            let mut small = 0;
            while let Some(frame) = reader.read_frame().await.expect("read") {
                assert_eq!(frame.command, "ping");
                small += 1;
            }
            assert_eq!(small, 20);
            let after = reader.buffer_capacity();
            assert!(
                after <= 64 * 1024,
                "chunk {chunk}: capacity after small messages is {after}"
            );
        });
    }
}

#[test]
fn read_buffer_shrinks_while_the_large_payload_is_still_held() {
    // The caller keeps the large payload (shared `Bytes`); the reader must still not keep a
    // multi-megabyte buffer for the small messages that follow.
    let rt = runtime();
    let config = config();
    let mut frames = vec![Frame::raw("big", vec![0x5a; 2_000_000]).expect("frame")];
    for i in 0..5u64 {
        frames.push(Frame::from_message(&NetworkMessage::Ping(i)).expect("frame"));
    }
    let bytes = rt.block_on(write_all(&frames, &config));
    rt.block_on(async {
        let mut reader = FrameReader::new(ChunkedReader::every(bytes, 4_096), &config);
        let big = reader.read_frame().await.expect("read").expect("big");
        while reader.read_frame().await.expect("read").is_some() {}
        assert!(
            reader.buffer_capacity() <= 64 * 1024,
            "{}",
            reader.buffer_capacity()
        );
        assert_eq!(big.payload.len(), 2_000_000);
    });
}

#[test]
fn write_buffer_shrinks_after_a_large_frame() {
    let rt = runtime();
    let config = config();
    rt.block_on(async {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let drain = tokio::spawn(async move {
            let mut sink = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut server, &mut sink)
                .await
                .expect("drain");
            sink.len()
        });
        let mut writer = FrameWriter::new(client, &config);
        writer
            .write_frame(&Frame::raw("big", vec![7; 2_000_000]).expect("frame"))
            .await
            .expect("write");
        for i in 0..5u64 {
            writer
                .write_message(&NetworkMessage::Ping(i))
                .await
                .expect("write");
        }
        assert!(
            writer.buffer_capacity() <= 64 * 1024,
            "write buffer kept {} bytes",
            writer.buffer_capacity()
        );
        drop(writer);
        assert_eq!(drain.await.expect("drain"), 2_000_024 + 5 * 32);
    });
}

#[test]
fn a_header_alone_does_not_reserve_the_announced_payload() {
    // A peer announces a 3.9 MB payload and sends nothing more: we hold what arrived plus one
    // growth step (as Bitcoin Core), not the announced length.
    let rt = runtime();
    let config = config();
    rt.block_on(async {
        let (mut remote, local) = tokio::io::duplex(64 * 1024);
        let mut header = Vec::new();
        header.extend_from_slice(&config.magic().to_bytes());
        header.extend_from_slice(&Command::new("block").expect("command").to_wire());
        header.extend_from_slice(&3_900_000u32.to_le_bytes());
        header.extend_from_slice(&[0, 0, 0, 0]);
        header.extend_from_slice(&[1u8; 1000]);
        tokio::io::AsyncWriteExt::write_all(&mut remote, &header)
            .await
            .expect("write");
        let mut reader = FrameReader::new(local, &config);
        let pending =
            tokio::time::timeout(std::time::Duration::from_millis(100), reader.read_frame()).await;
        assert!(pending.is_err(), "a frame came out of a bare header");
        assert!(
            reader.buffer_capacity() <= 512 * 1024,
            "reserved {} bytes for an announced payload",
            reader.buffer_capacity()
        );
        drop(remote);
    });
}

#[test]
fn an_idle_connection_holds_no_buffers() {
    // Between frames neither side keeps a buffer: 10,000 idle peers cost no buffer memory.
    let rt = runtime();
    let config = config();
    rt.block_on(async {
        // The pipe holds everything written, so the writer never waits for the reader.
        let (a, b) = tokio::io::duplex(1 << 20);
        let mut writer = FrameWriter::new(a, &config);
        let mut reader = FrameReader::new(b, &config);
        assert_eq!((writer.buffer_capacity(), reader.buffer_capacity()), (0, 0));
        for i in 0..3u64 {
            writer
                .write_message(&NetworkMessage::Ping(i))
                .await
                .expect("write");
        }
        writer
            .write_frame(&Frame::raw("big", vec![9; 300_000]).expect("frame"))
            .await
            .expect("write");
        assert_eq!(
            writer.buffer_capacity(),
            0,
            "flushed, the buffer is released"
        );
        for i in 0..3u64 {
            let f = reader.read_frame().await.expect("read").expect("frame");
            assert_eq!(f.decode().expect("ping"), NetworkMessage::Ping(i));
        }
        let big = reader.read_frame().await.expect("read").expect("frame");
        assert_eq!(big.payload.len(), 300_000);
        assert_eq!(reader.buffer_capacity(), 0, "no partial frame, no buffer");
        // Waiting for the next frame holds nothing either.
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(20), reader.read_frame()).await;
        assert!(waiting.is_err());
        assert_eq!(reader.buffer_capacity(), 0);
        // A frame arriving in two parts: the first part is kept until the rest comes.
        let ping = Frame::from_message(&NetworkMessage::Ping(7)).expect("frame");
        let bytes = write_all(&[ping], &config).await;
        let (mut raw, pipe) = tokio::io::duplex(1024);
        let mut reader = FrameReader::new(pipe, &config);
        tokio::io::AsyncWriteExt::write_all(&mut raw, &bytes[..30])
            .await
            .expect("write");
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(20), reader.read_frame()).await;
        assert!(waiting.is_err());
        assert!(reader.buffer_capacity() >= 6, "the partial payload is kept");
        tokio::io::AsyncWriteExt::write_all(&mut raw, &bytes[30..])
            .await
            .expect("write");
        let f = reader.read_frame().await.expect("read").expect("frame");
        assert_eq!(f.decode().expect("ping"), NetworkMessage::Ping(7));
        assert_eq!(reader.buffer_capacity(), 0);
    });
}
