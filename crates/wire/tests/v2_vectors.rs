//! BIP324's own test vectors, and v2 sessions of this crate checked byte for byte against a
//! transcript computed without it.
//!
//! Why: the simnet runs both ends of a v2 session on this crate and on the `bip324` crate, so a
//! mistake both ends share (a wrong short id, a rekey at the wrong packet, the garbage left out
//! of the associated data, a wrong header bit) passes every end-to-end test. Here the expected
//! side never comes from this crate or from `bip324`:
//!
//! 0. `primitives_match_rfc8439_and_rustcrypto`: the reference's ChaCha20 and Poly1305 (written
//!    out in tests/bip324_ref) against RFC 8439's examples and RustCrypto's crates;
//! 1. `reference_reproduces_every_vector_row`: the reference (FSChaCha20, FSChaCha20Poly1305,
//!    the key schedule, packets) reproduces every row of both vector files, intermediates
//!    included;
//! 2. `bip324_crate_derives_the_vector_session_ids`: the key derivation our handshake runs
//!    gives every row's session id;
//! 3. `transcript_with_garbage_decoys_short_and_long_ids`, `bips_file_vectors_through_our_framing`
//!    and `core_file_vectors_through_our_framing`: a session of ours, opened with
//!    `open_v2_with_secrets` against a responder scripted with the reference, compared byte for
//!    byte with what the reference computes: what we send (key, garbage, terminator, version
//!    packet, then every packet our `FrameWriter` writes: short ids, long ids, the vectors'
//!    messages at the vectors' packet numbers, across rekeys), and what our `FrameReader` makes
//!    of what the reference sends (garbage, decoys, version packet, then messages, every row's
//!    contents with its ignore bit at its packet number).
//!
//! Why not the vectors' exact ciphertexts out of our encoder: the `bip324` crate builds its
//! ciphers only inside its handshake (`CipherSession::new` is private to it), from a secret key
//! whose ElligatorSwift encoding it derives itself (libsecp256k1's encoding with zero
//! randomness), while each vector row fixes another encoding of its key, and the encodings are
//! hashed into the shared secret. No row's keys can reach `V2Encoder` or `V2Decoder` without
//! forking `bip324`. So the sessions of (3) use the vectors' private keys (ours from a row where
//! we initiate, the responder's with its encoding from a row where it responds), our side sends
//! the encoding `bip324` makes, and the chain is: vectors = reference (1), reference = our bytes
//! (3).

mod bip324_ref;

use bip324_ref as reference;
use bitcoin::secp256k1::ellswift::{ElligatorSwift, ElligatorSwiftParty};
use bitcoin::secp256k1::SecretKey;
use btcclient_wire::bip324::SessionKeyMaterial;
use btcclient_wire::{
    open_v2_with_secrets, Frame, FrameReader, FrameWriter, HandshakeProgress, NetworkMessage,
    WireConfig, WireError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};

const MAINNET: [u8; 4] = [0xf9, 0xbe, 0xb4, 0xd9];

/// BIP324's packet_encoding_test_vectors.csv as bitcoin/bips held it at 32af2c9 (an earlier
/// generation of the vectors, with every intermediate value), verbatim.
const BIPS_CSV: &str = include_str!("data/packet_encoding_test_vectors.csv");
/// The same BIP's current vectors as Bitcoin Core's src/test/bip324_tests.cpp runs them, in
/// Core's argument order (see tests/data/README.md).
const CORE_CSV: &str = include_str!("data/bitcoin_core_bip324_packet_vectors.csv");

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn arr<const N: usize>(v: &[u8]) -> [u8; N] {
    v.try_into().expect("length")
}

/// One row of a vector file.
struct Row {
    source: &'static str,
    idx: u64,
    priv_ours: [u8; 32],
    ellswift_ours: [u8; 64],
    ellswift_theirs: [u8; 64],
    initiating: bool,
    /// `in_contents` repeated `in_multiply` times.
    contents: Vec<u8>,
    aad: Vec<u8>,
    ignore: bool,
    /// The intermediate values the row gives (`mid_*`), by name.
    mid: Vec<(String, Vec<u8>)>,
    session_id: [u8; 32],
    ciphertext: Vec<u8>,
    ciphertext_endswith: Vec<u8>,
}

impl Row {
    fn mid(&self, name: &str) -> Option<&[u8]> {
        self.mid
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// (initiator's encoding, responder's encoding).
    fn ellswifts(&self) -> ([u8; 64], [u8; 64]) {
        if self.initiating {
            (self.ellswift_ours, self.ellswift_theirs)
        } else {
            (self.ellswift_theirs, self.ellswift_ours)
        }
    }
}

fn parse(source: &'static str, csv: &str) -> Vec<Row> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), header.len(), "{source}: {line:.20}");
            let get = |names: &[&str]| -> &str {
                let i = header
                    .iter()
                    .position(|h| names.contains(h))
                    .unwrap_or_else(|| panic!("{source}: no column {names:?}"));
                fields[i]
            };
            let flag = |name: &str| match get(&[name]) {
                "0" => false,
                "1" => true,
                other => panic!("{source}: {name} = {other}"),
            };
            let multiply: usize = get(&["in_multiply"]).parse().expect("in_multiply");
            let contents = hex(get(&["in_contents", "in_content"])).repeat(multiply);
            let mid = header
                .iter()
                .zip(&fields)
                .filter(|(h, _)| h.starts_with("mid_"))
                .map(|(h, v)| (h.to_string(), hex(v)))
                .collect();
            Row {
                source,
                idx: get(&["in_idx"]).parse().expect("in_idx"),
                priv_ours: arr(&hex(get(&["in_priv_ours"]))),
                ellswift_ours: arr(&hex(get(&["in_ellswift_ours"]))),
                ellswift_theirs: arr(&hex(get(&["in_ellswift_theirs"]))),
                initiating: flag("in_initiating"),
                contents,
                aad: hex(get(&["in_aad"])),
                ignore: flag("in_ignore"),
                mid,
                session_id: arr(&hex(get(&["out_session_id", "mid_session_id"]))),
                ciphertext: hex(get(&["out_ciphertext"])),
                ciphertext_endswith: hex(get(&["out_ciphertext_endswith"])),
            }
        })
        .collect()
}

/// Every row of both files.
fn rows() -> Vec<Row> {
    let mut rows = parse("bips", BIPS_CSV);
    rows.extend(parse("core", CORE_CSV));
    rows
}

/// The ciphertext checked by a row: the whole packet, or its end for the long ones.
fn check_ciphertext(row: &Row, packet: &[u8]) {
    let what = format!("{} row {}", row.source, row.idx);
    if row.ciphertext.is_empty() {
        assert!(!row.ciphertext_endswith.is_empty(), "{what}: no ciphertext");
        assert!(
            packet.ends_with(&row.ciphertext_endswith),
            "{what}: ciphertext end"
        );
        assert_eq!(
            packet.len(),
            row.contents.len() + reference::EXPANSION,
            "{what}: packet length"
        );
    } else {
        assert_eq!(packet, &row.ciphertext[..], "{what}: ciphertext");
    }
}

/// (0) The reference's ChaCha20 and Poly1305 against RFC 8439's own examples (2.3.2, 2.5.2,
/// 2.8.2) and against RustCrypto's `chacha20` and `poly1305` on inputs of every length around
/// the block sizes and at a block counter far from zero.
#[test]
fn primitives_match_rfc8439_and_rustcrypto() {
    use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
    use poly1305::universal_hash::KeyInit;

    let key: [u8; 32] = std::array::from_fn(|i| i as u8);
    let block = reference::chacha20_block(&key, &arr(&hex("000000090000004a00000000")), 1);
    assert_eq!(
        block.to_vec(),
        hex(concat!(
            "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e",
            "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e"
        ))
    );
    let poly_key = arr(&hex(
        "85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b",
    ));
    assert_eq!(
        reference::poly1305(&poly_key, b"Cryptographic Forum Research Group").to_vec(),
        hex("a8061dc1305136c6c22b8baf0c0127a9")
    );
    let aead_key: [u8; 32] = std::array::from_fn(|i| 0x80 + i as u8);
    let sealed = reference::aead_encrypt(
        &aead_key,
        &arr(&hex("070000004041424344454647")),
        &hex("50515253c0c1c2c3c4c5c6c7"),
        b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the \
          future, sunscreen would be it.",
    );
    assert_eq!(
        sealed,
        hex(concat!(
            "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6",
            "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36",
            "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc",
            "3ff4def08e4b7a9de576d26586cec64b6116",
            "1ae10b594f09e26a7e902ecbd0600691"
        ))
    );

    // Pseudo-random inputs (a fixed xorshift), every length from 0 to 300 bytes.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect()
    };
    for len in 0..=300 {
        let key: [u8; 32] = arr(&bytes(32));
        let nonce: [u8; 12] = arr(&bytes(12));
        let data = bytes(len);
        let counter = if len % 2 == 0 { 1 } else { 0xffff_0000 };
        let mut theirs = data.clone();
        let mut cipher = chacha20::ChaCha20::new((&key).into(), (&nonce).into());
        cipher.seek(u64::from(counter) * 64);
        cipher.apply_keystream(&mut theirs);
        assert_eq!(
            reference::chacha20_xor(&key, &nonce, counter, &data),
            theirs,
            "chacha20, {len} bytes"
        );
        let tag: [u8; 16] = poly1305::Poly1305::new((&key).into())
            .compute_unpadded(&data)
            .into();
        assert_eq!(
            reference::poly1305(&key, &data),
            tag,
            "poly1305, {len} bytes"
        );
    }
    // Poly1305's final reduction: an accumulator at or just above 2^130 - 5.
    for s_byte in [0x00, 0xff] {
        let mut key = [0u8; 32];
        key[0] = 1; // r = 1: the tag is the sum of the blocks, plus s
        key[16..].fill(s_byte);
        for last in [0xfa, 0xfb, 0xfc, 0xff] {
            let mut message = vec![0xffu8; 16];
            message[0] = last;
            // Blocks 2^129 - 256 + last and 2^129 - 1 (each with its 2^128 bit): the sum is
            // 2^130 - 7, - 6, - 5 (p itself) and - 2.
            message.extend_from_slice(&[0xff; 16]);
            let tag: [u8; 16] = poly1305::Poly1305::new((&key).into())
                .compute_unpadded(&message)
                .into();
            assert_eq!(
                reference::poly1305(&key, &message),
                tag,
                "reduction {last:x}"
            );
        }
    }
}

/// (1) The reference against every row: the ECDH x coordinates, the shared secret, the four
/// keys, both terminators, the session id, and the packet at `in_idx` (after `in_idx` packets
/// that move both ciphers on, across the rekeys at 224, 448, ...) with the row's contents,
/// associated data and ignore bit; then the other end decrypts it back, and refuses it with
/// another associated data or a flipped bit.
#[test]
fn reference_reproduces_every_vector_row() {
    let rows = rows();
    assert_eq!(rows.len(), 14);
    for row in &rows {
        let what = format!("{} row {}", row.source, row.idx);
        // Our key's x coordinate, from the secret and from our encoding.
        let x_ours = reference::public_x(&row.priv_ours);
        let decoded = bitcoin::secp256k1::PublicKey::from_ellswift(ElligatorSwift::from_array(
            row.ellswift_ours,
        ));
        assert_eq!(
            decoded.x_only_public_key().0.serialize(),
            x_ours,
            "{what}: ellswift_ours"
        );
        if let Some(x) = row.mid("mid_x_ours") {
            assert_eq!(x, x_ours, "{what}: mid_x_ours");
        }
        let x_shared = reference::ecdh_x(&row.ellswift_theirs, &row.priv_ours);
        if let Some(x) = row.mid("mid_x_shared") {
            assert_eq!(x, x_shared, "{what}: mid_x_shared");
        }
        let (initiator, responder) = row.ellswifts();
        let secret = reference::shared_secret(&initiator, &responder, &x_shared);
        if let Some(s) = row.mid("mid_shared_secret") {
            assert_eq!(s, secret, "{what}: mid_shared_secret");
        }
        // libsecp256k1's BIP324 ECDH (what the `bip324` crate calls) agrees.
        let party = if row.initiating {
            ElligatorSwiftParty::A
        } else {
            ElligatorSwiftParty::B
        };
        let libsecp = ElligatorSwift::shared_secret(
            ElligatorSwift::from_array(initiator),
            ElligatorSwift::from_array(responder),
            SecretKey::from_slice(&row.priv_ours).expect("secret"),
            party,
            Some(b"bip324_ellswift_xonly_ecdh"),
        );
        assert_eq!(
            libsecp.to_secret_bytes(),
            secret,
            "{what}: libsecp256k1 ECDH"
        );

        let keys = reference::derive_keys(&secret, MAINNET);
        for (name, key) in [
            ("mid_initiator_l", keys.initiator_l),
            ("mid_initiator_p", keys.initiator_p),
            ("mid_responder_l", keys.responder_l),
            ("mid_responder_p", keys.responder_p),
        ] {
            if let Some(expected) = row.mid(name) {
                assert_eq!(expected, key, "{what}: {name}");
            }
        }
        let ours = reference::Endpoint::new(&keys, row.initiating);
        assert_eq!(
            row.mid("mid_send_garbage_terminator")
                .expect("send terminator"),
            ours.send_terminator,
            "{what}: send terminator"
        );
        assert_eq!(
            row.mid("mid_recv_garbage_terminator")
                .expect("recv terminator"),
            ours.recv_terminator,
            "{what}: recv terminator"
        );
        assert_eq!(keys.session_id, row.session_id, "{what}: session id");

        // The packet at in_idx.
        let mut ours = ours;
        let fillers: Vec<Vec<u8>> = (0..row.idx).map(|_| ours.encrypt(&[], &[], true)).collect();
        let packet = ours.encrypt(&row.contents, &row.aad, row.ignore);
        check_ciphertext(row, &packet);

        // The other end reads it back (after the same fillers), and only with the right aad.
        // Not for the 4 and 16 MiB rows: slow in a debug build (the short rows check the
        // reference's decryption; the sessions below check 4 MiB packets of ours against it).
        if packet.len() > 1 << 20 {
            continue;
        }
        let decrypt = |aad: &[u8], packet: &[u8]| {
            let mut theirs = reference::Endpoint::new(&keys, !row.initiating);
            for filler in &fillers {
                let (ignore, contents, used) = theirs.decrypt(filler, &[]).expect("filler");
                assert!(ignore && contents.is_empty() && used == filler.len());
            }
            theirs.decrypt(packet, aad)
        };
        let (ignore, contents, used) = decrypt(&row.aad, &packet).expect("authentic");
        assert_eq!((ignore, used), (row.ignore, packet.len()), "{what}");
        assert!(contents == row.contents, "{what}: contents");
        let mut other_aad = row.aad.clone();
        other_aad.push(0);
        assert!(
            decrypt(&other_aad, &packet).is_none(),
            "{what}: aad ignored"
        );
        let mut flipped = packet.clone();
        flipped[packet.len() / 2] ^= 0x10;
        assert!(decrypt(&row.aad, &flipped).is_none(), "{what}: tampering");
    }
}

/// (2) The `bip324` crate's key derivation (what our handshake runs) gives every row's session
/// id; its other keys are private to it and are checked through the sessions below.
#[test]
fn bip324_crate_derives_the_vector_session_ids() {
    for row in rows() {
        let (initiator, responder) = row.ellswifts();
        let party = if row.initiating {
            ElligatorSwiftParty::A
        } else {
            ElligatorSwiftParty::B
        };
        let keys = SessionKeyMaterial::from_ecdh(
            ElligatorSwift::from_array(initiator),
            ElligatorSwift::from_array(responder),
            SecretKey::from_slice(&row.priv_ours).expect("secret"),
            party,
            MAINNET,
        )
        .expect("keys");
        assert_eq!(
            keys.session_id, row.session_id,
            "{} row {}",
            row.source, row.idx
        );
    }
}

// -------------------------------------------------------------------------------------------
// Sessions of ours against a responder scripted with the reference

/// What the scripted responder does in the handshake, and what we send in it.
struct Script {
    /// Our garbage (up to 4095 bytes), chosen through `open_v2_with_secrets`.
    our_garbage: Vec<u8>,
    /// The responder's garbage.
    their_garbage: Vec<u8>,
    /// Packets the responder sends before its version packet: header byte and contents. The
    /// first packet after the garbage (a decoy or the version packet) carries the garbage as
    /// associated data.
    decoys: Vec<(u8, Vec<u8>)>,
    /// The contents of the responder's version packet (empty today; a receiver ignores them).
    version_contents: Vec<u8>,
    /// Packets the responder sends in the same write, right after its version packet (they
    /// reach us inside the handshake's last read): ignore bit and contents.
    after_version: Vec<(bool, Vec<u8>)>,
}

/// A session of ours (initiator) with the scripted responder, after the handshake.
struct Session {
    reader: FrameReader<ReadHalf<DuplexStream>>,
    writer: FrameWriter<WriteHalf<DuplexStream>>,
    /// The responder's ends of the stream.
    peer_rd: ReadHalf<DuplexStream>,
    peer_wr: WriteHalf<DuplexStream>,
    /// The reference's initiator: what each byte we send must be.
    mirror: reference::Endpoint,
    /// The reference's responder: what the scripted peer sends.
    responder: reference::Endpoint,
    /// Packets we sent (version packet included) and packets the responder sent (decoys and
    /// version packet included): the packet numbers the ciphers are at.
    sent: u64,
    received: u64,
}

/// Our secret key: BIP324's vector with in_idx 1 (Bitcoin Core's file), an initiator's.
/// The responder's secret key and its encoding: the vector with in_idx 999, a responder's.
fn session_keys() -> ([u8; 32], [u8; 32], [u8; 64]) {
    let rows = parse("core", CORE_CSV);
    let ours = rows.iter().find(|r| r.idx == 1).expect("row 1");
    let theirs = rows.iter().find(|r| r.idx == 999).expect("row 999");
    assert!(ours.initiating && !theirs.initiating);
    (ours.priv_ours, theirs.priv_ours, theirs.ellswift_ours)
}

/// Runs `open_v2_with_secrets` against the responder scripted by `script`, checking on the way
/// that what we send is, byte for byte, what the reference computes: our key (the encoding of
/// our secret key's public key that the `bip324` crate makes), our garbage, then after the
/// responder's key our terminator and our version packet (no decoys, empty contents, our
/// garbage as associated data).
async fn open_session(script: &Script, config: &WireConfig) -> Session {
    let (our_secret, their_secret, their_ellswift) = session_keys();
    let magic = config.magic().to_bytes();
    let (ours, theirs) = tokio::io::duplex(1 << 24);
    let (our_rd, our_wr) = tokio::io::split(ours);
    let (mut peer_rd, mut peer_wr) = tokio::io::split(theirs);
    let mut progress = HandshakeProgress::default();
    let opening = open_v2_with_secrets(
        our_rd,
        our_wr,
        config,
        &mut progress,
        our_secret,
        &script.our_garbage,
    );
    let responding = async {
        // Our key and garbage come first, before anything was received.
        let mut key = [0u8; 64];
        peer_rd.read_exact(&mut key).await.expect("our key");
        let point = bitcoin::secp256k1::PublicKey::from_ellswift(ElligatorSwift::from_array(key));
        assert_eq!(
            point.x_only_public_key().0.serialize(),
            reference::public_x(&our_secret),
            "our key is not our secret's"
        );
        let secp = bitcoin::secp256k1::Secp256k1::signing_only();
        let public = SecretKey::from_slice(&our_secret)
            .expect("secret")
            .public_key(&secp);
        assert_eq!(key, ElligatorSwift::from_pubkey(public).to_array());
        let mut garbage = vec![0u8; script.our_garbage.len()];
        peer_rd.read_exact(&mut garbage).await.expect("our garbage");
        assert!(garbage == script.our_garbage, "our garbage");

        // The responder, from the reference: ECDH from its side (libsecp256k1 decodes our key
        // and multiplies), keys, and all it sends.
        let x = reference::ecdh_x(&key, &their_secret);
        let secret = reference::shared_secret(&key, &their_ellswift, &x);
        let keys = reference::derive_keys(&secret, magic);
        let mut responder = reference::Endpoint::new(&keys, false);
        let mut mirror = reference::Endpoint::new(&keys, true);
        let mut out = their_ellswift.to_vec();
        out.extend_from_slice(&script.their_garbage);
        out.extend_from_slice(&responder.send_terminator);
        let mut aad = script.their_garbage.clone();
        for (header, contents) in &script.decoys {
            out.extend(responder.encrypt_with_header(*header, contents, &aad));
            aad.clear();
        }
        out.extend(responder.encrypt(&script.version_contents, &aad, false));
        for (ignore, contents) in &script.after_version {
            out.extend(responder.encrypt(contents, &[], *ignore));
        }
        peer_wr.write_all(&out).await.expect("responder");

        // Our terminator and version packet.
        let mut expected = mirror.send_terminator.to_vec();
        expected.extend(mirror.encrypt(&[], &script.our_garbage, false));
        let mut got = vec![0u8; expected.len()];
        peer_rd.read_exact(&mut got).await.expect("our version");
        assert_eq!(got, expected, "our terminator and version packet");
        (responder, mirror, keys.session_id)
    };
    let (opened, (responder, mirror, session_id)) = tokio::join!(opening, responding);
    let (reader, writer) = opened.expect("handshake");
    assert_eq!(reader.session_id().expect("v2").0, session_id);
    assert_eq!(
        progress.sent,
        64 + script.our_garbage.len() + 16 + reference::EXPANSION
    );
    Session {
        reader,
        writer,
        peer_rd,
        peer_wr,
        mirror,
        responder,
        sent: 1,
        received: script.decoys.len() as u64 + 1 + script.after_version.len() as u64,
    }
}

/// A session test fails instead of hanging when our side sends fewer bytes than the reference
/// expects (or the other way round). Seconds normally, in a debug build.
async fn within<T>(test: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(120), test)
        .await
        .expect("session test timed out")
}

impl Session {
    /// Writes `frame` through our `FrameWriter` and checks the packet is, byte for byte, the
    /// reference's packet of `contents` (header 0, no associated data, at the next number).
    async fn send_and_check(&mut self, frame: &Frame, contents: &[u8]) {
        self.writer.write_frame(frame).await.expect("write");
        let expected = self.mirror.encrypt(contents, &[], false);
        let mut got = vec![0u8; expected.len()];
        self.peer_rd.read_exact(&mut got).await.expect("our packet");
        assert!(
            got == expected,
            "packet {} ({}) differs from the reference",
            self.sent,
            frame.command
        );
        self.sent += 1;
    }

    /// Sends throwaway pings until the next packet we send is number `n`.
    async fn send_until(&mut self, n: u64) {
        while self.sent < n {
            let nonce = self.sent;
            let frame = Frame::from_message(&NetworkMessage::Ping(nonce)).expect("ping");
            let contents = reference::encode_message("ping", &nonce.to_le_bytes());
            self.send_and_check(&frame, &contents).await;
        }
    }

    /// The responder sends one packet (reference encryption, no associated data).
    async fn receive(&mut self, contents: &[u8], ignore: bool) {
        let packet = self.responder.encrypt(contents, &[], ignore);
        self.peer_wr.write_all(&packet).await.expect("responder");
        self.received += 1;
    }

    /// The responder sends decoys until its next packet is number `n`.
    async fn receive_decoys_until(&mut self, n: u64) {
        while self.received < n {
            self.receive(&[], true).await;
        }
    }

    /// The next frame our reader yields.
    async fn next_frame(&mut self) -> Frame {
        self.reader
            .read_frame()
            .await
            .expect("read")
            .expect("a frame")
    }
}

/// What our reader must yield for packet contents, per the reference's reading of BIP324:
/// `None` for what is skipped (a decoy, a message type that cannot be read).
fn expected_frame(contents: &[u8], ignore: bool) -> Option<(String, Vec<u8>)> {
    if ignore {
        return None;
    }
    reference::decode_message(contents)
}

fn row(rows: &[Row], idx: u64) -> &Row {
    rows.iter().find(|r| r.idx == idx).expect("row")
}

/// (3) A whole session, byte for byte: our key, the most garbage BIP324 allows (a vector's
/// associated data), terminator and version packet checked in `open_session`; the responder's
/// garbage, two decoys (the first carrying the garbage as associated data, the second with a
/// reserved header bit set, which a receiver must not care about), an empty version packet and
/// two packets in the same write. Then frames of ours: a short id, long ids of 12, 7 and 10
/// characters, an empty payload, and every command of BIP324's table with its one-byte id. Then
/// the responder's packets: decoys, short and long ids, reserved header bits, and what must be
/// skipped (an id BIP324 reserves, one past its table, a long id that is not NUL-padded ASCII).
#[tokio::test]
async fn transcript_with_garbage_decoys_short_and_long_ids() {
    within(transcript_with_garbage_decoys_short_and_long_ids_inner()).await;
}

async fn transcript_with_garbage_decoys_short_and_long_ids_inner() {
    let core = parse("core", CORE_CSV);
    let bips = parse("bips", BIPS_CSV);
    let config = WireConfig::new(bitcoin::Network::Bitcoin);
    let ping = |nonce: u64| reference::encode_message("ping", &nonce.to_le_bytes());
    let script = Script {
        our_garbage: row(&core, 0).aad.clone(),
        their_garbage: row(&bips, 0).aad[..1000].to_vec(),
        decoys: vec![(0x80, row(&core, 223).contents.clone()), (0xc1, vec![7; 3])],
        version_contents: vec![],
        after_version: vec![(true, vec![1, 2, 3]), (false, ping(7))],
    };
    assert_eq!(script.our_garbage.len(), 4095);
    let mut s = open_session(&script, &config).await;
    let frame = s.next_frame().await;
    assert_eq!(frame.decode().expect("ping"), NetworkMessage::Ping(7));

    // Ours, each packet compared with the reference's.
    let nonce = 0x0123_4567_89ab_cdef;
    let frame = Frame::from_message(&NetworkMessage::Ping(nonce)).expect("ping");
    s.send_and_check(&frame, &[&[18][..], &nonce.to_le_bytes()].concat())
        .await;
    let frame = Frame::raw("abcdefghijkl", vec![0xde, 0xad]).expect("frame");
    s.send_and_check(&frame, b"\0abcdefghijkl\xde\xad").await;
    let frame = Frame::from_message(&NetworkMessage::Verack).expect("verack");
    s.send_and_check(&frame, b"\0verack\0\0\0\0\0\0").await;
    let frame = Frame::from_message(&NetworkMessage::SendAddrV2).expect("sendaddrv2");
    s.send_and_check(&frame, b"\0sendaddrv2\0\0").await;
    for (id, name) in reference::SHORT_IDS {
        let payload = vec![id; usize::from(id)];
        let frame = Frame::raw(name, payload.clone()).expect("frame");
        s.send_and_check(&frame, &[&[id][..], &payload].concat())
            .await;
    }

    // The responder's, and what our reader makes of them.
    s.receive(&[], true).await;
    s.receive(
        &reference::encode_message("pong", &9u64.to_le_bytes()),
        false,
    )
    .await;
    s.receive(b"\0abcdefghijklxyz", false).await;
    s.receive(&[29, 1, 2], false).await; // reserved by BIP324: skipped
    s.receive(&[33], false).await; // past the table: skipped
    s.receive(b"\0v\0x\0\0\0\0\0\0\0\0\0", false).await; // not NUL-padded: skipped
    s.receive(b"\0\x01bc\0\0\0\0\0\0\0\0\0", false).await; // not printable: skipped
    let packet = s
        .responder
        .encrypt_with_header(0x01, b"\0sendheaders\0", &[]);
    s.peer_wr.write_all(&packet).await.expect("write");
    let packet = s.responder.encrypt_with_header(0xff, &ping(1), &[]);
    s.peer_wr.write_all(&packet).await.expect("write");
    for (id, _) in reference::SHORT_IDS {
        s.receive(&[id, id, 0], false).await;
    }
    let frame = s.next_frame().await;
    assert_eq!(frame.decode().expect("pong"), NetworkMessage::Pong(9));
    let frame = s.next_frame().await;
    assert_eq!(
        (frame.command.as_str(), &frame.payload[..]),
        ("abcdefghijkl", &b"xyz"[..])
    );
    let frame = s.next_frame().await;
    assert_eq!(
        (frame.command.as_str(), &frame.payload[..]),
        ("sendheaders", &[][..])
    );
    for (id, name) in reference::SHORT_IDS {
        let frame = s.next_frame().await;
        assert_eq!(
            (frame.command.as_str(), &frame.payload[..]),
            (name, &[id, 0][..])
        );
    }
    // The responder hangs up: a clean end between packets.
    drop((s.peer_rd, s.peer_wr));
    assert!(s.reader.read_frame().await.expect("clean end").is_none());
}

/// (3) Every vector row of a file through our framing, at the row's packet number in a session
/// of ours (so across the rekeys after packets 224, 448, 672 and 896):
/// - both sides' garbage is row 0's associated data, and row 0's contents are the responder's
///   version packet (packet 0 is the only one with associated data; the contents of a version
///   packet are ignored);
/// - ours: every row whose contents are a message (a known one-byte id, or a long id of
///   NUL-padded printable ASCII) is written through our `FrameWriter` at the row's packet number
///   (row 0's at packet 1) and compared byte for byte with the reference's packet of the row's
///   contents; the pings in between too, up to past the last row's number;
/// - the responder's: every row's contents with its ignore bit at its packet number (decoys in
///   between), and our reader yields exactly the messages among them (decoys, unknown ids and
///   unreadable long ids skipped), up to the 16 MiB row, refused on its length alone as Core
///   refuses any packet over its limit.
///
/// Returns how many rows we wrote and how many our reader delivered.
async fn vectors_through_our_framing(source: &'static str, csv: &str) -> (usize, usize) {
    let mut rows = parse(source, csv);
    rows.sort_by_key(|r| r.idx);
    let first = &rows[0];
    assert!(first.idx == 0 && !first.aad.is_empty() && !first.ignore);
    let config = WireConfig::new(bitcoin::Network::Bitcoin);
    let max_contents = 1 + 12 + config.max_payload();
    let script = Script {
        our_garbage: first.aad.clone(),
        their_garbage: first.aad.clone(),
        decoys: vec![],
        version_contents: first.contents.clone(),
        after_version: vec![],
    };
    let mut s = open_session(&script, &config).await;

    let mut written = 0;
    for row in &rows {
        let Some((command, payload)) = expected_frame(&row.contents, row.ignore) else {
            continue;
        };
        s.send_until(row.idx).await;
        let frame = Frame::raw(&command, payload).expect("frame");
        s.send_and_check(&frame, &row.contents).await;
        written += 1;
    }
    let last = rows.last().expect("rows").idx;
    s.send_until(last + 1).await;

    let mut delivered = 0;
    let mut refused = false;
    for row in &rows[1..] {
        s.receive_decoys_until(row.idx).await;
        if row.contents.len() > max_contents {
            let len = s.responder.encrypt_length(row.contents.len());
            s.peer_wr.write_all(&len).await.expect("write");
            match s.reader.read_frame().await {
                Err(WireError::V2PacketTooLarge { len, max }) => {
                    assert_eq!((len, max), (row.contents.len() as u64, max_contents));
                }
                other => panic!("{source} row {}: {other:?}", row.idx),
            }
            assert_eq!(row.idx, last, "nothing can follow a refused packet");
            refused = true;
            break;
        }
        s.receive(&row.contents, row.ignore).await;
        if let Some((command, payload)) = expected_frame(&row.contents, row.ignore) {
            let frame = s.next_frame().await;
            assert_eq!(frame.command.as_str(), command, "{source} row {}", row.idx);
            assert!(frame.payload == payload, "{source} row {}", row.idx);
            delivered += 1;
        }
    }
    assert!(refused);
    (written, delivered)
}

/// Messages in the bips file: row 512 (`cfheaders`, short id 25) and row 769 (`mempool` with
/// a 4,000,000-byte payload, the most a payload may be), both ways.
#[tokio::test]
async fn bips_file_vectors_through_our_framing() {
    let counts = within(vectors_through_our_framing("bips", BIPS_CSV)).await;
    assert_eq!(counts, (2, 2));
}

/// Messages in Core's file: only row 0 (`feefilter`), which the responder sends as its version
/// packet and we as our packet 1; its other rows are decoys or unknown ids, all skipped.
#[tokio::test]
async fn core_file_vectors_through_our_framing() {
    let counts = within(vectors_through_our_framing("core", CORE_CSV)).await;
    assert_eq!(counts, (1, 0));
}

/// BIP324 defines one bit of the header byte, the ignore bit; the others are reserved and a
/// receiver must not look at them (Core tests `header & 0x80`). A decoy before the responder's
/// version packet whose header has reserved bits set is still a decoy: the handshake goes on to
/// the version packet, whose contents (here bytes that read like a ping) are not a message.
#[tokio::test]
async fn a_decoy_with_reserved_header_bits_does_not_end_the_handshake() {
    within(async {
        let config = WireConfig::new(bitcoin::Network::Bitcoin);
        let message =
            |command: &str, nonce: u64| reference::encode_message(command, &nonce.to_le_bytes());
        for header in [0x81, 0xc0, 0xff] {
            let script = Script {
                our_garbage: vec![],
                their_garbage: b"garbage".to_vec(),
                decoys: vec![(header, vec![]), (0x80, vec![1, 2])],
                version_contents: message("ping", 5),
                after_version: vec![(false, message("pong", 6))],
            };
            let mut s = open_session(&script, &config).await;
            let frame = s.next_frame().await;
            assert_eq!(
                frame.decode().expect("message"),
                NetworkMessage::Pong(6),
                "decoy header {header:#x}"
            );
        }
    })
    .await;
}
