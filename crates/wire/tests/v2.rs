//! The v2 framing layer: BIP324 key-exchange vectors, short and long message ids on the wire,
//! decoys, unreadable message types, limits before allocation, tampering.

mod bip324_ref;

use bitcoin::p2p::message::NetworkMessage;
use bitcoin::secp256k1::ellswift::{ElligatorSwift, ElligatorSwiftParty};
use bitcoin::secp256k1::SecretKey;
use btcclient_wire::bip324::{
    self, CipherSession, GarbageResult, Handshake, InboundCipher, OutboundCipher, PacketType,
    ReceivedKey, Role, SessionKeyMaterial, VersionResult,
};
use btcclient_wire::{
    commands, v2_command, v2_short_id, Command, Frame, V2Decoder, V2Encoder, WireConfig, WireError,
    V2_SHORT_IDS,
};
use bytes::BytesMut;
use tokio_util::codec::Decoder;

const MAINNET: [u8; 4] = [0xf9, 0xbe, 0xb4, 0xd9];

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn arr<const N: usize>(s: &str) -> [u8; N] {
    hex(s).try_into().expect("length")
}

/// Rows of bip-0324/packet_encoding_test_vectors.csv (bitcoin/bips): in_priv_ours,
/// in_ellswift_ours, in_ellswift_theirs, in_initiating, mid_session_id.
const KEY_VECTORS: [(&str, &str, &str, bool, &str); 2] = [
    (
        "e79f04ad4c684525ff3e3cf7c19f4cdb11193d387d7f3fe82a948a0c3165f5fe",
        "4eff53ea1945e57b5d170565e760d771e5d496101c1005c302fd687af80d8b858c5a681c474fc4c0546ee464a1b95899ecb9d4f50c2c0854fe029fc054ae6777",
        "824a1da0530fa695b95b375fee2a56ec96ce375ddd2fcf8367cc8ec1c0b751a3304bbef5dc96543acaac50c24be8cb39906ef8521727de0c6e96c2060a026bd7",
        true,
        "4418cf03c0d7cd5849022a7976014f234b4d4f5c18a6d3a6540c11e01a7180c1",
    ),
    (
        "53a915e6d8f6c5bbb93e537081085e9e642dc525649acf05be74e3a825e20921",
        "715d7b8357dd4d15a07b3f8c6764ebd9927140f75047fb50478c33ea8889d710511cdf39aa0fd6b1e94ea660d87f9d97bffc548646f9e2aaebc1468fe563fb97",
        "cea7abc3112397b894bd3e89a615248af473f897bbdd30997c20e53e7ce499a295e55c4c5655cd3d21191e76c8af0aa1bbea10fd1b540a42d0fbed388dc59877",
        false,
        "9619dd4731d6160617da82da407c80732455a67b59ad7be07f86252aadb79440",
    ),
];

#[test]
fn bip324_key_exchange_vectors_give_the_session_id() {
    for (priv_ours, ours, theirs, initiating, session_id) in KEY_VECTORS {
        let secret = SecretKey::from_slice(&hex(priv_ours)).expect("secret");
        let ours = ElligatorSwift::from_array(arr(ours));
        let theirs = ElligatorSwift::from_array(arr(theirs));
        let (a, b, party) = if initiating {
            (ours, theirs, ElligatorSwiftParty::A)
        } else {
            (theirs, ours, ElligatorSwiftParty::B)
        };
        let keys = SessionKeyMaterial::from_ecdh(a, b, secret, party, MAINNET).expect("keys");
        assert_eq!(keys.session_id.to_vec(), hex(session_id));
        // The network magic is bound into the derivation: another network, another session.
        let regtest = [0xfa, 0xbf, 0xb5, 0xda];
        let other = SessionKeyMaterial::from_ecdh(a, b, secret, party, regtest).expect("keys");
        assert_ne!(other.session_id, keys.session_id);
    }
}

#[test]
fn short_ids_follow_bip324() {
    // The table of BIP324 ("v2 Bitcoin P2P message structure"), as the reference has it.
    let expected = bip324_ref::SHORT_IDS;
    assert_eq!(V2_SHORT_IDS.len(), 29);
    for (id, name) in expected {
        let command = Command::new(name).expect("command");
        assert_eq!(v2_short_id(&command), Some(id), "{name}");
        assert_eq!(v2_command(id), Some(command));
    }
    for long in [
        "version",
        "verack",
        "getaddr",
        "sendheaders",
        "wtxidrelay",
        "sendaddrv2",
    ] {
        assert_eq!(v2_short_id(&Command::new(long).expect("command")), None);
    }
    assert_eq!(v2_command(0), None);
    assert_eq!(v2_command(29), None);
    assert_eq!(v2_command(255), None);
}

/// Both ends of an in-memory v2 session: (initiator, responder).
fn session() -> (CipherSession, CipherSession) {
    let init = Handshake::new(MAINNET, Role::Initiator).expect("init");
    let resp = Handshake::new(MAINNET, Role::Responder).expect("resp");
    let mut ik = vec![0u8; 64];
    let mut rk = vec![0u8; 64];
    let init = init.send_key(None, &mut ik).expect("key");
    let resp = resp.send_key(None, &mut rk).expect("key");
    let init = init.receive_key(arr_from(&rk)).expect("their key");
    let resp = resp.receive_key(arr_from(&ik)).expect("their key");
    let mut iv = vec![0u8; Handshake::<ReceivedKey<'_>>::send_version_len(None)];
    let mut rv = vec![0u8; Handshake::<ReceivedKey<'_>>::send_version_len(None)];
    let init = init.send_version(&mut iv, None).expect("version");
    let resp = resp.send_version(&mut rv, None).expect("version");
    (finish(init, &rv), finish(resp, &iv))
}

fn arr_from(v: &[u8]) -> [u8; 64] {
    v[..64].try_into().expect("64 bytes")
}

fn finish(h: Handshake<bip324::SentVersion>, theirs: &[u8]) -> CipherSession {
    let (mut h, consumed) = match h.receive_garbage(theirs).expect("garbage") {
        GarbageResult::FoundGarbage {
            handshake,
            consumed_bytes,
        } => (handshake, consumed_bytes),
        GarbageResult::NeedMoreData(_) => panic!("terminator"),
    };
    let rest = &theirs[consumed..];
    let len = h
        .decrypt_packet_len([rest[0], rest[1], rest[2]])
        .expect("len");
    let mut packet = rest[3..3 + len].to_vec();
    match h.receive_version(&mut packet).expect("version") {
        VersionResult::Complete { cipher } => cipher,
        VersionResult::Decoy(_) => panic!("no decoys sent"),
    }
}

fn pair(config: &WireConfig) -> (V2Encoder, V2Decoder, InboundCipher, OutboundCipher) {
    let (init, resp) = session();
    assert_eq!(init.id(), resp.id());
    let (_, out) = init.into_split();
    let (inb, resp_out) = resp.into_split();
    // Two sessions: ours sends on the first (the peer's inbound half checks it) and receives
    // on the second (the peer's outbound half feeds it).
    let (init2, resp2) = session();
    let (init2_in, _) = init2.into_split();
    let (_, resp2_out) = resp2.into_split();
    let _ = resp_out;
    (
        V2Encoder::new(out, config),
        V2Decoder::new(init2_in, config),
        inb,
        resp2_out,
    )
}

#[test]
fn short_and_long_ids_on_the_wire() {
    let config = WireConfig::new(bitcoin::Network::Bitcoin);
    let (mut encoder, _, mut peer_in, _) = pair(&config);
    let mut wire = BytesMut::new();
    encoder
        .encode_frame(
            &Frame::from_message(&NetworkMessage::Ping(7)).expect("ping"),
            &mut wire,
        )
        .expect("encode");
    encoder
        .encode_frame(
            &Frame::from_message(&NetworkMessage::Verack).expect("verack"),
            &mut wire,
        )
        .expect("encode");

    // The peer decrypts: ping has short id 18, then the nonce; verack is 0 + 12-byte command.
    let len = peer_in.decrypt_packet_len([wire[0], wire[1], wire[2]]);
    let mut packet = wire[3..3 + len].to_vec();
    let (kind, plain) = peer_in
        .decrypt_in_place(&mut packet, None)
        .expect("decrypt");
    assert_eq!(kind, PacketType::Genuine);
    assert_eq!(plain[0], 0, "header byte");
    assert_eq!(plain[1], 18);
    assert_eq!(&plain[2..], &7u64.to_le_bytes());
    let rest = &wire[3 + len..];
    let len = peer_in.decrypt_packet_len([rest[0], rest[1], rest[2]]);
    let mut packet = rest[3..3 + len].to_vec();
    let (_, plain) = peer_in
        .decrypt_in_place(&mut packet, None)
        .expect("decrypt");
    assert_eq!(&plain[1..], b"\0verack\0\0\0\0\0\0");
}

#[test]
fn decoder_reads_short_and_long_ids_skips_decoys_and_unknown_ids() {
    let config = WireConfig::new(bitcoin::Network::Bitcoin);
    let (_, mut decoder, _, mut peer_out) = pair(&config);
    let mut wire = Vec::new();
    let mut put = |contents: &[u8], kind: PacketType| {
        wire.extend_from_slice(&peer_out.encrypt_to_vec(contents, kind, None));
    };
    put(&[0u8; 100], PacketType::Decoy);
    put(&[18, 1, 0, 0, 0, 0, 0, 0, 0], PacketType::Genuine); // ping(1)
    put(&[29, 1, 2, 3], PacketType::Genuine); // an id no BIP assigns: dropped
    put(&[], PacketType::Genuine); // no message type: dropped
    put(
        &[0, b'v', 0, b'x', 0, 0, 0, 0, 0, 0, 0, 0, 0],
        PacketType::Genuine,
    ); // bad long id
    let mut long = vec![0u8];
    long.extend_from_slice(b"sendaddrv2\0\0");
    put(&long, PacketType::Genuine);
    let mut buf = BytesMut::from(&wire[..]);
    let first = decoder.decode(&mut buf).expect("ok").expect("frame");
    assert_eq!(first.decode().expect("decode"), NetworkMessage::Ping(1));
    let second = decoder.decode(&mut buf).expect("ok").expect("frame");
    assert_eq!(second.command, "sendaddrv2");
    assert!(second.payload.is_empty());
    assert_eq!(decoder.decode(&mut buf).expect("ok"), None);
    assert_eq!(decoder.ignored_packets(), 4);
}

#[test]
fn decoder_checks_the_length_before_the_body_arrives() {
    let config = WireConfig::new(bitcoin::Network::Bitcoin).with_max_payload(1000);
    let (_, mut decoder, _, mut peer_out) = pair(&config);
    let packet = peer_out.encrypt_to_vec(&[0u8; 1014], PacketType::Genuine, None);
    // Only the 3 length bytes: refused already, nothing reserved for the body.
    let mut buf = BytesMut::from(&packet[..3]);
    match decoder.decode(&mut buf) {
        Err(WireError::V2PacketTooLarge {
            len: 1014,
            max: 1013,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(buf.capacity() < 1000);
}

#[test]
fn decoder_refuses_tampered_packets_and_reports_truncation() {
    let config = WireConfig::new(bitcoin::Network::Bitcoin);
    let (_, mut decoder, _, mut peer_out) = pair(&config);
    let packet = peer_out.encrypt_to_vec(&[18, 0, 0, 0, 0, 0, 0, 0, 0], PacketType::Genuine, None);
    let mut short = BytesMut::from(&packet[..10]);
    assert_eq!(decoder.decode(&mut short).expect("ok"), None);
    assert!(matches!(
        decoder.decode_eof(&mut short),
        Err(WireError::Truncated { .. })
    ));

    let (_, mut decoder, _, mut peer_out) = pair(&config);
    let mut packet =
        peer_out.encrypt_to_vec(&[18, 0, 0, 0, 0, 0, 0, 0, 0], PacketType::Genuine, None);
    let last = packet.len() - 1;
    packet[last] ^= 1;
    let mut buf = BytesMut::from(&packet[..]);
    assert!(matches!(
        decoder.decode(&mut buf),
        Err(WireError::V2Decryption)
    ));
}

#[test]
fn encoder_refuses_payloads_over_the_limit() {
    let config = WireConfig::new(bitcoin::Network::Bitcoin).with_max_payload(10);
    let (mut encoder, _, _, _) = pair(&config);
    let mut buf = BytesMut::new();
    let err = encoder
        .encode_frame(&Frame::new(commands::TX, vec![0u8; 11]), &mut buf)
        .expect_err("too large");
    assert!(matches!(
        err,
        WireError::PayloadTooLarge {
            len: 11,
            max: 10,
            ..
        }
    ));
}

/// The v2 handshake can run on a multi-threaded runtime: its future is `Send` (nothing that
/// is not, like the thread's random generator, is held across an await).
#[test]
fn the_v2_handshake_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let (a, _b) = tokio::io::duplex(64);
    let (rd, wr) = tokio::io::split(a);
    let config = WireConfig::new(bitcoin::Network::Regtest);
    let mut progress = btcclient_wire::HandshakeProgress::default();
    let handshake = btcclient_wire::open_v2(rd, wr, &config, &mut progress);
    assert_send(&handshake);
}
