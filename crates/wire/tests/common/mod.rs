//! Helpers shared by the integration tests: sample messages, a chunking reader, frame building.

#![allow(dead_code)] // each test file uses a different subset

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use bitcoin::bip152::{
    BlockTransactions, BlockTransactionsRequest, HeaderAndShortIds, PrefilledTransaction, ShortId,
};
use bitcoin::bip158::{FilterHash, FilterHeader};
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::p2p::address::{AddrV2, AddrV2Message, Address};
use bitcoin::p2p::message::{CommandString, NetworkMessage, RawNetworkMessage};
use bitcoin::p2p::message_blockdata::{GetBlocksMessage, GetHeadersMessage, Inventory};
use bitcoin::p2p::message_bloom::{BloomFlags, FilterAdd, FilterLoad};
use bitcoin::p2p::message_compact_blocks::{BlockTxn, CmpctBlock, GetBlockTxn, SendCmpct};
use bitcoin::p2p::message_filter::{
    CFCheckpt, CFHeaders, CFilter, GetCFCheckpt, GetCFHeaders, GetCFilters,
};
use bitcoin::p2p::message_network::{Reject, RejectReason, VersionMessage};
use bitcoin::p2p::{Magic, ServiceFlags};
use bitcoin::{
    absolute, transaction, Amount, Block, BlockHash, CompactTarget, MerkleBlock, OutPoint,
    ScriptBuf, Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness, Wtxid,
};
use btcclient_wire::{Frame, FrameReader, FrameWriter, WireConfig, WireError};
use tokio::io::{AsyncRead, ReadBuf};

/// A current-thread runtime (with timers) for tests that drive the async reader and writer
/// by hand.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// An `AsyncRead` that hands out `data` in the given chunks (at most one chunk per read), and
/// optionally returns `Pending` (waking itself) before every chunk, as a socket would.
pub struct ChunkedReader {
    data: Vec<u8>,
    pos: usize,
    /// Chunk end offsets, ascending; after the last one, chunks of `tail_chunk` bytes.
    ends: Vec<usize>,
    next_end: usize,
    tail_chunk: usize,
    pending_first: bool,
    yielded: bool,
}

impl ChunkedReader {
    /// Delivers `data` split at the given offsets.
    pub fn split_at(data: Vec<u8>, cuts: &[usize]) -> ChunkedReader {
        let len = data.len();
        ChunkedReader {
            data,
            pos: 0,
            ends: cuts.to_vec(),
            next_end: 0,
            tail_chunk: len.max(1),
            pending_first: false,
            yielded: false,
        }
    }

    /// Delivers `data` `chunk` bytes at a time.
    pub fn every(data: Vec<u8>, chunk: usize) -> ChunkedReader {
        ChunkedReader {
            data,
            pos: 0,
            ends: Vec::new(),
            next_end: 0,
            tail_chunk: chunk.max(1),
            pending_first: false,
            yielded: false,
        }
    }

    /// Returns `Pending` once before every chunk.
    pub fn with_pending(mut self) -> ChunkedReader {
        self.pending_first = true;
        self
    }
}

impl AsyncRead for ChunkedReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos >= this.data.len() {
            return Poll::Ready(Ok(())); // EOF
        }
        if this.pending_first && !this.yielded {
            this.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.yielded = false;
        while this.next_end < this.ends.len() && this.ends[this.next_end] <= this.pos {
            this.next_end += 1;
        }
        let chunk_end = match this.ends.get(this.next_end) {
            Some(&end) => end.min(this.data.len()),
            None => (this.pos + this.tail_chunk).min(this.data.len()),
        };
        let n = (chunk_end - this.pos).min(buf.remaining());
        buf.put_slice(&this.data[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// Reads every frame from `reader` until a clean end of stream or an error.
pub async fn read_all<R: AsyncRead + Unpin>(
    reader: R,
    config: &WireConfig,
) -> Result<Vec<Frame>, WireError> {
    let mut reader = FrameReader::new(reader, config);
    let mut frames = Vec::new();
    while let Some(frame) = reader.read_frame().await? {
        frames.push(frame);
    }
    Ok(frames)
}

/// Writes frames with a `FrameWriter` into a byte vector.
pub async fn write_all(frames: &[Frame], config: &WireConfig) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = FrameWriter::new(&mut out, config);
    for frame in frames {
        writer.write_frame(frame).await.expect("write frame");
    }
    drop(writer);
    out
}

/// First four bytes of double-SHA256, computed with `bitcoin::hashes` (not the crate under test).
pub fn sha256d_checksum(payload: &[u8]) -> [u8; 4] {
    let h = sha256d::Hash::hash(payload).to_byte_array();
    [h[0], h[1], h[2], h[3]]
}

/// A v1 header built by hand: magic, 12-byte command field, length, checksum.
pub fn header(magic: [u8; 4], command: &[u8], len: u32, checksum: [u8; 4]) -> Vec<u8> {
    assert!(command.len() <= 12);
    let mut out = Vec::with_capacity(24);
    out.extend_from_slice(&magic);
    let mut field = [0u8; 12];
    field[..command.len()].copy_from_slice(command);
    out.extend_from_slice(&field);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum);
    out
}

/// A complete frame built by hand with a correct checksum.
pub fn raw_frame(magic: [u8; 4], command: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = header(
        magic,
        command,
        payload.len() as u32,
        sha256d_checksum(payload),
    );
    out.extend_from_slice(payload);
    out
}

/// Mainnet magic.
pub const MAINNET: [u8; 4] = [0xf9, 0xbe, 0xb4, 0xd9];

/// What the `bitcoin` crate itself produces for `message` on the network of `magic`.
pub fn bitcoin_crate_bytes(magic: [u8; 4], message: &NetworkMessage) -> Vec<u8> {
    serialize(&RawNetworkMessage::new(
        Magic::from_bytes(magic),
        message.clone(),
    ))
}

fn hash32(seed: u8) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = seed.wrapping_mul(31).wrapping_add(i as u8);
    }
    out
}

/// A deterministic block hash.
pub fn block_hash(seed: u8) -> BlockHash {
    BlockHash::from_byte_array(hash32(seed))
}

/// A deterministic txid.
pub fn txid(seed: u8) -> Txid {
    Txid::from_byte_array(hash32(seed))
}

/// A deterministic block header.
pub fn block_header(seed: u32) -> Header {
    Header {
        version: BlockVersion::from_consensus(0x2000_0000),
        prev_blockhash: block_hash(seed as u8),
        merkle_root: TxMerkleNode::from_byte_array(hash32(seed.wrapping_add(100) as u8)),
        time: 1_700_000_000 + seed,
        bits: CompactTarget::from_consensus(0x1703_4219),
        nonce: seed.wrapping_mul(2_654_435_761),
    }
}

/// A deterministic transaction: `inputs` inputs (segwit when `witness`) and `outputs` outputs.
pub fn transaction(seed: u32, inputs: usize, outputs: usize, witness: bool) -> Transaction {
    let input = (0..inputs)
        .map(|i| TxIn {
            previous_output: OutPoint {
                txid: txid((seed as usize + i) as u8),
                vout: i as u32,
            },
            script_sig: if witness {
                ScriptBuf::new()
            } else {
                ScriptBuf::from_bytes(vec![0x51; 107])
            },
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: if witness {
                Witness::from_slice(&[vec![0x30; 72], vec![0x02; 33]])
            } else {
                Witness::new()
            },
        })
        .collect();
    let output = (0..outputs)
        .map(|i| TxOut {
            value: Amount::from_sat(10_000 + u64::from(seed) + i as u64),
            script_pubkey: ScriptBuf::from_bytes(
                [&[0x00, 0x14][..], &[(seed as u8) ^ (i as u8); 20][..]].concat(),
            ),
        })
        .collect();
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::from_consensus(seed % 500_000),
        input,
        output,
    }
}

/// A deterministic block of about `target_size` bytes, made of many small segwit transactions.
pub fn big_block(target_size: usize) -> Block {
    let mut txdata = vec![transaction(0, 1, 1, false)];
    let mut size = 80 + 3 + serialize(&txdata[0]).len();
    let mut seed = 1u32;
    while size < target_size {
        let tx = transaction(seed, 2, 2, seed % 3 != 0);
        size += serialize(&tx).len();
        txdata.push(tx);
        seed += 1;
    }
    let mut block = Block {
        header: block_header(7),
        txdata,
    };
    if let Some(root) = block.compute_merkle_root() {
        block.header.merkle_root = root;
    }
    block
}

/// One of every `NetworkMessage` variant, filled with non-trivial contents.
pub fn every_message() -> Vec<NetworkMessage> {
    use NetworkMessage as M;
    let tx_legacy = transaction(1, 1, 2, false);
    let tx_segwit = transaction(2, 2, 1, true);
    let genesis = bitcoin::constants::genesis_block(bitcoin::Network::Bitcoin);
    let block = Block {
        header: block_header(3),
        txdata: vec![tx_legacy.clone(), tx_segwit.clone()],
    };
    let services = ServiceFlags::NETWORK | ServiceFlags::WITNESS;
    let v4: SocketAddr = (Ipv4Addr::new(203, 0, 113, 7), 8333).into();
    let v6: SocketAddr = (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 18444).into();
    let txids: Vec<Txid> = block.txdata.iter().map(|t| t.compute_txid()).collect();
    let inventory = vec![
        Inventory::Transaction(txid(1)),
        Inventory::Block(block_hash(2)),
        Inventory::CompactBlock(block_hash(3)),
        Inventory::WTx(Wtxid::from_byte_array(hash32(4))),
        Inventory::WitnessTransaction(txid(5)),
        Inventory::WitnessBlock(block_hash(6)),
        // Type 0 ("error") decodes as Unknown { inv_type: 0 }, so that is what round-trips.
        Inventory::Unknown {
            inv_type: 0,
            hash: [0; 32],
        },
        Inventory::Unknown {
            inv_type: 0x1234,
            hash: hash32(7),
        },
    ];
    vec![
        M::Version(VersionMessage {
            version: 70016,
            services: services | ServiceFlags::NETWORK_LIMITED | ServiceFlags::P2P_V2,
            timestamp: 1_735_689_600,
            receiver: Address::new(&v4, ServiceFlags::NONE),
            sender: Address::new(&v6, services),
            nonce: 0x0123_4567_89ab_cdef,
            user_agent: "/btcclient:0.1.0/".to_owned(),
            start_height: 925_000,
            relay: true,
        }),
        M::Verack,
        M::Addr(vec![
            (1_735_689_600, Address::new(&v4, services)),
            (1_735_689_601, Address::new(&v6, ServiceFlags::NONE)),
        ]),
        M::Inv(inventory.clone()),
        M::GetData(inventory[..4].to_vec()),
        M::NotFound(inventory[4..].to_vec()),
        M::GetBlocks(GetBlocksMessage {
            version: 70016,
            locator_hashes: vec![block_hash(10), block_hash(11)],
            stop_hash: BlockHash::all_zeros(),
        }),
        M::GetHeaders(GetHeadersMessage {
            version: 70016,
            locator_hashes: (0..30).map(block_hash).collect(),
            stop_hash: block_hash(99),
        }),
        M::MemPool,
        M::Tx(tx_segwit.clone()),
        M::Block(genesis),
        M::Headers((0..5).map(block_header).collect()),
        M::SendHeaders,
        M::GetAddr,
        M::Ping(0xdead_beef_cafe_f00d),
        M::Pong(1),
        // The partial merkle tree's flag bits are padded to whole bytes on the wire, so the
        // tree as built compares unequal to the tree decoded: use the decoded (wire) form.
        M::MerkleBlock(
            deserialize(&serialize(&MerkleBlock::from_header_txids_with_predicate(
                &block.header,
                &txids,
                |t| *t == txids[1],
            )))
            .expect("merkle block"),
        ),
        M::FilterLoad(FilterLoad {
            filter: vec![0xa5; 36],
            hash_funcs: 11,
            tweak: 0x5eed,
            flags: BloomFlags::All,
        }),
        M::FilterAdd(FilterAdd {
            data: vec![0x42; 33],
        }),
        M::FilterClear,
        M::GetCFilters(GetCFilters {
            filter_type: 0,
            start_height: 800_000,
            stop_hash: block_hash(20),
        }),
        M::CFilter(CFilter {
            filter_type: 0,
            block_hash: block_hash(21),
            filter: vec![1, 2, 3, 4, 5],
        }),
        M::GetCFHeaders(GetCFHeaders {
            filter_type: 0,
            start_height: 1,
            stop_hash: block_hash(22),
        }),
        M::CFHeaders(CFHeaders {
            filter_type: 0,
            stop_hash: block_hash(23),
            previous_filter_header: FilterHeader::from_byte_array(hash32(24)),
            filter_hashes: (25..30)
                .map(|s| FilterHash::from_byte_array(hash32(s)))
                .collect(),
        }),
        M::GetCFCheckpt(GetCFCheckpt {
            filter_type: 0,
            stop_hash: block_hash(31),
        }),
        M::CFCheckpt(CFCheckpt {
            filter_type: 0,
            stop_hash: block_hash(32),
            filter_headers: (33..36)
                .map(|s| FilterHeader::from_byte_array(hash32(s)))
                .collect(),
        }),
        M::SendCmpct(SendCmpct {
            send_compact: true,
            version: 2,
        }),
        M::CmpctBlock(CmpctBlock {
            compact_block: HeaderAndShortIds {
                header: block.header,
                nonce: 0x1122_3344_5566_7788,
                short_ids: vec![ShortId::from([1, 2, 3, 4, 5, 6]), ShortId::from([9; 6])],
                prefilled_txs: vec![PrefilledTransaction {
                    idx: 0,
                    tx: tx_legacy.clone(),
                }],
            },
        }),
        M::GetBlockTxn(GetBlockTxn {
            txs_request: BlockTransactionsRequest {
                block_hash: block_hash(40),
                indexes: vec![0, 1, 5, 9, 300],
            },
        }),
        M::BlockTxn(BlockTxn {
            transactions: BlockTransactions {
                block_hash: block_hash(41),
                transactions: vec![tx_legacy, tx_segwit],
            },
        }),
        M::Alert(vec![0x01, 0x02, 0x03, 0xff]),
        M::Reject(Reject {
            message: "tx".into(),
            ccode: RejectReason::Duplicate,
            reason: "txn-already-known".into(),
            hash: sha256d::Hash::from_byte_array(hash32(42)),
        }),
        M::FeeFilter(1_000),
        M::WtxidRelay,
        M::AddrV2(vec![
            AddrV2Message {
                time: 1_735_689_600,
                services,
                addr: AddrV2::Ipv4(Ipv4Addr::new(198, 51, 100, 1)),
                port: 8333,
            },
            AddrV2Message {
                time: 1_735_689_601,
                services: ServiceFlags::NETWORK_LIMITED,
                addr: AddrV2::Ipv6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 3, 4, 5, 6)),
                port: 8333,
            },
            AddrV2Message {
                time: 1_735_689_602,
                services,
                addr: AddrV2::TorV3(hash32(50)),
                port: 8333,
            },
            AddrV2Message {
                time: 1_735_689_603,
                services,
                addr: AddrV2::I2p(hash32(51)),
                port: 0,
            },
            AddrV2Message {
                time: 1_735_689_604,
                services,
                addr: AddrV2::Cjdns(Ipv6Addr::new(0xfc00, 1, 2, 3, 4, 5, 6, 7)),
                port: 8333,
            },
            AddrV2Message {
                time: 1_735_689_605,
                services,
                addr: AddrV2::Unknown(0x42, vec![7; 20]),
                port: 1,
            },
        ]),
        M::SendAddrV2,
        M::Unknown {
            command: CommandString::try_from("mycommand").expect("valid command"),
            payload: vec![0xde, 0xad, 0xbe, 0xef],
        },
    ]
}

/// The name of a variant. The match is exhaustive on purpose: a variant added to
/// `NetworkMessage` by a `bitcoin` upgrade fails to compile here until the tests cover it.
pub fn variant_name(message: &NetworkMessage) -> &'static str {
    use NetworkMessage as M;
    match message {
        M::Version(_) => "Version",
        M::Verack => "Verack",
        M::Addr(_) => "Addr",
        M::Inv(_) => "Inv",
        M::GetData(_) => "GetData",
        M::NotFound(_) => "NotFound",
        M::GetBlocks(_) => "GetBlocks",
        M::GetHeaders(_) => "GetHeaders",
        M::MemPool => "MemPool",
        M::Tx(_) => "Tx",
        M::Block(_) => "Block",
        M::Headers(_) => "Headers",
        M::SendHeaders => "SendHeaders",
        M::GetAddr => "GetAddr",
        M::Ping(_) => "Ping",
        M::Pong(_) => "Pong",
        M::MerkleBlock(_) => "MerkleBlock",
        M::FilterLoad(_) => "FilterLoad",
        M::FilterAdd(_) => "FilterAdd",
        M::FilterClear => "FilterClear",
        M::GetCFilters(_) => "GetCFilters",
        M::CFilter(_) => "CFilter",
        M::GetCFHeaders(_) => "GetCFHeaders",
        M::CFHeaders(_) => "CFHeaders",
        M::GetCFCheckpt(_) => "GetCFCheckpt",
        M::CFCheckpt(_) => "CFCheckpt",
        M::SendCmpct(_) => "SendCmpct",
        M::CmpctBlock(_) => "CmpctBlock",
        M::GetBlockTxn(_) => "GetBlockTxn",
        M::BlockTxn(_) => "BlockTxn",
        M::Alert(_) => "Alert",
        M::Reject(_) => "Reject",
        M::FeeFilter(_) => "FeeFilter",
        M::WtxidRelay => "WtxidRelay",
        M::AddrV2(_) => "AddrV2",
        M::SendAddrV2 => "SendAddrV2",
        M::Unknown { .. } => "Unknown",
    }
}

/// How many variants `NetworkMessage` has (kept in step with `variant_name`).
pub const VARIANT_COUNT: usize = 37;
