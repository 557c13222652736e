//! Peer addresses: parsing what a caller gives, and judging what a peer tells us.
//!
//! Addresses learned from peers are untrusted. By default only publicly routable IPv4/IPv6
//! addresses with a non-zero port are dialled, at most one discovered peer per network group
//! (/16 for IPv4, /32 for IPv6), so that a peer cannot steer the client to `127.0.0.1:6379`
//! or fill its slots with one operator's hosts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use bitcoin::p2p::address::{AddrV2, AddrV2Message, Address};

use crate::addrbook::{BookAddr, NetAddr};
use crate::{Error, Result};

/// A peer address as the user gave it, normalised.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PeerAddr {
    /// A literal IP address and port; the key is `SocketAddr`'s display form.
    Socket(SocketAddr, String),
    /// A host name to resolve when dialled (by the proxy when one is set); the key is
    /// `host:port`, host lower-cased.
    Host(String, u16, String),
    /// A Tor v3 onion service, dialled only through the onion proxy: its `.onion` host name
    /// (lower-case), port, public key, and key `host:port`.
    Onion(String, u16, [u8; 32], String),
}

impl PeerAddr {
    /// Parses `1.2.3.4:8333`, `[2001:db8::1]:8333` or `host.example:8333`.
    pub(crate) fn parse(input: &str) -> Result<PeerAddr> {
        let bad = |reason| Error::InvalidAddress {
            addr: shown(input),
            reason,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(bad("empty address"));
        }
        if s.len() > MAX_ADDRESS_LEN {
            return Err(bad("too long to be an address"));
        }
        let port_ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if let Ok(sock) = s.parse::<SocketAddr>() {
            if !s.rsplit_once(':').is_some_and(|(_, p)| port_ok(p)) {
                return Err(bad("port is not a number from 1 to 65535"));
            }
            if sock.port() == 0 {
                return Err(bad("port 0"));
            }
            let target = PeerAddr::from_socket(sock);
            if let PeerAddr::Socket(sock, _) = &target {
                if let Some(what) = never_a_peer(sock.ip()) {
                    return Err(bad(what));
                }
            }
            return Ok(target);
        }
        if let Some(rest) = s.strip_prefix('[') {
            let Some((ip, port)) = rest.split_once(']') else {
                return Err(bad("IPv6 addresses are written [address]:port"));
            };
            if let Some((ip, _zone)) = ip.split_once('%') {
                if ip.parse::<Ipv6Addr>().is_ok() {
                    return Err(bad(
                        "an IPv6 zone id (%interface) cannot be used: name a peer by an address \
                         without one",
                    ));
                }
            }
            if ip.parse::<Ipv6Addr>().is_err() {
                return Err(bad("invalid IPv6 address"));
            }
            return Err(match port.strip_prefix(':') {
                Some(p) if !p.is_empty() => bad("port is not a number from 1 to 65535"),
                _ => bad("missing :port"),
            });
        }
        if s.matches(':').count() > 1 {
            return Err(bad("IPv6 addresses are written [address]:port"));
        }
        let (host, port) = s.rsplit_once(':').ok_or_else(|| bad("missing :port"))?;
        if !port_ok(port) {
            return Err(bad("port is not a number from 1 to 65535"));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| bad("port is not a number from 1 to 65535"))?;
        if port == 0 {
            return Err(bad("port 0"));
        }
        if host.parse::<Ipv4Addr>().is_ok() {
            // A valid IPv4 address and a valid port would have parsed above.
            return Err(bad("port is not a number from 1 to 65535"));
        }
        let valid_label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let host_trimmed = host.strip_suffix('.').unwrap_or(host);
        if host_trimmed.is_empty()
            || host_trimmed.len() > 253
            || !host_trimmed.split('.').all(valid_label)
        {
            return Err(bad("invalid host name"));
        }
        if host_trimmed
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.')
        {
            return Err(bad("invalid IPv4 address"));
        }
        let host = host_trimmed.to_ascii_lowercase();
        if host == "onion" || host.ends_with(".onion") {
            // A Tor onion service is reachable only through Tor; it is never a `Host` (which
            // the local resolver could be asked for without a proxy).
            let key = onion_key(&host).map_err(bad)?;
            return Ok(PeerAddr::onion(key, port));
        }
        let key = format!("{host}:{port}");
        Ok(PeerAddr::Host(host, port, key))
    }

    /// The peer address of a Tor v3 onion service.
    pub(crate) fn onion(key: [u8; 32], port: u16) -> PeerAddr {
        let host = onion_host(&key);
        let name = format!("{host}:{port}");
        PeerAddr::Onion(host, port, key, name)
    }

    /// The peer address of an address-book entry.
    pub(crate) fn from_book(addr: BookAddr) -> PeerAddr {
        match addr.net {
            NetAddr::Ipv4(v4) => PeerAddr::from_socket(SocketAddr::new(IpAddr::V4(v4), addr.port)),
            NetAddr::Ipv6(v6) => PeerAddr::from_socket(SocketAddr::new(IpAddr::V6(v6), addr.port)),
            NetAddr::TorV3(key) => PeerAddr::onion(key, addr.port),
        }
    }

    /// Whether this is an onion address.
    pub(crate) fn is_onion(&self) -> bool {
        matches!(self, PeerAddr::Onion(..))
    }

    /// The address-book form of an address known without resolving (an IP address or an
    /// onion service); `None` for a host name.
    pub(crate) fn book_addr(&self) -> Option<BookAddr> {
        match self {
            PeerAddr::Socket(sock, _) => Some(BookAddr::from(*sock)),
            PeerAddr::Onion(_, port, key, _) => Some(BookAddr::new(NetAddr::TorV3(*key), *port)),
            PeerAddr::Host(..) => None,
        }
    }

    pub(crate) fn from_socket(sock: SocketAddr) -> PeerAddr {
        // An IPv4-mapped IPv6 address is the IPv4 address.
        let sock = match sock {
            SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
                Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
                None => sock,
            },
            v4 => v4,
        };
        PeerAddr::Socket(sock, sock.to_string())
    }

    /// The normalised text form, used as the peer's name and map key.
    pub(crate) fn key(&self) -> &str {
        match self {
            PeerAddr::Socket(_, k) | PeerAddr::Host(_, _, k) | PeerAddr::Onion(_, _, _, k) => k,
        }
    }
}

/// The version byte of Tor v3 onion addresses.
const ONION_V3: u8 = 3;

/// The `.onion` host name of a Tor v3 onion service (rend-spec-v3: the base32 of the public
/// key, a two-byte checksum and the version, then `.onion`).
pub fn onion_host(key: &[u8; 32]) -> String {
    let mut bytes = key.to_vec();
    bytes.extend_from_slice(&onion_checksum(key));
    bytes.push(ONION_V3);
    let mut host = base32(&bytes);
    host.push_str(".onion");
    host
}

/// The public key of a Tor v3 `.onion` host name (without a port); the error says why it is
/// not one. Checks the length (56 base32 characters), the version and the checksum.
pub fn onion_key(host: &str) -> std::result::Result<[u8; 32], &'static str> {
    let lower = host.to_ascii_lowercase();
    let label = lower.strip_suffix('.').unwrap_or(&lower);
    let Some(label) = label.strip_suffix(".onion") else {
        return Err("not an onion address (NAME.onion)");
    };
    if label.len() == 16 && base32_decode(label).is_some() {
        return Err(
            "a Tor v2 onion address: Tor no longer reaches v2 onion services (v3 names have 56 \
             characters)",
        );
    }
    if label.len() != 56 || label.contains('.') {
        return Err("not a Tor v3 onion address (56 base32 characters before .onion)");
    }
    let bytes = base32_decode(label).ok_or("not a Tor v3 onion address (invalid base32)")?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&bytes[..32]);
    if bytes[34] != ONION_V3 {
        return Err("not a Tor v3 onion address (wrong version byte)");
    }
    if bytes[32..34] != onion_checksum(&key) {
        return Err("not a Tor v3 onion address (its checksum is wrong: a typo?)");
    }
    Ok(key)
}

/// `SHA3-256(".onion checksum" | key | version)[..2]`.
fn onion_checksum(key: &[u8; 32]) -> [u8; 2] {
    use sha3::{Digest, Sha3_256};
    let mut h = Sha3_256::new();
    h.update(b".onion checksum");
    h.update(key);
    h.update([ONION_V3]);
    let digest = h.finalize();
    [digest[0], digest[1]]
}

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// RFC 4648 base32, lower case, without padding.
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The bytes of lower-case, unpadded base32 whose length is a multiple of 8 characters.
fn base32_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 8 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = BASE32.iter().position(|&b| b == c)? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    Some(out)
}

/// Longest address text accepted (a 253-byte host name, `:`, five digits, brackets).
const MAX_ADDRESS_LEN: usize = 300;

/// The input as an error shows it: whole when short, else its start and its length.
fn shown(input: &str) -> String {
    const SHOWN: usize = 64;
    if input.len() <= SHOWN {
        return input.to_owned();
    }
    let mut end = SHOWN;
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &input[..end], input.len())
}

/// Why an IP address can never be a peer: unspecified, broadcast or multicast.
fn never_a_peer(ip: IpAddr) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    if ip.is_unspecified() {
        return Some("the unspecified address (0.0.0.0 or ::) is no peer");
    }
    if let IpAddr::V4(v4) = ip {
        if v4.is_broadcast() {
            return Some("the broadcast address is no peer");
        }
    }
    if ip.is_multicast() {
        return Some("a multicast address is no peer");
    }
    None
}

/// Whether Bitcoin Core refuses to dial this port automatically (its `IsBadPort`): ports of
/// other well-known services, so that addresses gossiped by peers cannot point the client at
/// them. Addresses you add yourself may use any port.
pub fn is_bad_port(port: u16) -> bool {
    matches!(
        port,
        1 | 7
            | 9
            | 11
            | 13
            | 15
            | 17
            | 19
            | 20
            | 21
            | 22
            | 23
            | 25
            | 37
            | 42
            | 43
            | 53
            | 69
            | 77
            | 79
            | 87
            | 95
            | 101
            | 102
            | 103
            | 104
            | 109
            | 110
            | 111
            | 113
            | 115
            | 117
            | 119
            | 123
            | 135
            | 137
            | 139
            | 143
            | 161
            | 179
            | 389
            | 427
            | 465
            | 512
            | 513
            | 514
            | 515
            | 526
            | 530
            | 531
            | 532
            | 540
            | 548
            | 554
            | 556
            | 563
            | 587
            | 601
            | 636
            | 989
            | 990
            | 993
            | 995
            | 1719
            | 1720
            | 1723
            | 2049
            | 3306
            | 3389
            | 3659
            | 4045
            | 5060
            | 5061
            | 5432
            | 5900
            | 6000
            | 6566
            | 6665..=6669 | 6697 | 10080 | 27017
    )
}

/// Parses and normalises a peer address as `add_peer` does (`1.2.3.4:8333`,
/// `[2001:db8::1]:8333`, `host.example:8333`, a Tor v3 `NAME.onion:8333`; host names
/// lower-cased), without adding it. (`add_peer` takes an onion address only when an onion
/// proxy is configured.)
///
/// ```
/// assert_eq!(btcclient_manager::parse_peer_address("[::ffff:1.2.3.4]:8333").unwrap(), "1.2.3.4:8333");
/// assert!(btcclient_manager::parse_peer_address("1.2.3.4").is_err());
/// ```
pub fn parse_peer_address(addr: &str) -> Result<String> {
    PeerAddr::parse(addr).map(|a| a.key().to_owned())
}

/// Whether an address is publicly routable (not loopback, private, link-local, multicast,
/// unspecified, documentation, carrier-grade NAT or otherwise reserved).
pub fn is_routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_routable_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_routable_v4(v4),
            None => is_routable_v6(v6),
        },
    }
}

fn is_routable_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b)) // RFC6598 shared address space
        || (a == 198 && (b == 18 || b == 19)) // RFC2544 benchmarking
        || (a == 192 && b == 0 && c == 2) // RFC5737 documentation
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || (a == 192 && b == 0 && c == 0)) // RFC6890 IETF protocol assignments
}

fn is_routable_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00 // unique local
        || (seg[0] & 0xffc0) == 0xfe80 // link-local
        || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
        || (seg[0] == 0x0064 && seg[1] == 0xff9b) // NAT64 well-known prefix
        || seg[0] == 0) // IPv4-compatible and other reserved ::/16
}

/// The network group of an address: /16 for IPv4, /32 for IPv6.
pub fn network_group(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            vec![4, o[0], o[1]]
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network_group(IpAddr::V4(v4)),
            None => {
                let o = v6.octets();
                vec![6, o[0], o[1], o[2], o[3]]
            }
        },
    }
}

/// An `addr` (v1) entry in `addrv2` form, so that listeners get one kind of list.
pub(crate) fn v1_to_v2(time: u32, address: &Address) -> AddrV2Message {
    let ip = Ipv6Addr::from(address.address);
    let addr = match ip.to_ipv4_mapped() {
        Some(v4) => AddrV2::Ipv4(v4),
        None => AddrV2::Ipv6(ip),
    };
    AddrV2Message {
        time,
        services: address.services,
        addr,
        port: address.port,
    }
}

/// The socket address to dial for an entry, if it is one we can dial without a proxy
/// (IPv4 or IPv6 with a non-zero port; not Tor, I2P or CJDNS).
pub(crate) fn dialable(entry: &AddrV2Message) -> Option<SocketAddr> {
    if entry.port == 0 {
        return None;
    }
    let ip = match &entry.addr {
        AddrV2::Ipv4(v4) => IpAddr::V4(*v4),
        AddrV2::Ipv6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(*v6),
        },
        _ => return None,
    };
    if ip.is_unspecified() {
        return None;
    }
    Some(SocketAddr::new(ip, entry.port))
}

/// Bitcoin Core's per-peer address rate limit: 0.1 address per second, a burst of 1,000,
/// plus 1,000 for the reply to each `getaddr` we send.
#[derive(Debug)]
pub(crate) struct AddrTokenBucket {
    tokens: f64,
    last: Instant,
}

impl AddrTokenBucket {
    const RATE_PER_SEC: f64 = 0.1;
    const BURST: f64 = 1_000.0;

    pub(crate) fn new() -> AddrTokenBucket {
        AddrTokenBucket {
            tokens: 1.0,
            last: Instant::now(),
        }
    }

    /// Credit for the answer to a `getaddr` we just sent.
    pub(crate) fn on_getaddr_sent(&mut self) {
        self.tokens += Self::BURST;
    }

    /// How many of `n` addresses may be processed now; takes their tokens.
    pub(crate) fn take(&mut self, n: usize) -> usize {
        let now = Instant::now();
        if self.tokens < Self::BURST {
            let refill = now.duration_since(self.last).as_secs_f64() * Self::RATE_PER_SEC;
            self.tokens = (self.tokens + refill).min(Self::BURST);
        }
        self.last = now;
        let allowed = (self.tokens.floor() as usize).min(n);
        self.tokens -= allowed as f64;
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        assert_eq!(
            PeerAddr::parse("1.2.3.4:8333")
                .map(|a| a.key().to_owned())
                .ok(),
            Some("1.2.3.4:8333".into())
        );
        assert_eq!(
            PeerAddr::parse("[::1]:18444")
                .map(|a| a.key().to_owned())
                .ok(),
            Some("[::1]:18444".into())
        );
        assert_eq!(
            PeerAddr::parse("[::ffff:10.0.0.1]:8333")
                .map(|a| a.key().to_owned())
                .ok(),
            Some("10.0.0.1:8333".into())
        );
        assert_eq!(
            PeerAddr::parse("Seed.Example.org:8333")
                .map(|a| a.key().to_owned())
                .ok(),
            Some("seed.example.org:8333".into())
        );
        for bad in [
            "",
            "1.2.3.4",
            "1.2.3.4:0",
            "1.2.3.4:99999",
            "::1:8333",
            "[::1]",
            "host:",
            ":8333",
            "ho st:1",
            "1.2.3.999:8333",
            "a..b:1",
            "-a:1",
        ] {
            assert!(
                matches!(PeerAddr::parse(bad), Err(Error::InvalidAddress { .. })),
                "{bad:?} accepted"
            );
        }
    }

    fn reason(input: &str) -> String {
        match PeerAddr::parse(input) {
            Err(e) => e.to_string(),
            Ok(a) => panic!("{input:?} accepted as {}", a.key()),
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = reason("1.2.3.4:+8333");
        assert!(e.contains("port"), "{e}");
        assert!(!e.contains("IPv4"), "{e}");
        let e = reason("[fe80::1%eth0]:8333");
        assert!(e.contains("zone"), "{e}");
        assert!(e.contains("eth0"), "{e}");
        // A name under .onion is an onion address or nothing: never a host name for the
        // resolver (a DNS leak).
        for (onion, what) in [
            ("EXAMPLE.ONION.:8333", "56 base32 characters"),
            ("expyuzz4wqqyqhjn.onion:8333", "v2"),
            (
                "www.pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion:8333",
                "56 base32",
            ),
            // One character changed: the checksum catches it.
            (
                "pg6mmkiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion:8333",
                "checksum",
            ),
        ] {
            let e = reason(onion);
            assert!(e.contains(what), "{onion}: {e}");
        }
        assert!(parse_peer_address("onion.example.org:8333").is_ok());
        // A huge input is cut, and its length said.
        let huge = "a".repeat(200 * 1024);
        let e = reason(&huge);
        assert!(e.len() < 300, "{} bytes of error", e.len());
        assert!(e.contains("204800 bytes"), "{e}");
    }

    #[test]
    fn tor_v3_onion_names_and_keys() {
        // Real v3 names (the Tor Project's and DuckDuckGo's services), upper or lower case,
        // with or without the final dot, round-trip through their keys.
        for name in [
            "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion",
            "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion",
            "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion",
        ] {
            let key = onion_key(name).expect(name);
            assert_eq!(onion_host(&key), name);
            assert_eq!(onion_key(&format!("{}.", name.to_uppercase())), Ok(key));
            let peer = PeerAddr::parse(&format!("{}:8333", name.to_uppercase())).expect(name);
            assert_eq!(peer.key(), format!("{name}:8333"));
            assert!(peer.is_onion());
            assert_eq!(
                peer.book_addr(),
                Some(BookAddr::new(NetAddr::TorV3(key), 8333))
            );
        }
        // Any key has its name, and the book shows onion entries by it.
        for key in [[0u8; 32], [0xff; 32], [0x5a; 32]] {
            let name = onion_host(&key);
            assert_eq!(name.len(), 56 + 6);
            assert_eq!(onion_key(&name), Ok(key));
            assert_eq!(NetAddr::TorV3(key).to_string(), name);
            assert_eq!(
                PeerAddr::from_book(BookAddr::new(NetAddr::TorV3(key), 8333)).key(),
                format!("{name}:8333")
            );
        }
        assert_eq!(
            onion_key("example.org"),
            Err("not an onion address (NAME.onion)")
        );
    }

    #[test]
    fn unspecified_broadcast_and_multicast_are_no_peers() {
        for (input, what) in [
            ("0.0.0.0:8333", "unspecified"),
            ("[::]:8333", "unspecified"),
            ("255.255.255.255:8333", "broadcast"),
            ("224.0.0.1:8333", "multicast"),
            ("[ff02::1]:8333", "multicast"),
            ("[::ffff:0.0.0.0]:8333", "unspecified"),
        ] {
            let e = reason(input);
            assert!(e.contains(what), "{input}: {e}");
        }
    }

    #[test]
    fn core_bad_ports() {
        for port in [1, 22, 25, 53, 465, 6667, 10080, 27017] {
            assert!(is_bad_port(port), "{port}");
        }
        for port in [8333, 18333, 18444, 38333, 48333, 443, 80, 8080] {
            assert!(!is_bad_port(port), "{port}");
        }
    }

    #[test]
    fn routability() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.1.1",
            "224.0.0.1",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!is_routable(ip.parse().expect("ip")), "{ip} routable");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2a01:4f8::1", "::ffff:8.8.4.4"] {
            assert!(is_routable(ip.parse().expect("ip")), "{ip} not routable");
        }
    }

    #[test]
    fn groups() {
        let g = |s: &str| network_group(s.parse().expect("ip"));
        assert_eq!(g("8.8.8.8"), g("8.8.4.4"));
        assert_ne!(g("8.8.8.8"), g("8.9.8.8"));
        assert_eq!(g("2a01:4f8:1::1"), g("2a01:4f8:2::1"));
        assert_ne!(g("2a01:4f8::1"), g("2a01:4f9::1"));
        assert_eq!(g("::ffff:8.8.8.8"), g("8.8.1.1"));
    }

    #[test]
    fn token_bucket_allows_getaddr_reply_then_throttles() {
        let mut b = AddrTokenBucket::new();
        assert_eq!(b.take(10), 1);
        b.on_getaddr_sent();
        assert_eq!(b.take(1_000), 1_000);
        assert_eq!(b.take(1_000), 0);
    }
}
