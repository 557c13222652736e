//! A reference implementation of BIP324's ciphers, key schedule and message encoding, for tests.
//!
//! Written from RFC 8439 (the ChaCha20 block function, Poly1305 and AEAD_CHACHA20_POLY1305
//! built from them) and from BIP324's text (FSChaCha20, FSChaCha20Poly1305, the HKDF-SHA256 key
//! schedule, the packet layout, the one-byte message ids). It shares no code with the `bip324`
//! crate that the wire crate uses, nor with the `chacha20-poly1305` crate under it: the
//! ChaCha20 block function and Poly1305 are written out here (and checked against the RFC's
//! examples and RustCrypto's `chacha20` and `poly1305`), HKDF and SHA-256 are RustCrypto's `hkdf`
//! and `sha2`, and libsecp256k1 (through `bitcoin::secp256k1`) only decodes ElligatorSwift keys
//! and multiplies points. What this module gets right is checked against BIP324's own test vectors
//! (tests/v2_vectors.rs); the wire crate is then checked against this module.
//!
//! Simple and slow on purpose: buffers are copied, nothing is in place.

#![allow(dead_code)] // each test uses a different subset

use bitcoin::secp256k1::ecdh::shared_secret_point;
use bitcoin::secp256k1::ellswift::ElligatorSwift;
use bitcoin::secp256k1::{PublicKey, SecretKey};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

/// Both ciphers of a direction take a new key after this many messages (BIP324 `REKEY_INTERVAL`).
pub const REKEY_INTERVAL: u64 = 224;
/// Bytes of the encrypted length field.
pub const LENGTH_LEN: usize = 3;
/// Bytes a packet adds to its contents: length, header, tag.
pub const EXPANSION: usize = LENGTH_LEN + 1 + 16;
/// The ignore bit of the header byte.
pub const IGNORE_BIT: u8 = 0x80;

// ---------------------------------------------------------------------------------------------
// RFC 8439, written out: RustCrypto's `chacha20` and `poly1305` are checked against these (and
// both against the RFC's examples) in `primitives_match_rfc8439_and_rustcrypto`, but are not
// used for the bulk work, being 5 to 10 times slower than this in the unoptimized builds tests
// run in (the vectors encrypt 40 MiB).

macro_rules! quarter_round {
    ($a:ident, $b:ident, $c:ident, $d:ident) => {
        $a = $a.wrapping_add($b);
        $d = ($d ^ $a).rotate_left(16);
        $c = $c.wrapping_add($d);
        $b = ($b ^ $c).rotate_left(12);
        $a = $a.wrapping_add($b);
        $d = ($d ^ $a).rotate_left(8);
        $c = $c.wrapping_add($d);
        $b = ($b ^ $c).rotate_left(7);
    };
}

fn le32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The ChaCha20 state (RFC 8439 2.3): constants, key, block counter, nonce.
fn chacha20_state(key: &[u8; 32], nonce: &[u8; 12], counter: u32) -> [u32; 16] {
    let mut state = [0u32; 16];
    state[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    for i in 0..8 {
        state[4 + i] = le32(&key[4 * i..]);
    }
    state[12] = counter;
    for i in 0..3 {
        state[13 + i] = le32(&nonce[4 * i..]);
    }
    state
}

/// 20 rounds over the state, then the state added back: one block of keystream as 16 words.
fn chacha20_words(state: &[u32; 16]) -> [u32; 16] {
    let [mut x0, mut x1, mut x2, mut x3, mut x4, mut x5, mut x6, mut x7, mut x8, mut x9, mut x10, mut x11, mut x12, mut x13, mut x14, mut x15] =
        *state;
    for _ in 0..10 {
        // Column rounds, then diagonal rounds.
        quarter_round!(x0, x4, x8, x12);
        quarter_round!(x1, x5, x9, x13);
        quarter_round!(x2, x6, x10, x14);
        quarter_round!(x3, x7, x11, x15);
        quarter_round!(x0, x5, x10, x15);
        quarter_round!(x1, x6, x11, x12);
        quarter_round!(x2, x7, x8, x13);
        quarter_round!(x3, x4, x9, x14);
    }
    let mut words = [
        x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15,
    ];
    for (w, s) in words.iter_mut().zip(state) {
        *w = w.wrapping_add(*s);
    }
    words
}

/// The ChaCha20 block function (RFC 8439 2.3): 64 bytes of keystream for block `counter`.
pub fn chacha20_block(key: &[u8; 32], nonce: &[u8; 12], counter: u32) -> [u8; 64] {
    let words = chacha20_words(&chacha20_state(key, nonce, counter));
    let mut block = [0u8; 64];
    for (bytes, word) in block.chunks_mut(4).zip(words) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    block
}

/// XORs `data` with the keystream that starts at block `counter` (RFC 8439 2.4).
pub fn chacha20_xor(key: &[u8; 32], nonce: &[u8; 12], counter: u32, data: &[u8]) -> Vec<u8> {
    let mut state = chacha20_state(key, nonce, counter);
    let mut out = data.to_vec();
    for chunk in out.chunks_mut(64) {
        let words = chacha20_words(&state);
        state[12] = state[12].wrapping_add(1);
        for (bytes, word) in chunk.chunks_mut(4).zip(words) {
            if let Ok(bytes) = <&mut [u8; 4]>::try_from(&mut *bytes) {
                *bytes = (u32::from_le_bytes(*bytes) ^ word).to_le_bytes();
            } else {
                for (b, k) in bytes.iter_mut().zip(word.to_le_bytes()) {
                    *b ^= k;
                }
            }
        }
    }
    out
}

/// Poly1305 (RFC 8439 2.5) in radix 2^26: `r` clamped, each 16-byte block (with its 2^128 bit,
/// or a 0x01 byte after a short last block) added to the accumulator, which is multiplied by
/// `r` modulo 2^130 - 5; the tag is the accumulator, fully reduced, plus `s`, modulo 2^128.
pub fn poly1305(key: &[u8; 32], message: &[u8]) -> [u8; 16] {
    const MASK: u32 = 0x3ff_ffff;
    let r0 = le32(&key[0..]) & 0x3ff_ffff;
    let r1 = (le32(&key[3..]) >> 2) & 0x3ff_ff03;
    let r2 = (le32(&key[6..]) >> 4) & 0x3ff_c0ff;
    let r3 = (le32(&key[9..]) >> 6) & 0x3f0_3fff;
    let r4 = (le32(&key[12..]) >> 8) & 0x00f_ffff;
    let [r0, r1, r2, r3, r4] = [r0, r1, r2, r3, r4].map(u64::from);
    let [s1, s2, s3, s4] = [r1 * 5, r2 * 5, r3 * 5, r4 * 5];
    let (mut h0, mut h1, mut h2, mut h3, mut h4) = (0u32, 0u32, 0u32, 0u32, 0u32);
    for chunk in message.chunks(16) {
        let mut block = [0u8; 16];
        block[..chunk.len()].copy_from_slice(chunk);
        let high_bit = if chunk.len() == 16 {
            1 << 24
        } else {
            block[chunk.len()] = 1;
            0
        };
        h0 += le32(&block[0..]) & MASK;
        h1 += (le32(&block[3..]) >> 2) & MASK;
        h2 += (le32(&block[6..]) >> 4) & MASK;
        h3 += (le32(&block[9..]) >> 6) & MASK;
        h4 += (le32(&block[12..]) >> 8) | high_bit;
        let [a0, a1, a2, a3, a4] = [h0, h1, h2, h3, h4].map(u64::from);
        // 2^130 = 5 (mod p): limbs past the fifth come back multiplied by 5.
        let d0 = a0 * r0 + a1 * s4 + a2 * s3 + a3 * s2 + a4 * s1;
        let mut d1 = a0 * r1 + a1 * r0 + a2 * s4 + a3 * s3 + a4 * s2;
        let mut d2 = a0 * r2 + a1 * r1 + a2 * r0 + a3 * s4 + a4 * s3;
        let mut d3 = a0 * r3 + a1 * r2 + a2 * r1 + a3 * r0 + a4 * s4;
        let mut d4 = a0 * r4 + a1 * r3 + a2 * r2 + a3 * r1 + a4 * r0;
        d1 += d0 >> 26;
        h0 = (d0 as u32) & MASK;
        d2 += d1 >> 26;
        h1 = (d1 as u32) & MASK;
        d3 += d2 >> 26;
        h2 = (d2 as u32) & MASK;
        d4 += d3 >> 26;
        h3 = (d3 as u32) & MASK;
        h4 = (d4 as u32) & MASK;
        h0 += ((d4 >> 26) * 5) as u32;
        h1 += h0 >> 26;
        h0 &= MASK;
    }
    // Carry fully, then subtract p once if the accumulator is not below it.
    h2 += h1 >> 26;
    h1 &= MASK;
    h3 += h2 >> 26;
    h2 &= MASK;
    h4 += h3 >> 26;
    h3 &= MASK;
    h0 += (h4 >> 26) * 5;
    h4 &= MASK;
    h1 += h0 >> 26;
    h0 &= MASK;
    if h4 == MASK && h3 == MASK && h2 == MASK && h1 == MASK && h0 >= MASK - 4 {
        (h0, h1, h2, h3, h4) = (h0 - (MASK - 4), 0, 0, 0, 0);
    }
    let acc = u128::from(h0)
        | u128::from(h1) << 26
        | u128::from(h2) << 52
        | u128::from(h3) << 78
        | u128::from(h4) << 104;
    let s = u128::from_le_bytes(key[16..].try_into().expect("16 bytes"));
    acc.wrapping_add(s).to_le_bytes()
}

/// The Poly1305 tag of AEAD_CHACHA20_POLY1305 (RFC 8439 2.8): one-time key from block 0, over
/// `aad | pad16 | ciphertext | pad16 | len(aad) as u64 LE | len(ciphertext) as u64 LE`.
fn aead_tag(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], ciphertext: &[u8]) -> [u8; 16] {
    let block0 = chacha20_block(key, nonce, 0);
    let one_time_key: [u8; 32] = block0[..32].try_into().expect("32 bytes");
    let pad16 = |n: usize| vec![0u8; (16 - n % 16) % 16];
    let mut mac_data = Vec::with_capacity(aad.len() + ciphertext.len() + 48);
    mac_data.extend_from_slice(aad);
    mac_data.extend_from_slice(&pad16(aad.len()));
    mac_data.extend_from_slice(ciphertext);
    mac_data.extend_from_slice(&pad16(ciphertext.len()));
    mac_data.extend_from_slice(&(aad.len() as u64).to_le_bytes());
    mac_data.extend_from_slice(&(ciphertext.len() as u64).to_le_bytes());
    poly1305(&one_time_key, &mac_data)
}

/// AEAD_CHACHA20_POLY1305 encryption (RFC 8439 2.8): ciphertext (keystream from block 1) then
/// the 16-byte tag.
pub fn aead_encrypt(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut out = chacha20_xor(key, nonce, 1, plaintext);
    let tag = aead_tag(key, nonce, aad, &out);
    out.extend_from_slice(&tag);
    out
}

/// AEAD_CHACHA20_POLY1305 decryption: `None` when the tag does not match.
pub fn aead_decrypt(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    sealed: &[u8],
) -> Option<Vec<u8>> {
    let (ciphertext, tag) = sealed.split_at(sealed.len().checked_sub(16)?);
    if aead_tag(key, nonce, aad, ciphertext) != tag {
        return None;
    }
    Some(chacha20_xor(key, nonce, 1, ciphertext))
}

// ---------------------------------------------------------------------------------------------
// BIP324: the two forward-secure ciphers

/// FSChaCha20, the length cipher: one ChaCha20 keystream (nonce = 4 zero bytes and the rekey
/// count as u64 LE) consumed 3 bytes per message; after every 224th message the next 32 bytes of
/// that keystream become the key, and the stream starts over at block 0.
pub struct FsChaCha20 {
    key: [u8; 32],
    block_counter: u32,
    chunk_counter: u64,
    keystream: Vec<u8>,
}

impl FsChaCha20 {
    /// A cipher over its initial key.
    pub fn new(key: [u8; 32]) -> FsChaCha20 {
        FsChaCha20 {
            key,
            block_counter: 0,
            chunk_counter: 0,
            keystream: Vec::new(),
        }
    }

    fn keystream(&mut self, n: usize) -> Vec<u8> {
        while self.keystream.len() < n {
            let mut nonce = [0u8; 12];
            nonce[4..].copy_from_slice(&(self.chunk_counter / REKEY_INTERVAL).to_le_bytes());
            let block = chacha20_block(&self.key, &nonce, self.block_counter);
            self.keystream.extend_from_slice(&block);
            self.block_counter += 1;
        }
        self.keystream.drain(..n).collect()
    }

    /// Encrypts or decrypts one chunk (a 3-byte length).
    pub fn crypt(&mut self, chunk: &[u8]) -> Vec<u8> {
        let keystream = self.keystream(chunk.len());
        let out = chunk.iter().zip(keystream).map(|(b, k)| b ^ k).collect();
        if (self.chunk_counter + 1) % REKEY_INTERVAL == 0 {
            let key = self.keystream(32);
            self.key.copy_from_slice(&key);
            self.block_counter = 0;
            // 224 lengths and a key are 704 bytes, 11 blocks: nothing of the old key is left.
            assert!(self.keystream.is_empty());
        }
        self.chunk_counter += 1;
        out
    }
}

/// FSChaCha20Poly1305, the packet cipher: AEAD_CHACHA20_POLY1305 with nonce = message number
/// within the key (u32 LE) and rekey count (u64 LE); after every 224th message the key becomes
/// the first 32 bytes of the AEAD encryption of 32 zero bytes under nonce `ff ff ff ff` and the
/// rekey count, without associated data.
pub struct FsChaCha20Poly1305 {
    key: [u8; 32],
    packet_counter: u64,
}

impl FsChaCha20Poly1305 {
    /// A cipher over its initial key.
    pub fn new(key: [u8; 32]) -> FsChaCha20Poly1305 {
        FsChaCha20Poly1305 {
            key,
            packet_counter: 0,
        }
    }

    fn nonce(&self) -> [u8; 12] {
        let mut nonce = [0u8; 12];
        let within = (self.packet_counter % REKEY_INTERVAL) as u32;
        nonce[..4].copy_from_slice(&within.to_le_bytes());
        nonce[4..].copy_from_slice(&(self.packet_counter / REKEY_INTERVAL).to_le_bytes());
        nonce
    }

    fn advance(&mut self, nonce: [u8; 12]) {
        if (self.packet_counter + 1) % REKEY_INTERVAL == 0 {
            let mut rekey_nonce = nonce;
            rekey_nonce[..4].copy_from_slice(&[0xff; 4]);
            let sealed = aead_encrypt(&self.key, &rekey_nonce, &[], &[0u8; 32]);
            self.key.copy_from_slice(&sealed[..32]);
        }
        self.packet_counter += 1;
    }

    /// Encrypts one message: ciphertext and tag.
    pub fn encrypt(&mut self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = self.nonce();
        let out = aead_encrypt(&self.key, &nonce, aad, plaintext);
        self.advance(nonce);
        out
    }

    /// Decrypts one message (`None`: not authentic). The counter advances either way, as a
    /// peer's does; a failed packet ends a real session anyway.
    pub fn decrypt(&mut self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let nonce = self.nonce();
        let out = aead_decrypt(&self.key, &nonce, aad, sealed);
        self.advance(nonce);
        out
    }
}

// ---------------------------------------------------------------------------------------------
// BIP324: shared secret and key schedule

/// BIP340's tagged hash: `SHA256(SHA256(tag) || SHA256(tag) || data)`.
pub fn tagged_hash(tag: &str, parts: &[&[u8]]) -> [u8; 32] {
    let tag_hash = Sha256::digest(tag.as_bytes());
    let mut hasher = Sha256::new();
    hasher.update(tag_hash);
    hasher.update(tag_hash);
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The x coordinate of `secret` times the point an ElligatorSwift encoding stands for.
pub fn ecdh_x(their_ellswift: &[u8; 64], secret: &[u8; 32]) -> [u8; 32] {
    let point = PublicKey::from_ellswift(ElligatorSwift::from_array(*their_ellswift));
    let secret = SecretKey::from_slice(secret).expect("secret key");
    let xy = shared_secret_point(&point, &secret);
    let mut x = [0u8; 32];
    x.copy_from_slice(&xy[..32]);
    x
}

/// The x coordinate of the public key of `secret`.
pub fn public_x(secret: &[u8; 32]) -> [u8; 32] {
    let secp = bitcoin::secp256k1::Secp256k1::signing_only();
    let secret = SecretKey::from_slice(secret).expect("secret key");
    PublicKey::from_secret_key(&secp, &secret)
        .x_only_public_key()
        .0
        .serialize()
}

/// BIP324's shared secret: the tagged hash `bip324_ellswift_xonly_ecdh` of the initiator's
/// encoding, the responder's encoding and the x coordinate of the ECDH point.
pub fn shared_secret(
    initiator_ellswift: &[u8; 64],
    responder_ellswift: &[u8; 64],
    ecdh_x: &[u8; 32],
) -> [u8; 32] {
    tagged_hash(
        "bip324_ellswift_xonly_ecdh",
        &[initiator_ellswift, responder_ellswift, ecdh_x],
    )
}

/// Everything HKDF-SHA256 derives from the shared secret (salt `bitcoin_v2_shared_secret` and
/// the network magic; one 32-byte expansion per info string).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    pub initiator_l: [u8; 32],
    pub initiator_p: [u8; 32],
    pub responder_l: [u8; 32],
    pub responder_p: [u8; 32],
    pub initiator_terminator: [u8; 16],
    pub responder_terminator: [u8; 16],
    pub session_id: [u8; 32],
}

/// BIP324's key schedule.
pub fn derive_keys(shared_secret: &[u8; 32], magic: [u8; 4]) -> Keys {
    let mut salt = b"bitcoin_v2_shared_secret".to_vec();
    salt.extend_from_slice(&magic);
    let hkdf = Hkdf::<Sha256>::new(Some(&salt), shared_secret);
    let expand = |info: &str| {
        let mut okm = [0u8; 32];
        hkdf.expand(info.as_bytes(), &mut okm).expect("32 bytes");
        okm
    };
    let terminators = expand("garbage_terminators");
    let mut initiator_terminator = [0u8; 16];
    let mut responder_terminator = [0u8; 16];
    initiator_terminator.copy_from_slice(&terminators[..16]);
    responder_terminator.copy_from_slice(&terminators[16..]);
    Keys {
        initiator_l: expand("initiator_L"),
        initiator_p: expand("initiator_P"),
        responder_l: expand("responder_L"),
        responder_p: expand("responder_P"),
        initiator_terminator,
        responder_terminator,
        session_id: expand("session_id"),
    }
}

// ---------------------------------------------------------------------------------------------
// BIP324: packets

/// One end of a session: the sending and receiving cipher pairs and terminators of its role.
pub struct Endpoint {
    send_l: FsChaCha20,
    send_p: FsChaCha20Poly1305,
    recv_l: FsChaCha20,
    recv_p: FsChaCha20Poly1305,
    pub send_terminator: [u8; 16],
    pub recv_terminator: [u8; 16],
    pub session_id: [u8; 32],
}

impl Endpoint {
    /// The initiator's end (`initiating`) or the responder's.
    pub fn new(keys: &Keys, initiating: bool) -> Endpoint {
        let (send_l, send_p, recv_l, recv_p, send_t, recv_t) = if initiating {
            (
                keys.initiator_l,
                keys.initiator_p,
                keys.responder_l,
                keys.responder_p,
                keys.initiator_terminator,
                keys.responder_terminator,
            )
        } else {
            (
                keys.responder_l,
                keys.responder_p,
                keys.initiator_l,
                keys.initiator_p,
                keys.responder_terminator,
                keys.initiator_terminator,
            )
        };
        Endpoint {
            send_l: FsChaCha20::new(send_l),
            send_p: FsChaCha20Poly1305::new(send_p),
            recv_l: FsChaCha20::new(recv_l),
            recv_p: FsChaCha20Poly1305::new(recv_p),
            send_terminator: send_t,
            recv_terminator: recv_t,
            session_id: keys.session_id,
        }
    }

    /// One packet: the contents' length (3 bytes LE) under the length cipher, then header byte
    /// and contents under the packet cipher with `aad`, then the tag.
    pub fn encrypt(&mut self, contents: &[u8], aad: &[u8], ignore: bool) -> Vec<u8> {
        let header = if ignore { IGNORE_BIT } else { 0 };
        self.encrypt_with_header(header, contents, aad)
    }

    /// [`Endpoint::encrypt`] with any header byte (the bits other than the ignore bit are
    /// reserved: a receiver must not care about them).
    pub fn encrypt_with_header(&mut self, header: u8, contents: &[u8], aad: &[u8]) -> Vec<u8> {
        assert!(contents.len() < 1 << 24);
        let mut plaintext = Vec::with_capacity(1 + contents.len());
        plaintext.push(header);
        plaintext.extend_from_slice(contents);
        let sealed = self.send_p.encrypt(aad, &plaintext);
        let mut packet = self.encrypt_length(contents.len());
        packet.extend_from_slice(&sealed);
        packet
    }

    /// Only the encrypted length field of a packet with `len` bytes of contents (for a packet
    /// the receiver must refuse on its length alone; the packet cipher does not move on, so no
    /// packet can follow).
    pub fn encrypt_length(&mut self, len: usize) -> Vec<u8> {
        assert!(len < 1 << 24);
        self.send_l.crypt(&(len as u32).to_le_bytes()[..3])
    }

    /// Decrypts the packet at the start of `wire`: `(ignore bit, contents, bytes used)`, or
    /// `None` if `wire` holds less than the packet or the packet is not authentic.
    pub fn decrypt(&mut self, wire: &[u8], aad: &[u8]) -> Option<(bool, Vec<u8>, usize)> {
        let len_bytes = self.recv_l.crypt(wire.get(..LENGTH_LEN)?);
        let len = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], 0]) as usize;
        let end = LENGTH_LEN + 1 + len + 16;
        let plaintext = self.recv_p.decrypt(aad, wire.get(LENGTH_LEN..end)?)?;
        Some((plaintext[0] & IGNORE_BIT != 0, plaintext[1..].to_vec(), end))
    }
}

// ---------------------------------------------------------------------------------------------
// BIP324: message encoding

/// BIP324's table of one-byte message type ids ("v2 Bitcoin P2P message structure"); 29 to 32
/// are reserved there, everything above is unassigned.
pub const SHORT_IDS: [(u8, &str); 28] = [
    (1, "addr"),
    (2, "block"),
    (3, "blocktxn"),
    (4, "cmpctblock"),
    (5, "feefilter"),
    (6, "filteradd"),
    (7, "filterclear"),
    (8, "filterload"),
    (9, "getblocks"),
    (10, "getblocktxn"),
    (11, "getdata"),
    (12, "getheaders"),
    (13, "headers"),
    (14, "inv"),
    (15, "mempool"),
    (16, "merkleblock"),
    (17, "notfound"),
    (18, "ping"),
    (19, "pong"),
    (20, "sendcmpct"),
    (21, "tx"),
    (22, "getcfilters"),
    (23, "cfilter"),
    (24, "getcfheaders"),
    (25, "cfheaders"),
    (26, "getcfcheckpt"),
    (27, "cfcheckpt"),
    (28, "addrv2"),
];

/// A message's packet contents: its one-byte id and the payload, or 0x00, the command padded
/// with NULs to 12 bytes, and the payload.
pub fn encode_message(command: &str, payload: &[u8]) -> Vec<u8> {
    let mut contents = Vec::with_capacity(13 + payload.len());
    match SHORT_IDS.iter().find(|(_, name)| *name == command) {
        Some((id, _)) => contents.push(*id),
        None => {
            assert!(command.len() <= 12);
            contents.push(0);
            contents.extend_from_slice(command.as_bytes());
            contents.resize(13, 0);
        }
    }
    contents.extend_from_slice(payload);
    contents
}

/// The command and payload of packet contents, `None` when the message type cannot be read (an
/// id without a name, a long command that is not printable ASCII padded with NULs).
pub fn decode_message(contents: &[u8]) -> Option<(String, Vec<u8>)> {
    match *contents.first()? {
        0 => {
            let raw = contents.get(1..13)?;
            let len = raw.iter().position(|b| *b == 0).unwrap_or(12);
            let (name, padding) = raw.split_at(len);
            if len == 0 || padding.iter().any(|b| *b != 0) {
                return None;
            }
            if !name.iter().all(|b| (0x20..0x7f).contains(b)) {
                return None;
            }
            let name = String::from_utf8(name.to_vec()).ok()?;
            Some((name, contents[13..].to_vec()))
        }
        id => {
            let (_, name) = SHORT_IDS.iter().find(|(i, _)| *i == id)?;
            Some((name.to_string(), contents[1..].to_vec()))
        }
    }
}
