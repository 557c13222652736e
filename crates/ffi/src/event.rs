//! Events: one value per listener call, built from the manager's data in C form. Callback
//! mode lends them to the C callbacks; poll mode hands them out as owned `btcclient_event`
//! objects with accessors.

use std::ffi::{c_char, CString};

use btcclient_manager::bitcoin::block::Header;
use btcclient_manager::bitcoin::consensus::serialize;
use btcclient_manager::bitcoin::hashes::Hash;
use btcclient_manager::bitcoin::p2p::address::AddrV2Message;
use btcclient_manager::bitcoin::p2p::message_blockdata::Inventory;
use btcclient_manager::bitcoin::Transaction;
use btcclient_manager::{
    AttemptFailure, DisconnectReason, Frame, ManagedPeer, RawBlock, StatusChange,
};

use crate::error::{btcclient_error, FfiError};
use crate::ffi::{
    boundary, boundary_value, free_box, to_boxed_ptr, try_handle, try_out, try_ref, Castable,
};
use crate::status::btcclient_status;
use crate::types::{
    btcclient_addr, btcclient_disconnect_reason, btcclient_header, btcclient_inv,
    btcclient_peer_info, btcclient_peer_status, c_string, PeerInfoOwned,
};

/// The kind of an event (`btcclient_event_kind`).
#[repr(u32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum btcclient_event_kind {
    /// A peer finished the version/verack handshake.
    PeerConnected = 1,
    /// A connected peer was disconnected (exactly once after each connected event).
    PeerDisconnected = 2,
    /// A `headers` message.
    Headers = 3,
    /// An `inv` message.
    Inv = 4,
    /// An `addr` or `addrv2` message (IP entries only).
    Addr = 5,
    /// A `block` message.
    Block = 6,
    /// A `tx` message.
    Tx = 7,
    /// Any other message (command + raw payload).
    Message = 8,
    /// A connection attempt failed, or a connection ended before it was stable (cause, the
    /// failures in a row, the delay before the next attempt).
    AttemptFailed = 9,
    /// A peer's status changed (old and new `btcclient_peer_status`).
    StatusChanged = 10,
}

/// An owned event taken from the poll queue with `btcclient_poll_next`; read it with the
/// `btcclient_event_*` accessors, release it with `btcclient_event_free`. Everything an
/// accessor returns a pointer to lives until the event is freed.
pub struct btcclient_event {
    _private: [u8; 0],
}

/// The data of an event, already in C form.
#[derive(Clone)]
pub(crate) enum EventData {
    Connected,
    Disconnected {
        reason: btcclient_disconnect_reason,
        text: CString,
    },
    Headers(Vec<btcclient_header>),
    Inv(Vec<btcclient_inv>),
    Addr(Vec<btcclient_addr>),
    /// The payload as the peer sent it (shared, not copied).
    Block {
        raw: RawBlock,
        hash: [u8; 32],
    },
    Tx {
        bytes: Vec<u8>,
        txid: [u8; 32],
    },
    Message {
        command: CString,
        frame: Frame,
    },
    AttemptFailed {
        cause: CString,
        failures: u32,
        retry_in_ms: u64,
    },
    StatusChanged {
        old: btcclient_peer_status,
        new: btcclient_peer_status,
    },
}

/// One event: the peer it is about and its data.
pub(crate) struct Event {
    pub(crate) peer: PeerInfoOwned,
    pub(crate) data: EventData,
}

impl Castable for btcclient_event {
    type RustType = Event;
}

impl Event {
    /// A deep copy (the peer view's strings included).
    pub(crate) fn duplicate(&self) -> Event {
        Event {
            peer: self.peer.duplicate(),
            data: self.data.clone(),
        }
    }

    fn new(peer: &ManagedPeer, data: EventData) -> Event {
        Event {
            peer: PeerInfoOwned::of(peer),
            data,
        }
    }

    pub(crate) fn connected(peer: &ManagedPeer) -> Event {
        Event::new(peer, EventData::Connected)
    }

    pub(crate) fn disconnected(peer: &ManagedPeer, reason: &DisconnectReason) -> Event {
        Event::new(
            peer,
            EventData::Disconnected {
                reason: reason.into(),
                text: c_string(&reason.to_string()),
            },
        )
    }

    pub(crate) fn headers(peer: &ManagedPeer, headers: &[Header]) -> Event {
        Event::new(
            peer,
            EventData::Headers(headers.iter().map(btcclient_header::from).collect()),
        )
    }

    pub(crate) fn inv(peer: &ManagedPeer, inv: &[Inventory]) -> Event {
        Event::new(
            peer,
            EventData::Inv(inv.iter().map(btcclient_inv::from).collect()),
        )
    }

    pub(crate) fn addr(peer: &ManagedPeer, addrs: &[AddrV2Message]) -> Event {
        Event::new(
            peer,
            EventData::Addr(
                addrs
                    .iter()
                    .filter_map(btcclient_addr::from_message)
                    .collect(),
            ),
        )
    }

    /// A block event: the checked payload itself, never decoded or re-serialized.
    pub(crate) fn block(peer: &ManagedPeer, block: &RawBlock) -> Event {
        Event::new(
            peer,
            EventData::Block {
                raw: block.clone(),
                hash: block.hash().to_byte_array(),
            },
        )
    }

    pub(crate) fn tx(peer: &ManagedPeer, tx: &Transaction) -> Event {
        Event::new(
            peer,
            EventData::Tx {
                bytes: serialize(tx),
                txid: tx.compute_txid().to_byte_array(),
            },
        )
    }

    pub(crate) fn message(peer: &ManagedPeer, frame: &Frame) -> Event {
        Event::new(
            peer,
            EventData::Message {
                command: c_string(frame.command.as_str()),
                frame: frame.clone(),
            },
        )
    }

    pub(crate) fn attempt_failed(peer: &ManagedPeer, failure: &AttemptFailure) -> Event {
        Event::new(
            peer,
            EventData::AttemptFailed {
                cause: c_string(&failure.cause.to_string()),
                failures: failure.failures,
                retry_in_ms: u64::try_from(failure.retry_in.as_millis()).unwrap_or(u64::MAX),
            },
        )
    }

    pub(crate) fn status_changed(peer: &ManagedPeer, change: &StatusChange) -> Event {
        Event::new(
            peer,
            EventData::StatusChanged {
                old: change.old.into(),
                new: change.new.into(),
            },
        )
    }

    pub(crate) fn kind(&self) -> btcclient_event_kind {
        match self.data {
            EventData::Connected => btcclient_event_kind::PeerConnected,
            EventData::Disconnected { .. } => btcclient_event_kind::PeerDisconnected,
            EventData::Headers(_) => btcclient_event_kind::Headers,
            EventData::Inv(_) => btcclient_event_kind::Inv,
            EventData::Addr(_) => btcclient_event_kind::Addr,
            EventData::Block { .. } => btcclient_event_kind::Block,
            EventData::Tx { .. } => btcclient_event_kind::Tx,
            EventData::Message { .. } => btcclient_event_kind::Message,
            EventData::AttemptFailed { .. } => btcclient_event_kind::AttemptFailed,
            EventData::StatusChanged { .. } => btcclient_event_kind::StatusChanged,
        }
    }

    /// The serialized bytes of a block, tx or other message.
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        match &self.data {
            EventData::Block { raw, .. } => Some(raw.as_bytes()),
            EventData::Tx { bytes, .. } => Some(bytes),
            EventData::Message { frame, .. } => Some(&frame.payload),
            _ => None,
        }
    }
}

fn wrong_kind(event: &Event, wanted: &str) -> FfiError {
    FfiError::arg(format!(
        "the event is of kind {:?}, not {wanted}",
        event.kind()
    ))
}

/// The kind of an event (a `btcclient_event_kind` value); 0 when `event` is NULL.
#[no_mangle]
pub unsafe extern "C" fn btcclient_event_get_kind(event: *const btcclient_event) -> u32 {
    boundary_value(0, || {
        // SAFETY: `event` is NULL or a live event (the header's rules).
        unsafe { try_ref(event) }.map_or(0, |e| e.kind() as u32)
    })
}

/// The id of the peer an event is about; 0 (never a peer id) when `event` is NULL.
#[no_mangle]
pub unsafe extern "C" fn btcclient_event_peer_id(event: *const btcclient_event) -> u64 {
    boundary_value(0, || {
        // SAFETY: `event` is NULL or a live event (the header's rules).
        unsafe { try_ref(event) }.map_or(0, |e| e.peer.raw.id)
    })
}

/// What is known about the peer an event is about. The returned struct and its strings are
/// owned by `event` and valid until `btcclient_event_free(event)`. NULL when `event` is NULL.
#[no_mangle]
pub unsafe extern "C" fn btcclient_event_peer_info(
    event: *const btcclient_event,
) -> *const btcclient_peer_info {
    boundary_value(std::ptr::null(), || {
        // SAFETY: `event` is NULL or a live event (the header's rules).
        unsafe { try_ref(event) }.map_or(std::ptr::null(), |e| &e.peer.raw as *const _)
    })
}

/// The reason of a `BTCCLIENT_EVENT_KIND_PEER_DISCONNECTED` event: `*reason` receives a
/// `btcclient_disconnect_reason` value and `*text` (if `text` is not NULL) a description
/// owned by `event`, valid until `btcclient_event_free(event)`.
///
/// `BTCCLIENT_STATUS_INVALID_ARGUMENT` for another kind of event or a NULL `event`/`reason`.
#[no_mangle]
pub unsafe extern "C" fn btcclient_event_disconnect_reason(
    event: *const btcclient_event,
    reason: *mut u32,
    text: *mut *const c_char,
) -> btcclient_status {
    boundary(std::ptr::null_mut(), || {
        let e = try_handle!(event, "event");
        // SAFETY: `reason` is NULL or writable (the header's rules).
        let reason = unsafe { try_out(reason, "reason") }?;
        let EventData::Disconnected { reason: r, text: t } = &e.data else {
            return Err(wrong_kind(e, "PEER_DISCONNECTED"));
        };
        reason.write(*r as u32);
        if !text.is_null() {
            // SAFETY: `text` is not NULL and writable (the header's rules).
            unsafe { text.write(t.as_ptr()) };
        }
        Ok(())
    })
}

/// The detail of a `BTCCLIENT_EVENT_KIND_ATTEMPT_FAILED` event: `*failures` the consecutive
/// failures (this one included), `*retry_in_ms` the delay before the next attempt, and
/// `*cause` (if `cause` is not NULL) a description owned by `event`, valid until
/// `btcclient_event_free(event)`.
///
/// `BTCCLIENT_STATUS_INVALID_ARGUMENT` for another kind of event or a NULL `event`,
/// `failures` or `retry_in_ms`.
#[no_mangle]
pub unsafe extern "C" fn btcclient_event_attempt_failed(
    event: *const btcclient_event,
    cause: *mut *const c_char,
    failures: *mut u32,
    retry_in_ms: *mut u64,
) -> btcclient_status {
    boundary(std::ptr::null_mut(), || {
        let e = try_handle!(event, "event");
        // SAFETY: `failures` and `retry_in_ms` are NULL or writable (the header's rules).
        let (failures, retry_in_ms) = unsafe {
            (
                try_out(failures, "failures")?,
                try_out(retry_in_ms, "retry_in_ms")?,
            )
        };
        let EventData::AttemptFailed {
            cause: c,
            failures: f,
            retry_in_ms: r,
        } = &e.data
        else {
            return Err(wrong_kind(e, "ATTEMPT_FAILED"));
        };
        failures.write(*f);
        retry_in_ms.write(*r);
        if !cause.is_null() {
            // SAFETY: `cause` is not NULL and writable (the header's rules).
            unsafe { cause.write(c.as_ptr()) };
        }
        Ok(())
    })
}

/// The old and new status (`btcclient_peer_status` values) of a
/// `BTCCLIENT_EVENT_KIND_STATUS_CHANGED` event.
///
/// `BTCCLIENT_STATUS_INVALID_ARGUMENT` for another kind of event or a NULL argument.
#[no_mangle]
pub unsafe extern "C" fn btcclient_event_status_change(
    event: *const btcclient_event,
    old_status: *mut u32,
    new_status: *mut u32,
) -> btcclient_status {
    boundary(std::ptr::null_mut(), || {
        let e = try_handle!(event, "event");
        // SAFETY: both are NULL or writable (the header's rules).
        let (old_status, new_status) = unsafe {
            (
                try_out(old_status, "old_status")?,
                try_out(new_status, "new_status")?,
            )
        };
        let EventData::StatusChanged { old, new } = &e.data else {
            return Err(wrong_kind(e, "STATUS_CHANGED"));
        };
        old_status.write(*old as u32);
        new_status.write(*new as u32);
        Ok(())
    })
}

/// Writes the list of an event of the wanted kind to `items`/`count`.
fn list_out<T>(
    event: *const btcclient_event,
    items: *mut *const T,
    count: *mut usize,
    wanted: &str,
    pick: fn(&EventData) -> Option<&[T]>,
) -> btcclient_status {
    boundary(std::ptr::null_mut(), || {
        let e = try_handle!(event, "event");
        // SAFETY: `items` and `count` are NULL or writable (the header's rules).
        let (items, count) = unsafe { (try_out(items, "items")?, try_out(count, "count")?) };
        let list = pick(&e.data).ok_or_else(|| wrong_kind(e, wanted))?;
        items.write(list.as_ptr());
        count.write(list.len());
        Ok(())
    })
}

/// The headers of a `BTCCLIENT_EVENT_KIND_HEADERS` event: `*items` receives an array of
/// `*count` headers owned by `event`, valid until `btcclient_event_free(event)`.
/// `BTCCLIENT_STATUS_INVALID_ARGUMENT` for another kind or a NULL argument.
#[no_mangle]
pub unsafe extern "C" fn btcclient_event_headers(
    event: *const btcclient_event,
    items: *mut *const btcclient_header,
    count: *mut usize,
) -> btcclient_status {
    list_out(event, items, count, "HEADERS", |d| match d {
        EventData::Headers(list) => Some(list),
        _ => None,
    })
}

/// The entries of a `BTCCLIENT_EVENT_KIND_INV` event: `*items` receives an array of
/// `*count` entries owned by `event`, valid until `btcclient_event_free(event)`.
/// `BTCCLIENT_STATUS_INVALID_ARGUMENT` for another kind or a NULL argument.
#[no_mangle]
pub unsafe extern "C" fn btcclient_event_inv(
    event: *const btcclient_event,
    items: *mut *const btcclient_inv,
    count: *mut usize,
) -> btcclient_status {
    list_out(event, items, count, "INV", |d| match d {
        EventData::Inv(list) => Some(list),
        _ => None,
    })
}

/// The addresses of a `BTCCLIENT_EVENT_KIND_ADDR` event: `*items` receives an array of
/// `*count` entries owned by `event`, valid until `btcclient_event_free(event)`.
/// `BTCCLIENT_STATUS_INVALID_ARGUMENT` for another kind or a NULL argument.
#[no_mangle]
pub unsafe extern "C" fn btcclient_event_addrs(
    event: *const btcclient_event,
    items: *mut *const btcclient_addr,
    count: *mut usize,
) -> btcclient_status {
    list_out(event, items, count, "ADDR", |d| match d {
        EventData::Addr(list) => Some(list),
        _ => None,
    })
}

/// The bytes of a `BLOCK` or `TX` event (the serialized block or transaction) or of a
/// `MESSAGE` event (its payload): `*data` receives a pointer owned by `event`, valid until
/// `btcclient_event_free(event)`, and `*len` its length (`*data` may be NULL when `*len`
/// is 0). `BTCCLIENT_STATUS_INVALID_ARGUMENT` for another kind or a NULL argument.
#[no_mangle]
pub unsafe extern "C" fn btcclient_event_bytes(
    event: *const btcclient_event,
    data: *mut *const u8,
    len: *mut usize,
) -> btcclient_status {
    boundary(std::ptr::null_mut(), || {
        let e = try_handle!(event, "event");
        // SAFETY: `data` and `len` are NULL or writable (the header's rules).
        let (data, len) = unsafe { (try_out(data, "data")?, try_out(len, "len")?) };
        let bytes = e
            .bytes()
            .ok_or_else(|| wrong_kind(e, "BLOCK, TX or MESSAGE"))?;
        data.write(bytes.as_ptr());
        len.write(bytes.len());
        Ok(())
    })
}

/// The hash of a `BLOCK` event (block hash) or a `TX` event (txid), copied to `out`
/// (32 bytes, internal byte order). `BTCCLIENT_STATUS_INVALID_ARGUMENT` for another kind or
/// a NULL argument.
#[no_mangle]
pub unsafe extern "C" fn btcclient_event_hash(
    event: *const btcclient_event,
    out: *mut u8,
) -> btcclient_status {
    boundary(std::ptr::null_mut(), || {
        let e = try_handle!(event, "event");
        // SAFETY: `out` is NULL or writable for 32 bytes (the header's rules); written
        // unaligned, as a byte array.
        let out = unsafe { try_out(out.cast::<[u8; 32]>(), "out") }?;
        let hash = match &e.data {
            EventData::Block { hash, .. } => *hash,
            EventData::Tx { txid, .. } => *txid,
            _ => return Err(wrong_kind(e, "BLOCK or TX")),
        };
        out.write(hash);
        Ok(())
    })
}

/// The command of a `MESSAGE` event (e.g. `"sendcmpct"`), NUL-terminated, owned by `event`
/// and valid until `btcclient_event_free(event)`. NULL for another kind or a NULL `event`.
#[no_mangle]
pub unsafe extern "C" fn btcclient_event_command(event: *const btcclient_event) -> *const c_char {
    boundary_value(std::ptr::null(), || {
        // SAFETY: `event` is NULL or a live event (the header's rules).
        match unsafe { try_ref(event) }.map(|e| &e.data) {
            Some(EventData::Message { command, .. }) => command.as_ptr(),
            _ => std::ptr::null(),
        }
    })
}

/// Copies the message or event whose callback is running on this thread into an event the
/// caller owns, for a program that wants to keep it after the callback returns: the same
/// accessors as poll mode read it (`btcclient_event_get_kind`, `btcclient_event_headers`,
/// `btcclient_event_bytes`, …), and `btcclient_event_free` releases it.
///
/// Only inside a listener callback; elsewhere `BTCCLIENT_STATUS_INVALID_ARGUMENT`. On
/// success `*out` receives the copy; otherwise `*out` is not written.
#[no_mangle]
pub unsafe extern "C" fn btcclient_event_copy_current(
    out: *mut *mut btcclient_event,
    err: *mut *mut btcclient_error,
) -> btcclient_status {
    boundary(err, || {
        // SAFETY: `out` is NULL or writable (the header's rules).
        let out = unsafe { try_out(out, "out") }?;
        let event = crate::listeners::copy_current_event().ok_or_else(|| {
            FfiError::arg("btcclient_event_copy_current is only valid inside a listener callback")
        })?;
        out.write(to_boxed_ptr(event));
        Ok(())
    })
}

/// Releases an event. NULL is ignored. Each event is freed exactly once.
#[no_mangle]
pub unsafe extern "C" fn btcclient_event_free(event: *mut btcclient_event) {
    boundary_value((), || {
        // SAFETY: `event` is NULL or an event the caller owns and has not freed (the header's
        // rules).
        unsafe { free_box(event) }
    })
}
