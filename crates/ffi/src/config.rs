//! `btcclient_config`: every field of the manager's `Config` as a plain C struct, its
//! defaults, and the checked conversion.

use std::ffi::c_char;
use std::time::Duration;

use btcclient_manager::bitcoin::p2p::ServiceFlags;
use btcclient_manager::{Backoff, Config, Delivery, Error, Proxy, Transport};

use crate::error::FfiError;
use crate::ffi::{boundary, try_str, write_sized_defaults, SizedStruct};
use crate::status::btcclient_status;
use crate::types::{btcclient_delivery, btcclient_network, btcclient_transport};

/// The configuration of a client. Fill it with `btcclient_config_default(&config, sizeof
/// config)`, change the fields you need, pass it to `btcclient_client_new` (which copies it;
/// the struct and the `user_agent` string may be released afterwards).
///
/// The struct grows at its end in later versions: `struct_size` tells the library which
/// layout the program was built with (see "How the ABI grows" at the top of this header).
///
/// Durations are in milliseconds. Enum fields are `uint32_t` and checked: an unknown value
/// gives `BTCCLIENT_STATUS_INVALID_CONFIG` naming the field.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct btcclient_config {
    /// `sizeof(btcclient_config)` as the program was compiled: set by
    /// `btcclient_config_default`. Must stay the first field.
    pub struct_size: usize,
    /// A `btcclient_network` value. Default `BTCCLIENT_NETWORK_MAINNET`.
    pub network: u32,
    /// The magic bytes of a `BTCCLIENT_NETWORK_CUSTOM` network, in wire order (not all zero).
    /// Ignored for the other networks.
    pub custom_magic: [u8; 4],
    /// Most peers managed at once, user-added and discovered (1..=100000). Default 30.
    pub max_peers: usize,
    /// Consecutive failures after which a peer is unhealthy (at least 1). Default 10.
    pub max_failure_count: u32,
    /// How often the health check runs. Default 30000.
    pub health_check_interval_ms: u64,
    /// Delay before reconnecting, the first step of the backoff. Default 5000.
    pub reconnect_delay_ms: u64,
    /// Largest reconnect delay of the exponential backoff (at least `reconnect_delay_ms`);
    /// 0 selects a fixed delay of `reconnect_delay_ms`. Default 600000.
    pub backoff_max_ms: u64,
    /// TCP connect timeout. Default 10000.
    pub connection_timeout_ms: u64,
    /// Time allowed for the version/verack handshake. Default 60000.
    pub handshake_timeout_ms: u64,
    /// Interval between pings. Default 120000.
    pub ping_interval_ms: u64,
    /// Disconnect when a ping has no pong for this long. Default 1200000.
    pub pong_timeout_ms: u64,
    /// Disconnect a peer that does not take our bytes for this long. Default 120000.
    pub write_timeout_ms: u64,
    /// User agent sent in `version` (BIP14 form, at most 256 bytes, UTF-8, no control
    /// characters); NULL selects the default `/btcclient:<version>/`. Copied by
    /// `btcclient_client_new`.
    pub user_agent: *const c_char,
    /// Service bits we advertise. Default 0 (we serve no blocks).
    pub services: u64,
    /// The relay flag of our `version` (BIP37). Default true.
    pub relay: bool,
    /// Dial discovered loopback/private addresses and skip the one-peer-per-network-group
    /// rule (regtest, simulated networks). Default false.
    pub allow_local_addresses: bool,
    /// Learn peers from `addr`/`addrv2` answers to our `getaddr`. Default true.
    pub discovery: bool,
    /// Largest message payload accepted or sent (1000..=33554432). Default 4000000.
    pub max_message_size: usize,
    /// Bytes that may wait in one peer's send queue (at least `max_message_size` + 24).
    /// Default 16777216.
    pub send_queue_bytes: usize,
    /// Messages that may wait in one peer's send queue (at least 1). Default 1024.
    pub send_queue_len: usize,
    /// Events that may wait for delivery before peers' reading pauses (at least 1); in poll
    /// mode also the capacity of the poll queue. Default 256.
    pub event_queue_len: usize,
    /// A `btcclient_delivery` value. Default `BTCCLIENT_DELIVERY_SERIALIZED`.
    pub delivery: u32,
    /// Poll mode: events go to a queue read with `btcclient_poll_next` (and signalled on
    /// `btcclient_poll_fd`) instead of to callbacks; the listeners must then set no callback.
    /// The queue holds one run's events: after a stop it keeps them for the program to take,
    /// and the next `btcclient_client_start` drops those not taken. Default false.
    pub poll_mode: bool,
    // ---- ABI 1, layout 2: appended fields; a program built with layout 1 gets the defaults.
    /// How long a connection must stay up (from the handshake) before it counts as stable:
    /// only then do the failure streak and the backoff reset; a connection that ends sooner
    /// counts as a failed attempt (at most 86400000; 0 makes every connection stable at once).
    /// Default 60000.
    pub stable_after_ms: u64,
    /// Discovered peers to keep connected, drawn from the address book, at most one per
    /// network group (at most `max_peers`; peers the program adds come on top, within
    /// `max_peers`). 0 fills up to `max_peers`. Default 0. Bitcoin Core keeps 8.
    pub target_outbound: usize,
    /// DNS seeds asked when the address book is short: NULL asks the network's seeds
    /// (Bitcoin Core's list; none on regtest), "" asks none, otherwise host names separated by
    /// commas. Copied by `btcclient_client_new`. Default NULL.
    pub dns_seeds: *const c_char,
    /// A file the address book is loaded from at start and saved to periodically and at stop
    /// (atomically; a damaged file is moved aside and the book starts empty). NULL keeps the
    /// book in memory only. Copied by `btcclient_client_new`. Default NULL.
    pub address_book_path: *const c_char,
    /// A `btcclient_transport` value: which transport to speak to peers. Default
    /// `BTCCLIENT_TRANSPORT_V2_PREFERRED` (BIP324 v2 where the peer speaks it, as Bitcoin
    /// Core does).
    pub transport: u32,
    /// A SOCKS5 proxy for every connection, as "HOST:PORT" (`127.0.0.1:9050`, `[::1]:1080`,
    /// `proxy.lan:1080`): peers named by host name are resolved by the proxy (never here),
    /// DNS seeds are asked through it, and onion addresses go through it unless
    /// `onion_proxy` is set. NULL: direct connections. Copied by `btcclient_client_new`.
    /// Default NULL.
    pub proxy: *const c_char,
    /// The username for `proxy` (1 to 255 bytes), set together with `proxy_password`. NULL
    /// (both): fresh random credentials for every connection, offered beside "no
    /// authentication" (Tor then isolates each connection on its own circuit). Copied by
    /// `btcclient_client_new`. Default NULL.
    pub proxy_username: *const c_char,
    /// The password for `proxy` (1 to 255 bytes), set together with `proxy_username`. Copied
    /// by `btcclient_client_new`. Default NULL.
    pub proxy_password: *const c_char,
    /// A SOCKS5 proxy for Tor onion addresses only, as "HOST:PORT" (Tor's is usually
    /// "127.0.0.1:9050"). NULL: `proxy` if set; with neither, onion addresses are refused.
    /// Copied by `btcclient_client_new`. Default NULL.
    pub onion_proxy: *const c_char,
    /// The username for `onion_proxy`, as `proxy_username` is for `proxy`. Default NULL.
    pub onion_proxy_username: *const c_char,
    /// The password for `onion_proxy`, as `proxy_password` is for `proxy`. Default NULL.
    pub onion_proxy_password: *const c_char,
}

/// The string fields of a config, checked UTF-8 (`None` for NULL).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ConfigStrings<'a> {
    pub(crate) user_agent: Option<&'a str>,
    pub(crate) dns_seeds: Option<&'a str>,
    pub(crate) address_book_path: Option<&'a str>,
    pub(crate) proxy: Option<&'a str>,
    pub(crate) proxy_username: Option<&'a str>,
    pub(crate) proxy_password: Option<&'a str>,
    pub(crate) onion_proxy: Option<&'a str>,
    pub(crate) onion_proxy_username: Option<&'a str>,
    pub(crate) onion_proxy_password: Option<&'a str>,
}

/// The size of the first layout of `btcclient_config` (up to `poll_mode`, with its padding):
/// the first appended field starts there, not inside it.
const CONFIG_LAYOUT_1: usize = std::mem::offset_of!(btcclient_config, stable_after_ms);
const _: () = assert!(
    CONFIG_LAYOUT_1 % std::mem::align_of::<btcclient_config>() == 0
        && CONFIG_LAYOUT_1 > std::mem::offset_of!(btcclient_config, poll_mode)
);

impl Default for btcclient_config {
    fn default() -> Self {
        let d = Config::default();
        let ms = |t: Duration| u64::try_from(t.as_millis()).unwrap_or(u64::MAX);
        btcclient_config {
            struct_size: std::mem::size_of::<btcclient_config>(),
            network: btcclient_network::Mainnet as u32,
            custom_magic: [0; 4],
            max_peers: d.max_peers,
            max_failure_count: d.max_failure_count,
            health_check_interval_ms: ms(d.health_check_interval),
            reconnect_delay_ms: ms(d.reconnect_delay),
            backoff_max_ms: match d.backoff {
                Backoff::Fixed => 0,
                Backoff::Exponential { max } => ms(max),
            },
            connection_timeout_ms: ms(d.connection_timeout),
            handshake_timeout_ms: ms(d.handshake_timeout),
            ping_interval_ms: ms(d.ping_interval),
            pong_timeout_ms: ms(d.pong_timeout),
            write_timeout_ms: ms(d.write_timeout),
            user_agent: std::ptr::null(),
            services: d.services.to_u64(),
            relay: d.relay,
            allow_local_addresses: d.allow_local_addresses,
            discovery: d.discovery,
            max_message_size: d.max_message_size,
            send_queue_bytes: d.send_queue_bytes,
            send_queue_len: d.send_queue_len,
            event_queue_len: d.event_queue_len,
            delivery: match d.delivery {
                Delivery::Serialized => btcclient_delivery::Serialized as u32,
                Delivery::Concurrent => btcclient_delivery::Concurrent as u32,
            },
            poll_mode: false,
            stable_after_ms: ms(d.stable_after),
            target_outbound: d.target_outbound.unwrap_or(0),
            dns_seeds: std::ptr::null(),
            address_book_path: std::ptr::null(),
            transport: btcclient_transport::V2Preferred as u32,
            proxy: std::ptr::null(),
            proxy_username: std::ptr::null(),
            proxy_password: std::ptr::null(),
            onion_proxy: std::ptr::null(),
            onion_proxy_username: std::ptr::null(),
            onion_proxy_password: std::ptr::null(),
        }
    }
}

// SAFETY: repr(C), `struct_size: usize` first; the other fields are integers, byte arrays,
// `bool`s (C's `bool`, 0 or 1) and nullable pointers.
unsafe impl SizedStruct for btcclient_config {
    const NAME: &'static str = "btcclient_config";
    /// Layout 1 ended with `poll_mode`; layout 2 appended `stable_after_ms` to
    /// `onion_proxy_password` (unreleased: fields may still be appended to it). When a field is
    /// appended: add the new `size_of` here, and assert that the new field starts at or after
    /// the previous layout's size (not in its tail padding), as `CONFIG_LAYOUT_1` does.
    const LAYOUTS: &'static [usize] = &[CONFIG_LAYOUT_1, std::mem::size_of::<btcclient_config>()];
    fn defaults() -> btcclient_config {
        btcclient_config::default()
    }
}

impl btcclient_config {
    /// The string fields, checked.
    ///
    /// # Safety
    /// Each string field is NULL or a NUL-terminated string valid while the result is used.
    pub(crate) unsafe fn strings(&self) -> Result<ConfigStrings<'_>, FfiError> {
        let read = |ptr: *const c_char, field: &str| {
            if ptr.is_null() {
                return Ok(None);
            }
            // SAFETY: non-NULL, NUL-terminated and valid (this function's contract).
            unsafe { try_str(ptr, field) }.map(Some).map_err(|e| {
                FfiError::new(
                    btcclient_status::InvalidConfig,
                    format!("invalid config: {}", e.message),
                )
            })
        };
        Ok(ConfigStrings {
            user_agent: read(self.user_agent, "user_agent")?,
            dns_seeds: read(self.dns_seeds, "dns_seeds")?,
            address_book_path: read(self.address_book_path, "address_book_path")?,
            proxy: read(self.proxy, "proxy")?,
            proxy_username: read(self.proxy_username, "proxy_username")?,
            proxy_password: read(self.proxy_password, "proxy_password")?,
            onion_proxy: read(self.onion_proxy, "onion_proxy")?,
            onion_proxy_username: read(self.onion_proxy_username, "onion_proxy_username")?,
            onion_proxy_password: read(self.onion_proxy_password, "onion_proxy_password")?,
        })
    }

    /// The manager's config for these fields (listeners not set), validated, with the string
    /// fields as converted by [`btcclient_config::strings`].
    pub(crate) fn manager_config(&self, strings: &ConfigStrings<'_>) -> Result<Config, FfiError> {
        let network = btcclient_network::from_u32(self.network)
            .ok_or_else(|| FfiError::config("network", format!("unknown value {}", self.network)))?
            .to_network(self.custom_magic);
        let delivery = match self.delivery {
            v if v == btcclient_delivery::Serialized as u32 => Delivery::Serialized,
            v if v == btcclient_delivery::Concurrent as u32 => Delivery::Concurrent,
            other => {
                return Err(FfiError::config(
                    "delivery",
                    format!("unknown value {other}"),
                ))
            }
        };
        let transport = match self.transport {
            v if v == btcclient_transport::V2Preferred as u32 => Transport::V2Preferred,
            v if v == btcclient_transport::V1Only as u32 => Transport::V1Only,
            v if v == btcclient_transport::V2Only as u32 => Transport::V2Only,
            other => {
                return Err(FfiError::config(
                    "transport",
                    format!("unknown value {other}"),
                ))
            }
        };
        let ms = Duration::from_millis;
        let mut config = Config {
            network,
            max_peers: self.max_peers,
            max_failure_count: self.max_failure_count,
            health_check_interval: ms(self.health_check_interval_ms),
            reconnect_delay: ms(self.reconnect_delay_ms),
            backoff: match self.backoff_max_ms {
                0 => Backoff::Fixed,
                max => Backoff::Exponential { max: ms(max) },
            },
            connection_timeout: ms(self.connection_timeout_ms),
            handshake_timeout: ms(self.handshake_timeout_ms),
            ping_interval: ms(self.ping_interval_ms),
            pong_timeout: ms(self.pong_timeout_ms),
            write_timeout: ms(self.write_timeout_ms),
            stable_after: ms(self.stable_after_ms),
            services: ServiceFlags::from(self.services),
            relay: self.relay,
            allow_local_addresses: self.allow_local_addresses,
            discovery: self.discovery,
            max_message_size: self.max_message_size,
            send_queue_bytes: self.send_queue_bytes,
            send_queue_len: self.send_queue_len,
            event_queue_len: self.event_queue_len,
            delivery,
            transport,
            ..Config::default()
        };
        if let Some(ua) = strings.user_agent {
            config.user_agent = ua.to_owned();
        }
        config.target_outbound = (self.target_outbound != 0).then_some(self.target_outbound);
        config.dns_seeds = strings.dns_seeds.map(|list| {
            if list.is_empty() {
                Vec::new()
            } else {
                list.split(',').map(|s| s.trim().to_owned()).collect()
            }
        });
        config.address_book_path = strings.address_book_path.map(std::path::PathBuf::from);
        config.proxy = proxy(
            "proxy",
            strings.proxy,
            strings.proxy_username,
            strings.proxy_password,
        )?;
        config.onion_proxy = proxy(
            "onion_proxy",
            strings.onion_proxy,
            strings.onion_proxy_username,
            strings.onion_proxy_password,
        )?;
        config.validate().map_err(|e| match e {
            Error::InvalidConfig { field, reason } => {
                let mut reason = reason;
                for (rust, c) in C_FIELD_NAMES {
                    reason = reason.replace(rust, c);
                }
                FfiError::config(c_field_name(field), reason)
            }
            other => other.into(),
        })?;
        Ok(config)
    }
}

/// A proxy from its `HOST:PORT` and optional credentials (both or neither), errors naming
/// the C field (`proxy`, `proxy_username`, …).
fn proxy(
    field: &'static str,
    addr: Option<&str>,
    username: Option<&str>,
    password: Option<&str>,
) -> Result<Option<Proxy>, FfiError> {
    let named = |suffix: &str| format!("{field}{suffix}");
    let Some(addr) = addr else {
        if username.is_some() || password.is_some() {
            return Err(FfiError::config(
                &named("_username"),
                format!("credentials without a proxy: set {field} too"),
            ));
        }
        return Ok(None);
    };
    let proxy = Proxy::parse(addr).map_err(|reason| FfiError::config(field, reason))?;
    let proxy = match (username, password) {
        (None, None) => proxy,
        (Some(u), Some(p)) => {
            for (suffix, value) in [("_username", u), ("_password", p)] {
                btcclient_manager::socks5::check_credential(value)
                    .map_err(|reason| FfiError::config(&named(suffix), reason))?;
            }
            proxy.with_credentials(u, p)
        }
        (Some(_), None) => {
            return Err(FfiError::config(
                &named("_password"),
                format!("NULL while {field}_username is set: set both or neither"),
            ))
        }
        (None, Some(_)) => {
            return Err(FfiError::config(
                &named("_username"),
                format!("NULL while {field}_password is set: set both or neither"),
            ))
        }
    };
    Ok(Some(proxy))
}

/// The manager's field names that differ in `btcclient_config`: durations carry their unit.
const C_FIELD_NAMES: [(&str, &str); 9] = [
    ("health_check_interval", "health_check_interval_ms"),
    ("reconnect_delay", "reconnect_delay_ms"),
    ("backoff", "backoff_max_ms"),
    ("connection_timeout", "connection_timeout_ms"),
    ("handshake_timeout", "handshake_timeout_ms"),
    ("ping_interval", "ping_interval_ms"),
    ("pong_timeout", "pong_timeout_ms"),
    ("write_timeout", "write_timeout_ms"),
    ("stable_after", "stable_after_ms"),
];

/// The name a C program knows a config field by.
fn c_field_name(field: &str) -> &str {
    C_FIELD_NAMES
        .iter()
        .find(|(rust, _)| *rust == field)
        .map_or(field, |(_, c)| c)
}

/// Writes the default configuration to `*out`, a struct of `struct_size` bytes: pass
/// `sizeof *out` (or `sizeof(btcclient_config)`), which also goes into `out->struct_size`.
/// Exactly `struct_size` bytes are written.
///
/// `BTCCLIENT_STATUS_INVALID_ARGUMENT` when `out` is NULL or `struct_size` is not the size of
/// a layout this library knows (0, or a program built against a newer header).
#[no_mangle]
pub unsafe extern "C" fn btcclient_config_default(
    out: *mut btcclient_config,
    struct_size: usize,
) -> btcclient_status {
    boundary(std::ptr::null_mut(), || {
        // SAFETY: `out` is NULL or valid for `struct_size` bytes of writes (the header's rules).
        unsafe { write_sized_defaults(out, struct_size, "config") }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use btcclient_manager::Network;

    #[test]
    fn defaults_convert_to_the_managers_defaults() {
        let c = btcclient_config::default();
        let config = c.manager_config(&ConfigStrings::default()).expect("valid");
        let d = Config::default();
        assert_eq!(config.network, d.network);
        assert_eq!(config.max_peers, d.max_peers);
        assert_eq!(config.max_failure_count, d.max_failure_count);
        assert_eq!(config.health_check_interval, d.health_check_interval);
        assert_eq!(config.reconnect_delay, d.reconnect_delay);
        assert_eq!(config.backoff, d.backoff);
        assert_eq!(config.connection_timeout, d.connection_timeout);
        assert_eq!(config.handshake_timeout, d.handshake_timeout);
        assert_eq!(config.ping_interval, d.ping_interval);
        assert_eq!(config.pong_timeout, d.pong_timeout);
        assert_eq!(config.write_timeout, d.write_timeout);
        assert_eq!(config.stable_after, d.stable_after);
        assert_eq!(config.user_agent, d.user_agent);
        assert_eq!(config.services, d.services);
        assert_eq!(config.relay, d.relay);
        assert_eq!(config.allow_local_addresses, d.allow_local_addresses);
        assert_eq!(config.discovery, d.discovery);
        assert_eq!(config.max_message_size, d.max_message_size);
        assert_eq!(config.send_queue_bytes, d.send_queue_bytes);
        assert_eq!(config.send_queue_len, d.send_queue_len);
        assert_eq!(config.event_queue_len, d.event_queue_len);
        assert_eq!(config.delivery, d.delivery);
        assert_eq!(config.transport, d.transport);
        assert!(!c.poll_mode);
    }

    #[test]
    fn every_field_is_carried() {
        let c = btcclient_config {
            struct_size: std::mem::size_of::<btcclient_config>(),
            stable_after_ms: 800,
            target_outbound: 3,
            dns_seeds: std::ptr::null(),
            address_book_path: std::ptr::null(),
            proxy: std::ptr::null(),
            proxy_username: std::ptr::null(),
            proxy_password: std::ptr::null(),
            onion_proxy: std::ptr::null(),
            onion_proxy_username: std::ptr::null(),
            onion_proxy_password: std::ptr::null(),
            network: btcclient_network::Custom as u32,
            custom_magic: [1, 2, 3, 4],
            max_peers: 7,
            max_failure_count: 3,
            health_check_interval_ms: 100,
            reconnect_delay_ms: 200,
            backoff_max_ms: 0,
            connection_timeout_ms: 300,
            handshake_timeout_ms: 400,
            ping_interval_ms: 500,
            pong_timeout_ms: 600,
            write_timeout_ms: 700,
            user_agent: std::ptr::null(),
            services: 1 | 8,
            relay: false,
            allow_local_addresses: true,
            discovery: false,
            max_message_size: 2_000,
            send_queue_bytes: 10_000,
            send_queue_len: 5,
            event_queue_len: 9,
            delivery: btcclient_delivery::Concurrent as u32,
            poll_mode: true,
            transport: btcclient_transport::V1Only as u32,
        };
        let config = c
            .manager_config(&ConfigStrings {
                user_agent: Some("/t:1/"),
                dns_seeds: Some("seed.example.org, seed2.example.org"),
                address_book_path: Some("/tmp/book.dat"),
                proxy: Some("127.0.0.1:9050"),
                proxy_username: Some("alice"),
                proxy_password: Some("secret"),
                onion_proxy: Some("[::1]:9150"),
                onion_proxy_username: None,
                onion_proxy_password: None,
            })
            .expect("valid");
        assert_eq!(
            config.proxy,
            Some(
                Proxy::parse("127.0.0.1:9050")
                    .expect("proxy")
                    .with_credentials("alice", "secret")
            )
        );
        assert_eq!(config.onion_proxy, Proxy::parse("[::1]:9150").ok());
        assert_eq!(
            config.dns_seeds,
            Some(vec!["seed.example.org".into(), "seed2.example.org".into()])
        );
        assert_eq!(
            config.address_book_path.as_deref(),
            Some(std::path::Path::new("/tmp/book.dat"))
        );
        assert_eq!(config.target_outbound, Some(3));
        assert_eq!(config.network, Network::Custom([1, 2, 3, 4]));
        assert_eq!(config.max_peers, 7);
        assert_eq!(config.max_failure_count, 3);
        assert_eq!(config.health_check_interval, Duration::from_millis(100));
        assert_eq!(config.reconnect_delay, Duration::from_millis(200));
        assert_eq!(config.backoff, Backoff::Fixed);
        assert_eq!(config.connection_timeout, Duration::from_millis(300));
        assert_eq!(config.handshake_timeout, Duration::from_millis(400));
        assert_eq!(config.ping_interval, Duration::from_millis(500));
        assert_eq!(config.pong_timeout, Duration::from_millis(600));
        assert_eq!(config.write_timeout, Duration::from_millis(700));
        assert_eq!(config.stable_after, Duration::from_millis(800));
        assert_eq!(config.user_agent, "/t:1/");
        assert_eq!(config.services, ServiceFlags::from(9));
        assert!(!config.relay);
        assert!(config.allow_local_addresses);
        assert!(!config.discovery);
        assert_eq!(config.max_message_size, 2_000);
        assert_eq!(config.send_queue_bytes, 10_000);
        assert_eq!(config.send_queue_len, 5);
        assert_eq!(config.event_queue_len, 9);
        assert_eq!(config.delivery, Delivery::Concurrent);
        assert_eq!(config.transport, Transport::V1Only);
        let v2 = btcclient_config {
            transport: btcclient_transport::V2Only as u32,
            ..c
        };
        let strings = ConfigStrings::default();
        assert_eq!(
            v2.manager_config(&strings).map(|c| c.transport).ok(),
            Some(Transport::V2Only)
        );
    }

    #[test]
    fn out_of_range_values_name_their_field() {
        type Change = fn(&mut btcclient_config);
        let cases: Vec<(Change, &str)> = vec![
            (
                |c| c.network = 6,
                "invalid config: network: unknown value 6",
            ),
            (
                |c| c.delivery = 2,
                "invalid config: delivery: unknown value 2",
            ),
            (
                |c| c.transport = 3,
                "invalid config: transport: unknown value 3",
            ),
            (|c| c.max_peers = 0, "invalid config: max_peers:"),
            (
                |c| c.health_check_interval_ms = 0,
                "invalid config: health_check_interval_ms:",
            ),
            (
                |c| c.write_timeout_ms = 25 * 3600 * 1000,
                "invalid config: write_timeout_ms: must be at most 24 hours",
            ),
            (
                |c| c.max_failure_count = 0,
                "invalid config: max_failure_count:",
            ),
            (
                |c| c.handshake_timeout_ms = 0,
                "invalid config: handshake_timeout_ms: must be at least",
            ),
            (
                |c| c.backoff_max_ms = 1,
                "invalid config: backoff_max_ms: maximum delay is below reconnect_delay_ms",
            ),
            (
                |c| {
                    c.network = btcclient_network::Custom as u32;
                    c.custom_magic = [0; 4]
                },
                "invalid config: network:",
            ),
            (
                |c| c.max_message_size = 10,
                "invalid config: max_message_size:",
            ),
            (
                |c| c.event_queue_len = 0,
                "invalid config: event_queue_len:",
            ),
        ];
        for (change, expected) in cases {
            let mut c = btcclient_config::default();
            change(&mut c);
            let e = c
                .manager_config(&ConfigStrings::default())
                .expect_err(expected);
            assert_eq!(e.status, btcclient_status::InvalidConfig);
            assert!(
                e.message.starts_with(expected),
                "{} / {expected}",
                e.message
            );
        }
        let e = btcclient_config::default()
            .manager_config(&ConfigStrings {
                user_agent: Some("bad\nagent"),
                ..ConfigStrings::default()
            })
            .expect_err("control character");
        assert!(e.message.contains("user_agent"), "{}", e.message);
    }

    #[test]
    fn proxy_errors_name_their_field() {
        let long = "x".repeat(256);
        let cases: Vec<(ConfigStrings<'_>, &str)> = vec![
            (
                ConfigStrings {
                    proxy: Some(""),
                    ..ConfigStrings::default()
                },
                "invalid config: proxy: empty proxy address",
            ),
            (
                ConfigStrings {
                    proxy: Some("127.0.0.1:0"),
                    ..ConfigStrings::default()
                },
                "invalid config: proxy: \"127.0.0.1:0\": the proxy's port must not be 0",
            ),
            (
                ConfigStrings {
                    onion_proxy: Some("127.0.0.1"),
                    ..ConfigStrings::default()
                },
                "invalid config: onion_proxy: \"127.0.0.1\": missing :PORT",
            ),
            (
                ConfigStrings {
                    proxy: Some("127.0.0.1:9050"),
                    proxy_username: Some("alice"),
                    ..ConfigStrings::default()
                },
                "invalid config: proxy_password: NULL while proxy_username is set",
            ),
            (
                ConfigStrings {
                    proxy: Some("127.0.0.1:9050"),
                    proxy_username: Some(&long),
                    proxy_password: Some("p"),
                    ..ConfigStrings::default()
                },
                "invalid config: proxy_username: must be 1 to 255 bytes (is 256)",
            ),
            (
                ConfigStrings {
                    onion_proxy: Some("127.0.0.1:9050"),
                    onion_proxy_username: Some("u"),
                    onion_proxy_password: Some(""),
                    ..ConfigStrings::default()
                },
                "invalid config: onion_proxy_password: must be 1 to 255 bytes (is 0)",
            ),
            (
                ConfigStrings {
                    onion_proxy_password: Some("p"),
                    ..ConfigStrings::default()
                },
                "invalid config: onion_proxy_username: credentials without a proxy",
            ),
        ];
        for (strings, expected) in cases {
            let e = btcclient_config::default()
                .manager_config(&strings)
                .expect_err(expected);
            assert_eq!(e.status, btcclient_status::InvalidConfig);
            assert!(
                e.message.starts_with(expected),
                "{} / {expected}",
                e.message
            );
        }
    }

    #[test]
    fn config_default_checks_its_argument() {
        let size = std::mem::size_of::<btcclient_config>();
        // SAFETY: NULL is allowed (and refused).
        let status = unsafe { btcclient_config_default(std::ptr::null_mut(), size) };
        assert_eq!(status, btcclient_status::InvalidArgument);
        let mut c = std::mem::MaybeUninit::<btcclient_config>::uninit();
        for bad in [0, 8, CONFIG_LAYOUT_1 - 8, size - 4, size + 8] {
            // SAFETY: `c` is writable; a refused size writes nothing.
            let status = unsafe { btcclient_config_default(c.as_mut_ptr(), bad) };
            assert_eq!(status, btcclient_status::InvalidArgument, "size {bad}");
        }
        // SAFETY: `c` is writable.
        let status = unsafe { btcclient_config_default(c.as_mut_ptr(), size) };
        assert_eq!(status, btcclient_status::Ok);
        // SAFETY: written by btcclient_config_default on success.
        let c = unsafe { c.assume_init() };
        assert_eq!(c.max_peers, 30);
        assert_eq!(c.struct_size, size);
        // A program built with the first layout gets its fields, and the appended ones
        // default when the library reads its struct.
        let mut old = [0u8; CONFIG_LAYOUT_1];
        // SAFETY: `old` has room for CONFIG_LAYOUT_1 bytes.
        let status = unsafe { btcclient_config_default(old.as_mut_ptr().cast(), CONFIG_LAYOUT_1) };
        assert_eq!(status, btcclient_status::Ok);
        // SAFETY: `old` holds CONFIG_LAYOUT_1 readable bytes, the size it declares.
        let read = unsafe { crate::ffi::read_sized::<btcclient_config>(old.as_ptr().cast(), "c") }
            .expect("layout 1");
        assert_eq!(read.struct_size, CONFIG_LAYOUT_1);
        assert_eq!(read.stable_after_ms, 60_000);
        assert_eq!(read.max_peers, 30);
    }
}
