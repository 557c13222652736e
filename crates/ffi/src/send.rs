//! Sending: any message as command + payload, by peer address or id, and helpers for
//! `getheaders`, `getdata` and `getaddr`.
//!
//! Sends never block: the message is queued for the peer's writer. A full queue is
//! `BTCCLIENT_STATUS_QUEUE_FULL`; a peer without a connection `BTCCLIENT_STATUS_PEER_NOT_CONNECTED`.

use std::ffi::c_char;

use btcclient_manager::bitcoin::hashes::Hash;
use btcclient_manager::bitcoin::p2p::message::NetworkMessage;
use btcclient_manager::bitcoin::p2p::message_blockdata::GetHeadersMessage;
use btcclient_manager::bitcoin::BlockHash;
use btcclient_manager::wire::MAX_INV_ENTRIES;
use btcclient_manager::{Frame, PROTOCOL_VERSION};

use crate::client::btcclient_client;
use crate::error::{btcclient_error, FfiError};
use crate::ffi::{boundary, try_handle, try_slice, try_str};
use crate::status::btcclient_status;
use crate::types::btcclient_inv;

/// Most hashes in a block locator (Bitcoin Core's `MAX_LOCATOR_SZ`).
pub const BTCCLIENT_MAX_LOCATOR: usize = 101;

/// Most headers in one `headers` message (Bitcoin Core's `MAX_HEADERS_RESULTS`): a peer
/// answers `getheaders` with this many while it has more, so a message with fewer is the
/// last of a sync.
pub const BTCCLIENT_MAX_HEADERS: usize = 2000;

// A literal above because cbindgen writes only literals; it is the limit the library
// enforces on received `headers` messages.
const _: () = assert!(BTCCLIENT_MAX_HEADERS == btcclient_manager::wire::MAX_HEADERS_ENTRIES);

/// A frame from C arguments.
///
/// # Safety
/// `command` is NULL or a NUL-terminated string, `payload` NULL or `len` readable bytes.
unsafe fn frame(command: *const c_char, payload: *const u8, len: usize) -> Result<Frame, FfiError> {
    // SAFETY: forwarded contract.
    let command = unsafe { try_str(command, "command") }?;
    // SAFETY: forwarded contract.
    let payload = unsafe { try_slice(payload, len, "payload") }?;
    Frame::raw(command, payload.to_vec())
        .map_err(|e| btcclient_manager::Error::InvalidMessage(e).into())
}

/// Sends a message to the peer at `addr`: `command` (1 to 12 printable ASCII characters)
/// and its serialized payload (`len` bytes; `payload` may be NULL when `len` is 0). The
/// library adds the 24-byte header (magic, command, length, checksum).
///
/// Errors: `BTCCLIENT_STATUS_CLIENT_NOT_STARTED`, `BTCCLIENT_STATUS_PEER_NOT_FOUND`,
/// `BTCCLIENT_STATUS_PEER_NOT_CONNECTED`, `BTCCLIENT_STATUS_QUEUE_FULL`,
/// `BTCCLIENT_STATUS_INVALID_MESSAGE` (bad command, payload over `max_message_size`),
/// `BTCCLIENT_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn btcclient_client_send(
    client: *const btcclient_client,
    addr: *const c_char,
    command: *const c_char,
    payload: *const u8,
    len: usize,
    err: *mut *mut btcclient_error,
) -> btcclient_status {
    boundary(err, || {
        let client = try_handle!(client, "client");
        // SAFETY: `addr` is NULL or a NUL-terminated string valid during the call.
        let addr = unsafe { try_str(addr, "addr") }?;
        // SAFETY: the header's rules for `command` and `payload`.
        let frame = unsafe { frame(command, payload, len) }?;
        client.inner()?.send_frame(addr, frame)?;
        Ok(())
    })
}

/// Sends a message to the peer with id `peer_id`; see `btcclient_client_send`.
#[no_mangle]
pub unsafe extern "C" fn btcclient_client_send_to(
    client: *const btcclient_client,
    peer_id: u64,
    command: *const c_char,
    payload: *const u8,
    len: usize,
    err: *mut *mut btcclient_error,
) -> btcclient_status {
    boundary(err, || {
        let client = try_handle!(client, "client");
        // SAFETY: the header's rules for `command` and `payload`.
        let frame = unsafe { frame(command, payload, len) }?;
        client.peer(peer_id)?.send_frame(frame)?;
        Ok(())
    })
}

/// Sends `getheaders` to the peer `peer_id`: `locator` holds `count` block hashes (at most
/// `BTCCLIENT_MAX_LOCATOR`; newest first, as Bitcoin Core expects; may be NULL when `count`
/// is 0), `stop` a 32-byte hash to stop at, or NULL for none (all zero: up to
/// `BTCCLIENT_MAX_HEADERS` headers).
/// Hashes are in internal byte order (as delivered in `btcclient_header.hash`).
///
/// Errors as `btcclient_client_send_to`.
#[no_mangle]
pub unsafe extern "C" fn btcclient_send_getheaders(
    client: *const btcclient_client,
    peer_id: u64,
    locator: *const [u8; 32],
    count: usize,
    stop: *const u8,
    err: *mut *mut btcclient_error,
) -> btcclient_status {
    boundary(err, || {
        let client = try_handle!(client, "client");
        if count > BTCCLIENT_MAX_LOCATOR {
            return Err(FfiError::arg(format!(
                "locator has {count} hashes, more than {BTCCLIENT_MAX_LOCATOR}"
            )));
        }
        // SAFETY: `locator` is NULL or `count` readable hashes (the header's rules).
        let locator = unsafe { try_slice(locator, count, "locator") }?;
        let stop = if stop.is_null() {
            [0u8; 32]
        } else {
            // SAFETY: a non-NULL `stop` points to 32 readable bytes (the header's rules).
            unsafe { stop.cast::<[u8; 32]>().read_unaligned() }
        };
        let message = GetHeadersMessage {
            version: PROTOCOL_VERSION,
            locator_hashes: locator
                .iter()
                .map(|h| BlockHash::from_byte_array(*h))
                .collect(),
            stop_hash: BlockHash::from_byte_array(stop),
        };
        client
            .peer(peer_id)?
            .send(&NetworkMessage::GetHeaders(message))?;
        Ok(())
    })
}

/// Sends `getdata` for `count` entries (1 to 50,000) to the peer `peer_id`, e.g.
/// `{BTCCLIENT_INV_WITNESS_BLOCK, hash}` to fetch a block (it arrives through the block
/// callback or event).
///
/// Errors as `btcclient_client_send_to`.
#[no_mangle]
pub unsafe extern "C" fn btcclient_send_getdata(
    client: *const btcclient_client,
    peer_id: u64,
    items: *const btcclient_inv,
    count: usize,
    err: *mut *mut btcclient_error,
) -> btcclient_status {
    boundary(err, || {
        let client = try_handle!(client, "client");
        if count == 0 || count > MAX_INV_ENTRIES {
            return Err(FfiError::arg(format!(
                "getdata needs 1 to {MAX_INV_ENTRIES} entries, not {count}"
            )));
        }
        // SAFETY: `items` is NULL or `count` readable entries (the header's rules).
        let items = unsafe { try_slice(items, count, "items") }?;
        let inv = items.iter().map(|i| i.to_inventory()).collect();
        client.peer(peer_id)?.send(&NetworkMessage::GetData(inv))?;
        Ok(())
    })
}

/// Sends `getaddr` to the peer `peer_id` (the client already sends one after each
/// handshake when discovery is on; peers answer it once per connection at most).
///
/// Errors as `btcclient_client_send_to`.
#[no_mangle]
pub unsafe extern "C" fn btcclient_send_getaddr(
    client: *const btcclient_client,
    peer_id: u64,
    err: *mut *mut btcclient_error,
) -> btcclient_status {
    boundary(err, || {
        let client = try_handle!(client, "client");
        client.peer(peer_id)?.send(&NetworkMessage::GetAddr)?;
        Ok(())
    })
}
