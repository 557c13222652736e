//! Which network a frame belongs to and how large it may be.

use bitcoin::p2p::Magic;
use bitcoin::Network;

/// Bitcoin Core's limit on a message payload (`MAX_PROTOCOL_MESSAGE_LENGTH`).
pub const DEFAULT_MAX_PAYLOAD: usize = 4_000_000;
/// At most this many entries in one `addr` or `addrv2` message.
pub const MAX_ADDR_ENTRIES: usize = 1_000;
/// At most this many entries in one `inv`, `getdata` or `notfound` message.
pub const MAX_INV_ENTRIES: usize = 50_000;
/// At most this many headers in one `headers` message.
pub const MAX_HEADERS_ENTRIES: usize = 2_000;
/// The protocol version we speak (Bitcoin Core 29's `PROTOCOL_VERSION`).
pub const PROTOCOL_VERSION: u32 = 70016;
/// The oldest protocol version a peer may speak (Core's `MIN_PEER_PROTO_VERSION`): older
/// peers are disconnected.
pub const MIN_PEER_PROTOCOL_VERSION: u32 = 31800;

/// The heights of a block locator from `tip` back to genesis, as Bitcoin Core builds one
/// (`LocatorEntries`): the tip and the 11 blocks below it one by one, then doubling steps,
/// genesis last.
///
/// ```
/// assert_eq!(btcclient_wire::locator_heights(3), vec![3, 2, 1, 0]);
/// let l = btcclient_wire::locator_heights(1_000);
/// assert_eq!(&l[..12], &[1000, 999, 998, 997, 996, 995, 994, 993, 992, 991, 990, 989]);
/// assert_eq!(l[12], 987);
/// assert_eq!(l.last(), Some(&0));
/// ```
pub fn locator_heights(tip: u32) -> Vec<u32> {
    let mut height = tip;
    let mut step = 1u32;
    let mut out = Vec::new();
    loop {
        out.push(height);
        if height == 0 {
            break;
        }
        height = height.saturating_sub(step);
        if out.len() > 10 {
            step = step.saturating_mul(2);
        }
    }
    out
}

/// The settings a frame reader and writer need: the network magic and the payload limit.
///
/// ```
/// use btcclient_wire::WireConfig;
/// use bitcoin::Network;
///
/// let mainnet = WireConfig::new(Network::Bitcoin);
/// assert_eq!(mainnet.magic().to_bytes(), [0xf9, 0xbe, 0xb4, 0xd9]);
/// let private = WireConfig::custom([0x0b, 0x11, 0x09, 0x07]).with_max_payload(1_000_000);
/// assert_eq!(private.max_payload(), 1_000_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireConfig {
    magic: Magic,
    max_payload: usize,
}

impl WireConfig {
    /// Settings for one of the networks `bitcoin::Network` knows (mainnet, testnet3,
    /// testnet4, signet, regtest), with the default payload limit.
    pub fn new(network: Network) -> WireConfig {
        WireConfig {
            magic: Magic::from(network),
            max_payload: DEFAULT_MAX_PAYLOAD,
        }
    }

    /// Settings for a private network identified by its own four magic bytes.
    pub fn custom(magic: [u8; 4]) -> WireConfig {
        WireConfig {
            magic: Magic::from_bytes(magic),
            max_payload: DEFAULT_MAX_PAYLOAD,
        }
    }

    /// Replaces the payload limit (default 4,000,000 bytes).
    pub fn with_max_payload(mut self, max_payload: usize) -> WireConfig {
        self.max_payload = max_payload;
        self
    }

    /// The network magic.
    pub fn magic(&self) -> Magic {
        self.magic
    }

    /// The largest payload accepted or sent, in bytes.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }
}

impl Default for WireConfig {
    fn default() -> Self {
        WireConfig::new(Network::Bitcoin)
    }
}
