//! `RawBlock` accepts exactly the payloads the `bitcoin` crate decodes as a `Block`: the same
//! verdict on random blocks (legacy and segwit transactions) and on mutations of them, and
//! on the hand-made corner cases of the transaction format.

#![allow(clippy::unwrap_used)]

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Txid, Witness,
};
use btcclient_wire::{RawBlock, WireError};
use proptest::prelude::*;

fn header(nonce: u32) -> Header {
    Header {
        version: BlockVersion::TWO,
        prev_blockhash: BlockHash::all_zeros(),
        merkle_root: TxMerkleNode::all_zeros(),
        time: 1_700_000_000,
        bits: CompactTarget::from_consensus(0x207f_ffff),
        nonce,
    }
}

/// (script_sig length, witness element lengths) per input; script_pubkey lengths per output.
type TxShape = (Vec<(usize, Vec<usize>)>, Vec<usize>);

fn transaction((inputs, outputs): &TxShape, seed: u8) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::from_consensus(u32::from(seed)),
        input: inputs
            .iter()
            .enumerate()
            .map(|(i, (script, witness))| TxIn {
                previous_output: OutPoint {
                    txid: Txid::from_byte_array([seed; 32]),
                    vout: i as u32,
                },
                script_sig: ScriptBuf::from_bytes(vec![seed; *script]),
                sequence: Sequence::MAX,
                witness: Witness::from_slice(
                    &witness.iter().map(|n| vec![seed; *n]).collect::<Vec<_>>(),
                ),
            })
            .collect(),
        output: outputs
            .iter()
            .map(|n| TxOut {
                value: Amount::from_sat(u64::from(seed) * 1000),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51; *n]),
            })
            .collect(),
    }
}

fn block(shapes: &[TxShape]) -> Block {
    Block {
        header: header(shapes.len() as u32),
        txdata: shapes
            .iter()
            .enumerate()
            .map(|(i, s)| transaction(s, i as u8))
            .collect(),
    }
}

/// Script lengths around the CompactSize boundaries (252/253), witnesses empty or not.
fn tx_shape() -> impl Strategy<Value = TxShape> {
    let script = prop_oneof![0usize..4, 250usize..256];
    let witness = prop_oneof![
        Just(Vec::new()),
        proptest::collection::vec(prop_oneof![0usize..3, 252usize..254], 0..3),
    ];
    (
        proptest::collection::vec((script.clone(), witness), 0..3),
        proptest::collection::vec(script, 0..3),
    )
}

/// Our verdict and the `bitcoin` crate's must agree; when both accept, on everything.
fn agree(payload: &[u8]) -> Result<(), TestCaseError> {
    let ours = RawBlock::new(payload.to_vec().into());
    let theirs = deserialize::<Block>(payload);
    match (&ours, &theirs) {
        (Ok(raw), Ok(block)) => {
            prop_assert_eq!(raw.hash(), block.block_hash());
            prop_assert_eq!(raw.header(), &block.header);
            prop_assert_eq!(raw.tx_count(), block.txdata.len());
            prop_assert_eq!(raw.as_bytes(), payload);
            prop_assert_eq!(&raw.decode().unwrap(), block);
        }
        (Err(_), Err(_)) => {}
        _ => prop_assert!(false, "ours {:?} vs theirs {:?}", ours, theirs),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn well_formed_blocks_are_accepted(shapes in proptest::collection::vec(tx_shape(), 0..5)) {
        let b = block(&shapes);
        let bytes = serialize(&b);
        // The bitcoin crate serializes a transaction whose inputs have no witness the legacy way.
        let raw = RawBlock::new(bytes.clone().into());
        prop_assert!(raw.is_ok(), "{:?}", raw);
        agree(&bytes)?;
    }

    #[test]
    fn mutated_blocks_get_the_same_verdict(
        shapes in proptest::collection::vec(tx_shape(), 0..4),
        mutation in 0u8..5,
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = serialize(&block(&shapes));
        let at = at.index(bytes.len() + 1);
        match mutation {
            0 => bytes.truncate(at),
            1 if at < bytes.len() => bytes[at] ^= byte | 1,
            1 => bytes.push(byte),
            2 => bytes.insert(at, byte),
            3 if at < bytes.len() => { bytes.remove(at); }
            // A CompactSize marker: non-minimal or huge lengths at any position.
            _ => { bytes.insert(at.min(bytes.len()), 0xfd | (byte & 3)); }
        }
        agree(&bytes)?;
    }

    #[test]
    fn arbitrary_bytes_get_the_same_verdict(
        bytes in proptest::collection::vec(any::<u8>(), 80..400),
    ) {
        agree(&bytes)?;
    }
}

/// A block of one transaction given as raw bytes after an all-zero header.
fn with_tx(tx: &[u8]) -> Vec<u8> {
    let mut b = serialize(&header(0));
    b.push(1);
    b.extend_from_slice(tx);
    b
}

fn check(bytes: &[u8]) {
    agree(bytes).unwrap();
}

#[test]
fn corner_cases_of_the_transaction_format() {
    let input = |script: &[u8]| {
        let mut v = vec![0u8; 36];
        v.push(script.len() as u8);
        v.extend_from_slice(script);
        v.extend_from_slice(&[0xff; 4]);
        v
    };
    let version = [2u8, 0, 0, 0];
    let lock = [0u8; 4];
    // Legacy: 1 input, 1 output.
    let mut legacy = version.to_vec();
    legacy.extend([1]);
    legacy.extend(input(&[0x51]));
    legacy.extend([1]);
    legacy.extend([0u8; 8]);
    legacy.extend([1, 0x51]);
    legacy.extend(lock);
    assert!(RawBlock::new(with_tx(&legacy).into()).is_ok());
    check(&with_tx(&legacy));

    // Segwit marker + flag 1, one input with a witness of one element.
    let segwit = |flag: u8, witness: &[u8]| {
        let mut t = version.to_vec();
        t.extend([0, flag, 1]);
        t.extend(input(&[]));
        t.extend([1]);
        t.extend([0u8; 8]);
        t.extend([1, 0x51]);
        t.extend_from_slice(witness);
        t.extend(lock);
        t
    };
    assert!(RawBlock::new(with_tx(&segwit(1, &[1, 1, 0xaa])).into()).is_ok());
    check(&with_tx(&segwit(1, &[1, 1, 0xaa])));
    // Flag set but every witness empty: refused by both.
    let empty = with_tx(&segwit(1, &[0]));
    assert!(matches!(
        RawBlock::new(empty.clone().into()),
        Err(WireError::Decode { .. })
    ));
    check(&empty);
    // Unknown flag.
    let flag2 = with_tx(&segwit(2, &[1, 1, 0xaa]));
    assert!(RawBlock::new(flag2.clone().into()).is_err());
    check(&flag2);
    // Marker, flag 1 and no inputs at all: accepted by both (no witness to require).
    let mut no_inputs = version.to_vec();
    no_inputs.extend([0, 1, 0, 1]);
    no_inputs.extend([0u8; 8]);
    no_inputs.extend([0]);
    no_inputs.extend(lock);
    check(&with_tx(&no_inputs));
    // Witness element count over MAX_VEC_SIZE, announced with a 5-byte CompactSize.
    let huge = with_tx(&segwit(1, &[0xfe, 0x01, 0x0a, 0x3d, 0x00]));
    assert!(RawBlock::new(huge.clone().into()).is_err());
    check(&huge);
    // Non-minimal CompactSize for the script length (0xfd 0x01 0x00 = 1).
    let mut non_minimal = version.to_vec();
    non_minimal.extend([1]);
    non_minimal.extend([0u8; 36]);
    non_minimal.extend([0xfd, 1, 0, 0x51]);
    non_minimal.extend([0xff; 4]);
    non_minimal.extend([0]);
    non_minimal.extend(lock);
    assert!(RawBlock::new(with_tx(&non_minimal).into()).is_err());
    check(&with_tx(&non_minimal));
}

#[test]
fn header_only_empty_and_trailing() {
    let h = serialize(&header(7));
    // No transaction count: refused.
    assert!(RawBlock::new(h.clone().into()).is_err());
    check(&h);
    // Zero transactions: a well-formed encoding (the decoder accepts it).
    let mut zero = h.clone();
    zero.push(0);
    let raw = RawBlock::new(zero.clone().into()).unwrap();
    assert_eq!(raw.tx_count(), 0);
    assert_eq!(raw.hash(), header(7).block_hash());
    check(&zero);
    // One byte after the last transaction: TrailingBytes, like the decoder.
    zero.push(0);
    assert!(matches!(
        RawBlock::new(zero.clone().into()),
        Err(WireError::TrailingBytes { extra: 1, .. })
    ));
    check(&zero);
    // Fewer than 80 bytes.
    assert!(RawBlock::new(vec![0u8; 79].into()).is_err());
}

#[test]
fn the_bytes_are_shared_not_copied() {
    let bytes: bytes::Bytes = serialize(&block(&[(vec![(1, vec![])], vec![1])])).into();
    let raw = RawBlock::new(bytes.clone()).unwrap();
    assert_eq!(raw.bytes().as_ptr(), bytes.as_ptr());
}

/// A legacy block whose one input's script is `len` bytes, its length written as `prefix`.
fn with_script(prefix: &[u8], len: usize) -> Vec<u8> {
    let mut t = vec![2u8, 0, 0, 0, 1];
    t.extend([0u8; 36]);
    t.extend_from_slice(prefix);
    t.extend(std::iter::repeat_n(0x51, len));
    t.extend([0xff; 4]);
    t.extend([0, 0, 0, 0, 0]); // no outputs, lock time
    with_tx(&t)
}

#[test]
fn compact_sizes_must_be_minimal_at_every_boundary() {
    let non_minimal = |bytes: Vec<u8>| {
        check(&bytes);
        match RawBlock::new(bytes.into()) {
            Err(WireError::Decode { source, .. }) => assert!(
                matches!(source, bitcoin::consensus::encode::Error::NonMinimalVarInt),
                "{source:?}"
            ),
            other => panic!("expected NonMinimalVarInt, got {other:?}"),
        }
    };
    let minimal = |bytes: Vec<u8>| {
        check(&bytes);
        assert!(RawBlock::new(bytes.into()).is_ok());
    };
    minimal(with_script(&[0xfc], 252));
    non_minimal(with_script(&[0xfd, 0xfc, 0x00], 252));
    minimal(with_script(&[0xfd, 0xfd, 0x00], 253));
    non_minimal(with_script(&[0xfe, 0xff, 0xff, 0x00, 0x00], 0xffff));
    minimal(with_script(&[0xfe, 0x00, 0x00, 0x01, 0x00], 0x1_0000));
    non_minimal(with_script(&[0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], 0));
    // The smallest 9-byte length is minimal; the bytes are missing, so it is refused as
    // truncated by both.
    let truncated = with_script(&[0xff, 0, 0, 0, 0, 1, 0, 0, 0], 0);
    check(&truncated);
    assert!(RawBlock::new(truncated.into()).is_err());
}

/// The seed corpus of the `raw_block` fuzz target (`fuzz/seeds_raw_block/`): blocks of
/// legacy and segwit transactions. Checks that every committed seed is a block both
/// decoders accept; with `BTCCLIENT_WRITE_FUZZ_SEEDS=1` (re)writes them.
#[test]
fn raw_block_fuzz_seeds_are_blocks() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds_raw_block");
    if std::env::var_os("BTCCLIENT_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Bitcoin);
        std::fs::write(dir.join("genesis"), serialize(&genesis)).unwrap();
        let legacy = block(&[(vec![(2, vec![])], vec![3, 253]), (vec![], vec![1])]);
        std::fs::write(dir.join("legacy"), serialize(&legacy)).unwrap();
        let segwit = block(&[
            (vec![(0, vec![1, 72]), (1, vec![])], vec![22]),
            (vec![(253, vec![0])], vec![]),
        ]);
        std::fs::write(dir.join("segwit"), serialize(&segwit)).unwrap();
    }
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(RawBlock::new(bytes.clone().into()).is_ok());
        check(&bytes);
        seen += 1;
    }
    assert_eq!(seen, 3);
}
