//! A frame: one P2P message as command + undecoded payload.

use bitcoin::consensus::encode::Error as EncodeError;
use bitcoin::consensus::{deserialize_partial, Decodable};
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::p2p::message::{CommandString, NetworkMessage};
use bitcoin::{block, VarInt};
use bytes::Bytes;

use crate::config::{MAX_ADDR_ENTRIES, MAX_HEADERS_ENTRIES, MAX_INV_ENTRIES};
use crate::{Command, WireError};

/// One P2P message as it came off (or goes onto) the wire: its command and its payload bytes.
///
/// The payload is a [`Bytes`]: cloning a frame or handing it to several consumers shares the
/// bytes instead of copying them. Nothing is decoded until [`Frame::decode`] is called, so a
/// message nobody wants costs only its checksum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The message command, e.g. `headers`.
    pub command: Command,
    /// The serialized payload (without the 24-byte header).
    pub payload: Bytes,
}

impl Frame {
    /// A frame from a command and an already serialized payload.
    pub fn new(command: Command, payload: impl Into<Bytes>) -> Frame {
        Frame {
            command,
            payload: payload.into(),
        }
    }

    /// A frame from a command given as a string and a payload; the C ABI sends arbitrary
    /// messages this way. Fails when the command is not 1 to 12 printable ASCII characters.
    pub fn raw(command: &str, payload: impl Into<Bytes>) -> Result<Frame, WireError> {
        if command.is_empty() {
            return Err(WireError::InvalidCommand(String::new()));
        }
        Ok(Frame::new(Command::new(command)?, payload))
    }

    /// Serializes a message into a frame.
    ///
    /// Fails only for [`NetworkMessage::Unknown`] with a command that is not printable ASCII.
    pub fn from_message(message: &NetworkMessage) -> Result<Frame, WireError> {
        let command = match message {
            NetworkMessage::Unknown { command, .. } => Command::new(command.as_ref())?,
            other => Command::new(other.cmd())?,
        };
        Ok(Frame::new(command, bitcoin::consensus::serialize(message)))
    }

    /// The checksum of this frame's payload, as it appears in a v1 header.
    pub fn checksum(&self) -> [u8; 4] {
        checksum(&self.payload)
    }

    /// Decodes the payload into a `NetworkMessage`.
    ///
    /// Per-message entry limits (addr/addrv2 1,000; inv/getdata/notfound 50,000; headers 2,000)
    /// are checked on the announced count before anything is allocated for the entries. A
    /// payload that does not decode, or leaves bytes over, is an error. A command this crate
    /// does not know becomes [`NetworkMessage::Unknown`].
    pub fn decode(&self) -> Result<NetworkMessage, WireError> {
        decode_payload(self.command, &self.payload)
    }
}

/// First four bytes of the double-SHA256 of `payload`.
pub fn checksum(payload: &[u8]) -> [u8; 4] {
    let hash = sha256d::Hash::hash(payload).to_byte_array();
    [hash[0], hash[1], hash[2], hash[3]]
}

fn decode_err(command: Command, source: EncodeError) -> WireError {
    WireError::Decode { command, source }
}

/// Decodes a whole payload as `T`, rejecting leftovers.
fn exact<T: Decodable>(command: Command, payload: &[u8]) -> Result<T, WireError> {
    // Straight from the slice, as the `bitcoin` crate's own message decoder reads: through
    // `deserialize_partial`'s `Cursor`, a 1 MB block decoded about 10% slower.
    let mut rest = payload;
    let value =
        T::consensus_decode_from_finite_reader(&mut rest).map_err(|e| decode_err(command, e))?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes {
            command,
            extra: rest.len(),
        });
    }
    Ok(value)
}

/// An empty-payload message: anything after it is trailing.
fn empty(
    command: Command,
    payload: &[u8],
    message: NetworkMessage,
) -> Result<NetworkMessage, WireError> {
    if payload.is_empty() {
        Ok(message)
    } else {
        Err(WireError::TrailingBytes {
            command,
            extra: payload.len(),
        })
    }
}

/// Reads the leading CompactSize count of a list payload and refuses counts over `max`.
fn check_count(command: Command, payload: &[u8], max: usize) -> Result<(), WireError> {
    if let Ok((VarInt(count), _)) = deserialize_partial::<VarInt>(payload) {
        if count > max as u64 {
            return Err(WireError::TooManyEntries {
                command,
                count,
                max,
            });
        }
    }
    // A count that does not parse is reported by the decoder itself.
    Ok(())
}

fn decode_headers(command: Command, payload: &[u8]) -> Result<Vec<block::Header>, WireError> {
    let (VarInt(count), offset) =
        deserialize_partial::<VarInt>(payload).map_err(|e| decode_err(command, e))?;
    if count > MAX_HEADERS_ENTRIES as u64 {
        return Err(WireError::TooManyEntries {
            command,
            count,
            max: MAX_HEADERS_ENTRIES,
        });
    }
    let count = count as usize;
    if payload.len() < offset + count * 81 {
        return Err(decode_err(
            command,
            EncodeError::ParseFailed("headers message shorter than its count"),
        ));
    }
    let (headers, extra) =
        read_headers(&payload[offset..], count).map_err(|e| decode_err(command, e))?;
    if extra != 0 {
        return Err(WireError::TrailingBytes { command, extra });
    }
    Ok(headers)
}

/// Reads `count` headers, each followed by a zero transaction count, and returns them with the
/// number of bytes left over. One loop over the slice with the decoder's own error type, as in
/// the `bitcoin` crate: a `Cursor` per header and an error conversion inside the loop made a
/// 2,000-header message take about 1.5 times as long to decode.
fn read_headers(mut r: &[u8], count: usize) -> Result<(Vec<block::Header>, usize), EncodeError> {
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        headers.push(block::Header::consensus_decode_from_finite_reader(&mut r)?);
        if u8::consensus_decode_from_finite_reader(&mut r)? != 0 {
            return Err(EncodeError::ParseFailed(
                "headers message should not contain transactions",
            ));
        }
    }
    Ok((headers, r.len()))
}

/// Decodes `payload` as the message named by `command`; see [`Frame::decode`].
pub fn decode_payload(command: Command, payload: &[u8]) -> Result<NetworkMessage, WireError> {
    use NetworkMessage as M;
    let c = command;
    let p = payload;
    let message = match command.as_str() {
        "version" => M::Version(exact(c, p)?),
        "verack" => return empty(c, p, M::Verack),
        "addr" => {
            check_count(c, p, MAX_ADDR_ENTRIES)?;
            M::Addr(exact(c, p)?)
        }
        "addrv2" => {
            check_count(c, p, MAX_ADDR_ENTRIES)?;
            M::AddrV2(exact(c, p)?)
        }
        "inv" => {
            check_count(c, p, MAX_INV_ENTRIES)?;
            M::Inv(exact(c, p)?)
        }
        "getdata" => {
            check_count(c, p, MAX_INV_ENTRIES)?;
            M::GetData(exact(c, p)?)
        }
        "notfound" => {
            check_count(c, p, MAX_INV_ENTRIES)?;
            M::NotFound(exact(c, p)?)
        }
        "headers" => M::Headers(decode_headers(c, p)?),
        "getblocks" => M::GetBlocks(exact(c, p)?),
        "getheaders" => M::GetHeaders(exact(c, p)?),
        "mempool" => return empty(c, p, M::MemPool),
        "tx" => M::Tx(exact(c, p)?),
        "block" => M::Block(exact(c, p)?),
        "sendheaders" => return empty(c, p, M::SendHeaders),
        "getaddr" => return empty(c, p, M::GetAddr),
        "ping" => M::Ping(exact(c, p)?),
        "pong" => M::Pong(exact(c, p)?),
        "merkleblock" => M::MerkleBlock(exact(c, p)?),
        "filterload" => M::FilterLoad(exact(c, p)?),
        "filteradd" => M::FilterAdd(exact(c, p)?),
        "filterclear" => return empty(c, p, M::FilterClear),
        "getcfilters" => M::GetCFilters(exact(c, p)?),
        "cfilter" => M::CFilter(exact(c, p)?),
        "getcfheaders" => M::GetCFHeaders(exact(c, p)?),
        "cfheaders" => M::CFHeaders(exact(c, p)?),
        "getcfcheckpt" => M::GetCFCheckpt(exact(c, p)?),
        "cfcheckpt" => M::CFCheckpt(exact(c, p)?),
        "sendcmpct" => M::SendCmpct(exact(c, p)?),
        "cmpctblock" => M::CmpctBlock(exact(c, p)?),
        "getblocktxn" => M::GetBlockTxn(exact(c, p)?),
        "blocktxn" => M::BlockTxn(exact(c, p)?),
        "alert" => M::Alert(exact(c, p)?),
        "reject" => M::Reject(exact(c, p)?),
        "feefilter" => {
            let fee: i64 = exact(c, p)?;
            let max_money = bitcoin::Amount::MAX_MONEY.to_sat() as i64;
            if !(0..=max_money).contains(&fee) {
                return Err(decode_err(
                    c,
                    EncodeError::ParseFailed("feefilter value out of range"),
                ));
            }
            M::FeeFilter(fee)
        }
        "wtxidrelay" => return empty(c, p, M::WtxidRelay),
        "sendaddrv2" => return empty(c, p, M::SendAddrV2),
        other => {
            // Printable ASCII of at most 12 bytes always makes a CommandString.
            let command = CommandString::try_from(other.to_owned())
                .map_err(|_| WireError::InvalidCommand(other.to_owned()))?;
            M::Unknown {
                command,
                payload: payload.to_vec(),
            }
        }
    };
    Ok(message)
}
