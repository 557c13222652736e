//! Dialling through a SOCKS5 proxy (RFC 1928, with RFC 1929 username/password), as Bitcoin
//! Core's `-proxy`/`-onion` do.
//!
//! - Host names (and `.onion` names) go to the proxy as domain-name requests (ATYP 3): the
//!   proxy resolves them, the local resolver is never asked.
//! - Authentication: "no authentication" is always offered; username/password too when
//!   credentials are configured or [`Credentials::Random`] is chosen (Core's
//!   `-proxyrandomize`: fresh random credentials per connection, so Tor puts each connection
//!   on its own circuit). The proxy picks; a proxy that accepts only "no authentication"
//!   (microsocks without `-u`) gets none.
//! - A failure says whose fault it is ([`ProxyError::blames_target`]): the reply codes that
//!   blame the destination (network or host unreachable, connection refused, TTL expired, and
//!   Tor's onion-service codes) are the peer's failure; a proxy that cannot be reached, fails
//!   authentication, answers "general failure", refuses by its rules or speaks something else
//!   is the proxy's fault, and must not count against the address.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};

use rand::Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const VERSION: u8 = 0x05;
const NO_AUTH: u8 = 0x00;
const USER_PASS: u8 = 0x02;
const NO_ACCEPTABLE: u8 = 0xff;
const CONNECT: u8 = 0x01;
const ATYP_IPV4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_IPV6: u8 = 0x04;
const AUTH_VERSION: u8 = 0x01;

/// How the client authenticates to a proxy.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Credentials {
    /// Fresh random username and password for every connection, offered beside "no
    /// authentication" (Bitcoin Core's `-proxyrandomize`, its default): with Tor, every
    /// connection gets its own circuit. A proxy that accepts only "no authentication" gets
    /// none.
    #[default]
    Random,
    /// No credentials: only "no authentication" is offered.
    None,
    /// These credentials (each at most 255 bytes, not empty), offered beside "no
    /// authentication".
    UserPass {
        /// The username.
        username: String,
        /// The password.
        password: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Random => f.write_str("Random"),
            Credentials::None => f.write_str("None"),
            // The password stays out of logs.
            Credentials::UserPass { username, .. } => f
                .debug_struct("UserPass")
                .field("username", username)
                .field("password", &"…")
                .finish(),
        }
    }
}

impl Credentials {
    /// The username and password offered on one connection, if any.
    fn for_connection(&self) -> Option<(String, String)> {
        match self {
            Credentials::None => None,
            Credentials::UserPass { username, password } => {
                Some((username.clone(), password.clone()))
            }
            Credentials::Random => {
                let mut rng = rand::thread_rng();
                let token = |rng: &mut rand::rngs::ThreadRng| format!("{:016x}", rng.gen::<u64>());
                Some((token(&mut rng), token(&mut rng)))
            }
        }
    }

    /// Checks configured credentials (RFC 1929: 1 to 255 bytes each).
    pub fn validate(&self) -> Result<(), String> {
        if let Credentials::UserPass { username, password } = self {
            for (what, value) in [("username", username), ("password", password)] {
                check_credential(value).map_err(|e| format!("the proxy {what} {e}"))?;
            }
        }
        Ok(())
    }
}

/// Whether `value` can be a SOCKS5 username or password (RFC 1929: 1 to 255 bytes); why not
/// when it cannot ("must be 1 to 255 bytes (is N)").
pub fn check_credential(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > 255 {
        return Err(format!("must be 1 to 255 bytes (is {})", value.len()));
    }
    Ok(())
}

/// A SOCKS5 proxy: where it listens and how to authenticate to it
/// ([`Config::proxy`](crate::Config::proxy), [`Config::onion_proxy`](crate::Config::onion_proxy)).
///
/// ```
/// use btcclient_manager::socks5::{Credentials, Proxy};
///
/// let tor: Proxy = "127.0.0.1:9050".parse().unwrap();
/// assert_eq!(tor.credentials, Credentials::Random);
/// assert_eq!(tor.to_string(), "127.0.0.1:9050");
/// let with_login = Proxy::parse("[::1]:1080").unwrap().with_credentials("alice", "secret");
/// assert_eq!(with_login.to_string(), "[::1]:1080");
/// assert!(Proxy::parse("127.0.0.1:0").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The proxy's IP address or host name (an IPv6 address without brackets). A host name
    /// is resolved with [`Config::resolver`](crate::Config::resolver) at each connection: the
    /// only name the client resolves itself while a proxy is set.
    pub host: String,
    /// The proxy's port (not 0).
    pub port: u16,
    /// How the client authenticates. Default [`Credentials::Random`].
    pub credentials: Credentials,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("addr", &self.to_string())
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl std::str::FromStr for Proxy {
    type Err = String;

    fn from_str(s: &str) -> Result<Proxy, String> {
        Proxy::parse(s)
    }
}

impl Proxy {
    /// Parses `IPv4:PORT`, `[IPv6]:PORT` or `HOST:PORT`, with [`Credentials::Random`]. The
    /// error says what is wrong (empty host, no port, port 0, …).
    pub fn parse(addr: &str) -> Result<Proxy, String> {
        let s = addr.trim();
        let proxy = |host: String, port: u16| Proxy {
            host,
            port,
            credentials: Credentials::Random,
        };
        if s.is_empty() {
            return Err("empty proxy address: expected HOST:PORT".to_owned());
        }
        if s.len() > 300 {
            return Err(format!(
                "a proxy address is HOST:PORT, at most 300 bytes (is {})",
                s.len()
            ));
        }
        let port_of = |p: &str| -> Result<u16, String> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "{s:?}: the proxy's port is not a number from 1 to 65535"
                ));
            }
            match p.parse::<u16>() {
                Ok(0) => Err(format!("{s:?}: the proxy's port must not be 0")),
                Ok(port) => Ok(port),
                Err(_) => Err(format!(
                    "{s:?}: the proxy's port is not a number from 1 to 65535"
                )),
            }
        };
        if let Some(rest) = s.strip_prefix('[') {
            let Some((ip, port)) = rest.split_once(']') else {
                return Err(format!("{s:?}: an IPv6 proxy is written [ADDRESS]:PORT"));
            };
            if ip.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("{s:?}: invalid IPv6 address"));
            }
            let Some(port) = port.strip_prefix(':') else {
                return Err(format!("{s:?}: missing :PORT"));
            };
            return Ok(proxy(ip.to_owned(), port_of(port)?));
        }
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(format!("{s:?}: missing :PORT (a proxy is HOST:PORT)"));
        };
        if host.contains(':') {
            return Err(format!("{s:?}: an IPv6 proxy is written [ADDRESS]:PORT"));
        }
        let port = port_of(port)?;
        if host.is_empty() {
            return Err(format!("{s:?}: empty proxy host"));
        }
        let valid = host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !valid {
            return Err(format!(
                "{s:?}: the proxy host is not a host name or IP address"
            ));
        }
        Ok(proxy(host.to_ascii_lowercase(), port))
    }

    /// The same proxy with these credentials (each 1 to 255 bytes; checked by
    /// [`Proxy::validate`]), offered beside "no authentication".
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Proxy {
        self.credentials = Credentials::UserPass {
            username: username.into(),
            password: password.into(),
        };
        self
    }

    /// Checks a proxy built by hand: a host, a port other than 0, credentials of 1 to 255
    /// bytes each.
    pub fn validate(&self) -> Result<(), String> {
        if self.host.is_empty() {
            return Err("empty proxy host".to_owned());
        }
        if self.host.len() > 253 {
            return Err(format!(
                "the proxy host must be at most 253 bytes (is {})",
                self.host.len()
            ));
        }
        if self.port == 0 {
            return Err(format!("{self}: the proxy's port must not be 0"));
        }
        self.credentials.validate()
    }

    /// The proxy's socket address when its host is an IP address (no lookup needed).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.host
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, self.port))
    }
}

/// Where a connection through the proxy should lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An IP address and port (ATYP 1 or 4).
    Addr(SocketAddr),
    /// A host name or `.onion` name and port, resolved by the proxy (ATYP 3).
    Domain(String, u16),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Addr(addr) => write!(f, "{addr}"),
            Target::Domain(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

/// A SOCKS5 failure.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The proxy could not be reached, or the connection to it broke.
    #[error("proxy {proxy}: {source}")]
    Io {
        /// The proxy's address.
        proxy: String,
        /// What failed.
        source: io::Error,
    },
    /// The proxy accepts none of the offered authentication methods, or rejected the
    /// credentials.
    #[error("proxy {proxy}: {reason}")]
    Auth {
        /// The proxy's address.
        proxy: String,
        /// What happened.
        reason: String,
    },
    /// The proxy answered something that is not SOCKS5 as expected.
    #[error("proxy {proxy}: protocol error: {reason}")]
    Protocol {
        /// The proxy's address.
        proxy: String,
        /// What was wrong.
        reason: String,
    },
    /// The proxy answered the connect request with a failure code.
    #[error("proxy {proxy}: connecting to {target} failed: {} (SOCKS5 reply {code:#04x})", reply_text(*code))]
    Reply {
        /// The proxy's address.
        proxy: String,
        /// The destination asked for.
        target: String,
        /// The reply code (RFC 1928 §6, and Tor's extended codes 0xf0–0xf7).
        code: u8,
    },
    /// A request that cannot be expressed in SOCKS5 (a host name over 255 bytes).
    #[error("cannot ask a SOCKS5 proxy for {target}: {reason}")]
    BadTarget {
        /// The destination asked for.
        target: String,
        /// Why not.
        reason: String,
    },
}

impl ProxyError {
    /// Whether the failure is the destination's (it counts against the address) rather than
    /// the proxy's (it must not: a proxy outage would otherwise empty the address book).
    pub fn blames_target(&self) -> bool {
        match self {
            ProxyError::Reply { code, .. } => reply_blames_target(*code),
            ProxyError::BadTarget { .. } => true,
            ProxyError::Io { .. } | ProxyError::Auth { .. } | ProxyError::Protocol { .. } => false,
        }
    }
}

/// Whether a connect reply code blames the destination: network or host unreachable,
/// connection refused, TTL expired, and Tor's onion-service failures. "General failure",
/// "not allowed by ruleset", "command not supported" and "address type not supported" are the
/// proxy's.
pub fn reply_blames_target(code: u8) -> bool {
    matches!(code, 0x03..=0x06 | 0xf0..=0xf7)
}

/// The text of a SOCKS5 reply code.
pub fn reply_text(code: u8) -> &'static str {
    match code {
        0x00 => "succeeded",
        0x01 => "general failure",
        0x02 => "connection not allowed by ruleset",
        0x03 => "network unreachable",
        0x04 => "host unreachable",
        0x05 => "connection refused",
        0x06 => "TTL expired",
        0x07 => "command not supported",
        0x08 => "address type not supported",
        0xf0 => "onion service descriptor can not be found",
        0xf1 => "onion service descriptor is invalid",
        0xf2 => "onion service introduction failed",
        0xf3 => "onion service rendezvous failed",
        0xf4 => "onion service missing client authorization",
        0xf5 => "onion service wrong client authorization",
        0xf6 => "onion service invalid address",
        0xf7 => "onion service introduction timed out",
        _ => "unknown error",
    }
}

/// Runs the SOCKS5 client handshake on a connection to the proxy `proxy` (named in errors):
/// method negotiation, authentication if the proxy asks for it, and a CONNECT to `target`.
/// On success the stream carries the connection to `target`.
///
/// Not cancel-safe in the sense of resuming: drop the stream if the future is dropped. The
/// caller puts a timeout around it.
pub async fn handshake<S>(
    stream: &mut S,
    proxy: &str,
    target: &Target,
    credentials: &Credentials,
) -> Result<(), ProxyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let io = |source: io::Error| ProxyError::Io {
        proxy: proxy.to_owned(),
        source,
    };
    let protocol = |reason: String| ProxyError::Protocol {
        proxy: proxy.to_owned(),
        reason,
    };
    let request = connect_request(target)?;
    let auth = credentials.for_connection();

    let methods: &[u8] = if auth.is_some() {
        &[VERSION, 2, NO_AUTH, USER_PASS]
    } else {
        &[VERSION, 1, NO_AUTH]
    };
    stream.write_all(methods).await.map_err(io)?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice).await.map_err(io)?;
    if choice[0] != VERSION {
        return Err(protocol(format!(
            "answered version {:#04x} to our greeting (not a SOCKS5 proxy?)",
            choice[0]
        )));
    }
    match (choice[1], &auth) {
        (NO_AUTH, _) => {}
        (USER_PASS, Some((username, password))) => {
            let mut msg = Vec::with_capacity(3 + username.len() + password.len());
            msg.push(AUTH_VERSION);
            msg.push(len_u8(username.len()));
            msg.extend_from_slice(username.as_bytes());
            msg.push(len_u8(password.len()));
            msg.extend_from_slice(password.as_bytes());
            stream.write_all(&msg).await.map_err(io)?;
            let mut status = [0u8; 2];
            stream.read_exact(&mut status).await.map_err(io)?;
            if status[1] != 0x00 {
                return Err(ProxyError::Auth {
                    proxy: proxy.to_owned(),
                    reason: format!(
                        "username/password authentication failed (status {:#04x})",
                        status[1]
                    ),
                });
            }
        }
        (NO_ACCEPTABLE, _) => {
            return Err(ProxyError::Auth {
                proxy: proxy.to_owned(),
                reason: if auth.is_some() {
                    "accepts neither no authentication nor username/password".to_owned()
                } else {
                    "requires authentication, and no credentials are configured".to_owned()
                },
            })
        }
        (other, _) => {
            return Err(protocol(format!(
                "chose authentication method {other:#04x}, which we did not offer"
            )))
        }
    }

    stream.write_all(&request).await.map_err(io)?;
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await.map_err(io)?;
    if head[0] != VERSION {
        return Err(protocol(format!(
            "answered version {:#04x} to our connect request",
            head[0]
        )));
    }
    if head[1] != 0x00 {
        return Err(ProxyError::Reply {
            proxy: proxy.to_owned(),
            target: target.to_string(),
            code: head[1],
        });
    }
    // The bound address: read and discard.
    let bound_len = match head[3] {
        ATYP_IPV4 => 4,
        ATYP_IPV6 => 16,
        ATYP_DOMAIN => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len).await.map_err(io)?;
            usize::from(len[0])
        }
        other => {
            return Err(protocol(format!(
                "bound address of unknown type {other:#04x}"
            )))
        }
    };
    let mut bound = [0u8; 255 + 2];
    stream
        .read_exact(&mut bound[..bound_len + 2])
        .await
        .map_err(io)?;
    Ok(())
}

/// A length known to be at most 255 (checked by the caller).
fn len_u8(len: usize) -> u8 {
    u8::try_from(len).unwrap_or(u8::MAX)
}

/// The CONNECT request for `target`.
fn connect_request(target: &Target) -> Result<Vec<u8>, ProxyError> {
    let mut req = vec![VERSION, CONNECT, 0x00];
    let port = match target {
        Target::Addr(addr) => {
            match addr.ip() {
                IpAddr::V4(ip) => {
                    req.push(ATYP_IPV4);
                    req.extend_from_slice(&ip.octets());
                }
                IpAddr::V6(ip) => {
                    req.push(ATYP_IPV6);
                    req.extend_from_slice(&ip.octets());
                }
            }
            addr.port()
        }
        Target::Domain(host, port) => {
            if host.is_empty() || host.len() > 255 {
                return Err(ProxyError::BadTarget {
                    target: target.to_string(),
                    reason: format!("a host name must be 1 to 255 bytes (is {})", host.len()),
                });
            }
            req.push(ATYP_DOMAIN);
            req.push(len_u8(host.len()));
            req.extend_from_slice(host.as_bytes());
            *port
        }
    };
    req.extend_from_slice(&port.to_be_bytes());
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    /// Plays the proxy side of one exchange: checks what the client sends, answers `replies`.
    async fn proxy_side(
        mut io: tokio::io::DuplexStream,
        choose: u8,
        auth_status: u8,
        reply: u8,
    ) -> (Vec<u8>, Option<(String, String)>, Vec<u8>) {
        let mut greeting = [0u8; 2];
        io.read_exact(&mut greeting).await.expect("greeting");
        let mut methods = vec![0u8; usize::from(greeting[1])];
        io.read_exact(&mut methods).await.expect("methods");
        io.write_all(&[VERSION, choose]).await.expect("choice");
        let mut creds = None;
        if choose == USER_PASS {
            let mut v = [0u8; 2];
            io.read_exact(&mut v).await.expect("auth");
            let mut user = vec![0u8; usize::from(v[1])];
            io.read_exact(&mut user).await.expect("user");
            let mut plen = [0u8; 1];
            io.read_exact(&mut plen).await.expect("plen");
            let mut pass = vec![0u8; usize::from(plen[0])];
            io.read_exact(&mut pass).await.expect("pass");
            creds = Some((
                String::from_utf8(user).expect("utf8"),
                String::from_utf8(pass).expect("utf8"),
            ));
            io.write_all(&[AUTH_VERSION, auth_status])
                .await
                .expect("status");
            if auth_status != 0 {
                return (methods, creds, Vec::new());
            }
        }
        if choose == NO_ACCEPTABLE {
            return (methods, creds, Vec::new());
        }
        let mut head = [0u8; 4];
        io.read_exact(&mut head).await.expect("request");
        let mut request = head.to_vec();
        let mut rest = match head[3] {
            ATYP_IPV4 => vec![0u8; 6],
            ATYP_IPV6 => vec![0u8; 18],
            _ => {
                let mut l = [0u8; 1];
                io.read_exact(&mut l).await.expect("len");
                request.push(l[0]);
                vec![0u8; usize::from(l[0]) + 2]
            }
        };
        io.read_exact(&mut rest).await.expect("rest");
        request.extend_from_slice(&rest);
        io.write_all(&[VERSION, reply, 0, ATYP_IPV4, 127, 0, 0, 1, 0x1f, 0x90])
            .await
            .expect("reply");
        (methods, creds, request)
    }

    async fn run(
        target: Target,
        credentials: Credentials,
        choose: u8,
        auth_status: u8,
        reply: u8,
    ) -> (
        Result<(), ProxyError>,
        Vec<u8>,
        Option<(String, String)>,
        Vec<u8>,
    ) {
        let (mut client, server) = duplex(1024);
        let server = tokio::spawn(proxy_side(server, choose, auth_status, reply));
        let result = handshake(&mut client, "127.0.0.1:9050", &target, &credentials).await;
        drop(client);
        let (methods, creds, request) = server.await.expect("proxy side");
        (result, methods, creds, request)
    }

    #[tokio::test]
    async fn host_names_go_to_the_proxy_as_domain_requests() {
        let target = Target::Domain("abcdefghij.onion".into(), 8333);
        let (result, methods, creds, request) = run(target, Credentials::None, NO_AUTH, 0, 0).await;
        result.expect("connected");
        assert_eq!(methods, vec![NO_AUTH]);
        assert_eq!(creds, None);
        let mut expected = vec![VERSION, CONNECT, 0, ATYP_DOMAIN, 16];
        expected.extend_from_slice(b"abcdefghij.onion");
        expected.extend_from_slice(&8333u16.to_be_bytes());
        assert_eq!(request, expected);
    }

    #[tokio::test]
    async fn ip_targets_use_their_address_types() {
        let v4: SocketAddr = "192.0.2.1:8333".parse().expect("addr");
        let (result, _, _, request) = run(Target::Addr(v4), Credentials::None, 0, 0, 0).await;
        result.expect("connected");
        assert_eq!(
            request,
            vec![VERSION, CONNECT, 0, ATYP_IPV4, 192, 0, 2, 1, 0x20, 0x8d]
        );
        let v6: SocketAddr = "[2001:db8::1]:18444".parse().expect("addr");
        let (result, _, _, request) = run(Target::Addr(v6), Credentials::None, 0, 0, 0).await;
        result.expect("connected");
        assert_eq!(request[3], ATYP_IPV6);
        assert_eq!(
            &request[4..20],
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .expect("ip")
                .octets()
        );
        assert_eq!(&request[20..], &18444u16.to_be_bytes());
    }

    #[tokio::test]
    async fn random_credentials_are_fresh_per_connection_and_offered_beside_no_auth() {
        let target = Target::Domain("example.org".into(), 8333);
        let (r1, methods, creds1, _) =
            run(target.clone(), Credentials::Random, USER_PASS, 0, 0).await;
        r1.expect("connected");
        assert_eq!(methods, vec![NO_AUTH, USER_PASS]);
        let (r2, _, creds2, _) = run(target.clone(), Credentials::Random, USER_PASS, 0, 0).await;
        r2.expect("connected");
        let (c1, c2) = (creds1.expect("sent"), creds2.expect("sent"));
        assert_ne!(c1, c2, "a new username and password for every connection");
        assert_eq!(c1.0.len(), 16);
        // A proxy that only does "no authentication" gets none.
        let (r3, _, creds3, _) = run(target, Credentials::Random, NO_AUTH, 0, 0).await;
        r3.expect("connected");
        assert_eq!(creds3, None);
    }

    #[tokio::test]
    async fn configured_credentials_are_sent_and_a_rejection_is_the_proxys_fault() {
        let creds = Credentials::UserPass {
            username: "alice".into(),
            password: "secret".into(),
        };
        let target = Target::Domain("example.org".into(), 8333);
        let (r, _, sent, _) = run(target.clone(), creds.clone(), USER_PASS, 0, 0).await;
        r.expect("connected");
        assert_eq!(sent, Some(("alice".into(), "secret".into())));
        let (r, _, _, _) = run(target.clone(), creds, USER_PASS, 1, 0).await;
        let e = r.expect_err("rejected");
        assert!(matches!(e, ProxyError::Auth { .. }), "{e}");
        assert!(!e.blames_target());
        let (r, _, _, _) = run(target, Credentials::None, NO_ACCEPTABLE, 0, 0).await;
        let e = r.expect_err("no method");
        assert!(e.to_string().contains("requires authentication"), "{e}");
        assert!(!e.blames_target());
    }

    #[tokio::test]
    async fn reply_codes_say_whose_fault_it_is() {
        let target = Target::Domain("example.org".into(), 8333);
        for (code, blames_target, text) in [
            (0x01, false, "general failure"),
            (0x02, false, "not allowed by ruleset"),
            (0x03, true, "network unreachable"),
            (0x04, true, "host unreachable"),
            (0x05, true, "connection refused"),
            (0x06, true, "TTL expired"),
            (0x07, false, "command not supported"),
            (0x08, false, "address type not supported"),
            (0xf0, true, "descriptor can not be found"),
            (0xf6, true, "invalid address"),
        ] {
            let (r, _, _, _) = run(target.clone(), Credentials::None, NO_AUTH, 0, code).await;
            let e = r.expect_err("failure reply");
            assert_eq!(e.blames_target(), blames_target, "{e}");
            let message = e.to_string();
            assert!(message.contains(text), "{message}");
            assert!(message.contains("127.0.0.1:9050"), "{message}");
            assert!(message.contains("example.org:8333"), "{message}");
        }
    }

    #[tokio::test]
    async fn a_server_that_is_not_socks5_is_a_protocol_error_of_the_proxy() {
        let (mut client, mut server) = duplex(1024);
        tokio::spawn(async move {
            let mut buf = [0u8; 3];
            let _ = server.read_exact(&mut buf).await;
            let _ = server.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        });
        let e = handshake(
            &mut client,
            "127.0.0.1:3128",
            &Target::Domain("example.org".into(), 1),
            &Credentials::None,
        )
        .await
        .expect_err("not socks5");
        assert!(matches!(e, ProxyError::Protocol { .. }), "{e}");
        assert!(!e.blames_target());
    }

    #[test]
    fn proxy_addresses_parse_or_say_what_is_wrong() {
        for (input, host, port) in [
            ("127.0.0.1:9050", "127.0.0.1", 9050),
            (" [::1]:1080 ", "::1", 1080),
            ("Tor.Example:9050", "tor.example", 9050),
        ] {
            let p = Proxy::parse(input).expect(input);
            assert_eq!((p.host.as_str(), p.port), (host, port), "{input}");
            assert_eq!(p.credentials, Credentials::Random);
            assert!(p.validate().is_ok());
        }
        assert_eq!(
            Proxy::parse("[::1]:1080").expect("v6").socket_addr(),
            Some("[::1]:1080".parse().expect("addr"))
        );
        assert_eq!(Proxy::parse("tor:9050").expect("name").socket_addr(), None);
        for (input, what) in [
            ("", "empty"),
            ("   ", "empty"),
            ("127.0.0.1", "missing :PORT"),
            ("127.0.0.1:0", "must not be 0"),
            ("127.0.0.1:65536", "1 to 65535"),
            ("127.0.0.1:+1", "1 to 65535"),
            (":9050", "empty proxy host"),
            ("::1:9050", "[ADDRESS]:PORT"),
            ("[::1]", "missing :PORT"),
            ("[fe80::zz]:1", "invalid IPv6"),
            ("tor proxy:9050", "not a host name"),
        ] {
            let e = Proxy::parse(input).expect_err(input);
            assert!(e.contains(what), "{input:?}: {e}");
        }
        let long = format!("{}:1", "a".repeat(400));
        assert!(Proxy::parse(&long).expect_err("long").contains("300 bytes"));
        // Built by hand: validate checks what parse would have.
        let mut p = Proxy::parse("127.0.0.1:9050").expect("proxy");
        p.port = 0;
        assert!(p.validate().expect_err("port 0").contains("must not be 0"));
        let p = Proxy::parse("127.0.0.1:9050")
            .expect("proxy")
            .with_credentials("u".repeat(256), "p");
        assert!(p
            .validate()
            .expect_err("long")
            .contains("username must be 1 to 255"));
        // The password never shows.
        let p = Proxy::parse("127.0.0.1:9050")
            .expect("proxy")
            .with_credentials("alice", "hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn long_names_and_credentials_are_refused_before_sending() {
        let long = "a".repeat(256);
        let e = connect_request(&Target::Domain(long, 1)).expect_err("too long");
        assert!(e.to_string().contains("1 to 255 bytes (is 256)"), "{e}");
        let creds = Credentials::UserPass {
            username: String::new(),
            password: "x".into(),
        };
        assert!(creds.validate().is_err());
        assert!(format!(
            "{:?}",
            Credentials::UserPass {
                username: "u".into(),
                password: "hunter2".into()
            }
        )
        .find("hunter2")
        .is_none());
    }
}
