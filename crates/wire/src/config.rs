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
