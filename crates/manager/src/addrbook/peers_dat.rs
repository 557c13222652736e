//! Importing Bitcoin Core's `peers.dat`.
//!
//! The layout, as Core 29 writes it (`AddrManImpl::Serialize` inside `SerializeFileDB`;
//! integers little-endian except ports):
//!
//! | bytes | content |
//! | --- | --- |
//! | 4 | network magic |
//! | 1 | format: 0 historical, 1 deterministic, 2 asmap, 3 BIP155, 4 multiport (Core 29) |
//! | 1 | 32 + lowest format able to read the file (Core 29: 36) |
//! | 32 | bucketing key (not used: entries are re-bucketed with this book's key) |
//! | 4 | nNew, int32, 0 to 65,536 |
//! | 4 | nTried, int32, 0 to 16,384 |
//! | 4 | new bucket count, int32, XOR 2^30 from format 1 on |
//! | … | nNew then nTried entries (`AddrInfo`) |
//! | … | per new bucket: int32 count, then that many int32 entry indexes |
//! | 32 | asmap checksum (format 2 on) |
//! | 32 | double SHA-256 of every byte before it |
//!
//! An `AddrInfo` is a `CAddress` in disk encoding, its source `CNetAddr`, int64 last success,
//! int32 attempts. The `CAddress`: uint32 disk version (low 19 bits ignored, the rest 0 for
//! the v1 encoding or exactly 2^29 for addrv2, which only format 3 on may use), uint32 time,
//! services (CompactSize in addrv2, else uint64), the address, the port (big-endian uint16).
//! An address in addrv2 encoding is a BIP155 network id, a CompactSize length (at most 512)
//! and the bytes; in v1 encoding 16 bytes of IPv6 (IPv4-mapped for IPv4). The source uses
//! addrv2 encoding from format 3 on, v1 before, whatever its entry's version says.

use std::fs::File;
use std::io::Read;
use std::net::Ipv6Addr;
use std::path::Path;

use bitcoin::p2p::ServiceFlags;

use super::codec::{sha256d, Reader, Truncated};
use super::{AddrBook, AddrEntry, BookAddr, NetAddr, Source, NEW_CAPACITY, TRIED_CAPACITY};

/// The newest `peers.dat` format this reader knows (Core's `V4_MULTIPORT`).
const NEWEST_FORMAT: u8 = 4;
/// Core's `INCOMPATIBILITY_BASE`.
const INCOMPATIBILITY_BASE: u8 = 32;
/// Core's `CNetAddr::MAX_ADDRV2_SIZE`.
const MAX_ADDRV2_SIZE: u64 = 512;
/// Core's `CAddress::DISK_VERSION_IGNORE_MASK`.
const DISK_VERSION_IGNORE_MASK: u32 = 0x7ffff;
/// Core's `CAddress::DISK_VERSION_ADDRV2`.
const DISK_VERSION_ADDRV2: u32 = 1 << 29;
/// `peers.dat` files larger than this are not read.
pub const MAX_PEERS_DAT_LEN: u64 = 128 << 20;

const IPV4_IN_IPV6: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
const TORV2_IN_IPV6: [u8; 6] = [0xfd, 0x87, 0xd8, 0x7e, 0xeb, 0x43];
const INTERNAL_IN_IPV6: [u8; 6] = [0xfd, 0x6b, 0x88, 0xc0, 0x87, 0x24];

/// Why a `peers.dat` was not imported. Nothing is added to the book then.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeersDatError {
    /// The file ends early.
    #[error("peers.dat is truncated: a read at byte {at} runs past its end")]
    Truncated {
        /// Where the read that failed started.
        at: usize,
    },
    /// The file is of another network.
    #[error("peers.dat is of another network (magic {found:02x?}, this book's {expected:02x?})")]
    WrongNetwork {
        /// The file's magic.
        found: [u8; 4],
        /// The book's network magic.
        expected: [u8; 4],
    },
    /// A format newer than this reader, which older readers must not read.
    #[error("peers.dat format {format} can be read only by readers of format {lowest_compatible} or newer; this one reads format {NEWEST_FORMAT}")]
    IncompatibleFormat {
        /// The file's format byte.
        format: u8,
        /// The oldest format able to read it.
        lowest_compatible: u8,
    },
    /// The compatibility byte is below 32.
    #[error("peers.dat compatibility byte {0} is below 32")]
    BadCompatibility(u8),
    /// The checksum does not match.
    #[error("peers.dat checksum does not match its contents")]
    BadChecksum,
    /// nNew or nTried is negative or above the table's capacity.
    #[error("peers.dat {what} is {value}, outside 0 to {max}")]
    CountOutOfRange {
        /// `"nNew"` or `"nTried"`.
        what: &'static str,
        /// The count in the file.
        value: i32,
        /// The largest count allowed.
        max: usize,
    },
    /// Something Core itself would refuse to read.
    #[error("peers.dat is malformed at byte {at}: {why}")]
    Malformed {
        /// Where.
        at: usize,
        /// What.
        why: String,
    },
    /// The file is larger than [`MAX_PEERS_DAT_LEN`].
    #[error("peers.dat is larger than {MAX_PEERS_DAT_LEN} bytes")]
    TooLarge,
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Reads a `peers.dat` file (at most [`MAX_PEERS_DAT_LEN`] bytes) for
/// [`AddrBook::import_peers_dat`]: the I/O happens before the book is locked.
pub fn read_peers_dat(path: &Path) -> Result<Vec<u8>, PeersDatError> {
    let io = |source| PeersDatError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut data = Vec::new();
    File::open(path)
        .map_err(io)?
        .take(MAX_PEERS_DAT_LEN + 1)
        .read_to_end(&mut data)
        .map_err(io)?;
    if data.len() as u64 > MAX_PEERS_DAT_LEN {
        return Err(PeersDatError::TooLarge);
    }
    Ok(data)
}

impl From<Truncated> for PeersDatError {
    fn from(t: Truncated) -> PeersDatError {
        PeersDatError::Truncated { at: t.at }
    }
}

/// What an import did. `new_entries + tried_entries` equals `added_new + added_tried +
/// not_admitted + unsupported + not_placed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeersDatImport {
    /// The file's format byte.
    pub format: u8,
    /// Entries in the file's new table.
    pub new_entries: usize,
    /// Entries in the file's tried table.
    pub tried_entries: usize,
    /// Entries put into this book's new table (tried ones whose tried slot was taken too).
    pub added_new: usize,
    /// Entries put into this book's tried table.
    pub added_tried: usize,
    /// Onion (Tor v3) entries in the file, admitted or not.
    pub onion: usize,
    /// Entries the book's [`Admission`](super::Admission) refused (onion when not admitted,
    /// unroutable, port 0).
    pub not_admitted: usize,
    /// Entries of networks the book does not hold (I2P, CJDNS, Tor v2, unknown, invalid).
    pub unsupported: usize,
    /// Entries already in the book, or whose slot a good entry holds.
    pub not_placed: usize,
}

impl PeersDatImport {
    /// Entries added to the book.
    pub fn added(&self) -> usize {
        self.added_new + self.added_tried
    }
}

/// An address as decoded from the file.
#[derive(Clone, Copy, Debug)]
enum Decoded {
    Addr(NetAddr),
    /// Core's internal address (a DNS seed's name hash), used as a source.
    Internal([u8; 10]),
    Unsupported,
}

struct CoreEntry {
    addr: Decoded,
    port: u16,
    time: u32,
    services: u64,
    source: Decoded,
    last_success: i64,
    attempts: i32,
}

struct Parsed {
    format: u8,
    new: Vec<CoreEntry>,
    tried: Vec<CoreEntry>,
}

impl AddrBook {
    /// Adds the addresses of a Bitcoin Core `peers.dat` (formats 0 to 4, and newer ones that
    /// declare themselves readable by format 4) of this book's network, at unix time `now`.
    /// Entries of Core's tried table go into this book's tried table when their slot is free,
    /// else into new. The whole file is checked (checksum included) before anything is added:
    /// on error the book is unchanged.
    pub fn import_peers_dat(
        &mut self,
        data: &[u8],
        now: u64,
    ) -> Result<PeersDatImport, PeersDatError> {
        let parsed = parse(data, self.network_magic)?;
        let mut out = PeersDatImport {
            format: parsed.format,
            new_entries: parsed.new.len(),
            tried_entries: parsed.tried.len(),
            ..PeersDatImport::default()
        };
        let tried = parsed.tried.iter().map(|e| (e, true));
        let new = parsed.new.iter().map(|e| (e, false));
        let mut placed = Vec::new();
        for (e, in_tried) in tried.chain(new) {
            let Decoded::Addr(net) = e.addr else {
                out.unsupported += 1;
                continue;
            };
            if net.is_onion() {
                out.onion += 1;
            }
            let addr = BookAddr::new(net, e.port);
            if !self.admission.admits(&addr) {
                out.not_admitted += 1;
                continue;
            }
            if self.index.contains_key(&addr) {
                out.not_placed += 1;
                continue;
            }
            let entry = AddrEntry {
                addr,
                services: ServiceFlags::from(e.services),
                source: match e.source {
                    Decoded::Addr(s) => Source::Peer(s),
                    Decoded::Internal(id) => Source::Seed(id),
                    Decoded::Unsupported => Source::Local,
                },
                last_seen: e.time,
                last_try: 0,
                last_success: u64::try_from(e.last_success).unwrap_or(0),
                attempts: u32::try_from(e.attempts).unwrap_or(0),
                in_tried: false,
            };
            if (in_tried && self.insert_tried(entry.clone())) || self.insert_new(entry, Some(now)) {
                placed.push(addr);
            } else {
                out.not_placed += 1;
            }
        }
        // A later entry of the file may have taken the slot of an earlier one (a terrible
        // entry gives way): count what the book holds now, not what was inserted.
        for addr in &placed {
            match self.get(addr) {
                Some(e) if e.in_tried => out.added_tried += 1,
                Some(_) => out.added_new += 1,
                None => out.not_placed += 1,
            }
        }
        Ok(out)
    }

    /// [`import_peers_dat`](Self::import_peers_dat) of the file at `path` (at most
    /// [`MAX_PEERS_DAT_LEN`] bytes).
    pub fn import_peers_dat_file(
        &mut self,
        path: &Path,
        now: u64,
    ) -> Result<PeersDatImport, PeersDatError> {
        let data = read_peers_dat(path)?;
        self.import_peers_dat(&data, now)
    }
}

fn malformed(at: usize, why: impl Into<String>) -> PeersDatError {
    PeersDatError::Malformed {
        at,
        why: why.into(),
    }
}

fn parse(data: &[u8], magic: [u8; 4]) -> Result<Parsed, PeersDatError> {
    let mut r = Reader::new(data);
    let found: [u8; 4] = r.array()?;
    if found != magic {
        return Err(PeersDatError::WrongNetwork {
            found,
            expected: magic,
        });
    }
    let format = r.u8()?;
    let compat = r.u8()?;
    if compat < INCOMPATIBILITY_BASE {
        return Err(PeersDatError::BadCompatibility(compat));
    }
    let lowest_compatible = compat - INCOMPATIBILITY_BASE;
    if lowest_compatible > NEWEST_FORMAT {
        return Err(PeersDatError::IncompatibleFormat {
            format,
            lowest_compatible,
        });
    }
    r.take(32)?; // key
    let n_new = r.i32_le()?;
    let n_tried = r.i32_le()?;
    let mut n_buckets = r.i32_le()?;
    if format >= 1 {
        n_buckets ^= 1 << 30;
    }
    let count = |what, value: i32, max: usize| {
        usize::try_from(value)
            .ok()
            .filter(|&v| v <= max)
            .ok_or(PeersDatError::CountOutOfRange { what, value, max })
    };
    let n_new = count("nNew", n_new, NEW_CAPACITY)?;
    let n_tried = count("nTried", n_tried, TRIED_CAPACITY)?;
    let mut new = Vec::new();
    for _ in 0..n_new {
        new.push(read_info(&mut r, format)?);
    }
    let mut tried = Vec::new();
    for _ in 0..n_tried {
        tried.push(read_info(&mut r, format)?);
    }
    // The new buckets' entry lists: read past them (entries are re-bucketed here).
    for _ in 0..n_buckets.max(0) {
        let at = r.pos();
        let entries = r.i32_le()?;
        let len = usize::try_from(entries.max(0)).unwrap_or(0) * 4;
        r.take(len).map_err(|_| Truncated { at })?;
    }
    if format >= 2 {
        r.take(32)?; // asmap checksum
    }
    let end = r.pos();
    let checksum: [u8; 32] = r.array()?;
    if sha256d(&data[..end]) != checksum {
        return Err(PeersDatError::BadChecksum);
    }
    Ok(Parsed { format, new, tried })
}

fn read_info(r: &mut Reader<'_>, format: u8) -> Result<CoreEntry, PeersDatError> {
    let at = r.pos();
    let version = r.u32_le()?;
    let addrv2 = match version & !DISK_VERSION_IGNORE_MASK {
        0 => false,
        DISK_VERSION_ADDRV2 if format >= 3 => true,
        _ => {
            return Err(malformed(
                at,
                format!("CAddress disk version {version:#x} in a format {format} file"),
            ))
        }
    };
    let time = r.u32_le()?;
    let services = if addrv2 {
        let at = r.pos();
        r.compact_size()?
            .ok_or_else(|| malformed(at, "non-canonical CompactSize"))?
    } else {
        r.u64_le()?
    };
    let addr = read_netaddr(r, addrv2)?;
    let port = r.u16_be()?;
    let source = read_netaddr(r, format >= 3)?;
    let last_success = r.i64_le()?;
    let attempts = r.i32_le()?;
    Ok(CoreEntry {
        addr,
        port,
        time,
        services,
        source,
        last_success,
        attempts,
    })
}

fn read_netaddr(r: &mut Reader<'_>, addrv2: bool) -> Result<Decoded, PeersDatError> {
    if !addrv2 {
        return Ok(classify_ipv6(r.array()?, true));
    }
    let at = r.pos();
    let id = r.u8()?;
    let len = r
        .compact_size()?
        .ok_or_else(|| malformed(at, "non-canonical CompactSize"))?;
    if len > MAX_ADDRV2_SIZE {
        return Err(malformed(at, format!("address of {len} bytes")));
    }
    let bytes = r.take(len as usize)?;
    let expected = match id {
        1 => 4,
        2 | 6 => 16,
        4 | 5 => 32,
        // Tor v2 (3, obsolete) and unknown networks: skipped, as Core does.
        _ => return Ok(Decoded::Unsupported),
    };
    if bytes.len() != expected {
        return Err(malformed(
            at,
            format!("network {id} address of {len} bytes, not {expected}"),
        ));
    }
    Ok(match id {
        1 | 4 => NetAddr::from_id_bytes(id, bytes).map_or(Decoded::Unsupported, Decoded::Addr),
        2 => match <[u8; 16]>::try_from(bytes) {
            Ok(b) => classify_ipv6(b, false),
            Err(_) => Decoded::Unsupported,
        },
        _ => Decoded::Unsupported, // I2P, CJDNS
    })
}

/// An IPv6 address as Core reads it: in the v1 encoding IPv4-mapped means IPv4; in the
/// addrv2 encoding it is invalid. Tor v2 in IPv6 is obsolete; Core's internal prefix carries
/// a DNS seed's name hash.
fn classify_ipv6(b: [u8; 16], v1: bool) -> Decoded {
    if b.starts_with(&IPV4_IN_IPV6) {
        if !v1 {
            return Decoded::Unsupported;
        }
        return Decoded::Addr(NetAddr::Ipv4([b[12], b[13], b[14], b[15]].into()));
    }
    if b.starts_with(&TORV2_IN_IPV6) {
        return Decoded::Unsupported;
    }
    if b.starts_with(&INTERNAL_IN_IPV6) {
        let mut id = [0u8; 10];
        id.copy_from_slice(&b[6..]);
        return Decoded::Internal(id);
    }
    Decoded::Addr(NetAddr::Ipv6(Ipv6Addr::from(b)))
}
