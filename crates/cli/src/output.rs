//! What the user sees: events as JSON lines, as plain lines, or as log lines above a live
//! progress display when stdout is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::{Map, Value};

/// Something that happened, in the words of the output. In JSON each is one object whose
/// `event` field is the variant's name in snake case (`peer_connected`), then `t`, then the
/// fields, as serde derives them.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run started.
    Start {
        /// `demo` or `connect`.
        mode: &'static str,
        /// The network's name.
        network: String,
        /// The peers given (or the simulated node the client starts from).
        peers: Vec<String>,
        /// The client's max_peers.
        max_peers: usize,
    },
    /// The address book was loaded (or started empty).
    AddressBook {
        /// Its file, if it is kept on disk.
        path: Option<String>,
        /// Addresses heard of.
        new: usize,
        /// Addresses connected to before.
        tried: usize,
    },
    /// A Bitcoin Core peers.dat was imported into the address book.
    Imported {
        /// The file.
        path: String,
        /// Addresses added to the new table.
        new: usize,
        /// Addresses added to the tried table.
        tried: usize,
    },
    /// No peer was given: the client starts from its address book and these DNS seeds.
    Bootstrap {
        /// The DNS seeds asked when the book is short.
        seeds: Vec<String>,
    },
    /// The simulated network is up.
    Simnet {
        /// Number of nodes.
        nodes: usize,
        /// Height of their chain.
        height: u32,
        /// Its tip.
        tip: String,
        /// The node that goes down and comes back, if any.
        flapping: Option<String>,
        /// The node that sends garbage, if any.
        garbage: Option<String>,
    },
    /// A peer was added (given by the user, or discovered).
    PeerAdded {
        /// The peer.
        peer: String,
        /// Learned through discovery.
        discovered: bool,
    },
    /// A peer finished its handshake.
    PeerConnected {
        /// The peer.
        peer: String,
        /// Its user agent.
        user_agent: String,
        /// The height it announced.
        start_height: i32,
        /// It had been connected before.
        reconnect: bool,
        /// Learned through discovery.
        discovered: bool,
        /// Connected peers now.
        connected: usize,
        /// The transport: `v1` or `v2`.
        transport: String,
        /// The BIP324 session id (v2 only), as Bitcoin Core's `getpeerinfo` shows it.
        #[serde(skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
    },
    /// A connected peer was disconnected.
    PeerDisconnected {
        /// The peer.
        peer: String,
        /// Why, in words.
        reason: String,
        /// Why, as a keyword.
        kind: &'static str,
    },
    /// Connection attempts to a peer failed.
    PeerFailure {
        /// The peer.
        peer: String,
        /// Its consecutive failures now.
        failures: u32,
        /// The last error.
        error: String,
        /// Milliseconds until the next attempt.
        retry_in_ms: u64,
    },
    /// A peer became unhealthy.
    PeerUnhealthy {
        /// The peer.
        peer: String,
        /// Its consecutive failures.
        failures: u32,
    },
    /// A peer is no longer managed (dropped as unhealthy, or removed).
    PeerDropped {
        /// The peer.
        peer: String,
    },
    /// The client manages max_peers peers.
    MaxPeers {
        /// The limit.
        max: usize,
    },
    /// Headers are asked from this peer.
    SyncPeer {
        /// The peer.
        peer: String,
        /// Our height when asking.
        height: u32,
        /// The height the peer announced.
        peer_height: i32,
    },
    /// A `headers` message was accepted.
    Headers {
        /// From.
        peer: String,
        /// Headers in the message.
        count: usize,
        /// Added to the best chain.
        new: usize,
        /// Height after it.
        height: u32,
        /// Set when part of the chain was replaced: the last common height.
        reorg_from: Option<u32>,
    },
    /// The chain reached the best height the peers announced.
    Synced {
        /// Height.
        height: u32,
        /// Tip hash.
        tip: String,
    },
    /// An `addr`/`addrv2` message arrived.
    Addr {
        /// From.
        peer: String,
        /// Entries.
        count: usize,
    },
    /// A fault injected into the simulated network.
    Fault {
        /// The node.
        node: String,
        /// What happened to it.
        what: String,
    },
    /// Something went wrong.
    Error {
        /// The peer concerned, if any.
        peer: Option<String>,
        /// What.
        message: String,
    },
    /// The end of the run.
    Summary(Summary),
}

/// The closing figures.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Whether the run reached its goal (a peer connected).
    pub ok: bool,
    /// Why it ended: `duration`, `interrupted`, `synced`, `no_peer_connected`.
    pub end: &'static str,
    /// Seconds.
    #[serde(rename = "elapsed_secs", serialize_with = "secs3")]
    pub elapsed: Duration,
    /// Distinct peers that completed a handshake.
    pub peers_reached: usize,
    /// Most peers connected at once.
    pub max_connected: usize,
    /// Peers connected when the run ended.
    pub connected_at_end: usize,
    /// Headers synced after genesis (the chain's height).
    pub headers_synced: u32,
    /// The best height peers announced (or the simulated chain's).
    pub target_height: u32,
    /// The tip.
    pub tip: String,
    /// Disconnections (other than by stopping).
    pub disconnections: usize,
    /// Handshakes with peers that had been connected before.
    pub reconnections: usize,
    /// Peer faults the client went through: failed connection attempts, disconnections by
    /// the peer's fault, invalid headers, stalled syncs, injected faults.
    pub faults_survived: usize,
    /// Peers removed for invalid headers.
    pub peers_removed: usize,
    /// One line per managed peer at the end.
    pub peers: Vec<PeerLine>,
}

/// A peer in the closing table.
#[derive(Debug, Clone, Serialize)]
pub struct PeerLine {
    /// Address.
    #[serde(rename = "peer")]
    pub addr: String,
    /// Status.
    pub status: String,
    /// Consecutive failures.
    pub failures: u32,
    /// Discovered or given.
    pub discovered: bool,
    /// User agent, once connected.
    pub user_agent: Option<String>,
    /// Messages received.
    pub messages_in: u64,
}

fn secs3<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round3(*d))
}

impl Event {
    /// The event as one JSON object: `event`, `t` (seconds since the start), then its fields.
    pub fn to_json(&self, t: Duration) -> Value {
        let mut map = Map::new();
        match serde_json::to_value(self) {
            Ok(Value::Object(fields)) => {
                let mut fields = fields.into_iter();
                // serde puts the tag first.
                if let Some((tag, name)) = fields.next() {
                    map.insert(tag, name);
                }
                map.insert("t".into(), Value::from(round3(t)));
                map.extend(fields);
            }
            Ok(other) => {
                map.insert("event".into(), other);
            }
            Err(e) => {
                map.insert("event".into(), Value::from("error"));
                map.insert("message".into(), Value::from(e.to_string()));
            }
        }
        Value::Object(map)
    }

    /// The event as a line of text (the summary is several lines).
    pub fn to_text(&self) -> String {
        match self {
            Event::Start {
                mode,
                network,
                peers,
                max_peers,
            } => format!(
                "{mode} on {network}: starting from {}, max {max_peers} peers",
                if peers.is_empty() {
                    "the address book".to_owned()
                } else {
                    peers.join(", ")
                }
            ),
            Event::Simnet {
                nodes,
                height,
                tip,
                flapping,
                garbage,
            } => {
                let mut s = format!(
                    "simulated network: {nodes} nodes, chain of {height} headers (tip {})",
                    short(tip)
                );
                if let Some(f) = flapping {
                    s.push_str(&format!("; {f} flaps"));
                }
                if let Some(g) = garbage {
                    s.push_str(&format!("; {g} sends garbage"));
                }
                s
            }
            Event::PeerAdded { peer, discovered } => {
                if *discovered {
                    format!("+ {peer} discovered")
                } else {
                    format!("+ {peer} added")
                }
            }
            Event::PeerConnected {
                peer,
                user_agent,
                start_height,
                reconnect,
                discovered,
                connected,
                transport,
                session_id: _,
            } => format!(
                "{} {peer} {} ({}{user_agent}, height {start_height}, {transport}) - {connected} connected",
                if *reconnect { "↻" } else { "✓" },
                if *reconnect {
                    "reconnected"
                } else {
                    "connected"
                },
                if *discovered && !*reconnect {
                    "discovered, "
                } else {
                    ""
                },
            ),
            Event::PeerDisconnected { peer, reason, .. } => {
                format!("✗ {peer} disconnected: {reason}")
            }
            Event::PeerFailure {
                peer,
                failures,
                error,
                retry_in_ms,
            } => format!(
                "! {peer} connection failed ({failures} in a row): {error}; retry in {:.1}s",
                *retry_in_ms as f64 / 1000.0
            ),
            Event::PeerUnhealthy { peer, failures } => {
                format!("! {peer} is unhealthy after {failures} failures")
            }
            Event::PeerDropped { peer } => format!("- {peer} no longer managed"),
            Event::MaxPeers { max } => format!("max peers reached ({max})"),
            Event::AddressBook { path, new, tried } => match path {
                Some(p) => format!("address book {p}: {new} new, {tried} tried"),
                None => format!("address book (in memory): {new} new, {tried} tried"),
            },
            Event::Imported { path, new, tried } => {
                format!("imported {} addresses from {path} ({new} new, {tried} tried)", new + tried)
            }
            Event::Bootstrap { seeds } if seeds.is_empty() => {
                "no peer given: starting from the address book (no DNS seed to ask)".into()
            }
            Event::Bootstrap { seeds } => format!(
                "no peer given: starting from the address book, asking the DNS seeds when it is short ({})",
                seeds.join(", ")
            ),
            Event::SyncPeer {
                peer,
                height,
                peer_height,
            } => format!("syncing headers from {peer} (ours {height}, theirs {peer_height})"),
            Event::Headers {
                peer,
                count,
                new,
                height,
                reorg_from,
            } => {
                let mut s = format!("headers: {count} from {peer}, {new} new, height {height}");
                if let Some(f) = reorg_from {
                    s.push_str(&format!(" (replaced the chain after height {f})"));
                }
                s
            }
            Event::Synced { height, tip } => {
                format!("headers synced: height {height}, tip {}", short(tip))
            }
            Event::Addr { peer, count } => format!("addr: {count} addresses from {peer}"),
            Event::Fault { node, what } => format!("⚡ fault: {node} {what}"),
            Event::Error { peer, message } => match peer {
                Some(p) => format!("error: {p}: {message}"),
                None => format!("error: {message}"),
            },
            Event::Summary(s) => summary_text(s),
        }
    }
}

fn round3(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// The first and last characters of a hash.
fn short(hash: &str) -> String {
    if hash.is_ascii() && hash.len() > 20 {
        format!("{}…{}", &hash[..8], &hash[hash.len() - 8..])
    } else {
        hash.to_owned()
    }
}

fn summary_text(s: &Summary) -> String {
    let mut out = String::new();
    out.push_str("summary\n");
    out.push_str(&format!(
        "  elapsed          {:.1} s ({})\n",
        s.elapsed.as_secs_f64(),
        match s.end {
            "duration" => "duration reached",
            "interrupted" => "interrupted",
            "synced" => "headers synced",
            "no_peer_connected" => "no peer connected",
            other => other,
        }
    ));
    out.push_str(&format!(
        "  peers reached    {} (at most {} at once, {} connected at the end)\n",
        s.peers_reached, s.max_connected, s.connected_at_end
    ));
    out.push_str(&format!(
        "  headers synced   {} of {} (tip {})\n",
        s.headers_synced,
        s.target_height,
        short(&s.tip)
    ));
    out.push_str(&format!(
        "  disconnections   {}, reconnections {}\n",
        s.disconnections, s.reconnections
    ));
    out.push_str(&format!(
        "  faults survived  {}{}\n",
        s.faults_survived,
        if s.peers_removed > 0 {
            format!(" ({} peers removed for invalid headers)", s.peers_removed)
        } else {
            String::new()
        }
    ));
    if !s.peers.is_empty() {
        let width = s
            .peers
            .iter()
            .map(|p| p.addr.len())
            .max()
            .unwrap_or(4)
            .max(4);
        out.push_str(&format!(
            "  {:<width$}  {:<12} {:>5} {:>8}  {:<10} USER AGENT\n",
            "PEER", "STATUS", "FAILS", "MSGS IN", "ORIGIN"
        ));
        for p in &s.peers {
            out.push_str(&format!(
                "  {:<width$}  {:<12} {:>5} {:>8}  {:<10} {}\n",
                p.addr,
                p.status,
                p.failures,
                p.messages_in,
                if p.discovered { "discovered" } else { "given" },
                p.user_agent.as_deref().unwrap_or("-"),
            ));
        }
    }
    out.pop();
    out
}

enum Mode {
    Json,
    Plain,
    Live {
        multi: MultiProgress,
        headers: ProgressBar,
        status: ProgressBar,
    },
}

/// Where events go.
pub struct Output {
    mode: Mode,
    start: Instant,
}

impl Output {
    /// JSON lines when `json`; a live display when stdout is a terminal; plain lines otherwise.
    pub fn new(json: bool, start: Instant) -> Output {
        let mode = if json {
            Mode::Json
        } else if std::io::stdout().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(10));
            let style = ProgressStyle::with_template(
                "headers {wide_bar:.cyan/blue} {pos}/{len} ({percent}%)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("█▉▊▋▌▍▎▏ ");
            let headers = multi.add(ProgressBar::new(0).with_style(style));
            let status = multi.add(
                ProgressBar::new_spinner().with_style(
                    ProgressStyle::with_template("{spinner} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                ),
            );
            status.enable_steady_tick(Duration::from_millis(200));
            Mode::Live {
                multi,
                headers,
                status,
            }
        } else {
            Mode::Plain
        };
        Output { mode, start }
    }

    /// Whether output is JSON.
    pub fn is_json(&self) -> bool {
        matches!(self.mode, Mode::Json)
    }

    /// Shows an event.
    pub fn emit(&self, event: &Event) {
        let t = self.start.elapsed();
        match &self.mode {
            Mode::Json => write_stdout(&event.to_json(t).to_string()),
            Mode::Plain => {
                write_stdout(&format!("[{:>6.2}s] {}", t.as_secs_f64(), event.to_text()))
            }
            Mode::Live { multi, .. } => {
                if let Event::Summary(_) = event {
                    return;
                }
                let line = format!("[{:>6.2}s] {}", t.as_secs_f64(), event.to_text());
                if multi.println(&line).is_err() {
                    write_stdout(&line);
                }
            }
        }
    }

    /// Updates the header progress.
    pub fn progress(&self, height: u32, target: u32) {
        if let Mode::Live { headers, .. } = &self.mode {
            headers.set_length(u64::from(target.max(height)));
            headers.set_position(u64::from(height));
        }
    }

    /// Updates the status line; `text` is only built when there is a live display.
    pub fn status(&self, text: impl FnOnce() -> String) {
        if let Mode::Live { status, .. } = &self.mode {
            status.set_message(text());
        }
    }

    /// Removes the live display and prints the summary.
    pub fn finish(&self, summary: &Event) {
        match &self.mode {
            Mode::Json => self.emit(summary),
            Mode::Plain => write_stdout(&summary.to_text()),
            Mode::Live {
                multi,
                headers,
                status,
            } => {
                status.finish_and_clear();
                headers.finish_and_clear();
                let _ = multi.clear();
                write_stdout(&summary.to_text());
            }
        }
    }
}

/// Writes a line to stdout, ignoring a closed pipe rather than panicking.
fn write_stdout(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod json_tests {
    use super::*;

    #[test]
    fn event_then_t_then_the_fields_in_snake_case() {
        let e = Event::PeerFailure {
            peer: "1.2.3.4:8333".into(),
            failures: 2,
            error: "connect failed".into(),
            retry_in_ms: 10_000,
        };
        assert_eq!(
            e.to_json(Duration::from_millis(1500)).to_string(),
            r#"{"event":"peer_failure","t":1.5,"peer":"1.2.3.4:8333","failures":2,"error":"connect failed","retry_in_ms":10000}"#
        );
        let s = Event::MaxPeers { max: 8 }.to_json(Duration::ZERO);
        assert_eq!(s.to_string(), r#"{"event":"max_peers","t":0.0,"max":8}"#);
    }
}
