//! A deterministic, generated block chain shared by the simulated nodes.

use std::collections::HashMap;

use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::blockdata::constants::genesis_block;
use bitcoin::hashes::Hash;
use bitcoin::opcodes::{OP_0, OP_TRUE};
use bitcoin::script::Builder;
use bitcoin::{
    absolute, transaction, Amount, Block, BlockHash, CompactTarget, Network, OutPoint, ScriptBuf,
    Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Witness,
};

/// Bitcoin Core's limit on the number of headers in one `headers` message.
pub const MAX_HEADERS_RESULTS: usize = btcclient_wire::MAX_HEADERS_ENTRIES;

pub use btcclient_wire::locator_heights;

/// The compact target of regtest blocks (`0x207fffff`): about every second hash meets it.
pub const REGTEST_BITS: u32 = 0x207f_ffff;

/// Seconds between two generated blocks.
const BLOCK_SPACING: u32 = 600;

/// A block chain made up on the spot: the genesis block of a network, then `n` blocks mined to
/// the regtest target.
///
/// Everything is deterministic: the same network and length always give the same blocks. Each
/// block holds one coinbase transaction whose scriptSig starts with the block height (BIP34), so
/// every block and every transaction is distinct; the merkle root is real and every header meets
/// its own proof of work (`header.validate_pow(header.target())`). Blocks after genesis use the
/// regtest target `0x207fffff` whatever the network, so only a regtest chain also follows that
/// network's difficulty rules.
///
/// ```
/// use btcclient_simnet::Chain;
/// use bitcoin::Network;
///
/// let chain = Chain::generate(Network::Regtest, 10);
/// assert_eq!(chain.height(), 10);
/// assert_eq!(chain.headers().len(), 11); // genesis + 10
/// for pair in chain.headers().windows(2) {
///     assert_eq!(pair[1].prev_blockhash, pair[0].block_hash());
///     assert!(pair[1].validate_pow(pair[1].target()).is_ok());
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Chain {
    network: Network,
    blocks: Vec<Block>,
    headers: Vec<Header>,
    hashes: Vec<BlockHash>,
    heights: HashMap<BlockHash, u32>,
}

impl Chain {
    /// Generates the genesis block of `network` followed by `n` blocks.
    pub fn generate(network: Network, n: u32) -> Chain {
        let genesis = genesis_block(network);
        let halving = if network == Network::Regtest {
            150
        } else {
            210_000
        };
        let capacity = n as usize + 1;
        let mut chain = Chain {
            network,
            blocks: Vec::with_capacity(capacity),
            headers: Vec::with_capacity(capacity),
            hashes: Vec::with_capacity(capacity),
            heights: HashMap::with_capacity(capacity),
        };
        chain.push(genesis);
        for height in 1..=n {
            let prev = chain.headers[height as usize - 1];
            let block = mine(height, &prev, halving);
            chain.push(block);
        }
        chain
    }

    fn push(&mut self, block: Block) {
        let height = self.blocks.len() as u32;
        let hash = block.block_hash();
        self.headers.push(block.header);
        self.hashes.push(hash);
        self.heights.insert(hash, height);
        self.blocks.push(block);
    }

    /// The network whose genesis block starts this chain.
    pub fn network(&self) -> Network {
        self.network
    }

    /// All headers, index 0 being the genesis block.
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// All blocks, index 0 being the genesis block.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The block with this hash, if it is on the chain.
    pub fn block(&self, hash: &BlockHash) -> Option<&Block> {
        self.height_of(hash).map(|h| &self.blocks[h as usize])
    }

    /// The block at `height`, if the chain is that long.
    pub fn block_at(&self, height: u32) -> Option<&Block> {
        self.blocks.get(height as usize)
    }

    /// The hash of the block at `height`, if the chain is that long.
    pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
        self.hashes.get(height as usize).copied()
    }

    /// The height of the block with this hash, if it is on the chain.
    pub fn height_of(&self, hash: &BlockHash) -> Option<u32> {
        self.heights.get(hash).copied()
    }

    /// The hash of the genesis block.
    pub fn genesis_hash(&self) -> BlockHash {
        self.hashes[0]
    }

    /// The hash of the last block.
    pub fn tip(&self) -> BlockHash {
        self.hashes[self.hashes.len() - 1]
    }

    /// The height of the last block (0 when the chain is only the genesis block).
    pub fn height(&self) -> u32 {
        (self.hashes.len() - 1) as u32
    }

    /// A block locator from the block at `height` (clamped to the tip) back to genesis, as
    /// Bitcoin Core builds one (`LocatorEntries`): the block and the 11 below it one by one,
    /// then doubling steps, genesis last.
    pub fn locator(&self, height: u32) -> Vec<BlockHash> {
        locator_heights(height.min(self.height()))
            .into_iter()
            .map(|h| self.hashes[h as usize])
            .collect()
    }

    /// The headers a Bitcoin Core node sends in answer to `getheaders(locator, stop)`.
    ///
    /// - With a non-empty locator: the first locator hash found on this chain is the fork point
    ///   (genesis when none is found); the answer is the headers after it, at most 2,000,
    ///   ending early with the header whose hash is `stop`. Empty when the fork point is the tip.
    /// - With an empty locator: just the header of `stop`, or nothing when `stop` is unknown
    ///   (Core then sends no `headers` message at all).
    pub fn locate(&self, locator: &[BlockHash], stop: BlockHash) -> Vec<Header> {
        if locator.is_empty() {
            return match self.height_of(&stop) {
                Some(h) => vec![self.headers[h as usize]],
                None => Vec::new(),
            };
        }
        let fork = locator
            .iter()
            .find_map(|hash| self.height_of(hash))
            .unwrap_or(0) as usize;
        let mut out = Vec::new();
        for height in fork + 1..self.headers.len() {
            out.push(self.headers[height]);
            if out.len() >= MAX_HEADERS_RESULTS || self.hashes[height] == stop {
                break;
            }
        }
        out
    }
}

/// The coinbase of the block at `height`: BIP34 height push then OP_0 (as Core's miner does),
/// paying the subsidy to an OP_TRUE output.
fn coinbase(height: u32, halving: u32) -> Transaction {
    let script_sig = Builder::new()
        .push_int(i64::from(height))
        .push_opcode(OP_0)
        .into_script();
    let halvings = height / halving;
    let subsidy = if halvings >= 64 {
        0
    } else {
        (50 * 100_000_000u64) >> halvings
    };
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig,
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(subsidy),
            script_pubkey: ScriptBuf::builder().push_opcode(OP_TRUE).into_script(),
        }],
    }
}

fn mine(height: u32, prev: &Header, halving: u32) -> Block {
    let txdata = vec![coinbase(height, halving)];
    let mut block = Block {
        header: Header {
            version: BlockVersion::from_consensus(0x2000_0000),
            prev_blockhash: prev.block_hash(),
            merkle_root: TxMerkleNode::all_zeros(),
            time: prev.time.wrapping_add(BLOCK_SPACING),
            bits: CompactTarget::from_consensus(REGTEST_BITS),
            nonce: 0,
        },
        txdata,
    };
    block.header.merkle_root = block
        .compute_merkle_root()
        .unwrap_or_else(TxMerkleNode::all_zeros);
    let target = block.header.target();
    while block.header.validate_pow(target).is_err() {
        block.header.nonce = block.header.nonce.wrapping_add(1);
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_valid() {
        let a = Chain::generate(Network::Regtest, 30);
        let b = Chain::generate(Network::Regtest, 30);
        assert_eq!(a.tip(), b.tip());
        assert_eq!(
            a.headers()[0].block_hash(),
            genesis_block(Network::Regtest).block_hash()
        );
        let mut txids = std::collections::HashSet::new();
        for (i, block) in a.blocks().iter().enumerate().skip(1) {
            assert!(block.check_merkle_root());
            // Core's BIP34 rule: the scriptSig starts with `CScript() << nHeight`.
            let expect = Builder::new().push_int(i as i64).into_script();
            let script_sig = block.txdata[0].input[0].script_sig.as_bytes();
            assert!(script_sig.starts_with(expect.as_bytes()));
            assert!(block.header.validate_pow(block.header.target()).is_ok());
            assert!(txids.insert(block.txdata[0].compute_txid()));
        }
    }

    #[test]
    fn locate_like_core() {
        let chain = Chain::generate(Network::Regtest, 20);
        let zero = BlockHash::all_zeros();
        // Unknown locator: from block 1.
        let got = chain.locate(&[zero], zero);
        assert_eq!(got.len(), 20);
        assert_eq!(got[0], chain.headers()[1]);
        // Locator at the tip: nothing.
        assert!(chain.locate(&[chain.tip()], zero).is_empty());
        // Stop hash is included.
        let stop = chain.hash_at(5).expect("height 5");
        let got = chain.locate(&[chain.genesis_hash()], stop);
        assert_eq!(got.len(), 5);
        // Empty locator: just the stop header, or nothing.
        assert_eq!(chain.locate(&[], stop), vec![chain.headers()[5]]);
        assert!(chain.locate(&[], zero).is_empty());
        // Locator from the tip goes back to genesis.
        let loc = chain.locator(20);
        assert_eq!(loc[0], chain.tip());
        assert_eq!(loc.last(), Some(&chain.genesis_hash()));
    }
}
