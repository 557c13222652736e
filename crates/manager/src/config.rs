//! Client configuration: the specification's fields and defaults, plus what a client that is
//! honest about itself needs (user agent, services, relay, handshake timeout).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bitcoin::p2p::ServiceFlags;
use btcclient_wire::WireConfig;

use crate::dialer::{Dialer, TcpDialer};
use crate::dns::SharedResolver;
use crate::listeners::Listeners;
use crate::socks5::Proxy;
use crate::{Error, Result};

/// The network to speak: one of the public ones, or a private network by its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Network {
    /// Bitcoin mainnet (magic `f9beb4d9`, port 8333).
    Mainnet,
    /// testnet3 (magic `0b110907`, port 18333).
    Testnet3,
    /// testnet4 (magic `1c163f28`, port 48333).
    Testnet4,
    /// signet (magic `0a03cf40`, port 38333).
    Signet,
    /// regtest (magic `fabfb5da`, port 18444).
    Regtest,
    /// A private network identified by its magic bytes.
    Custom([u8; 4]),
}

impl Network {
    /// The `bitcoin` crate's network, for the public ones.
    pub fn bitcoin_network(self) -> Option<bitcoin::Network> {
        Some(match self {
            Network::Mainnet => bitcoin::Network::Bitcoin,
            Network::Testnet3 => bitcoin::Network::Testnet,
            Network::Testnet4 => bitcoin::Network::Testnet4,
            Network::Signet => bitcoin::Network::Signet,
            Network::Regtest => bitcoin::Network::Regtest,
            Network::Custom(_) => return None,
        })
    }

    /// The four magic bytes that start every frame.
    pub fn magic(self) -> [u8; 4] {
        match (self, self.bitcoin_network()) {
            (Network::Custom(m), _) => m,
            (_, Some(n)) => bitcoin::p2p::Magic::from(n).to_bytes(),
            (_, None) => unreachable!("every public network has a bitcoin::Network"),
        }
    }

    /// The usual P2P port of the network (regtest's for custom networks).
    pub fn default_port(self) -> u16 {
        match self {
            Network::Mainnet => 8333,
            Network::Testnet3 => 18333,
            Network::Testnet4 => 48333,
            Network::Signet => 38333,
            Network::Regtest | Network::Custom(_) => 18444,
        }
    }

    /// Parses `mainnet`, `testnet3` (or `testnet`), `testnet4`, `signet`, `regtest`.
    pub fn from_name(name: &str) -> Option<Network> {
        Some(match name.to_ascii_lowercase().as_str() {
            "mainnet" | "main" | "bitcoin" => Network::Mainnet,
            "testnet3" | "testnet" => Network::Testnet3,
            "testnet4" => Network::Testnet4,
            "signet" => Network::Signet,
            "regtest" => Network::Regtest,
            _ => return None,
        })
    }
}

/// How long to wait before dialling a peer again after a failure or a disconnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// Always `reconnect_delay` (the specification's behaviour).
    Fixed,
    /// `reconnect_delay` doubled after each consecutive failure up to `max`, with ±25 % jitter;
    /// back to `reconnect_delay` after a stable connection (see [`Config::stable_after`]).
    Exponential {
        /// The largest delay.
        max: Duration,
    },
}

/// How listener callbacks are run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// One at a time, on one dispatcher thread owned by the client, in each peer's message
    /// order: user code needs no locks. A slow callback delays every peer's delivery (their
    /// reading pauses; nothing is lost).
    Serialized,
    /// Concurrently across peers, one at a time per peer, in that peer's message order: a slow
    /// callback slows only its own peer.
    Concurrent,
}

/// Which transport the client speaks to peers: BIP324 v2 (encrypted) or v1 (plaintext).
///
/// Bitcoin Core connects out over v2 by default since 27.0 and answers both on the same port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Transport {
    /// v2 to peers the user added and to discovered addresses that advertise `NODE_P2P_V2`,
    /// v1 to the others. When a v2 attempt ends with nothing received from the peer after we
    /// sent at least 24 bytes (Bitcoin Core's `ShouldReconnectV1`: a v1-only node closes on
    /// our key), the client reconnects at once over v1 (that attempt is not a failure) and
    /// speaks v1 to that address from then on (for the client's lifetime; the address book
    /// also stops recording `NODE_P2P_V2` for it). The default.
    #[default]
    V2Preferred,
    /// Plaintext v1 only.
    V1Only,
    /// v2 only: a peer that does not speak v2 fails with
    /// [`ConnectFailure::V2NotSupported`](crate::ConnectFailure::V2NotSupported).
    V2Only,
}

impl Transport {
    /// The names the CLI and logs use: `v2-preferred`, `v1`, `v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::V2Preferred => "v2-preferred",
            Transport::V1Only => "v1",
            Transport::V2Only => "v2",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names (and `v1-only`, `v2-only`).
    pub fn from_name(name: &str) -> Option<Transport> {
        Some(match name.to_ascii_lowercase().as_str() {
            "v2-preferred" | "v2preferred" => Transport::V2Preferred,
            "v1" | "v1-only" => Transport::V1Only,
            "v2" | "v2-only" => Transport::V2Only,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The client's configuration. Build it with [`Config::builder`] (or start from
/// [`Config::default`] and set fields); [`Config::validate`] checks every field and names the
/// one that is wrong.
///
/// ```
/// use std::time::Duration;
/// use btcclient_manager::{Config, Network};
///
/// let config = Config::builder()
///     .network(Network::Testnet4)
///     .max_peers(8)
///     .reconnect_delay(Duration::from_secs(2))
///     .build()
///     .expect("valid");
/// assert_eq!(config.max_peers, 8);
///
/// let err = Config::builder().max_peers(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "invalid config: max_peers: must be at least 1");
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// Network to connect to. Default mainnet.
    pub network: Network,
    /// Most peers managed at once (user-added and discovered). Default 30.
    pub max_peers: usize,
    /// Consecutive failures after which a peer is marked `Unhealthy`. Default 10.
    pub max_failure_count: u32,
    /// How often the health check runs. Default 30 s.
    pub health_check_interval: Duration,
    /// Delay before reconnecting (the first step of the backoff). Default 5 s.
    pub reconnect_delay: Duration,
    /// Reconnection backoff. Default exponential up to 10 minutes.
    pub backoff: Backoff,
    /// TCP connect timeout. Default 10 s.
    pub connection_timeout: Duration,
    /// Time allowed for the version/verack handshake after TCP connect. Default 60 s.
    pub handshake_timeout: Duration,
    /// Interval between our pings. Default 2 minutes.
    pub ping_interval: Duration,
    /// Disconnect when a ping has no pong for this long. Default 20 minutes.
    pub pong_timeout: Duration,
    /// Disconnect a peer that does not take our bytes for this long. Default 2 minutes.
    pub write_timeout: Duration,
    /// How long a connection must stay up, counted from the end of its handshake, to be
    /// *stable*. Only a stable connection resets the failure streak and the backoff; a
    /// connection that ends before (for any reason but `remove_peer` or `stop`) counts as one
    /// failed attempt. Default 60 s.
    pub stable_after: Duration,
    /// User agent sent in `version` (BIP14 form). Default `/btcclient:<version>/`.
    pub user_agent: String,
    /// Services we advertise. Default none: we serve no blocks, so we do not claim
    /// `NODE_NETWORK`.
    pub services: ServiceFlags,
    /// The relay flag of our `version` (BIP37): whether we want transaction announcements.
    /// Default true.
    pub relay: bool,
    /// Dial discovered addresses that are loopback, private or otherwise not publicly
    /// routable, and skip the one-peer-per-network-group rule. For regtest and simulated
    /// networks. Default false.
    pub allow_local_addresses: bool,
    /// Learn peers from `addr`/`addrv2` replies to our `getaddr` and from DNS seeds, keep
    /// them in the address book and connect to [`target_outbound`](Self::target_outbound) of
    /// them. Default true.
    pub discovery: bool,
    /// How many discovered peers (drawn from the address book) the client keeps, besides the
    /// peers the user added; `max_peers` caps the total. `None` (the default) fills up to
    /// `max_peers`. Bitcoin Core keeps 8 full-relay outbound peers. At most `max_peers`.
    pub target_outbound: Option<usize>,
    /// DNS seeds asked for addresses when the address book is short. `None` (the default):
    /// the network's ([`crate::dns::default_dns_seeds`]; none for regtest); `Some(vec![])`:
    /// none. Each seed's A/AAAA records enter the book with the network's default port.
    pub dns_seeds: Option<Vec<String>>,
    /// Resolves host names the client looks up itself: peers added by host name and DNS
    /// seeds when no proxy is set, and a proxy's own host name. Never asked for an onion
    /// address, nor for anything else while [`proxy`](Self::proxy) is set. Default the
    /// system's resolver.
    pub resolver: SharedResolver,
    /// How long after `start` the DNS seeds are asked when the address book is not empty
    /// but fewer than 2 peers are connected by then (an empty book asks them at once; a book
    /// of 1,000 addresses or more waits 5 minutes). Default 11 s, as Bitcoin Core.
    pub dns_seed_delay: Duration,
    /// Opens TCP connections to peers. Default [`TcpDialer`] (`TcpStream::connect`).
    pub dialer: Arc<dyn Dialer>,
    /// Where the address book is kept between runs: loaded at `start` (a damaged file is
    /// moved aside and the book starts empty), saved every 15 minutes and at `stop`. Default
    /// `None`: the book lives in memory only.
    pub address_book_path: Option<PathBuf>,
    /// Largest message payload accepted. Default 4,000,000 bytes (Bitcoin Core's limit).
    pub max_message_size: usize,
    /// Bytes that may wait in one peer's send queue before a send fails with `QueueFull`.
    /// Default 16 MiB.
    pub send_queue_bytes: usize,
    /// Messages that may wait in one peer's send queue. Default 1,024.
    pub send_queue_len: usize,
    /// Events that may wait for delivery (per peer in concurrent delivery, in all in
    /// serialized delivery) before peers' reading pauses. Default 256.
    pub event_queue_len: usize,
    /// How callbacks run. Default serialized.
    pub delivery: Delivery,
    /// The transport spoken to peers. Default [`Transport::V2Preferred`].
    pub transport: Transport,
    /// The callbacks.
    pub listeners: Listeners,
    /// A SOCKS5 proxy that carries every connection (Bitcoin Core's `-proxy`): peers named
    /// by host name go to it as domain-name requests (it resolves them: nothing is looked up
    /// locally), DNS seeds are asked through it (a short connection to the seed's name, as
    /// Core does), and, unless [`onion_proxy`](Self::onion_proxy) is set, onion addresses
    /// too. Default `None`: direct connections.
    pub proxy: Option<Proxy>,
    /// The SOCKS5 proxy for Tor onion addresses (Bitcoin Core's `-onion`), usually Tor's
    /// (`127.0.0.1:9050`); `None` (the default) uses [`proxy`](Self::proxy) if it is set.
    /// With neither, onion addresses are refused by `add_peer` and not kept in the address
    /// book.
    pub onion_proxy: Option<Proxy>,
}

pub use btcclient_wire::{MIN_PEER_PROTOCOL_VERSION, PROTOCOL_VERSION};

impl Default for Config {
    fn default() -> Self {
        Config {
            network: Network::Mainnet,
            max_peers: 30,
            max_failure_count: 10,
            health_check_interval: Duration::from_secs(30),
            reconnect_delay: Duration::from_secs(5),
            backoff: Backoff::Exponential {
                max: Duration::from_secs(600),
            },
            connection_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(120),
            pong_timeout: Duration::from_secs(20 * 60),
            write_timeout: Duration::from_secs(120),
            stable_after: Duration::from_secs(60),
            user_agent: format!("/btcclient:{}/", env!("CARGO_PKG_VERSION")),
            services: ServiceFlags::NONE,
            relay: true,
            allow_local_addresses: false,
            discovery: true,
            target_outbound: None,
            dns_seeds: None,
            resolver: SharedResolver::default(),
            dns_seed_delay: Duration::from_secs(11),
            dialer: Arc::new(TcpDialer),
            address_book_path: None,
            max_message_size: btcclient_wire::DEFAULT_MAX_PAYLOAD,
            send_queue_bytes: 16 * 1024 * 1024,
            send_queue_len: 1024,
            event_queue_len: 256,
            delivery: Delivery::Serialized,
            transport: Transport::V2Preferred,
            listeners: Listeners::default(),
            proxy: None,
            onion_proxy: None,
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        field,
        reason: reason.into(),
    }
}

impl Config {
    /// The DNS seeds this configuration asks: [`Config::dns_seeds`], or the network's
    /// ([`crate::dns::default_dns_seeds`]) when it is `None`.
    pub fn dns_seed_list(&self) -> Vec<String> {
        match &self.dns_seeds {
            Some(list) => list.clone(),
            None => crate::dns::default_dns_seeds(self.network)
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        }
    }

    /// The proxy onion addresses go through: [`Config::onion_proxy`], else
    /// [`Config::proxy`]; `None` when onion addresses cannot be reached.
    pub fn proxy_for_onion(&self) -> Option<&Proxy> {
        self.onion_proxy.as_ref().or(self.proxy.as_ref())
    }

    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Config::default(),
        }
    }

    /// Checks every field; the error names the first field that is out of range.
    pub fn validate(&self) -> Result<()> {
        const DAY: Duration = Duration::from_secs(24 * 3600);
        if self.max_peers == 0 {
            return Err(invalid("max_peers", "must be at least 1"));
        }
        if self.max_peers > 100_000 {
            return Err(invalid("max_peers", "must be at most 100000"));
        }
        if self.max_failure_count == 0 {
            return Err(invalid("max_failure_count", "must be at least 1"));
        }
        if self.target_outbound.is_some_and(|t| t > self.max_peers) {
            return Err(invalid("target_outbound", "must be at most max_peers"));
        }
        if let Some(seeds) = &self.dns_seeds {
            if let Some(bad) = seeds
                .iter()
                .find(|s| s.is_empty() || s.len() > 253 || s.contains(char::is_whitespace))
            {
                return Err(invalid("dns_seeds", format!("{bad:?} is not a host name")));
            }
        }
        let durations: [(&'static str, Duration, Duration); 9] = [
            (
                "health_check_interval",
                self.health_check_interval,
                Duration::from_millis(1),
            ),
            ("reconnect_delay", self.reconnect_delay, Duration::ZERO),
            (
                "connection_timeout",
                self.connection_timeout,
                Duration::from_millis(1),
            ),
            (
                "handshake_timeout",
                self.handshake_timeout,
                Duration::from_millis(1),
            ),
            (
                "ping_interval",
                self.ping_interval,
                Duration::from_millis(1),
            ),
            ("pong_timeout", self.pong_timeout, Duration::from_millis(1)),
            (
                "write_timeout",
                self.write_timeout,
                Duration::from_millis(1),
            ),
            ("stable_after", self.stable_after, Duration::ZERO),
            ("dns_seed_delay", self.dns_seed_delay, Duration::ZERO),
        ];
        for (field, value, min) in durations {
            if value < min {
                return Err(invalid(field, format!("must be at least {min:?}")));
            }
            if value > DAY {
                return Err(invalid(field, "must be at most 24 hours"));
            }
        }
        if let Backoff::Exponential { max } = self.backoff {
            if max < self.reconnect_delay {
                return Err(invalid("backoff", "maximum delay is below reconnect_delay"));
            }
            if max > DAY {
                return Err(invalid("backoff", "maximum delay must be at most 24 hours"));
            }
        }
        if self.user_agent.len() > 256 {
            return Err(invalid(
                "user_agent",
                "longer than 256 bytes (Bitcoin Core's limit)",
            ));
        }
        if self.user_agent.chars().any(|c| c.is_control()) {
            return Err(invalid("user_agent", "contains control characters"));
        }
        if self.max_message_size < 1_000 || self.max_message_size > 32 * 1024 * 1024 {
            return Err(invalid(
                "max_message_size",
                "must be between 1000 and 33554432 bytes",
            ));
        }
        if self.send_queue_len == 0 {
            return Err(invalid("send_queue_len", "must be at least 1"));
        }
        if self.send_queue_bytes < self.max_message_size + btcclient_wire::HEADER_LEN {
            return Err(invalid(
                "send_queue_bytes",
                "must hold at least one message of max_message_size",
            ));
        }
        if self.event_queue_len == 0 {
            return Err(invalid("event_queue_len", "must be at least 1"));
        }
        if let Network::Custom(magic) = self.network {
            if magic == [0; 4] {
                return Err(invalid("network", "custom magic must not be all zeros"));
            }
        }
        for (field, proxy) in [("proxy", &self.proxy), ("onion_proxy", &self.onion_proxy)] {
            if let Some(proxy) = proxy {
                proxy.validate().map_err(|reason| invalid(field, reason))?;
            }
        }
        Ok(())
    }

    /// The framing settings for this configuration.
    pub fn wire(&self) -> WireConfig {
        WireConfig::custom(self.network.magic()).with_max_payload(self.max_message_size)
    }
}

/// Builds a [`Config`]; every setter mirrors a field of the same name (and an option helper
/// of the specification: `WithMaxPeers` is `max_peers`, …).
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    config: Config,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.config.$name = value;
                self
            }
        )*
    };
}

impl ConfigBuilder {
    setters! {
        /// Sets [`Config::network`].
        network: Network;
        /// Sets [`Config::max_peers`].
        max_peers: usize;
        /// Sets [`Config::max_failure_count`].
        max_failure_count: u32;
        /// Sets [`Config::health_check_interval`].
        health_check_interval: Duration;
        /// Sets [`Config::reconnect_delay`].
        reconnect_delay: Duration;
        /// Sets [`Config::backoff`].
        backoff: Backoff;
        /// Sets [`Config::connection_timeout`].
        connection_timeout: Duration;
        /// Sets [`Config::handshake_timeout`].
        handshake_timeout: Duration;
        /// Sets [`Config::ping_interval`].
        ping_interval: Duration;
        /// Sets [`Config::pong_timeout`].
        pong_timeout: Duration;
        /// Sets [`Config::write_timeout`].
        write_timeout: Duration;
        /// Sets [`Config::stable_after`].
        stable_after: Duration;
        /// Sets [`Config::services`].
        services: ServiceFlags;
        /// Sets [`Config::relay`].
        relay: bool;
        /// Sets [`Config::allow_local_addresses`].
        allow_local_addresses: bool;
        /// Sets [`Config::discovery`].
        discovery: bool;
        /// Sets [`Config::target_outbound`].
        target_outbound: Option<usize>;
        /// Sets [`Config::dns_seeds`].
        dns_seeds: Option<Vec<String>>;
        /// Sets [`Config::resolver`].
        resolver: SharedResolver;
        /// Sets [`Config::dns_seed_delay`].
        dns_seed_delay: Duration;
        /// Sets [`Config::dialer`].
        dialer: Arc<dyn Dialer>;
        /// Sets [`Config::address_book_path`].
        address_book_path: Option<PathBuf>;
        /// Sets [`Config::max_message_size`].
        max_message_size: usize;
        /// Sets [`Config::send_queue_bytes`].
        send_queue_bytes: usize;
        /// Sets [`Config::send_queue_len`].
        send_queue_len: usize;
        /// Sets [`Config::event_queue_len`].
        event_queue_len: usize;
        /// Sets [`Config::delivery`].
        delivery: Delivery;
        /// Sets [`Config::transport`].
        transport: Transport;
        /// Sets [`Config::listeners`].
        listeners: Listeners;
        /// Sets [`Config::proxy`].
        proxy: Option<Proxy>;
        /// Sets [`Config::onion_proxy`].
        onion_proxy: Option<Proxy>;
    }

    /// Sets [`Config::user_agent`].
    pub fn user_agent(mut self, value: impl Into<String>) -> Self {
        self.config.user_agent = value.into();
        self
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<Config> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_are_checked_and_onion_addresses_use_the_proxy_unless_told_otherwise() {
        let tor = Proxy::parse("127.0.0.1:9050").expect("proxy");
        let other = Proxy::parse("127.0.0.1:1080").expect("proxy");
        assert_eq!(Config::default().proxy_for_onion(), None);
        let c = Config::builder()
            .proxy(Some(tor.clone()))
            .build()
            .expect("valid");
        assert_eq!(c.proxy_for_onion(), Some(&tor));
        let c = Config::builder()
            .proxy(Some(other))
            .onion_proxy(Some(tor.clone()))
            .build()
            .expect("valid");
        assert_eq!(c.proxy_for_onion(), Some(&tor));
        let long = tor.clone().with_credentials("u".repeat(256), "p");
        let e = Config::builder()
            .proxy(Some(long))
            .build()
            .expect_err("too long");
        assert_eq!(
            e.to_string(),
            "invalid config: proxy: the proxy username must be 1 to 255 bytes (is 256)"
        );
        let mut no_port = tor;
        no_port.port = 0;
        let e = Config::builder()
            .onion_proxy(Some(no_port))
            .build()
            .expect_err("port 0");
        assert!(
            e.to_string()
                .starts_with("invalid config: onion_proxy: 127.0.0.1:0: the proxy's port"),
            "{e}"
        );
    }
}
