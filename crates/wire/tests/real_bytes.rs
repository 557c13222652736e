//! Decoding real protocol bytes written down from published sources, not produced by our
//! encoder: the mainnet genesis block in a `block` frame, and a `version` message laid out
//! byte by byte the way Bitcoin Core 29.2 sends it.
//!
//! Header checksums were computed independently (Python `hashlib`, double SHA-256 of the
//! payload) and pasted here as literals.

use std::net::{Ipv4Addr, Ipv6Addr};

use bitcoin::hashes::Hash;
use bitcoin::p2p::ServiceFlags;
use bitcoin::BlockHash;
use btcclient_wire::{FrameReader, NetworkMessage, WireConfig};

/// Decodes a hex literal that may contain whitespace and `#` comments up to the end of a line.
fn hex(annotated: &str) -> Vec<u8> {
    let digits: String = annotated
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// The mainnet genesis block as a complete `block` frame.
const GENESIS_BLOCK_FRAME: &str = "
    f9beb4d9                                  # magic: mainnet
    626c6f636b00000000000000                  # command: \"block\" NUL-padded to 12 bytes
    1d010000                                  # payload length: 285
    f71a2403                                  # checksum: sha256d(payload)[..4]
    # --- payload: the 285-byte genesis block ---
    01000000                                  # block version 1
    0000000000000000000000000000000000000000000000000000000000000000  # prev block
    3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a  # merkle root
    29ab5f49                                  # time 1231006505
    ffff001d                                  # bits
    1dac2b7c                                  # nonce 2083236893
    01                                        # one transaction
    01000000                                  # tx version 1
    01                                        # one input
    0000000000000000000000000000000000000000000000000000000000000000ffffffff  # coinbase outpoint
    4d                                        # script length 77
    04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73
    ffffffff                                  # sequence
    01                                        # one output
    00f2052a01000000                          # 50 BTC
    43                                        # script length 67
    4104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac
    00000000                                  # lock time
";

#[tokio::test]
async fn genesis_block_frame_decodes() {
    let bytes = hex(GENESIS_BLOCK_FRAME);
    assert_eq!(bytes.len(), 24 + 285);

    let config = WireConfig::new(bitcoin::Network::Bitcoin);
    let mut reader = FrameReader::new(&bytes[..], &config);
    let frame = reader.read_frame().await.expect("read").expect("a frame");
    assert_eq!(frame.command, "block");
    assert_eq!(frame.payload.len(), 285);
    let NetworkMessage::Block(block) = frame.decode().expect("decode") else {
        panic!("not a block");
    };
    let expected: BlockHash = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        .parse()
        .expect("hash");
    assert_eq!(block.block_hash(), expected);
    assert_eq!(block.header.time, 1_231_006_505);
    assert_eq!(block.header.nonce, 2_083_236_893);
    assert_eq!(block.txdata.len(), 1);
    assert!(block.check_merkle_root());
    assert_eq!(
        block.txdata[0].output[0].value,
        bitcoin::Amount::from_int_btc(50)
    );
    assert!(reader.read_frame().await.expect("eof").is_none());

    // Cross-check with the constant the bitcoin crate ships.
    assert_eq!(
        block,
        bitcoin::constants::genesis_block(bitcoin::Network::Bitcoin)
    );
}

/// A `version` message as Bitcoin Core 29.2 sends it on an outbound connection, written field
/// by field following the documented layout (all integers little-endian, except the ports).
const CORE_VERSION_FRAME: &str = "
    f9beb4d9                                  # magic: mainnet
    76657273696f6e0000000000                  # command: \"version\" NUL-padded to 12 bytes
    66000000                                  # payload length: 102
    d72db345                                  # checksum: sha256d(payload)[..4]
    # --- payload ---
    80110100                                  # protocol version 70016
    090c000000000000                          # services: NETWORK|WITNESS|NETWORK_LIMITED|P2P_V2 (0xc09)
    8085746700000000                          # timestamp 1735689600 (2025-01-01T00:00:00Z)
    # addr_recv (the peer as we see it)
    0900000000000000                          #   services: NETWORK|WITNESS
    00000000000000000000ffffcb007107          #   ::ffff:203.0.113.7
    208d                                      #   port 8333 (big-endian)
    # addr_from (Core sends its services and an all-zero address)
    090c000000000000                          #   services 0xc09
    00000000000000000000000000000000          #   ::
    0000                                      #   port 0
    8877665544332211                          # nonce 0x1122334455667788
    10                                        # user agent length 16
    2f5361746f7368693a32392e322e302f          # \"/Satoshi:29.2.0/\"
    481d0e00                                  # start height 925000
    01                                        # relay: yes
";

#[tokio::test]
async fn core_version_message_decodes() {
    let bytes = hex(CORE_VERSION_FRAME);
    assert_eq!(bytes.len(), 24 + 102);

    let config = WireConfig::new(bitcoin::Network::Bitcoin);
    let mut reader = FrameReader::new(&bytes[..], &config);
    let frame = reader.read_frame().await.expect("read").expect("a frame");
    assert_eq!(frame.command, "version");
    let NetworkMessage::Version(v) = frame.decode().expect("decode") else {
        panic!("not a version message");
    };
    assert_eq!(v.version, 70016);
    assert_eq!(
        v.services,
        ServiceFlags::NETWORK
            | ServiceFlags::WITNESS
            | ServiceFlags::NETWORK_LIMITED
            | ServiceFlags::P2P_V2
    );
    assert_eq!(v.services.to_u64(), 0xc09);
    assert_eq!(v.timestamp, 1_735_689_600);
    assert_eq!(
        v.receiver.services,
        ServiceFlags::NETWORK | ServiceFlags::WITNESS
    );
    assert_eq!(
        v.receiver.address,
        Ipv4Addr::new(203, 0, 113, 7).to_ipv6_mapped().segments()
    );
    assert_eq!(v.receiver.port, 8333);
    assert_eq!(
        v.receiver.socket_addr().expect("ipv4"),
        ([203, 0, 113, 7], 8333).into()
    );
    assert_eq!(v.sender.services.to_u64(), 0xc09);
    assert_eq!(v.sender.address, Ipv6Addr::UNSPECIFIED.segments());
    assert_eq!(v.sender.port, 0);
    assert_eq!(v.nonce, 0x1122_3344_5566_7788);
    assert_eq!(v.user_agent, "/Satoshi:29.2.0/");
    assert_eq!(v.start_height, 925_000);
    assert!(v.relay);
    assert!(reader.read_frame().await.expect("eof").is_none());

    // Our encoder reproduces Core's bytes exactly.
    let again = btcclient_wire::Frame::from_message(&NetworkMessage::Version(v)).expect("encode");
    assert_eq!(&again.payload[..], &bytes[24..]);
    assert_eq!(again.checksum(), [0xd7, 0x2d, 0xb3, 0x45]);
}

#[test]
fn genesis_hash_literal_is_the_known_one() {
    // Guard against a typo in the literal: hash the 80-byte header with bitcoin::hashes.
    let bytes = hex(GENESIS_BLOCK_FRAME);
    let header = &bytes[24..24 + 80];
    let hash = bitcoin::hashes::sha256d::Hash::hash(header);
    let mut be = hash.to_byte_array();
    be.reverse();
    let hex_be: String = be.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex_be,
        "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
    );
}
