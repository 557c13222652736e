//! Fuzzes `RawBlock::new`, the allocation-free check of a `block` payload, against the
//! `bitcoin` crate's decoder: both must accept or both refuse, and when both accept they
//! must agree on the hash, the transaction count and the decoded block. Nothing may panic.
//!
//! Run from `crates/wire` (seeds in `fuzz/seeds_raw_block/`, written by the `raw_block`
//! test with `BTCCLIENT_WRITE_FUZZ_SEEDS=1`):
//!
//! ```text
//! mkdir -p fuzz/corpus/raw_block
//! cargo +nightly fuzz run -O raw_block fuzz/corpus/raw_block fuzz/seeds_raw_block -- \
//!     -max_total_time=600 -max_len=65536
//! ```

#![no_main]

use bitcoin::consensus::deserialize;
use bitcoin::Block;
use btcclient_wire::RawBlock;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ours = RawBlock::new(bytes::Bytes::copy_from_slice(data));
    let theirs = deserialize::<Block>(data);
    match (ours, theirs) {
        (Ok(raw), Ok(block)) => {
            assert_eq!(raw.hash(), block.block_hash());
            assert_eq!(raw.tx_count(), block.txdata.len());
            assert_eq!(raw.decode().expect("a checked block decodes"), block);
        }
        (Err(_), Err(_)) => {}
        (ours, theirs) => panic!("disagreement: ours {ours:?}, bitcoin {theirs:?}"),
    }
});
