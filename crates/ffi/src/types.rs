//! The plain C data types handed to callbacks and events, the enums C passes as integers, and
//! their conversions from the manager's and the `bitcoin` crate's types.
//!
//! Hashes are 32 bytes in internal byte order, as on the wire (rust-bitcoin's
//! `to_byte_array()`); block explorers print them reversed (see `btcclient_hash_to_hex`).

use std::ffi::CString;

use btcclient_manager::bitcoin::block::Header;
use btcclient_manager::bitcoin::hashes::Hash;
use btcclient_manager::bitcoin::p2p::address::{AddrV2, AddrV2Message};
use btcclient_manager::bitcoin::p2p::message_blockdata::Inventory;
use btcclient_manager::bitcoin::{BlockHash, Txid, Wtxid};
use btcclient_manager::{DisconnectReason, ManagedPeer, Network, PeerStatus};

/// `btcclient_inv.type`: an error entry (ignored by peers).
pub const BTCCLIENT_INV_ERROR: u32 = 0;
/// `btcclient_inv.type`: a transaction, by txid.
pub const BTCCLIENT_INV_TX: u32 = 1;
/// `btcclient_inv.type`: a block, by hash.
pub const BTCCLIENT_INV_BLOCK: u32 = 2;
/// `btcclient_inv.type`: a filtered (BIP37 merkle) block, by hash.
pub const BTCCLIENT_INV_FILTERED_BLOCK: u32 = 3;
/// `btcclient_inv.type`: a compact block (BIP152), by hash.
pub const BTCCLIENT_INV_CMPCT_BLOCK: u32 = 4;
/// `btcclient_inv.type`: a transaction, by wtxid (BIP339).
pub const BTCCLIENT_INV_WTX: u32 = 5;
/// `btcclient_inv.type`: a transaction with witness, by txid (BIP144).
pub const BTCCLIENT_INV_WITNESS_TX: u32 = 0x4000_0001;
/// `btcclient_inv.type`: a block with witnesses, by hash (BIP144).
pub const BTCCLIENT_INV_WITNESS_BLOCK: u32 = 0x4000_0002;

/// The network a client speaks (`btcclient_config.network`).
#[repr(u32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum btcclient_network {
    /// Bitcoin mainnet (port 8333).
    Mainnet = 0,
    /// testnet3 (port 18333).
    Testnet3 = 1,
    /// testnet4 (port 48333).
    Testnet4 = 2,
    /// signet (port 38333).
    Signet = 3,
    /// regtest (port 18444).
    Regtest = 4,
    /// A private network identified by `btcclient_config.custom_magic`.
    Custom = 5,
}

impl btcclient_network {
    /// The value with this number, if any.
    pub fn from_u32(value: u32) -> Option<btcclient_network> {
        Some(match value {
            0 => btcclient_network::Mainnet,
            1 => btcclient_network::Testnet3,
            2 => btcclient_network::Testnet4,
            3 => btcclient_network::Signet,
            4 => btcclient_network::Regtest,
            5 => btcclient_network::Custom,
            _ => return None,
        })
    }

    /// The manager's network (custom ones with their magic).
    pub fn to_network(self, magic: [u8; 4]) -> Network {
        match self {
            btcclient_network::Mainnet => Network::Mainnet,
            btcclient_network::Testnet3 => Network::Testnet3,
            btcclient_network::Testnet4 => Network::Testnet4,
            btcclient_network::Signet => Network::Signet,
            btcclient_network::Regtest => Network::Regtest,
            btcclient_network::Custom => Network::Custom(magic),
        }
    }
}

/// How callbacks are delivered (`btcclient_config.delivery`).
#[repr(u32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum btcclient_delivery {
    /// One callback at a time, from one dispatcher thread, in each peer's message order: C
    /// code needs no locks. The default.
    Serialized = 0,
    /// Concurrently across peers (one at a time per peer, in its order), from a pool of
    /// threads: a slow callback slows only its own peer. Callbacks must be thread-safe.
    Concurrent = 1,
}

/// The transport policy of `btcclient_config.transport`.
#[repr(u32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum btcclient_transport {
    /// BIP324 v2 (encrypted) to peers the program added and to discovered addresses that
    /// advertise `NODE_P2P_V2`, v1 to the others; a peer that closes on our v2 key without a
    /// byte is dialled again at once over v1 (not a failure) and spoken to over v1 from then
    /// on, as Bitcoin Core does. The default.
    V2Preferred = 0,
    /// Plaintext v1 only.
    V1Only = 1,
    /// v2 only: a peer that does not speak v2 fails to connect.
    V2Only = 2,
}

/// The transport of a connection, in `btcclient_peer_snapshot.transport`.
#[repr(u32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum btcclient_transport_kind {
    /// The peer has not connected yet.
    None = 0,
    /// Plaintext v1.
    V1 = 1,
    /// BIP324 v2.
    V2 = 2,
}

/// A peer's state in a `btcclient_peer_snapshot`.
#[repr(u32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum btcclient_peer_status {
    /// Not connected: not yet dialled, between attempts, or after a disconnect.
    Disconnected = 0,
    /// Dialling or in the version/verack handshake.
    Connecting = 1,
    /// The handshake finished; messages flow.
    Connected = 2,
    /// `max_failure_count` consecutive failures.
    Unhealthy = 3,
}

impl From<PeerStatus> for btcclient_peer_status {
    fn from(s: PeerStatus) -> Self {
        match s {
            PeerStatus::Disconnected => btcclient_peer_status::Disconnected,
            PeerStatus::Connecting => btcclient_peer_status::Connecting,
            PeerStatus::Connected => btcclient_peer_status::Connected,
            PeerStatus::Unhealthy => btcclient_peer_status::Unhealthy,
        }
    }
}

/// Why a connected peer was disconnected (the `reason` of the disconnect callback and event).
#[repr(u32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum btcclient_disconnect_reason {
    /// A reason this version does not know by number; the text says what it is.
    Other = 0,
    /// `btcclient_client_remove_peer` was called.
    Removed = 1,
    /// The client was stopped.
    Stopped = 2,
    /// The peer closed the connection.
    RemoteClosed = 3,
    /// No pong arrived within the pong timeout.
    PingTimeout = 4,
    /// The peer did not take our bytes within the write timeout.
    WriteTimeout = 5,
    /// The peer broke the protocol; the text says how.
    ProtocolViolation = 6,
    /// An I/O error on the socket; the text says which.
    Io = 7,
    /// A discovered peer dropped by the health check.
    Unhealthy = 8,
    /// A discovered peer removed to make room for a peer the program added.
    Evicted = 9,
}

impl From<&DisconnectReason> for btcclient_disconnect_reason {
    fn from(r: &DisconnectReason) -> Self {
        match r {
            DisconnectReason::Removed => btcclient_disconnect_reason::Removed,
            DisconnectReason::Stopped => btcclient_disconnect_reason::Stopped,
            DisconnectReason::RemoteClosed => btcclient_disconnect_reason::RemoteClosed,
            DisconnectReason::PingTimeout => btcclient_disconnect_reason::PingTimeout,
            DisconnectReason::WriteTimeout => btcclient_disconnect_reason::WriteTimeout,
            DisconnectReason::ProtocolViolation(_) => {
                btcclient_disconnect_reason::ProtocolViolation
            }
            DisconnectReason::Io(_) => btcclient_disconnect_reason::Io,
            DisconnectReason::Unhealthy => btcclient_disconnect_reason::Unhealthy,
            DisconnectReason::Evicted => btcclient_disconnect_reason::Evicted,
            _ => btcclient_disconnect_reason::Other,
        }
    }
}

/// One block header of a `headers` message.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct btcclient_header {
    /// Block version.
    pub version: i32,
    /// Hash of the previous block (internal byte order).
    pub prev_hash: [u8; 32],
    /// Merkle root (internal byte order).
    pub merkle_root: [u8; 32],
    /// Block time (Unix seconds).
    pub time: u32,
    /// Difficulty target in compact form.
    pub bits: u32,
    /// Nonce.
    pub nonce: u32,
    /// This header's block hash, computed by the library (internal byte order).
    pub hash: [u8; 32],
}

impl From<&Header> for btcclient_header {
    fn from(h: &Header) -> Self {
        btcclient_header {
            version: h.version.to_consensus(),
            prev_hash: h.prev_blockhash.to_byte_array(),
            merkle_root: h.merkle_root.to_byte_array(),
            time: h.time,
            bits: h.bits.to_consensus(),
            nonce: h.nonce,
            hash: h.block_hash().to_byte_array(),
        }
    }
}

/// One entry of an `inv` (or `getdata`) message.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct btcclient_inv {
    /// One of the `BTCCLIENT_INV_*` values (other values are passed through unchanged).
    pub r#type: u32,
    /// The txid, wtxid or block hash (internal byte order).
    pub hash: [u8; 32],
}

impl From<&Inventory> for btcclient_inv {
    fn from(inv: &Inventory) -> Self {
        let (r#type, hash) = match inv {
            Inventory::Error => (BTCCLIENT_INV_ERROR, [0; 32]),
            Inventory::Transaction(t) => (BTCCLIENT_INV_TX, t.to_byte_array()),
            Inventory::Block(b) => (BTCCLIENT_INV_BLOCK, b.to_byte_array()),
            Inventory::CompactBlock(b) => (BTCCLIENT_INV_CMPCT_BLOCK, b.to_byte_array()),
            Inventory::WTx(w) => (BTCCLIENT_INV_WTX, w.to_byte_array()),
            Inventory::WitnessTransaction(t) => (BTCCLIENT_INV_WITNESS_TX, t.to_byte_array()),
            Inventory::WitnessBlock(b) => (BTCCLIENT_INV_WITNESS_BLOCK, b.to_byte_array()),
            Inventory::Unknown { inv_type, hash } => (*inv_type, *hash),
        };
        btcclient_inv { r#type, hash }
    }
}

impl btcclient_inv {
    /// The `bitcoin` crate's inventory entry (exactly these bytes on the wire).
    pub(crate) fn to_inventory(self) -> Inventory {
        let h = self.hash;
        match self.r#type {
            BTCCLIENT_INV_TX => Inventory::Transaction(Txid::from_byte_array(h)),
            BTCCLIENT_INV_BLOCK => Inventory::Block(BlockHash::from_byte_array(h)),
            BTCCLIENT_INV_CMPCT_BLOCK => Inventory::CompactBlock(BlockHash::from_byte_array(h)),
            BTCCLIENT_INV_WTX => Inventory::WTx(Wtxid::from_byte_array(h)),
            BTCCLIENT_INV_WITNESS_TX => Inventory::WitnessTransaction(Txid::from_byte_array(h)),
            BTCCLIENT_INV_WITNESS_BLOCK => Inventory::WitnessBlock(BlockHash::from_byte_array(h)),
            other => Inventory::Unknown {
                inv_type: other,
                hash: h,
            },
        }
    }
}

/// One entry of an `addr` or `addrv2` message. Only IPv4 and IPv6 entries are delivered
/// (Tor, I2P and CJDNS entries of `addrv2` are left out).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct btcclient_addr {
    /// When the node was last seen (Unix seconds).
    pub time: u32,
    /// Service bits the node advertises.
    pub services: u64,
    /// The IP address as 16 bytes, network order; IPv4 as IPv4-mapped IPv6
    /// (`::ffff:a.b.c.d`).
    pub addr: [u8; 16],
    /// The port, host order.
    pub port: u16,
}

impl btcclient_addr {
    /// The C entry for an IP address; `None` for the other kinds.
    pub(crate) fn from_message(m: &AddrV2Message) -> Option<btcclient_addr> {
        let addr = match &m.addr {
            AddrV2::Ipv4(ip) => ip.to_ipv6_mapped().octets(),
            AddrV2::Ipv6(ip) => ip.octets(),
            _ => return None,
        };
        Some(btcclient_addr {
            time: m.time,
            services: m.services.to_u64(),
            addr,
            port: m.port,
        })
    }
}

/// What is known about the peer an event or callback is about.
///
/// Borrowed: every pointer in it is valid only as long as the callback runs (or, for
/// `btcclient_event_peer_info`, until the event is freed).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct btcclient_peer_info {
    /// The peer's stable id, unique within the client, never reused.
    pub id: u64,
    /// The address as managed: `1.2.3.4:8333`, `[2001:db8::1]:8333` or `host:port`.
    pub addr: *const std::ffi::c_char,
    /// Negotiated protocol version (0 before the first handshake).
    pub protocol_version: u32,
    /// Services the peer advertises.
    pub services: u64,
    /// The peer's user agent (`""` before the first handshake).
    pub user_agent: *const std::ffi::c_char,
    /// The peer's best height when it connected.
    pub start_height: i32,
    /// The peer's relay flag.
    pub relay: bool,
    /// Whether the peer was learned through discovery rather than added by the program.
    pub discovered: bool,
}

/// The owned strings behind a `btcclient_peer_info`; the info's pointers point into it (into
/// heap buffers, so moving this value keeps them valid).
pub(crate) struct PeerInfoOwned {
    _addr: CString,
    _user_agent: CString,
    pub(crate) raw: btcclient_peer_info,
}

// SAFETY: the raw pointers in `raw` point into the two CStrings this value owns, which are
// never mutated; sharing or sending them between threads is as safe as sharing the strings.
unsafe impl Send for PeerInfoOwned {}
// SAFETY: as above; nothing is mutated through `&PeerInfoOwned`.
unsafe impl Sync for PeerInfoOwned {}

/// A string without interior NULs (cut at the first one).
pub(crate) fn c_string(s: &str) -> CString {
    CString::new(s.split('\0').next().unwrap_or("")).unwrap_or_default()
}

impl PeerInfoOwned {
    pub(crate) fn of(peer: &ManagedPeer) -> PeerInfoOwned {
        let info = peer.info();
        let addr = c_string(peer.addr());
        let user_agent = c_string(info.as_ref().map_or("", |i| i.user_agent.as_str()));
        let raw = btcclient_peer_info {
            id: peer.id(),
            addr: addr.as_ptr(),
            protocol_version: info.as_ref().map_or(0, |i| i.protocol_version),
            services: info.as_ref().map_or(0, |i| i.services.to_u64()),
            user_agent: user_agent.as_ptr(),
            start_height: info.as_ref().map_or(0, |i| i.start_height),
            relay: info.as_ref().is_some_and(|i| i.relay),
            discovered: peer.is_discovered(),
        };
        PeerInfoOwned {
            _addr: addr,
            _user_agent: user_agent,
            raw,
        }
    }

    /// A deep copy whose pointers point into its own strings.
    pub(crate) fn duplicate(&self) -> PeerInfoOwned {
        let addr = self._addr.clone();
        let user_agent = self._user_agent.clone();
        let raw = btcclient_peer_info {
            addr: addr.as_ptr(),
            user_agent: user_agent.as_ptr(),
            ..self.raw
        };
        PeerInfoOwned {
            _addr: addr,
            _user_agent: user_agent,
            raw,
        }
    }

    /// An info with the given fields and empty strings behind it, for tests.
    #[cfg(test)]
    pub(crate) fn test(raw: btcclient_peer_info) -> PeerInfoOwned {
        PeerInfoOwned {
            _addr: CString::default(),
            _user_agent: CString::default(),
            raw,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use btcclient_manager::bitcoin::p2p::ServiceFlags;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn inv_round_trips_through_c() {
        let hash = [7u8; 32];
        for t in [
            BTCCLIENT_INV_TX,
            BTCCLIENT_INV_BLOCK,
            BTCCLIENT_INV_CMPCT_BLOCK,
            BTCCLIENT_INV_WTX,
            BTCCLIENT_INV_WITNESS_TX,
            BTCCLIENT_INV_WITNESS_BLOCK,
            BTCCLIENT_INV_FILTERED_BLOCK,
            99,
        ] {
            let c = btcclient_inv { r#type: t, hash };
            assert_eq!(btcclient_inv::from(&c.to_inventory()), c);
        }
    }

    #[test]
    fn addr_maps_ipv4_and_ipv6_and_skips_others() {
        let v4 = AddrV2Message {
            time: 5,
            services: ServiceFlags::NETWORK,
            addr: AddrV2::Ipv4(Ipv4Addr::new(1, 2, 3, 4)),
            port: 8333,
        };
        let c = btcclient_addr::from_message(&v4).expect("ip");
        assert_eq!(&c.addr[10..], &[0xff, 0xff, 1, 2, 3, 4]);
        assert_eq!((c.time, c.services, c.port), (5, 1, 8333));
        let v6 = AddrV2Message {
            addr: AddrV2::Ipv6(Ipv6Addr::LOCALHOST),
            ..v4.clone()
        };
        assert_eq!(
            btcclient_addr::from_message(&v6).map(|a| a.addr),
            Some(Ipv6Addr::LOCALHOST.octets())
        );
        let tor = AddrV2Message {
            addr: AddrV2::TorV3([1; 32]),
            ..v4
        };
        assert!(btcclient_addr::from_message(&tor).is_none());
    }

    #[test]
    fn network_numbers_are_checked() {
        assert_eq!(
            btcclient_network::from_u32(4),
            Some(btcclient_network::Regtest)
        );
        assert_eq!(btcclient_network::from_u32(6), None);
        assert_eq!(
            btcclient_network::Custom.to_network([1, 2, 3, 4]),
            Network::Custom([1, 2, 3, 4])
        );
    }
}
