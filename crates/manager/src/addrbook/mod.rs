//! The address book: every address heard of, kept in bounded tables in the manner of Bitcoin
//! Core's addrman, from which outbound peers are chosen.
//!
//! # Tables
//!
//! - The **new** table holds addresses heard of: 1,024 buckets of 64 slots. An address's
//!   bucket is chosen by a keyed hash of its network group and the group of the source that
//!   told us about it; one source group reaches only 64 of the 1,024 buckets, whatever it
//!   sends and however often. Core lets one address sit in up to 8 new buckets (one per
//!   source that announced it); this book keeps **one** reference per address, the first
//!   source's, which keeps every entry in exactly one place.
//! - The **tried** table holds addresses we connected to ([`AddrBook::good`]): 256 buckets of
//!   64 slots; an address's bucket is chosen from the address (8 buckets per group).
//! - The slot in a bucket is a keyed hash of the bucket and the address (IP or onion key and
//!   port). The key is 256 random bits per book, saved with it.
//!
//! When an address hashes to a new slot that is taken, the occupant is evicted only if it is
//! terrible ([`AddrEntry::is_terrible`], Core's `IsTerrible`); otherwise the newcomer is
//! dropped. When [`AddrBook::good`] moves an address into a tried slot that is taken, the
//! occupant goes back to the new table (to its own new slot, replacing whatever is there), as
//! Core did before test-before-evict.
//!
//! The book therefore never holds more than 1,024 × 64 + 256 × 64 = 81,920 entries.
//!
//! # What is admitted
//!
//! IPv4, IPv6 and Tor v3 addresses with a non-zero port. [`Admission`] decides the rest: by
//! default only publicly routable IPs ([`crate::is_routable`]); onion addresses only when
//! [`Admission::onion`] is set (once an onion proxy is configured), local addresses only when
//! [`Admission::local`] is set (regtest, tests). I2P, CJDNS and Tor v2 addresses are refused.
//!
//! # Choosing
//!
//! [`AddrBook::select`] follows Core: new or tried with equal chance when both hold entries;
//! a random bucket and slot; the entry found is taken with probability [`AddrEntry::chance`]
//! times a factor that grows by 1.2 after each refusal. A caller's filter excludes addresses
//! (already connected, same group as a connected peer, bad port, network not reachable).
//!
//! # Files
//!
//! [`AddrBook::save`] and [`AddrBook::load`] keep the book in a file of this crate's own
//! format (see [`AddrBook::save`] for the layout); [`AddrBook::import_peers_dat`] reads a
//! Bitcoin Core `peers.dat`.
//!
//! The book is a plain synchronous structure: hold it behind a mutex.

mod codec;
mod peers_dat;
mod store;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::p2p::address::{AddrV2, AddrV2Message};
use bitcoin::p2p::ServiceFlags;
use rand::Rng;

use crate::address::{is_routable, network_group};
use crate::Network;

pub use peers_dat::{read_peers_dat, PeersDatError, PeersDatImport, MAX_PEERS_DAT_LEN};
pub use store::{LoadProblem, LoadWarning, Loaded};

/// Buckets in the new table (Core's `ADDRMAN_NEW_BUCKET_COUNT`).
pub const NEW_BUCKET_COUNT: usize = 1024;
/// Buckets in the tried table (Core's `ADDRMAN_TRIED_BUCKET_COUNT`).
pub const TRIED_BUCKET_COUNT: usize = 256;
/// Slots per bucket, in both tables (Core's `ADDRMAN_BUCKET_SIZE`).
pub const BUCKET_SIZE: usize = 64;
/// New buckets one source group can reach (Core's `ADDRMAN_NEW_BUCKETS_PER_SOURCE_GROUP`).
pub const NEW_BUCKETS_PER_SOURCE_GROUP: u64 = 64;
/// Tried buckets one address group can reach (Core's `ADDRMAN_TRIED_BUCKETS_PER_GROUP`).
pub const TRIED_BUCKETS_PER_GROUP: u64 = 8;
/// Most entries the new table holds.
pub const NEW_CAPACITY: usize = NEW_BUCKET_COUNT * BUCKET_SIZE;
/// Most entries the tried table holds.
pub const TRIED_CAPACITY: usize = TRIED_BUCKET_COUNT * BUCKET_SIZE;

const EMPTY: u32 = u32::MAX;
const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Core's `ADDRMAN_HORIZON_DAYS`.
const HORIZON: i64 = 30 * DAY;
/// Core's `ADDRMAN_RETRIES`.
const RETRIES: u32 = 3;
/// Core's `ADDRMAN_MAX_FAILURES`.
const MAX_FAILURES: u32 = 10;
/// Core's `ADDRMAN_MIN_FAIL_DAYS`.
const MIN_FAIL: i64 = 7 * DAY;
/// The penalty Core gives the time of an address relayed by another peer.
const RELAY_TIME_PENALTY: i64 = 2 * HOUR;
/// Random probes `select` makes before it falls back to scanning the table.
const SELECT_PROBES: usize = 2_048;

/// An address the book can hold: IPv4, IPv6 or a Tor v3 onion service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NetAddr {
    /// An IPv4 address (IPv4-mapped IPv6 addresses are stored as this).
    Ipv4(Ipv4Addr),
    /// An IPv6 address.
    Ipv6(Ipv6Addr),
    /// A Tor v3 onion service, by its 32-byte public key.
    TorV3([u8; 32]),
}

impl NetAddr {
    /// The address of an `addrv2` entry, if the book can hold its kind (IPv4, IPv6 or Tor v3;
    /// IPv4-mapped IPv6 becomes IPv4).
    pub fn from_addrv2(addr: &AddrV2) -> Option<NetAddr> {
        match addr {
            AddrV2::Ipv4(v4) => Some(NetAddr::Ipv4(*v4)),
            AddrV2::Ipv6(v6) => Some(NetAddr::from_ip(IpAddr::V6(*v6))),
            AddrV2::TorV3(key) => Some(NetAddr::TorV3(*key)),
            _ => None,
        }
    }

    /// An IP address, IPv4-mapped IPv6 as IPv4.
    pub fn from_ip(ip: IpAddr) -> NetAddr {
        match ip {
            IpAddr::V4(v4) => NetAddr::Ipv4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => NetAddr::Ipv4(v4),
                None => NetAddr::Ipv6(v6),
            },
        }
    }

    /// The `addrv2` form.
    pub fn to_addrv2(&self) -> AddrV2 {
        match *self {
            NetAddr::Ipv4(v4) => AddrV2::Ipv4(v4),
            NetAddr::Ipv6(v6) => AddrV2::Ipv6(v6),
            NetAddr::TorV3(key) => AddrV2::TorV3(key),
        }
    }

    /// The IP address, for IPv4 and IPv6.
    pub fn ip(&self) -> Option<IpAddr> {
        match *self {
            NetAddr::Ipv4(v4) => Some(IpAddr::V4(v4)),
            NetAddr::Ipv6(v6) => Some(IpAddr::V6(v6)),
            NetAddr::TorV3(_) => None,
        }
    }

    /// Whether this is an onion address.
    pub fn is_onion(&self) -> bool {
        matches!(self, NetAddr::TorV3(_))
    }

    /// The BIP155 network id: 1 IPv4, 2 IPv6, 4 Tor v3.
    pub fn network_id(&self) -> u8 {
        match self {
            NetAddr::Ipv4(_) => 1,
            NetAddr::Ipv6(_) => 2,
            NetAddr::TorV3(_) => 4,
        }
    }

    /// The address bytes (4, 16 or 32).
    pub(crate) fn bytes(&self) -> Vec<u8> {
        match self {
            NetAddr::Ipv4(v4) => v4.octets().to_vec(),
            NetAddr::Ipv6(v6) => v6.octets().to_vec(),
            NetAddr::TorV3(key) => key.to_vec(),
        }
    }

    /// Builds an address from a BIP155 network id and its bytes.
    pub(crate) fn from_id_bytes(id: u8, bytes: &[u8]) -> Option<NetAddr> {
        match (id, bytes.len()) {
            (1, 4) => <[u8; 4]>::try_from(bytes)
                .ok()
                .map(|b| NetAddr::Ipv4(Ipv4Addr::from(b))),
            (2, 16) => <[u8; 16]>::try_from(bytes)
                .ok()
                .map(|b| NetAddr::Ipv6(Ipv6Addr::from(b))),
            (4, 32) => <[u8; 32]>::try_from(bytes).ok().map(NetAddr::TorV3),
            _ => None,
        }
    }

    /// The network group: /16 for IPv4 and /32 for IPv6 ([`crate::network_group`]); for an
    /// onion address `'o'` and the key's first four bits, as Core groups them.
    pub fn group(&self) -> Vec<u8> {
        match self {
            NetAddr::Ipv4(v4) => network_group(IpAddr::V4(*v4)),
            NetAddr::Ipv6(v6) => network_group(IpAddr::V6(*v6)),
            NetAddr::TorV3(key) => vec![b'o', key[0] & 0xf0],
        }
    }
}

impl fmt::Display for NetAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetAddr::Ipv4(v4) => write!(f, "{v4}"),
            NetAddr::Ipv6(v6) => write!(f, "{v6}"),
            NetAddr::TorV3(key) => f.write_str(&crate::address::onion_host(key)),
        }
    }
}

/// An address and port: what the book is keyed by (the same IP with two ports is two
/// entries, as in Core since its multiport format).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BookAddr {
    /// The address.
    pub net: NetAddr,
    /// The port.
    pub port: u16,
}

impl BookAddr {
    /// An address and port.
    pub fn new(net: NetAddr, port: u16) -> BookAddr {
        BookAddr { net, port }
    }

    /// The socket address to dial directly (IPv4, IPv6); `None` for onion addresses.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.net.ip().map(|ip| SocketAddr::new(ip, self.port))
    }

    /// The bytes the slot hash and the tried bucket are computed from.
    fn key_bytes(&self) -> Vec<u8> {
        let mut out = vec![self.net.network_id()];
        out.extend(self.net.bytes());
        out.extend(self.port.to_be_bytes());
        out
    }
}

impl From<SocketAddr> for BookAddr {
    fn from(sock: SocketAddr) -> BookAddr {
        BookAddr::new(NetAddr::from_ip(sock.ip()), sock.port())
    }
}

impl fmt::Display for BookAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.net {
            NetAddr::Ipv6(v6) => write!(f, "[{v6}]:{}", self.port),
            other => write!(f, "{other}:{}", self.port),
        }
    }
}

/// Who told us about an address. Its group, with the address's, picks the new bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A peer, in an `addr` or `addrv2` message (or a Core `peers.dat` entry's source).
    Peer(NetAddr),
    /// A DNS seed, by the first 10 bytes of the SHA-256 of its name ([`Source::seed`]); each
    /// seed is its own group, as Core's "internal" addresses are.
    Seed([u8; 10]),
    /// This node: addresses the user gave, or whose source is unknown.
    Local,
}

impl Source {
    /// The source for addresses a DNS seed answered.
    pub fn seed(name: &str) -> Source {
        use bitcoin::hashes::sha256;
        let digest = sha256::Hash::hash(name.to_ascii_lowercase().as_bytes()).to_byte_array();
        let mut id = [0u8; 10];
        id.copy_from_slice(&digest[..10]);
        Source::Seed(id)
    }

    /// The source group (the address group of a peer; one group per seed; one for local).
    pub fn group(&self) -> Vec<u8> {
        match self {
            Source::Peer(addr) => addr.group(),
            Source::Seed(id) => {
                let mut g = vec![b's'];
                g.extend(id);
                g
            }
            Source::Local => vec![0],
        }
    }
}

/// Which addresses the book takes in. The default admits publicly routable IPv4 and IPv6.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Admission {
    /// Admit Tor v3 onion addresses (set it once an onion proxy is configured).
    pub onion: bool,
    /// Admit IPs that are not publicly routable (loopback, private ranges): for regtest and
    /// tests. The unspecified address is never admitted.
    pub local: bool,
}

impl Admission {
    /// Whether `addr` may enter the book.
    pub fn admits(&self, addr: &BookAddr) -> bool {
        if addr.port == 0 {
            return false;
        }
        match addr.net.ip() {
            None => self.onion,
            Some(ip) => !ip.is_unspecified() && (self.local || is_routable(ip)),
        }
    }
}

/// What the book knows of one address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrEntry {
    /// The address and port.
    pub addr: BookAddr,
    /// The services last announced for it (announcements are OR-ed together).
    pub services: ServiceFlags,
    /// Who first told us about it.
    pub source: Source,
    /// When it was last seen, as announced (unix seconds, clamped and penalised as Core
    /// does: see [`AddrBook::add`]).
    pub last_seen: u32,
    /// When we last tried to connect (unix seconds, 0 never).
    pub last_try: u64,
    /// When we last connected successfully (unix seconds, 0 never).
    pub last_success: u64,
    /// Connection attempts since the last success.
    pub attempts: u32,
    /// Whether it is in the tried table.
    pub in_tried: bool,
}

impl AddrEntry {
    /// Core's `IsTerrible`: not worth keeping when its slot is wanted. Never if tried in the
    /// last minute; otherwise yes if its time is more than 10 minutes in the future, it was
    /// not seen for 30 days, it never succeeded in 3 attempts, or its last success is more
    /// than 7 days old and 10 attempts failed since.
    pub fn is_terrible(&self, now: u64) -> bool {
        let now = clamp_i64(now);
        let last_try = clamp_i64(self.last_try);
        let seen = i64::from(self.last_seen);
        if last_try != 0 && last_try >= now - MINUTE {
            return false;
        }
        if seen > now + 10 * MINUTE {
            return true;
        }
        if now - seen > HORIZON {
            return true;
        }
        if self.last_success == 0 && self.attempts >= RETRIES {
            return true;
        }
        now - clamp_i64(self.last_success) > MIN_FAIL && self.attempts >= MAX_FAILURES
    }

    /// Core's `GetChance`: 1, times 0.01 if tried in the last 10 minutes, times
    /// 0.66^min(attempts, 8).
    pub fn chance(&self, now: u64) -> f64 {
        let since_try = clamp_i64(now)
            .saturating_sub(clamp_i64(self.last_try))
            .max(0);
        let mut chance = 1.0;
        if since_try < 10 * MINUTE {
            chance *= 0.01;
        }
        chance * 0.66f64.powi(self.attempts.min(8) as i32)
    }
}

fn clamp_i64(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// Where an entry sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Position {
    /// In the new table.
    New {
        /// Bucket, `0..1024`.
        bucket: usize,
        /// Slot, `0..64`.
        slot: usize,
    },
    /// In the tried table.
    Tried {
        /// Bucket, `0..256`.
        bucket: usize,
        /// Slot, `0..64`.
        slot: usize,
    },
}

/// Entries of one kind of network, or one network group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// In the new table.
    pub new: usize,
    /// In the tried table.
    pub tried: usize,
}

/// A snapshot of the book's sizes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BookStats {
    /// Entries in the new table.
    pub new: usize,
    /// Entries in the tried table.
    pub tried: usize,
    /// Entries per kind of network: `"ipv4"`, `"ipv6"`, `"onion"`.
    pub networks: BTreeMap<&'static str, Counts>,
    /// Entries per network group ([`NetAddr::group`]).
    pub groups: BTreeMap<Vec<u8>, Counts>,
}

#[derive(Clone, Debug)]
struct Slot {
    entry: AddrEntry,
    /// Core's `nLastCountAttempt`: when an attempt was last counted.
    last_count_attempt: u64,
    bucket: u16,
    pos: u8,
}

/// The address book. See the [module documentation](self).
#[derive(Clone)]
pub struct AddrBook {
    network_magic: [u8; 4],
    key: [u8; 32],
    admission: Admission,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    index: HashMap<BookAddr, u32>,
    new_table: Vec<u32>,
    tried_table: Vec<u32>,
    n_new: usize,
    n_tried: usize,
    /// Core's `nLastGood`: when `good` was last called (1 at first, as in Core).
    last_good: u64,
}

impl fmt::Debug for AddrBook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddrBook")
            .field("network_magic", &self.network_magic)
            .field("new", &self.n_new)
            .field("tried", &self.n_tried)
            .field("admission", &self.admission)
            .finish_non_exhaustive()
    }
}

impl AddrBook {
    /// An empty book for `network`, with a random key.
    pub fn new(network: Network) -> AddrBook {
        AddrBook::with_key(network, rand::random())
    }

    /// An empty book with the given bucketing key (for tests and reproducible layouts).
    pub fn with_key(network: Network, key: [u8; 32]) -> AddrBook {
        AddrBook::with_magic(network.magic(), key)
    }

    fn with_magic(network_magic: [u8; 4], key: [u8; 32]) -> AddrBook {
        AddrBook {
            network_magic,
            key,
            admission: Admission::default(),
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::new(),
            new_table: vec![EMPTY; NEW_CAPACITY],
            tried_table: vec![EMPTY; TRIED_CAPACITY],
            n_new: 0,
            n_tried: 0,
            last_good: 1,
        }
    }

    /// The network's magic bytes, written into saved files.
    pub fn network_magic(&self) -> [u8; 4] {
        self.network_magic
    }

    /// Which addresses the book takes in (not saved: set it after loading).
    pub fn admission(&self) -> Admission {
        self.admission
    }

    /// Sets which addresses the book takes in from now on; entries already held stay (the
    /// caller's `select` filter can skip them).
    pub fn set_admission(&mut self, admission: Admission) {
        self.admission = admission;
    }

    /// Entries in the new table.
    pub fn len_new(&self) -> usize {
        self.n_new
    }

    /// Entries in the tried table.
    pub fn len_tried(&self) -> usize {
        self.n_tried
    }

    /// All entries.
    pub fn len(&self) -> usize {
        self.n_new + self.n_tried
    }

    /// Whether the book holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry for an address, if the book holds it.
    pub fn get(&self, addr: &BookAddr) -> Option<&AddrEntry> {
        let id = *self.index.get(addr)?;
        self.slot(id).map(|s| &s.entry)
    }

    /// Where the book holds an address.
    pub fn position(&self, addr: &BookAddr) -> Option<Position> {
        let slot = self.slot(*self.index.get(addr)?)?;
        let (bucket, slot_no) = (usize::from(slot.bucket), usize::from(slot.pos));
        Some(if slot.entry.in_tried {
            Position::Tried {
                bucket,
                slot: slot_no,
            }
        } else {
            Position::New {
                bucket,
                slot: slot_no,
            }
        })
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &AddrEntry> + '_ {
        self.slots.iter().flatten().map(|s| &s.entry)
    }

    /// Sizes of both tables, per kind of network and per network group.
    pub fn stats(&self) -> BookStats {
        let mut stats = BookStats {
            new: self.n_new,
            tried: self.n_tried,
            ..BookStats::default()
        };
        for e in self.entries() {
            let net = match e.addr.net {
                NetAddr::Ipv4(_) => "ipv4",
                NetAddr::Ipv6(_) => "ipv6",
                NetAddr::TorV3(_) => "onion",
            };
            for c in [
                stats.networks.entry(net).or_default(),
                stats.groups.entry(e.addr.net.group()).or_default(),
            ] {
                if e.in_tried {
                    c.tried += 1;
                } else {
                    c.new += 1;
                }
            }
        }
        stats
    }

    /// Adds the addresses of an `addr`/`addrv2` message (or a DNS seed's answer) heard from
    /// `source`, at unix time `now`; returns how many were new to the book.
    ///
    /// As Core: an announced time at or before 1973 (100,000,000) or more than 10 minutes in
    /// the future becomes five days ago; addresses relayed by a peer about another address
    /// lose two hours (a peer announcing itself does not). Addresses the [`Admission`]
    /// refuses, of other kinds (I2P, CJDNS) or with port 0 are skipped. An address already
    /// held gets the announced services OR-ed in and its time refreshed (if more than an hour
    /// newer, a day if the announced time is over a day old), and stays where it is.
    pub fn add(&mut self, addrs: &[AddrV2Message], source: &Source, now: u64) -> usize {
        let now_i = clamp_i64(now);
        let mut added = 0;
        for msg in addrs {
            let Some(net) = NetAddr::from_addrv2(&msg.addr) else {
                continue;
            };
            let addr = BookAddr::new(net, msg.port);
            if !self.admission.admits(&addr) {
                continue;
            }
            let mut time = i64::from(msg.time);
            if time <= 100_000_000 || time > now_i + 10 * MINUTE {
                time = now_i - 5 * DAY;
            }
            let penalty = match source {
                Source::Peer(s) if *s != net => RELAY_TIME_PENALTY,
                _ => 0,
            };
            if self.add_one(addr, msg.services, time, penalty, *source, now) {
                added += 1;
            }
        }
        added
    }

    /// Adds the entries of `other` that this book does not hold, each to the table it is in
    /// there (a tried entry whose tried slot is taken here goes to "new"), keeping what is
    /// known of it. Returns how many this book now holds. Used when a book file is loaded at
    /// `start` while addresses were already given to the client (a `peers.dat` import).
    pub fn merge(&mut self, other: &AddrBook, now: u64) -> usize {
        let mut taken = 0;
        for entry in other.entries() {
            if !self.admission.admits(&entry.addr) || self.index.contains_key(&entry.addr) {
                continue;
            }
            let placed = (entry.in_tried && self.insert_tried(entry.clone()))
                || self.insert_new(
                    AddrEntry {
                        in_tried: false,
                        ..entry.clone()
                    },
                    Some(now),
                );
            if placed {
                taken += 1;
            }
        }
        taken
    }

    /// Core's `AddSingle`, with one new-table reference per address.
    fn add_one(
        &mut self,
        addr: BookAddr,
        services: ServiceFlags,
        time: i64,
        penalty: i64,
        source: Source,
        now: u64,
    ) -> bool {
        if let Some(&id) = self.index.get(&addr) {
            if let Some(slot) = self.slot_mut(id) {
                let e = &mut slot.entry;
                let online = clamp_i64(now) - time < DAY;
                let interval = if online { HOUR } else { DAY };
                if i64::from(e.last_seen) < time - interval - penalty {
                    e.last_seen = to_u32_time(time - penalty);
                }
                e.services |= services;
            }
            return false;
        }
        let entry = AddrEntry {
            addr,
            services,
            source,
            last_seen: to_u32_time(time - penalty),
            last_try: 0,
            last_success: 0,
            attempts: 0,
            in_tried: false,
        };
        self.insert_new(entry, Some(now))
    }

    /// Puts a new entry (not yet held) into its new slot, evicting an occupant terrible at
    /// `now` (none if `now` is `None`); returns false (and drops it) if the occupant stays.
    fn insert_new(&mut self, entry: AddrEntry, now: Option<u64>) -> bool {
        let bucket = self.new_bucket(&entry.addr, &entry.source);
        let pos = self.slot_pos(true, bucket, &entry.addr);
        let cell = bucket * BUCKET_SIZE + pos;
        let occupant = self.new_table[cell];
        if occupant != EMPTY {
            let terrible = self
                .slot(occupant)
                .is_none_or(|s| now.is_some_and(|now| s.entry.is_terrible(now)));
            if !terrible {
                return false;
            }
            self.clear_new(cell);
        }
        let id = self.alloc(entry, bucket, pos);
        self.new_table[cell] = id;
        self.n_new += 1;
        true
    }

    /// Puts an entry (not yet held) straight into its tried slot if that is free.
    fn insert_tried(&mut self, mut entry: AddrEntry) -> bool {
        let bucket = self.tried_bucket(&entry.addr);
        let pos = self.slot_pos(false, bucket, &entry.addr);
        let cell = bucket * BUCKET_SIZE + pos;
        if self.tried_table[cell] != EMPTY {
            return false;
        }
        entry.in_tried = true;
        let id = self.alloc(entry, bucket, pos);
        self.tried_table[cell] = id;
        self.n_tried += 1;
        true
    }

    /// Records a connection attempt to `addr` at `now`. With `count_failure`, it counts as a
    /// failed attempt until [`good`](Self::good) resets the count, as Core's `Attempt`; an
    /// address's attempts are counted at most once per call of `good` on any address, so an
    /// outage of our own does not count against every address tried meanwhile. Returns
    /// whether the book holds `addr`.
    pub fn attempt(&mut self, addr: &BookAddr, count_failure: bool, now: u64) -> bool {
        let last_good = self.last_good;
        let Some(slot) = self.slot_of_mut(addr) else {
            return false;
        };
        slot.entry.last_try = now;
        if count_failure && slot.last_count_attempt < last_good {
            slot.last_count_attempt = now;
            slot.entry.attempts = slot.entry.attempts.saturating_add(1);
        }
        true
    }

    /// Replaces the services recorded for `addr` (what the peer said of itself in its
    /// `version`, as Core's `SetServices`). Returns whether the book holds `addr`.
    pub fn set_services(&mut self, addr: &BookAddr, services: ServiceFlags) -> bool {
        let Some(slot) = self.slot_of_mut(addr) else {
            return false;
        };
        slot.entry.services = services;
        true
    }

    /// The slot holding `addr`, if the book holds it.
    fn slot_of_mut(&mut self, addr: &BookAddr) -> Option<&mut Slot> {
        let id = self.index.get(addr).copied()?;
        self.slot_mut(id)
    }

    /// Records a successful connection (handshake done) to `addr` at `now`: resets its
    /// attempts and moves it to the tried table. If its tried slot is taken, the occupant goes
    /// back to the new table, into its own new slot (whatever is there is dropped). Returns
    /// whether the entry moved to tried (false if unknown or already there).
    pub fn good(&mut self, addr: &BookAddr, now: u64) -> bool {
        self.last_good = now;
        let Some(id) = self.index.get(addr).copied() else {
            return false;
        };
        let (was_tried, old_cell) = match self.slot_mut(id) {
            Some(slot) => {
                slot.entry.last_success = now;
                slot.entry.last_try = now;
                slot.entry.attempts = 0;
                (
                    slot.entry.in_tried,
                    usize::from(slot.bucket) * BUCKET_SIZE + usize::from(slot.pos),
                )
            }
            None => return false,
        };
        if was_tried {
            return false;
        }
        // Out of the new table.
        self.new_table[old_cell] = EMPTY;
        self.n_new -= 1;

        let bucket = self.tried_bucket(addr);
        let pos = self.slot_pos(false, bucket, addr);
        let cell = bucket * BUCKET_SIZE + pos;
        let evicted = self.tried_table[cell];
        if evicted != EMPTY {
            self.tried_table[cell] = EMPTY;
            self.n_tried -= 1;
            self.demote(evicted);
        }
        self.tried_table[cell] = id;
        self.n_tried += 1;
        if let Some(slot) = self.slot_mut(id) {
            slot.entry.in_tried = true;
            slot.bucket = bucket as u16;
            slot.pos = pos as u8;
        }
        true
    }

    /// Moves an entry that has just left the tried table into its new slot.
    fn demote(&mut self, id: u32) {
        let Some((addr, source)) = self.slot(id).map(|s| (s.entry.addr, s.entry.source)) else {
            return;
        };
        let bucket = self.new_bucket(&addr, &source);
        let pos = self.slot_pos(true, bucket, &addr);
        let cell = bucket * BUCKET_SIZE + pos;
        self.clear_new(cell);
        self.new_table[cell] = id;
        self.n_new += 1;
        if let Some(slot) = self.slot_mut(id) {
            slot.entry.in_tried = false;
            slot.bucket = bucket as u16;
            slot.pos = pos as u8;
        }
    }

    /// Drops whatever entry occupies a new-table cell.
    fn clear_new(&mut self, cell: usize) {
        let id = self.new_table[cell];
        if id == EMPTY {
            return;
        }
        self.new_table[cell] = EMPTY;
        self.n_new -= 1;
        if let Some(slot) = self.slots.get_mut(id as usize).and_then(Option::take) {
            self.index.remove(&slot.entry.addr);
            self.free.push(id);
        }
    }

    /// Chooses an address to connect to, as Core's `Select`: new or tried with equal chance
    /// when both hold entries, then random buckets and slots, an entry taken with probability
    /// [`AddrEntry::chance`] times a factor that starts at 1 and grows by 1.2 after each
    /// refusal. Entries `filter` rejects are never returned. After 2,048 random probes
    /// without success (a sparse table, or a filter that rejects most entries) it scans the
    /// table and draws among the entries the filter accepts, weighted by their chance; if
    /// none, it tries the other table. `None` when no entry passes the filter.
    pub fn select<R, F>(&self, now: u64, rng: &mut R, mut filter: F) -> Option<AddrEntry>
    where
        R: Rng + ?Sized,
        F: FnMut(&AddrEntry) -> bool,
    {
        let tables: &[bool] = match (self.n_new > 0, self.n_tried > 0) {
            (true, true) if rng.gen_bool(0.5) => &[true, false],
            (true, true) => &[false, true],
            (false, true) => &[true],
            (true, false) => &[false],
            (false, false) => return None,
        };
        for &tried in tables {
            if let Some(e) = self.select_from(tried, now, rng, &mut filter) {
                return Some(e.clone());
            }
        }
        None
    }

    fn select_from<R, F>(
        &self,
        tried: bool,
        now: u64,
        rng: &mut R,
        filter: &mut F,
    ) -> Option<&AddrEntry>
    where
        R: Rng + ?Sized,
        F: FnMut(&AddrEntry) -> bool,
    {
        let (table, buckets) = if tried {
            (&self.tried_table, TRIED_BUCKET_COUNT)
        } else {
            (&self.new_table, NEW_BUCKET_COUNT)
        };
        let mut factor = 1.0f64;
        for _ in 0..SELECT_PROBES {
            let bucket = rng.gen_range(0..buckets);
            let start = rng.gen_range(0..BUCKET_SIZE);
            let found = (0..BUCKET_SIZE)
                .map(|i| table[bucket * BUCKET_SIZE + (start + i) % BUCKET_SIZE])
                .find(|&id| id != EMPTY);
            let Some(entry) = found.and_then(|id| self.slot(id)).map(|s| &s.entry) else {
                continue;
            };
            if !filter(entry) {
                continue;
            }
            if rng.gen::<f64>() < factor * entry.chance(now) {
                return Some(entry);
            }
            factor *= 1.2;
        }
        // Fallback: draw among every acceptable entry of this table, weighted by chance.
        let candidates: Vec<&AddrEntry> = table
            .iter()
            .filter(|&&id| id != EMPTY)
            .filter_map(|&id| self.slot(id).map(|s| &s.entry))
            .filter(|e| filter(e))
            .collect();
        let total: f64 = candidates.iter().map(|e| e.chance(now)).sum();
        let mut pick = rng.gen::<f64>() * total;
        for e in &candidates {
            pick -= e.chance(now);
            if pick <= 0.0 {
                return Some(e);
            }
        }
        candidates.last().copied()
    }

    /// Checks the book's internal consistency: every entry in exactly one slot of the table
    /// its flag names, at the position its hash gives, the index and the counts agreeing.
    /// Returns what is wrong. For tests; it walks the whole book.
    pub fn check(&self) -> Result<(), String> {
        let mut seen = vec![0u8; self.slots.len()];
        for (tried, table) in [(false, &self.new_table), (true, &self.tried_table)] {
            let mut count = 0;
            for (cell, &id) in table.iter().enumerate() {
                if id == EMPTY {
                    continue;
                }
                count += 1;
                let Some(slot) = self.slot(id) else {
                    return Err(format!("cell {cell} names missing entry {id}"));
                };
                if slot.entry.in_tried != tried {
                    return Err(format!("{} in the wrong table", slot.entry.addr));
                }
                let (bucket, pos) = (cell / BUCKET_SIZE, cell % BUCKET_SIZE);
                if (usize::from(slot.bucket), usize::from(slot.pos)) != (bucket, pos) {
                    return Err(format!("{} records another position", slot.entry.addr));
                }
                let want_bucket = if tried {
                    self.tried_bucket(&slot.entry.addr)
                } else {
                    self.new_bucket(&slot.entry.addr, &slot.entry.source)
                };
                let want_pos = self.slot_pos(!tried, want_bucket, &slot.entry.addr);
                if (want_bucket, want_pos) != (bucket, pos) {
                    return Err(format!("{} is not where its hash puts it", slot.entry.addr));
                }
                if self.index.get(&slot.entry.addr) != Some(&id) {
                    return Err(format!("index disagrees for {}", slot.entry.addr));
                }
                seen[id as usize] += 1;
            }
            let expected = if tried { self.n_tried } else { self.n_new };
            if count != expected {
                return Err(format!(
                    "{} table holds {count}, counted {expected}",
                    if tried { "tried" } else { "new" }
                ));
            }
        }
        for (id, slot) in self.slots.iter().enumerate() {
            match (slot.is_some(), seen[id]) {
                (true, 1) | (false, 0) => {}
                (true, n) => return Err(format!("entry {id} is in {n} slots")),
                (false, _) => return Err(format!("free entry {id} is in a table")),
            }
        }
        if self.index.len() != self.len() {
            return Err(format!(
                "index holds {}, tables {}",
                self.index.len(),
                self.len()
            ));
        }
        if self.free.len() + self.len() != self.slots.len() {
            return Err("free list disagrees".into());
        }
        Ok(())
    }

    fn slot(&self, id: u32) -> Option<&Slot> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    fn slot_mut(&mut self, id: u32) -> Option<&mut Slot> {
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }

    fn alloc(&mut self, entry: AddrEntry, bucket: usize, pos: usize) -> u32 {
        let addr = entry.addr;
        let slot = Slot {
            entry,
            last_count_attempt: 0,
            bucket: bucket as u16,
            pos: pos as u8,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(slot);
                id
            }
            None => {
                self.slots.push(Some(slot));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(addr, id);
        id
    }

    /// Core's `GetCheapHash` of the keyed double SHA-256 of `parts`: its first 8 bytes as a
    /// little-endian integer. Variable-length parts are length-prefixed.
    fn hash(&self, parts: &[&[u8]]) -> u64 {
        let mut engine = sha256d::Hash::engine();
        engine.input(&self.key);
        for part in parts {
            engine.input(&[part.len() as u8]);
            engine.input(part);
        }
        let digest = sha256d::Hash::from_engine(engine).to_byte_array();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }

    /// The group an address is bucketed by: its network group ([`NetAddr::group`]), except
    /// for addresses that are not publicly routable (admitted only with
    /// [`Admission::local`], on regtest and simulated networks): each of those is a group of
    /// its own, address and port. Core puts all local addresses in one group, so that nodes
    /// on one machine, told by one source, share 64 slots of one bucket and two of them
    /// collide in one slot 1 time in 64; a test network of nodes on 127.0.0.1 would then lose
    /// nodes at random.
    fn bucket_group(addr: &BookAddr) -> Vec<u8> {
        match addr.net.ip() {
            Some(ip) if !is_routable(ip) => {
                let mut g = vec![b'l'];
                match ip {
                    IpAddr::V4(v4) => g.extend_from_slice(&v4.octets()),
                    IpAddr::V6(v6) => g.extend_from_slice(&v6.octets()),
                }
                g.extend_from_slice(&addr.port.to_le_bytes());
                g
            }
            _ => addr.net.group(),
        }
    }

    fn new_bucket(&self, addr: &BookAddr, source: &Source) -> usize {
        let src_group = source.group();
        let h1 = self.hash(&[&Self::bucket_group(addr), &src_group]) % NEW_BUCKETS_PER_SOURCE_GROUP;
        (self.hash(&[&src_group, &h1.to_le_bytes()]) % NEW_BUCKET_COUNT as u64) as usize
    }

    fn tried_bucket(&self, addr: &BookAddr) -> usize {
        let h1 = self.hash(&[&addr.key_bytes()]) % TRIED_BUCKETS_PER_GROUP;
        (self.hash(&[&Self::bucket_group(addr), &h1.to_le_bytes()]) % TRIED_BUCKET_COUNT as u64)
            as usize
    }

    fn slot_pos(&self, new: bool, bucket: usize, addr: &BookAddr) -> usize {
        let tag = [if new { b'N' } else { b'K' }];
        let bucket = (bucket as u32).to_le_bytes();
        (self.hash(&[&tag, &bucket, &addr.key_bytes()]) % BUCKET_SIZE as u64) as usize
    }
}

fn to_u32_time(t: i64) -> u32 {
    u32::try_from(t.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
