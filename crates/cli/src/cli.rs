//! Command-line arguments.

use std::time::Duration;

use btcclient_manager::{Backoff, Config, ConfigBuilder, Delivery, Network, Proxy, Transport};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// A Bitcoin P2P client: keeps connections to peers alive, discovers more, and syncs block
/// headers, showing everything as it happens.
///
/// Run without arguments it is `btcclient demo`: a simulated network of nodes on this machine
/// (one of them drops off and comes back every few seconds, one sends garbage), and a client
/// that discovers them all and syncs their headers.
///
/// `btcclient connect` does the same against real nodes of a Bitcoin network.
///
/// Exit status: 0 when the run ended as planned (its duration passed, Ctrl-C, or the headers
/// were synced with --exit-when-synced); 1 when no peer could be connected or the simulated
/// network could not start; 2 for bad arguments.
#[derive(Debug, Parser)]
#[command(
    name = "btcclient",
    version,
    about,
    long_about,
    max_term_width = 100,
    after_help = EXAMPLES
)]
pub struct Cli {
    /// What to run (default: demo).
    #[command(subcommand)]
    pub command: Option<Command>,
}

const EXAMPLES: &str = "\
Examples:
  btcclient                                    the demo: 25 nodes, 5,000 headers, 20 seconds
  btcclient demo --nodes 40 --duration 1m      a bigger demo
  btcclient demo --json | jq -c 'select(.event == \"summary\")'
  btcclient connect --network testnet4 node.example.org other.example.org:48333
  btcclient connect -n regtest --allow-local-addresses --exit-when-synced 127.0.0.1:18444

With --json every line is one object with \"event\" (its kind) and \"t\" (seconds since the
start), e.g. {\"event\":\"headers\",\"t\":0.21,\"peer\":\"127.0.0.1:40001\",\"count\":2000,
\"new\":2000,\"height\":2000,\"reorg_from\":null}; peer_disconnected has \"reason\" and
\"kind\" (remote_closed, protocol_violation, ping_timeout, write_timeout, io, removed,
unhealthy, stopped); the last line is always the summary (ok, end, elapsed_secs,
peers_reached, headers_synced, target_height, tip, disconnections, reconnections,
faults_survived, peers_removed, peers).";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the client against a simulated network on 127.0.0.1 (the default).
    ///
    /// Starts --nodes simulated nodes that share a chain of --chain-length headers and tell
    /// each other's addresses; the last node goes down and comes back every few seconds, the
    /// one before it answers with garbage. The client is pointed at the first node, discovers
    /// the others, syncs the headers and survives the faults.
    Demo(DemoArgs),
    /// Connect to real nodes, discover peers and sync headers from the genesis block.
    ///
    /// Every header is checked: it must link to the header before it and meet its own
    /// proof-of-work target (within the network's limit). A peer that sends headers that fail
    /// is reported and removed. Exits 1 when none of the given peers can be connected.
    Connect(Box<ConnectArgs>),
}

/// Output and run-length options shared by both subcommands.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// How long to run, e.g. 20s, 500ms, 2m, 1h; 0 runs until Ctrl-C.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "20s")]
    pub duration: Duration,

    /// Print one JSON object per line (events: start, peer_added, peer_connected,
    /// peer_disconnected, peer_failure, peer_unhealthy, peer_dropped, max_peers, sync_peer,
    /// headers, synced, addr, fault, error, summary) and nothing else on stdout.
    #[arg(long)]
    pub json: bool,

    /// Log the client library's own tracing to stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// `btcclient demo`.
#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Number of simulated nodes (1 to 250).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..=250))]
    pub nodes: u16,

    /// Headers in the simulated chain after the genesis block (0 to 100000).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub chain_length: u32,

    /// Most peers the client manages at once [default: the number of nodes].
    #[arg(long, value_name = "N")]
    pub max_peers: Option<usize>,

    /// Seconds between the flapping node's going down and coming back (and back down).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "2s")]
    pub flap_every: Duration,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunArgs,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            nodes: 25,
            chain_length: 5_000,
            max_peers: None,
            flap_every: Duration::from_secs(2),
            run: RunArgs {
                duration: Duration::from_secs(20),
                json: false,
                verbose: 0,
            },
        }
    }
}

/// A network name on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkArg(pub Network);

/// Parses a network name for clap.
fn parse_network(s: &str) -> Result<NetworkArg, String> {
    Network::from_name(s).map(NetworkArg).ok_or_else(|| {
        format!("unknown network {s:?}; expected mainnet, testnet4, testnet3, signet or regtest")
    })
}

/// How listener callbacks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeliveryArg {
    /// One at a time on one dispatcher thread.
    Serialized,
    /// Concurrently across peers, in order per peer.
    Concurrent,
}

/// The transport spoken to peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// BIP324 v2 where the peer speaks it (peers given here, discovered ones that advertise
    /// NODE_P2P_V2); a peer that hangs up on the v2 key is dialled again over v1 at once.
    #[value(name = "v2-preferred")]
    V2Preferred,
    /// Plaintext v1 only.
    #[value(name = "v1")]
    V1,
    /// BIP324 v2 only: peers that do not speak it fail.
    #[value(name = "v2")]
    V2,
}

/// Reconnection backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackoffArg {
    /// Always --reconnect-delay.
    Fixed,
    /// --reconnect-delay doubled after each consecutive failure, up to --backoff-max.
    Exponential,
}

/// `btcclient connect`.
#[derive(Debug, Args, Clone)]
pub struct ConnectArgs {
    /// Peers to connect to: HOST:PORT, IPv4:PORT, `[IPv6]:PORT` or a Tor NAME.onion:PORT (with
    /// --proxy or --onion-proxy; the port may be left out for the network's default port). None: the client starts from its address book, and asks
    /// the network's DNS seeds when the book is short.
    #[arg(value_name = "HOST:PORT")]
    pub peers: Vec<String>,

    /// Where the address book is kept, as DIR/NETWORK/addrbook.dat [default: the platform's
    /// data directory: $XDG_DATA_HOME/btcclient or ~/.local/share/btcclient].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,

    /// Keep the address book in memory only.
    #[arg(long, conflicts_with = "data_dir")]
    pub no_data_dir: bool,

    /// First add the addresses of a Bitcoin Core peers.dat (a node's data directory has one)
    /// to the address book.
    #[arg(long, value_name = "PATH")]
    pub import_peers_dat: Option<std::path::PathBuf>,

    /// Network: mainnet, testnet4, testnet3, signet or regtest.
    #[arg(long, short = 'n', value_name = "NETWORK", value_parser = parse_network, default_value = "mainnet")]
    pub network: NetworkArg,

    /// Stop as soon as the headers are synced to the best height the connected peers
    /// announced (or when --duration runs out, whichever comes first).
    #[arg(long)]
    pub exit_when_synced: bool,

    /// Time a sync peer may take to answer getheaders before another peer is asked.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "20s")]
    pub sync_timeout: Duration,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub config: ConfigArgs,
}

/// One flag per client configuration field; a flag left out keeps the library's default.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Client configuration")]
pub struct ConfigArgs {
    /// Most peers managed at once, given and discovered [default: 30].
    #[arg(long, value_name = "N")]
    pub max_peers: Option<usize>,

    /// Consecutive failures after which a peer is marked unhealthy [default: 10].
    #[arg(long, value_name = "N")]
    pub max_failure_count: Option<u32>,

    /// How often the health check runs [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub health_check_interval: Option<Duration>,

    /// Delay before reconnecting, the first step of the backoff [default: 5s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub reconnect_delay: Option<Duration>,

    /// Reconnection backoff [default: exponential].
    #[arg(long, value_enum)]
    pub backoff: Option<BackoffArg>,

    /// Longest delay of the exponential backoff [default: 10m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub backoff_max: Option<Duration>,

    /// TCP connect timeout [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub connection_timeout: Option<Duration>,

    /// Time allowed for the version/verack handshake [default: 60s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub handshake_timeout: Option<Duration>,

    /// Interval between our pings [default: 2m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub ping_interval: Option<Duration>,

    /// Disconnect a peer whose pong does not come within this time [default: 20m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub pong_timeout: Option<Duration>,

    /// Disconnect a peer that does not take our bytes within this time [default: 2m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub write_timeout: Option<Duration>,

    /// User agent sent in our version message [default: /btcclient:VERSION/].
    #[arg(long, value_name = "TEXT")]
    pub user_agent: Option<String>,

    /// Service bits we advertise, as a number (e.g. 0x408) [default: 0].
    #[arg(long, value_name = "BITS", value_parser = parse_u64)]
    pub services: Option<u64>,

    /// Ask peers not to announce transactions (relay flag false in our version).
    #[arg(long)]
    pub no_relay: bool,

    /// Dial discovered loopback and private addresses, and more than one peer per network
    /// group (for regtest and local test networks).
    #[arg(long)]
    pub allow_local_addresses: bool,

    /// Do not learn peers from addr/addrv2 messages; use only the peers given.
    #[arg(long)]
    pub no_discovery: bool,

    /// Largest message payload accepted, in bytes [default: 4000000].
    #[arg(long, value_name = "BYTES")]
    pub max_message_size: Option<usize>,

    /// Bytes that may wait in one peer's send queue [default: 16777216].
    #[arg(long, value_name = "BYTES")]
    pub send_queue_bytes: Option<usize>,

    /// Messages that may wait in one peer's send queue [default: 1024].
    #[arg(long, value_name = "N")]
    pub send_queue_len: Option<usize>,

    /// Events that may wait for delivery before peers' reading pauses [default: 256].
    #[arg(long, value_name = "N")]
    pub event_queue_len: Option<usize>,

    /// How the client runs its callbacks [default: serialized].
    #[arg(long, value_enum)]
    pub delivery: Option<DeliveryArg>,

    /// Discovered peers to keep connected, one per network group, drawn from the address
    /// book [default: up to --max-peers; Bitcoin Core keeps 8].
    #[arg(long, value_name = "N")]
    pub target_outbound: Option<usize>,

    /// A DNS seed to ask when the address book is short; repeat for several [default: the
    /// network's seeds, Bitcoin Core's list; none on regtest].
    #[arg(long = "dns-seed", value_name = "HOST")]
    pub dns_seeds: Vec<String>,

    /// Ask no DNS seed.
    #[arg(long, conflicts_with = "dns_seeds")]
    pub no_dns_seeds: bool,

    /// The transport spoken to peers [default: v2-preferred, as Bitcoin Core].
    #[arg(long, value_enum)]
    pub transport: Option<TransportArg>,
    /// Send every connection through this SOCKS5 proxy (e.g. Tor's, 127.0.0.1:9050): host
    /// names are resolved by the proxy, never here; DNS seeds are asked through it; onion
    /// addresses too unless --onion-proxy is given [default: direct connections].
    #[arg(long, value_name = "HOST:PORT", value_parser = Proxy::parse)]
    pub proxy: Option<Proxy>,

    /// Username for --proxy [default: fresh random credentials per connection, which gives
    /// each connection its own Tor circuit].
    #[arg(long, value_name = "USER", requires_all = ["proxy", "proxy_password"])]
    pub proxy_username: Option<String>,

    /// Password for --proxy.
    #[arg(long, value_name = "PASSWORD", requires_all = ["proxy", "proxy_username"])]
    pub proxy_password: Option<String>,

    /// Reach Tor onion addresses (NAME.onion:PORT) through this SOCKS5 proxy, with fresh
    /// random credentials per connection [default: --proxy; without either, onion addresses
    /// are refused].
    #[arg(long, value_name = "HOST:PORT", value_parser = Proxy::parse)]
    pub onion_proxy: Option<Proxy>,
}

impl ConfigArgs {
    /// A configuration builder with these flags applied over the library's defaults.
    pub fn apply(&self, network: Network) -> ConfigBuilder {
        let defaults = Config::default();
        let mut b = Config::builder().network(network);
        if let Some(v) = self.max_peers {
            b = b.max_peers(v);
        }
        if let Some(v) = self.max_failure_count {
            b = b.max_failure_count(v);
        }
        if let Some(v) = self.health_check_interval {
            b = b.health_check_interval(v);
        }
        if let Some(v) = self.reconnect_delay {
            b = b.reconnect_delay(v);
        }
        let default_max = match defaults.backoff {
            Backoff::Exponential { max } => max,
            Backoff::Fixed => Duration::from_secs(600),
        };
        match (self.backoff, self.backoff_max) {
            (Some(BackoffArg::Fixed), _) => b = b.backoff(Backoff::Fixed),
            (Some(BackoffArg::Exponential), max) | (None, max @ Some(_)) => {
                b = b.backoff(Backoff::Exponential {
                    max: max.unwrap_or(default_max),
                })
            }
            (None, None) => {}
        }
        if let Some(v) = self.connection_timeout {
            b = b.connection_timeout(v);
        }
        if let Some(v) = self.handshake_timeout {
            b = b.handshake_timeout(v);
        }
        if let Some(v) = self.ping_interval {
            b = b.ping_interval(v);
        }
        if let Some(v) = self.pong_timeout {
            b = b.pong_timeout(v);
        }
        if let Some(v) = self.write_timeout {
            b = b.write_timeout(v);
        }
        if let Some(v) = &self.user_agent {
            b = b.user_agent(v.clone());
        }
        if let Some(v) = self.services {
            b = b.services(bitcoin::p2p::ServiceFlags::from(v));
        }
        if self.no_relay {
            b = b.relay(false);
        }
        if self.allow_local_addresses {
            b = b.allow_local_addresses(true);
        }
        if self.no_discovery {
            b = b.discovery(false);
        }
        if let Some(v) = self.max_message_size {
            b = b.max_message_size(v);
        }
        if let Some(v) = self.send_queue_bytes {
            b = b.send_queue_bytes(v);
        }
        if let Some(v) = self.send_queue_len {
            b = b.send_queue_len(v);
        }
        if let Some(v) = self.event_queue_len {
            b = b.event_queue_len(v);
        }
        if let Some(v) = self.delivery {
            b = b.delivery(match v {
                DeliveryArg::Serialized => Delivery::Serialized,
                DeliveryArg::Concurrent => Delivery::Concurrent,
            });
        }
        if let Some(v) = self.target_outbound {
            b = b.target_outbound(Some(v));
        }
        if let Some(v) = self.transport {
            b = b.transport(match v {
                TransportArg::V2Preferred => Transport::V2Preferred,
                TransportArg::V1 => Transport::V1Only,
                TransportArg::V2 => Transport::V2Only,
            });
        }
        if self.no_dns_seeds {
            b = b.dns_seeds(Some(Vec::new()));
        } else if !self.dns_seeds.is_empty() {
            b = b.dns_seeds(Some(self.dns_seeds.clone()));
        }
        let proxy =
            self.proxy
                .clone()
                .map(|p| match (&self.proxy_username, &self.proxy_password) {
                    (Some(user), Some(password)) => p.with_credentials(user, password),
                    _ => p,
                });
        b.proxy(proxy).onion_proxy(self.onion_proxy.clone())
    }
}

/// The platform's data directory for btcclient: `$XDG_DATA_HOME/btcclient`, else
/// `~/.local/share/btcclient` (`~/Library/Application Support/btcclient` on macOS); None
/// when neither variable is set.
pub fn default_data_dir() -> Option<std::path::PathBuf> {
    let home = || {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(std::path::PathBuf::from)
    };
    if cfg!(target_os = "macos") {
        return home().map(|h| h.join("Library/Application Support/btcclient"));
    }
    std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| home().map(|h| h.join(".local/share")))
        .map(|d| d.join("btcclient"))
}

/// Parses `20s`, `500ms`, `2m`, `1h`, `1.5s` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (examples: 20s, 500ms, 2m, 1h)"))?;
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 0.001,
        "m" | "min" | "mins" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?} (use ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("{s:?}: {e}"))
}

/// Parses a decimal or 0x-prefixed hexadecimal number.
fn parse_u64(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    parsed.map_err(|_| format!("{s:?} is not a number"))
}

/// Adds the network's default port to `HOST` or a bare IP address.
pub fn with_default_port(addr: &str, port: u16) -> String {
    let a = addr.trim();
    if let Ok(ip) = a.parse::<std::net::IpAddr>() {
        return std::net::SocketAddr::new(ip, port).to_string();
    }
    if !a.is_empty() && !a.contains(':') {
        return format!("{a}:{port}");
    }
    a.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("20"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("1e400").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn default_ports() {
        assert_eq!(with_default_port("1.2.3.4", 8333), "1.2.3.4:8333");
        assert_eq!(with_default_port("::1", 8333), "[::1]:8333");
        assert_eq!(with_default_port("node.example", 8333), "node.example:8333");
        assert_eq!(with_default_port("node.example:1", 8333), "node.example:1");
    }

    #[test]
    fn networks() {
        assert_eq!(parse_network("testnet4"), Ok(NetworkArg(Network::Testnet4)));
        assert!(matches!(parse_network("nonsense"), Err(e) if e.contains("unknown network")));
    }
}
