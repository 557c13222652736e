//! DNS seeds and the resolver that asks them.
//!
//! Bitcoin Core bootstraps an empty address book from its network's DNS seeds: each seed's
//! A/AAAA records are addresses of nodes it crawled and found good. The lists below are Core's
//! (`src/kernel/chainparams.cpp`); regtest has none. Resolution goes through a [`Resolver`]
//! the configuration can replace (tests use a fake one). With a proxy
//! ([`Config::proxy`](crate::Config::proxy)) seeds are not resolved here at all: each is asked
//! through the proxy over a short connection to its name.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;

use crate::config::Network;

/// The DNS seeds Bitcoin Core 29 asks on `network`, as host names (without the trailing
/// dot). Empty for regtest and custom networks.
pub fn default_dns_seeds(network: Network) -> &'static [&'static str] {
    match network {
        Network::Mainnet => &[
            "seed.bitcoin.sipa.be",
            "dnsseed.bluematt.me",
            "dnsseed.bitcoin.dashjr-list-of-p2p-nodes.us",
            "seed.bitcoin.jonasschnelli.ch",
            "seed.btc.petertodd.net",
            "seed.bitcoin.sprovoost.nl",
            "dnsseed.emzy.de",
            "seed.bitcoin.wiz.biz",
            "seed.mainnet.achownodes.xyz",
        ],
        Network::Testnet3 => &[
            "testnet-seed.bitcoin.jonasschnelli.ch",
            "seed.tbtc.petertodd.net",
            "seed.testnet.bitcoin.sprovoost.nl",
            "testnet-seed.bluematt.me",
            "seed.testnet.achownodes.xyz",
        ],
        Network::Testnet4 => &[
            "seed.testnet4.bitcoin.sprovoost.nl",
            "seed.testnet4.wiz.biz",
        ],
        Network::Signet => &[
            "seed.signet.bitcoin.sprovoost.nl",
            "seed.signet.achownodes.xyz",
        ],
        Network::Regtest | Network::Custom(_) => &[],
    }
}

/// A boxed future of the resolver's answer.
pub type ResolveFuture<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Turns a host name into addresses (a DNS seed's A and AAAA records).
pub trait Resolver: Send + Sync + 'static {
    /// The addresses of `host`. An empty answer is `Ok(vec![])`.
    fn resolve<'a>(&'a self, host: &'a str) -> ResolveFuture<'a>;
}

/// The system's resolver (`getaddrinfo`, through tokio's blocking pool).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> ResolveFuture<'a> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host, 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// A shared resolver in the configuration.
#[derive(Clone)]
pub struct SharedResolver(pub std::sync::Arc<dyn Resolver>);

impl fmt::Debug for SharedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

impl Default for SharedResolver {
    fn default() -> Self {
        SharedResolver(std::sync::Arc::new(SystemResolver))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_public_network_has_seeds_and_regtest_none() {
        assert_eq!(default_dns_seeds(Network::Mainnet).len(), 9);
        assert!(!default_dns_seeds(Network::Testnet3).is_empty());
        assert!(!default_dns_seeds(Network::Testnet4).is_empty());
        assert!(!default_dns_seeds(Network::Signet).is_empty());
        assert!(default_dns_seeds(Network::Regtest).is_empty());
        for network in [
            Network::Mainnet,
            Network::Testnet3,
            Network::Testnet4,
            Network::Signet,
        ] {
            for seed in default_dns_seeds(network) {
                assert!(!seed.ends_with('.') && seed.contains('.'), "{seed}");
            }
        }
    }
}
