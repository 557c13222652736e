//! Importing Bitcoin Core `peers.dat` files, built here byte by byte.
//!
//! The layout the helper writes (Core 29's `SerializeFileDB` + `AddrManImpl::Serialize`;
//! integers little-endian except ports, which are big-endian):
//!
//! ```text
//! magic[4] format[1] compat[1] key[32] nNew:i32 nTried:i32 buckets:i32 (1024 ^ 2^30, plain in format 0)
//! nNew AddrInfo, nTried AddrInfo
//! 1024 x { count:i32, count x index:i32 }      (entry i of new in bucket i, for i < 1024)
//! asmap checksum[32]                           (format >= 2)
//! sha256d of all the above [32]
//!
//! AddrInfo = version:u32 (220000, | 2^29 when addrv2) time:u32
//!            services (CompactSize when addrv2, else u64)
//!            address (addrv2: network id, CompactSize length, bytes; v1: 16 bytes IPv6,
//!                     IPv4-mapped for IPv4) port:u16 big-endian
//!            source address (addrv2 from format 3 on, else v1; no port)
//!            last_success:i64 attempts:i32
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use btcclient_manager::addrbook::{
    AddrBook, Admission, BookAddr, NetAddr, PeersDatError, PeersDatImport, Source,
};
use btcclient_manager::bitcoin::hashes::{sha256d, Hash};
use btcclient_manager::bitcoin::p2p::ServiceFlags;
use btcclient_manager::Network;

const NOW: u64 = 1_700_000_000;

#[derive(Clone)]
enum A {
    V4([u8; 4]),
    V6([u8; 16]),
    Tor([u8; 32]),
    I2p([u8; 32]),
    /// Any network id and bytes, addrv2 only.
    Raw(u8, Vec<u8>),
}

#[derive(Clone)]
struct Entry {
    addr: A,
    port: u16,
    time: u32,
    services: u64,
    source: A,
    last_success: i64,
    attempts: i32,
    /// Write this entry's CAddress in addrv2 encoding.
    addrv2: bool,
}

fn entry(addr: A) -> Entry {
    Entry {
        addr,
        port: 8333,
        time: NOW as u32 - 3600,
        services: 0x409,
        source: A::V4([9, 9, 9, 9]),
        last_success: 0,
        attempts: 0,
        addrv2: true,
    }
}

fn compact(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend((n as u16).to_le_bytes());
        }
        _ => {
            out.push(0xfe);
            out.extend((n as u32).to_le_bytes());
        }
    }
}

fn put_addr(out: &mut Vec<u8>, a: &A, addrv2: bool) {
    if !addrv2 {
        let v6: [u8; 16] = match a {
            A::V4(b) => Ipv4Addr::from(*b).to_ipv6_mapped().octets(),
            A::V6(b) => *b,
            _ => panic!("no v1 encoding"),
        };
        out.extend(v6);
        return;
    }
    let (id, bytes): (u8, Vec<u8>) = match a {
        A::V4(b) => (1, b.to_vec()),
        A::V6(b) => (2, b.to_vec()),
        A::Tor(b) => (4, b.to_vec()),
        A::I2p(b) => (5, b.to_vec()),
        A::Raw(id, b) => (*id, b.clone()),
    };
    out.push(id);
    compact(out, bytes.len() as u64);
    out.extend(bytes);
}

fn put_entry(out: &mut Vec<u8>, e: &Entry, format: u8) {
    let version = 220_000u32 | if e.addrv2 { 1 << 29 } else { 0 };
    out.extend(version.to_le_bytes());
    out.extend(e.time.to_le_bytes());
    if e.addrv2 {
        compact(out, e.services);
    } else {
        out.extend(e.services.to_le_bytes());
    }
    put_addr(out, &e.addr, e.addrv2);
    out.extend(e.port.to_be_bytes());
    put_addr(out, &e.source, format >= 3);
    out.extend(e.last_success.to_le_bytes());
    out.extend(e.attempts.to_le_bytes());
}

struct File {
    magic: [u8; 4],
    format: u8,
    compat: u8,
    new: Vec<Entry>,
    tried: Vec<Entry>,
}

impl File {
    fn core29(new: Vec<Entry>, tried: Vec<Entry>) -> File {
        File {
            magic: Network::Mainnet.magic(),
            format: 4,
            compat: 36,
            new,
            tried,
        }
    }

    /// Everything before the final checksum.
    fn body(&self) -> Vec<u8> {
        let mut out = self.magic.to_vec();
        out.push(self.format);
        out.push(self.compat);
        out.extend([0x11; 32]);
        out.extend((self.new.len() as i32).to_le_bytes());
        out.extend((self.tried.len() as i32).to_le_bytes());
        let buckets: i32 = if self.format >= 1 {
            1024 ^ (1 << 30)
        } else {
            1024
        };
        out.extend(buckets.to_le_bytes());
        for e in self.new.iter().chain(&self.tried) {
            put_entry(&mut out, e, self.format);
        }
        for bucket in 0..1024i32 {
            if (bucket as usize) < self.new.len() {
                out.extend(1i32.to_le_bytes());
                out.extend(bucket.to_le_bytes());
            } else {
                out.extend(0i32.to_le_bytes());
            }
        }
        if self.format >= 2 {
            out.extend([0u8; 32]);
        }
        out
    }

    fn bytes(&self) -> Vec<u8> {
        seal(self.body())
    }
}

fn seal(mut body: Vec<u8>) -> Vec<u8> {
    let sum = sha256d::Hash::hash(&body).to_byte_array();
    body.extend(sum);
    body
}

fn book() -> AddrBook {
    AddrBook::with_key(Network::Mainnet, [5; 32])
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> BookAddr {
    BookAddr::new(NetAddr::Ipv4(Ipv4Addr::new(a, b, c, d)), 8333)
}

const V6: [u8; 16] = [0x2a, 0x01, 0x04, 0xf8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const ONION: [u8; 32] = [0x77; 32];

fn core29_sample() -> File {
    let mut tried = entry(A::V4([1, 1, 1, 1]));
    tried.last_success = NOW as i64 - 600;
    tried.attempts = 0;
    let mut tried6 = entry(A::V6(V6));
    tried6.last_success = NOW as i64 - 900;
    let mut failing = entry(A::V4([8, 8, 4, 4]));
    failing.attempts = 2;
    // A seed's "internal" source: fd6b:88c0:8724 and ten bytes.
    let mut seeded = entry(A::V4([5, 5, 5, 5]));
    seeded.source = A::V6([
        0xfd, 0x6b, 0x88, 0xc0, 0x87, 0x24, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
    // A v1-encoded CAddress inside a format 4 file.
    let mut legacy = entry(A::V4([6, 6, 6, 6]));
    legacy.addrv2 = false;
    File::core29(
        vec![
            entry(A::V4([8, 8, 8, 8])),
            failing,
            entry(A::Tor(ONION)),
            entry(A::I2p([0x33; 32])),
            entry(A::V4([10, 0, 0, 1])),   // private: not admitted
            entry(A::Raw(3, vec![0; 10])), // Tor v2: obsolete
            seeded,
            legacy,
        ],
        vec![tried, tried6],
    )
}

fn sums_up(r: &PeersDatImport) {
    assert_eq!(
        r.new_entries + r.tried_entries,
        r.added_new + r.added_tried + r.not_admitted + r.unsupported + r.not_placed,
        "{r:?}"
    );
}

#[test]
fn imports_a_core_29_file_with_tried_ipv6_and_onion_entries() {
    let mut b = book();
    let r = b
        .import_peers_dat(&core29_sample().bytes(), NOW)
        .expect("import");
    sums_up(&r);
    assert_eq!(r.format, 4);
    assert_eq!((r.new_entries, r.tried_entries), (8, 2));
    assert_eq!((r.added_new, r.added_tried), (4, 2));
    assert_eq!(r.added(), 6);
    assert_eq!(r.onion, 1);
    assert_eq!(r.not_admitted, 2, "onion by default, and 10.0.0.1");
    assert_eq!(r.unsupported, 2, "I2P and Tor v2");
    assert_eq!((b.len_new(), b.len_tried()), (4, 2));

    let tried = b.get(&v4(1, 1, 1, 1)).expect("tried entry");
    assert!(tried.in_tried);
    assert_eq!(tried.last_success, NOW - 600);
    assert_eq!(tried.services, ServiceFlags::from(0x409));
    assert_eq!(
        tried.source,
        Source::Peer(NetAddr::Ipv4([9, 9, 9, 9].into()))
    );
    let six = BookAddr::new(NetAddr::Ipv6(Ipv6Addr::from(V6)), 8333);
    assert!(b.get(&six).expect("ipv6").in_tried);
    let failing = b.get(&v4(8, 8, 4, 4)).expect("new entry");
    assert_eq!((failing.attempts, failing.in_tried), (2, false));
    assert_eq!(failing.last_seen, NOW as u32 - 3600);
    assert_eq!(
        b.get(&v4(5, 5, 5, 5)).expect("seeded").source,
        Source::Seed([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    );
    assert!(b.get(&v4(6, 6, 6, 6)).is_some(), "v1-encoded entry");
    assert!(b.get(&BookAddr::new(NetAddr::TorV3(ONION), 8333)).is_none());
    b.check().expect("consistent");

    // Importing again adds nothing.
    let again = b
        .import_peers_dat(&core29_sample().bytes(), NOW)
        .expect("import");
    sums_up(&again);
    assert_eq!(again.added(), 0);
    assert_eq!(again.not_placed, 6);
}

#[test]
fn onion_entries_are_kept_when_admitted() {
    let mut b = book();
    b.set_admission(Admission {
        onion: true,
        local: false,
    });
    let r = b
        .import_peers_dat(&core29_sample().bytes(), NOW)
        .expect("import");
    sums_up(&r);
    assert_eq!(r.onion, 1);
    assert_eq!(r.not_admitted, 1);
    assert_eq!(r.added(), 7);
    let onion = b
        .get(&BookAddr::new(NetAddr::TorV3(ONION), 8333))
        .expect("onion kept");
    assert!(!onion.in_tried);
}

#[test]
fn imports_a_v1_encoded_format_2_file() {
    // Format 2 (Core 0.20): the second byte was written as 32 (compatible with format 0),
    // every address in the 16-byte v1 encoding, services as u64.
    let mut new = vec![entry(A::V4([8, 8, 8, 8])), entry(A::V6(V6))];
    let mut tried = vec![entry(A::V4([1, 1, 1, 1]))];
    for e in new.iter_mut().chain(tried.iter_mut()) {
        e.addrv2 = false;
    }
    tried[0].last_success = NOW as i64 - 60;
    let file = File {
        magic: Network::Mainnet.magic(),
        format: 2,
        compat: 32,
        new,
        tried,
    };
    let mut b = book();
    let r = b.import_peers_dat(&file.bytes(), NOW).expect("import");
    sums_up(&r);
    assert_eq!(r.format, 2);
    assert_eq!((r.added_new, r.added_tried), (2, 1));
    assert!(b.get(&v4(1, 1, 1, 1)).expect("tried").in_tried);

    // Format 0: the bucket count is not XORed; format 1 has no asmap checksum.
    for format in [0u8, 1] {
        let file = File {
            format,
            ..File {
                magic: Network::Mainnet.magic(),
                format: 0,
                compat: 32,
                new: vec![Entry {
                    addrv2: false,
                    ..entry(A::V4([8, 8, 8, 8]))
                }],
                tried: vec![],
            }
        };
        let r = book().import_peers_dat(&file.bytes(), NOW).expect("import");
        assert_eq!((r.format, r.added_new), (format, 1));
    }
}

#[test]
fn imports_format_3_and_every_compatibility_byte_core_29_reads() {
    // Format 3 (Core 0.21, BIP155): addrv2 entries and sources, second byte 35 (32 + 3).
    let mut file = core29_sample();
    file.format = 3;
    file.compat = 35;
    let r = book()
        .import_peers_dat(&file.bytes(), NOW)
        .expect("format 3");
    sums_up(&r);
    assert_eq!((r.format, r.added()), (3, 6));
    // Core 29 reads a file whose lowest compatible format (second byte - 32) is 0 to 4.
    for compat in 32..=36u8 {
        let mut file = core29_sample();
        file.compat = compat;
        let r = book()
            .import_peers_dat(&file.bytes(), NOW)
            .unwrap_or_else(|e| panic!("compatibility byte {compat}: {e}"));
        assert_eq!(r.added(), 6, "compatibility byte {compat}");
    }
}

#[test]
fn reads_a_newer_format_that_declares_itself_compatible() {
    let mut file = core29_sample();
    file.format = 5;
    file.compat = 36;
    let r = book().import_peers_dat(&file.bytes(), NOW).expect("import");
    assert_eq!(r.format, 5);
    assert_eq!(r.added(), 6);
}

#[test]
fn imports_from_a_file_path() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("peers.dat");
    std::fs::write(&path, core29_sample().bytes()).expect("write");
    let r = book().import_peers_dat_file(&path, NOW).expect("import");
    assert_eq!(r.added(), 6);
    assert!(matches!(
        book().import_peers_dat_file(&dir.path().join("missing.dat"), NOW),
        Err(PeersDatError::Io { .. })
    ));
}

fn refused(bytes: &[u8]) -> PeersDatError {
    let mut b = book();
    let err = b.import_peers_dat(bytes, NOW).expect_err("refused");
    assert!(b.is_empty(), "nothing added on error");
    err
}

#[test]
fn refuses_another_network() {
    let mut file = core29_sample();
    file.magic = Network::Testnet4.magic();
    assert!(matches!(
        refused(&file.bytes()),
        PeersDatError::WrongNetwork { found, .. } if found == Network::Testnet4.magic()
    ));
}

#[test]
fn refuses_an_incompatible_newer_format() {
    let mut file = core29_sample();
    file.format = 5;
    file.compat = 37;
    let err = refused(&file.bytes());
    assert!(matches!(
        err,
        PeersDatError::IncompatibleFormat {
            format: 5,
            lowest_compatible: 5
        }
    ));
    assert!(err.to_string().contains("format 5"), "{err}");
    file.compat = 31;
    assert!(matches!(
        refused(&file.bytes()),
        PeersDatError::BadCompatibility(31)
    ));
}

#[test]
fn refuses_a_bad_checksum() {
    let mut bytes = core29_sample().bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert!(matches!(refused(&bytes), PeersDatError::BadChecksum));
    // A damaged time field: parses, fails the checksum.
    let mut bytes = core29_sample().bytes();
    bytes[4 + 2 + 32 + 12 + 4] ^= 0x40;
    assert!(matches!(refused(&bytes), PeersDatError::BadChecksum));
}

#[test]
fn refuses_counts_out_of_range() {
    let header = |n_new: i32, n_tried: i32| {
        let mut out = Network::Mainnet.magic().to_vec();
        out.extend([4, 36]);
        out.extend([0; 32]);
        out.extend(n_new.to_le_bytes());
        out.extend(n_tried.to_le_bytes());
        out.extend((1024i32 ^ (1 << 30)).to_le_bytes());
        seal(out)
    };
    for (n_new, n_tried, what) in [
        (65_537, 0, "nNew"),
        (-1, 0, "nNew"),
        (0, 16_385, "nTried"),
        (0, i32::MIN, "nTried"),
    ] {
        match refused(&header(n_new, n_tried)) {
            PeersDatError::CountOutOfRange { what: w, .. } => assert_eq!(w, what),
            other => panic!("{other}"),
        }
    }
    // The largest counts are accepted, and a file that does not hold them is truncated:
    // nothing is allocated from the count.
    let full = header(65_536, 16_384);
    assert!(matches!(
        refused(&full[..full.len() - 32]),
        PeersDatError::Truncated { .. }
    ));
}

#[test]
fn refuses_every_truncation() {
    let bytes = core29_sample().bytes();
    for len in 0..bytes.len() {
        match refused(&bytes[..len]) {
            PeersDatError::Truncated { .. } => {}
            other => panic!("cut at {len}: {other}"),
        }
    }
}

#[test]
fn refuses_what_core_refuses() {
    let malformed = |file: File| match refused(&file.bytes()) {
        PeersDatError::Malformed { why, .. } => why,
        other => panic!("{other}"),
    };
    // An addrv2 CAddress in a format 2 file.
    let mut e = entry(A::V4([8, 8, 8, 8]));
    e.addrv2 = true;
    let why = malformed(File {
        magic: Network::Mainnet.magic(),
        format: 2,
        compat: 32,
        new: vec![e],
        tried: vec![],
    });
    assert!(why.contains("disk version"), "{why}");
    // An IPv4 address of 5 bytes.
    let why = malformed(File::core29(vec![entry(A::Raw(1, vec![1; 5]))], vec![]));
    assert!(why.contains("not 4"), "{why}");
    // An address longer than 512 bytes.
    let why = malformed(File::core29(vec![entry(A::Raw(42, vec![0; 513]))], vec![]));
    assert!(why.contains("513"), "{why}");
    // A non-canonical CompactSize for services.
    let mut body = File::core29(vec![], vec![]).body();
    let entry_at = 4 + 2 + 32 + 12;
    let mut e = Vec::new();
    e.extend((220_000u32 | 1 << 29).to_le_bytes());
    e.extend(0u32.to_le_bytes());
    e.extend([0xfd, 0x01, 0x00]); // 1 written in three bytes
    body.splice(entry_at..entry_at, e);
    body[38..42].copy_from_slice(&1i32.to_le_bytes());
    match refused(&seal(body)) {
        PeersDatError::Malformed { why, .. } => assert!(why.contains("CompactSize"), "{why}"),
        other => panic!("{other}"),
    }
    // An unknown network id of plausible size is skipped, not refused (as Core).
    let r = book()
        .import_peers_dat(
            &File::core29(vec![entry(A::Raw(42, vec![0; 20]))], vec![]).bytes(),
            NOW,
        )
        .expect("import");
    assert_eq!(r.unsupported, 1);
}

#[test]
fn damaged_files_never_panic() {
    let good = core29_sample().bytes();
    let mut x: u32 = 99;
    for i in 0..2000 {
        let mut bytes = good.clone();
        for _ in 0..1 + i % 3 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let at = 4 + (x as usize) % (bytes.len() - 4);
            bytes[at] = (x >> 16) as u8;
        }
        // Re-seal so the parser meets the damage.
        bytes.truncate(bytes.len() - 32);
        let bytes = seal(bytes);
        let mut b = book();
        if b.import_peers_dat(&bytes, NOW).is_ok() {
            b.check().expect("consistent");
        }
    }
}

/// `tests/fixtures/peers-core29-mainnet.dat`, which the C and Go tests import, is exactly
/// [`core29_sample`] as this file's builder writes it (`BTCCLIENT_BLESS=1` rewrites it).
#[test]
fn the_fixture_for_c_and_go_is_this_builders_sample() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/peers-core29-mainnet.dat");
    let bytes = core29_sample().bytes();
    if std::env::var_os("BTCCLIENT_BLESS").is_some() {
        std::fs::write(&path, &bytes).expect("write the fixture");
    }
    let on_disk = std::fs::read(&path).expect("the fixture exists");
    assert!(
        on_disk == bytes,
        "{} differs from core29_sample()",
        path.display()
    );
}
