//! Every `NetworkMessage` variant goes through `FrameWriter` -> bytes -> `FrameReader` ->
//! `Frame::decode` unchanged, and the bytes are exactly what the `bitcoin` crate produces.

mod common;

use std::collections::BTreeSet;

use bitcoin::consensus::deserialize;
use bitcoin::p2p::message::RawNetworkMessage;
use btcclient_wire::{Frame, FrameReader, FrameWriter, NetworkMessage, WireConfig};
use common::*;

#[test]
fn the_sample_covers_every_variant() {
    let names: BTreeSet<&str> = every_message().iter().map(variant_name).collect();
    assert_eq!(names.len(), VARIANT_COUNT, "covered: {names:?}");
}

async fn round_trip_one(config: &WireConfig, message: &NetworkMessage) {
    let magic = config.magic().to_bytes();
    let name = variant_name(message);

    let mut bytes = Vec::new();
    let mut writer = FrameWriter::new(&mut bytes, config);
    writer.write_message(message).await.expect("write");
    drop(writer);

    // Byte-identical to the bitcoin crate's own encoder.
    assert_eq!(
        bytes,
        bitcoin_crate_bytes(magic, message),
        "{name}: bytes differ from bitcoin::consensus::serialize(RawNetworkMessage)"
    );
    // And the bitcoin crate reads our bytes back as the same message.
    let theirs: RawNetworkMessage = deserialize(&bytes).expect("bitcoin crate decodes our bytes");
    assert_eq!(theirs.payload(), message, "{name}: bitcoin crate decode");

    let mut reader = FrameReader::new(&bytes[..], config);
    let frame = reader.read_frame().await.expect("read").expect("a frame");
    assert_eq!(frame.command, message.command().as_ref(), "{name}: command");
    assert_eq!(frame, Frame::from_message(message).expect("from_message"));
    assert_eq!(&frame.decode().expect("decode"), message, "{name}: decode");
    assert!(
        reader.read_frame().await.expect("eof").is_none(),
        "{name}: clean end"
    );
}

#[tokio::test]
async fn every_variant_round_trips_on_mainnet() {
    let config = WireConfig::new(bitcoin::Network::Bitcoin);
    for message in every_message() {
        round_trip_one(&config, &message).await;
    }
}

#[tokio::test]
async fn every_variant_round_trips_with_custom_magic() {
    let config = WireConfig::custom([0x0b, 0x11, 0x09, 0x07]);
    for message in every_message() {
        round_trip_one(&config, &message).await;
    }
}

#[tokio::test]
async fn all_variants_in_one_stream() {
    let config = WireConfig::new(bitcoin::Network::Regtest);
    let messages = every_message();
    let mut bytes = Vec::new();
    let mut writer = FrameWriter::new(&mut bytes, &config);
    for message in &messages {
        writer.write_message(message).await.expect("write");
    }
    drop(writer);

    let expected: Vec<u8> = messages
        .iter()
        .flat_map(|m| bitcoin_crate_bytes(config.magic().to_bytes(), m))
        .collect();
    assert_eq!(bytes, expected);

    let frames = read_all(&bytes[..], &config).await.expect("read all");
    let decoded: Vec<NetworkMessage> = frames.iter().map(|f| f.decode().expect("decode")).collect();
    assert_eq!(decoded, messages);
}

#[tokio::test]
async fn a_large_block_round_trips() {
    let config = WireConfig::default();
    let message = NetworkMessage::Block(big_block(1_000_000));
    round_trip_one(&config, &message).await;
}

#[tokio::test]
async fn list_messages_at_their_limits_round_trip() {
    use bitcoin::p2p::address::{AddrV2, AddrV2Message, Address};
    use bitcoin::p2p::message_blockdata::Inventory;
    use bitcoin::p2p::ServiceFlags;
    use btcclient_wire::{MAX_ADDR_ENTRIES, MAX_HEADERS_ENTRIES, MAX_INV_ENTRIES};

    let config = WireConfig::default();
    let addr = Address::new(&([1, 2, 3, 4], 8333).into(), ServiceFlags::NETWORK);
    let invs: Vec<Inventory> = (0..MAX_INV_ENTRIES)
        .map(|i| Inventory::Transaction(txid(i as u8)))
        .collect();
    let messages = [
        NetworkMessage::Addr(vec![(1, addr); MAX_ADDR_ENTRIES]),
        NetworkMessage::AddrV2(vec![
            AddrV2Message {
                time: 1,
                services: ServiceFlags::NETWORK,
                addr: AddrV2::Ipv4([1, 2, 3, 4].into()),
                port: 8333,
            };
            MAX_ADDR_ENTRIES
        ]),
        NetworkMessage::Inv(invs.clone()),
        NetworkMessage::GetData(invs.clone()),
        NetworkMessage::NotFound(invs),
        NetworkMessage::Headers((0..MAX_HEADERS_ENTRIES as u32).map(block_header).collect()),
    ];
    for message in &messages {
        round_trip_one(&config, message).await;
    }
}
