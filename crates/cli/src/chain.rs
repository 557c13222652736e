//! The best header chain: headers from peers are checked (each links to the one before it and
//! meets its own proof-of-work target) and kept as one chain from the genesis block.

use std::collections::HashMap;
use std::fmt;

use bitcoin::block::Header;
use bitcoin::pow::{Target, Work};
use bitcoin::BlockHash;

/// Bitcoin Core's limit on headers in one `headers` message: a full message means "ask again".
pub use btcclient_manager::wire::MAX_HEADERS_ENTRIES as MAX_HEADERS;

/// The chain of best work we know, from genesis to tip.
#[derive(Debug)]
pub struct HeaderChain {
    /// Block hash by height.
    hashes: Vec<BlockHash>,
    /// Cumulative work by height.
    work: Vec<Work>,
    /// Height by block hash, for every hash in `hashes`.
    index: HashMap<BlockHash, u32>,
    /// The easiest target the network allows (None: no limit beyond the header's own target).
    max_target: Option<Target>,
}

/// What [`HeaderChain::accept`] did with a valid message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// Headers added to the best chain.
    pub new: usize,
    /// Headers that were valid but not added (already known, or a branch with less work).
    pub known: usize,
    /// When the message replaced part of the chain: the height of the last common block.
    pub reorg_from: Option<u32>,
}

/// Why a `headers` message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// The first header's parent is not a block we know.
    NotConnecting {
        /// The unknown parent.
        prev: BlockHash,
    },
    /// Header `index` does not name the header before it as its parent.
    Discontinuous {
        /// Position in the message.
        index: usize,
    },
    /// Header `index` does not meet its own proof-of-work target.
    BadProofOfWork {
        /// Position in the message.
        index: usize,
        /// Its hash.
        hash: BlockHash,
    },
    /// Header `index` claims a target easier than the network allows.
    TargetTooEasy {
        /// Position in the message.
        index: usize,
    },
    /// More headers than a message may carry.
    TooMany(usize),
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejected::NotConnecting { prev } => {
                write!(f, "first header's parent {prev} is unknown")
            }
            Rejected::Discontinuous { index } => {
                write!(f, "header {index} does not link to the header before it")
            }
            Rejected::BadProofOfWork { index, hash } => {
                write!(
                    f,
                    "header {index} ({hash}) does not meet its proof-of-work target"
                )
            }
            Rejected::TargetTooEasy { index } => write!(
                f,
                "header {index} claims a target easier than the network's limit"
            ),
            Rejected::TooMany(n) => write!(f, "{n} headers in one message (limit {MAX_HEADERS})"),
        }
    }
}

impl HeaderChain {
    /// A chain holding only `genesis`. `max_target` is the network's proof-of-work limit.
    pub fn new(genesis: &Header, max_target: Option<Target>) -> HeaderChain {
        let hash = genesis.block_hash();
        HeaderChain {
            hashes: vec![hash],
            work: vec![genesis.work()],
            index: HashMap::from([(hash, 0)]),
            max_target,
        }
    }

    /// Height of the tip (0: only genesis).
    pub fn height(&self) -> u32 {
        (self.hashes.len() - 1) as u32
    }

    /// Hash of the tip.
    pub fn tip(&self) -> BlockHash {
        self.hashes[self.hashes.len() - 1]
    }

    /// Whether a block is on the best chain.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.index.contains_key(hash)
    }

    /// A block locator from the tip back to genesis, as Bitcoin Core builds one
    /// (`LocatorEntries`): the tip and the 11 blocks below it one by one, then doubling
    /// steps, genesis last.
    pub fn locator(&self) -> Vec<BlockHash> {
        btcclient_manager::wire::locator_heights(self.height())
            .into_iter()
            .map(|h| self.hashes[h as usize])
            .collect()
    }

    /// Checks a `headers` message and adds what extends (or, with more work, replaces part of)
    /// the best chain. Nothing is changed when the message is refused.
    pub fn accept(&mut self, headers: &[Header]) -> Result<Accepted, Rejected> {
        if headers.len() > MAX_HEADERS {
            return Err(Rejected::TooMany(headers.len()));
        }
        let Some(first) = headers.first() else {
            return Ok(Accepted {
                new: 0,
                known: 0,
                reorg_from: None,
            });
        };
        let parent = *self
            .index
            .get(&first.prev_blockhash)
            .ok_or(Rejected::NotConnecting {
                prev: first.prev_blockhash,
            })?;

        let mut hashes = Vec::with_capacity(headers.len());
        for (index, header) in headers.iter().enumerate() {
            if let Some(prev) = hashes.last() {
                if header.prev_blockhash != *prev {
                    return Err(Rejected::Discontinuous { index });
                }
            }
            let target = header.target();
            if self.max_target.is_some_and(|max| target > max) {
                return Err(Rejected::TargetTooEasy { index });
            }
            match header.validate_pow(target) {
                Ok(hash) => hashes.push(hash),
                Err(_) => {
                    return Err(Rejected::BadProofOfWork {
                        index,
                        hash: header.block_hash(),
                    })
                }
            }
        }

        // Skip what the chain already holds.
        let mut skip = 0;
        while skip < hashes.len()
            && self.hashes.get(parent as usize + 1 + skip) == Some(&hashes[skip])
        {
            skip += 1;
        }
        if skip == hashes.len() {
            return Ok(Accepted {
                new: 0,
                known: skip,
                reorg_from: None,
            });
        }
        let fork = parent as usize + skip;
        let branch = &headers[skip..];
        let mut reorg_from = None;
        if fork < self.height() as usize {
            let ours = self.work[self.height() as usize] - self.work[fork];
            let theirs = branch.iter().map(Header::work).reduce(|a, b| a + b);
            match theirs {
                Some(theirs) if theirs > ours => {}
                _ => {
                    return Ok(Accepted {
                        new: 0,
                        known: headers.len(),
                        reorg_from: None,
                    })
                }
            }
            for hash in self.hashes.drain(fork + 1..) {
                self.index.remove(&hash);
            }
            self.work.truncate(fork + 1);
            reorg_from = Some(fork as u32);
        }
        for (header, hash) in branch.iter().zip(&hashes[skip..]) {
            let total = self.work[self.work.len() - 1] + header.work();
            self.index.insert(*hash, self.hashes.len() as u32);
            self.hashes.push(*hash);
            self.work.push(total);
        }
        Ok(Accepted {
            new: branch.len(),
            known: skip,
            reorg_from,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::blockdata::constants::genesis_block;
    use bitcoin::hashes::Hash;
    use bitcoin::{CompactTarget, Network, TxMerkleNode};

    /// Mines `n` regtest headers on top of `prev`; `salt` makes branches differ.
    fn mine(prev: &Header, n: usize, salt: u32) -> Vec<Header> {
        let mut out: Vec<Header> = Vec::new();
        let mut last = *prev;
        for _ in 0..n {
            let mut h = Header {
                version: bitcoin::block::Version::from_consensus(4),
                prev_blockhash: last.block_hash(),
                merkle_root: TxMerkleNode::all_zeros(),
                time: last.time + 600 + salt,
                bits: CompactTarget::from_consensus(0x207f_ffff),
                nonce: 0,
            };
            while h.validate_pow(h.target()).is_err() {
                h.nonce += 1;
            }
            out.push(h);
            last = h;
        }
        out
    }

    fn regtest() -> (Header, HeaderChain) {
        let genesis = genesis_block(Network::Regtest).header;
        let max = bitcoin::consensus::Params::new(Network::Regtest).max_attainable_target;
        (genesis, HeaderChain::new(&genesis, Some(max)))
    }

    #[test]
    fn extends_skips_known_and_builds_a_locator() {
        let (genesis, mut chain) = regtest();
        let headers = mine(&genesis, 30, 0);
        let got = chain.accept(&headers[..20]).expect("valid");
        assert_eq!((got.new, chain.height()), (20, 20));
        let got = chain.accept(&headers[10..]).expect("valid");
        assert_eq!((got.new, got.known, chain.height()), (10, 10, 30));
        assert_eq!(chain.tip(), headers[29].block_hash());
        let locator = chain.locator();
        // Core's spacing from height 30: 30 down to 19 one by one, then 17, 13, 5, genesis.
        let heights = [
            30usize, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 17, 13, 5,
        ];
        let mut expected: Vec<BlockHash> = heights
            .iter()
            .map(|h| headers[h - 1].block_hash())
            .collect();
        expected.push(genesis.block_hash());
        assert_eq!(locator, expected);
    }

    #[test]
    fn refuses_broken_links_bad_pow_and_unknown_parents() {
        let (genesis, mut chain) = regtest();
        let mut headers = mine(&genesis, 5, 0);
        headers.swap(2, 3);
        assert_eq!(
            chain.accept(&headers),
            Err(Rejected::Discontinuous { index: 2 })
        );
        let mut headers = mine(&genesis, 5, 0);
        // Find a nonce that fails the target.
        while headers[4].validate_pow(headers[4].target()).is_ok() {
            headers[4].nonce += 1;
        }
        assert!(matches!(
            chain.accept(&headers),
            Err(Rejected::BadProofOfWork { index: 4, .. })
        ));
        let headers = mine(&genesis, 5, 0);
        assert!(matches!(
            chain.accept(&headers[1..]),
            Err(Rejected::NotConnecting { .. })
        ));
        assert_eq!(chain.height(), 0);
    }

    #[test]
    fn mainnet_limit_refuses_regtest_targets() {
        let genesis = genesis_block(Network::Bitcoin).header;
        let max = bitcoin::consensus::Params::new(Network::Bitcoin).max_attainable_target;
        let mut chain = HeaderChain::new(&genesis, Some(max));
        let headers = mine(&genesis, 1, 0);
        assert_eq!(
            chain.accept(&headers),
            Err(Rejected::TargetTooEasy { index: 0 })
        );
    }

    #[test]
    fn a_branch_with_more_work_replaces_the_tip() {
        let (genesis, mut chain) = regtest();
        let main = mine(&genesis, 10, 0);
        chain.accept(&main).expect("valid");
        let side = mine(&main[5], 3, 1);
        let got = chain.accept(&side).expect("valid");
        assert_eq!((got.new, chain.height()), (0, 10));
        let side = mine(&main[5], 6, 1);
        let got = chain.accept(&side).expect("valid");
        assert_eq!(got.reorg_from, Some(6));
        assert_eq!(chain.height(), 12);
        assert_eq!(chain.tip(), side[5].block_hash());
        assert!(!chain.contains(&main[9].block_hash()));
    }
}
