//! `btcclient_peer_list`: a snapshot of every managed peer.

use std::ffi::{c_char, CString};
use std::time::UNIX_EPOCH;

use btcclient_manager::{PeerSnapshot, TransportKind};

use crate::client::btcclient_client;
use crate::error::btcclient_error;
use crate::ffi::{
    boundary, boundary_value, free_box, to_boxed_ptr, try_handle, try_out, try_ref, Castable,
};
use crate::status::btcclient_status;
use crate::types::{btcclient_peer_status, btcclient_transport_kind, c_string};

/// One peer of a `btcclient_peer_list`. Its strings are owned by the list and valid until
/// `btcclient_peer_list_free`.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct btcclient_peer_snapshot {
    /// Stable id of the peer, unique within the client.
    pub id: u64,
    /// The address as managed (`1.2.3.4:8333`, `[::1]:8333`, `host:port`).
    pub addr: *const c_char,
    /// A `btcclient_peer_status` value.
    pub status: u32,
    /// Consecutive failures.
    pub failure_count: u32,
    /// Whether the peer was learned through discovery.
    pub discovered: bool,
    /// Whether the peer has completed a handshake at least once (the next five fields are
    /// zero or empty until then).
    pub has_info: bool,
    /// Negotiated protocol version.
    pub protocol_version: u32,
    /// Services the peer advertises.
    pub services: u64,
    /// The peer's user agent.
    pub user_agent: *const c_char,
    /// The peer's best height when it connected.
    pub start_height: i32,
    /// The peer's relay flag.
    pub relay: bool,
    /// When the current connection's handshake finished, in milliseconds since the Unix
    /// epoch; 0 when not connected.
    pub connected_since_ms: u64,
    /// Bytes received (headers included).
    pub bytes_in: u64,
    /// Bytes sent (headers included).
    pub bytes_out: u64,
    /// Messages received.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// Round trip of the last answered ping in microseconds; -1 when none was answered yet.
    pub last_ping_rtt_us: i64,
    /// The last connection failure or disconnect reason; NULL when there was none.
    pub last_error: *const c_char,
    // ---- appended in ABI 1 (the library hands this struct out by pointer: it may grow).
    /// A `btcclient_transport_kind` value: the transport of the current (or last)
    /// connection; `BTCCLIENT_TRANSPORT_KIND_NONE` before the first handshake.
    pub transport: u32,
    /// The BIP324 session id of the current (or last) v2 connection, 64 hex digits as Bitcoin
    /// Core's `getpeerinfo` shows it (`session_id`); NULL on v1 or before the first
    /// handshake.
    pub session_id: *const c_char,
}

/// A snapshot of every managed peer, ordered by id, from `btcclient_client_peers`. Read it
/// with `btcclient_peer_list_len` and `btcclient_peer_list_get`; release it with
/// `btcclient_peer_list_free`.
pub struct btcclient_peer_list {
    _private: [u8; 0],
}

struct OwnedSnapshot {
    _addr: CString,
    _user_agent: CString,
    _last_error: Option<CString>,
    _session_id: Option<CString>,
}

/// What a `btcclient_peer_list` holds.
pub(crate) struct PeerList {
    items: Vec<btcclient_peer_snapshot>,
    _strings: Vec<OwnedSnapshot>,
}

// SAFETY: the raw pointers in `items` point into the CStrings in `_strings`, owned by the
// same value and never mutated.
unsafe impl Send for PeerList {}
// SAFETY: as above.
unsafe impl Sync for PeerList {}

impl Castable for btcclient_peer_list {
    type RustType = PeerList;
}

impl PeerList {
    pub(crate) fn new(peers: &[PeerSnapshot]) -> PeerList {
        let mut items = Vec::with_capacity(peers.len());
        let mut strings = Vec::with_capacity(peers.len());
        for p in peers {
            let addr = c_string(&p.addr);
            let user_agent = c_string(p.info.as_ref().map_or("", |i| i.user_agent.as_str()));
            let last_error = p.last_error.as_deref().map(c_string);
            let session_id = p.session_id.map(|id| c_string(&id.to_hex()));
            items.push(btcclient_peer_snapshot {
                id: p.id,
                addr: addr.as_ptr(),
                status: btcclient_peer_status::from(p.status) as u32,
                failure_count: p.failure_count,
                discovered: p.discovered,
                has_info: p.info.is_some(),
                protocol_version: p.info.as_ref().map_or(0, |i| i.protocol_version),
                services: p.info.as_ref().map_or(0, |i| i.services.to_u64()),
                user_agent: user_agent.as_ptr(),
                start_height: p.info.as_ref().map_or(0, |i| i.start_height),
                relay: p.info.as_ref().is_some_and(|i| i.relay),
                connected_since_ms: p
                    .connected_since
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                bytes_in: p.bytes_in,
                bytes_out: p.bytes_out,
                messages_in: p.messages_in,
                messages_out: p.messages_out,
                last_ping_rtt_us: p
                    .last_ping_rtt
                    .map_or(-1, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
                last_error: last_error.as_ref().map_or(std::ptr::null(), |e| e.as_ptr()),
                transport: match p.transport {
                    None => btcclient_transport_kind::None,
                    Some(TransportKind::V2) => btcclient_transport_kind::V2,
                    Some(_) => btcclient_transport_kind::V1,
                } as u32,
                session_id: session_id.as_ref().map_or(std::ptr::null(), |e| e.as_ptr()),
            });
            strings.push(OwnedSnapshot {
                _addr: addr,
                _user_agent: user_agent,
                _last_error: last_error,
                _session_id: session_id,
            });
        }
        PeerList {
            items,
            _strings: strings,
        }
    }
}

/// Takes a snapshot of every managed peer (an empty list when the client is not started).
/// On success `*out` receives the list, owned by the caller and released with
/// `btcclient_peer_list_free`.
#[no_mangle]
pub unsafe extern "C" fn btcclient_client_peers(
    client: *const btcclient_client,
    out: *mut *mut btcclient_peer_list,
    err: *mut *mut btcclient_error,
) -> btcclient_status {
    boundary(err, || {
        let client = try_handle!(client, "client");
        // SAFETY: `out` is NULL or writable (the header's rules).
        let out = unsafe { try_out(out, "out") }?;
        let list = PeerList::new(&client.inner()?.peers());
        out.write(to_boxed_ptr(list));
        Ok(())
    })
}

/// The number of peers in a list; 0 when `list` is NULL.
#[no_mangle]
pub unsafe extern "C" fn btcclient_peer_list_len(list: *const btcclient_peer_list) -> usize {
    boundary_value(0, || {
        // SAFETY: `list` is NULL or a live list (the header's rules).
        unsafe { try_ref(list) }.map_or(0, |l| l.items.len())
    })
}

/// The peer at `index` (0-based, in id order), owned by the list and valid until
/// `btcclient_peer_list_free(list)`; NULL when `list` is NULL or `index` is out of range.
#[no_mangle]
pub unsafe extern "C" fn btcclient_peer_list_get(
    list: *const btcclient_peer_list,
    index: usize,
) -> *const btcclient_peer_snapshot {
    boundary_value(std::ptr::null(), || {
        // SAFETY: `list` is NULL or a live list (the header's rules).
        unsafe { try_ref(list) }
            .and_then(|l| l.items.get(index))
            .map_or(std::ptr::null(), |p| p as *const _)
    })
}

/// Releases a peer list. NULL is ignored. Each list is freed exactly once.
#[no_mangle]
pub unsafe extern "C" fn btcclient_peer_list_free(list: *mut btcclient_peer_list) {
    boundary_value((), || {
        // SAFETY: `list` is NULL or a list the caller owns and has not freed.
        unsafe { free_box(list) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use btcclient_manager::{PeerInfo, PeerStatus};
    use std::ffi::CStr;
    use std::time::Duration;

    #[test]
    fn snapshot_fields_are_carried() {
        let snap = PeerSnapshot {
            id: 3,
            addr: "127.0.0.1:18444".into(),
            resolved: None,
            status: PeerStatus::Connected,
            failure_count: 2,
            discovered: true,
            info: Some(PeerInfo {
                protocol_version: 70016,
                services: btcclient_manager::bitcoin::p2p::ServiceFlags::NETWORK,
                user_agent: "/Satoshi:29.2.0/".into(),
                start_height: 120,
                relay: true,
            }),
            connected_since: Some(UNIX_EPOCH + Duration::from_millis(1_500)),
            bytes_in: 10,
            bytes_out: 20,
            messages_in: 3,
            messages_out: 4,
            last_ping_rtt: Some(Duration::from_micros(250)),
            last_error: None,
            transport: Some(TransportKind::V2),
            session_id: Some(btcclient_manager::SessionId([0xab; 32])),
        };
        let list = PeerList::new(&[snap]);
        let p = list.items[0];
        // SAFETY: the strings are owned by `list`, alive here.
        let (addr, ua) = unsafe { (CStr::from_ptr(p.addr), CStr::from_ptr(p.user_agent)) };
        assert_eq!(addr.to_str().ok(), Some("127.0.0.1:18444"));
        assert_eq!(ua.to_str().ok(), Some("/Satoshi:29.2.0/"));
        assert_eq!(p.status, btcclient_peer_status::Connected as u32);
        assert_eq!(
            (p.id, p.failure_count, p.discovered, p.has_info),
            (3, 2, true, true)
        );
        assert_eq!(
            (p.protocol_version, p.services, p.start_height),
            (70016, 1, 120)
        );
        assert_eq!(p.connected_since_ms, 1_500);
        assert_eq!(
            (p.bytes_in, p.bytes_out, p.messages_in, p.messages_out),
            (10, 20, 3, 4)
        );
        assert_eq!(p.last_ping_rtt_us, 250);
        assert!(p.last_error.is_null());
        assert_eq!(p.transport, btcclient_transport_kind::V2 as u32);
        // SAFETY: owned by `list`, alive here.
        let id = unsafe { CStr::from_ptr(p.session_id) };
        assert_eq!(id.to_str().ok(), Some("ab".repeat(32).as_str()));
    }
}
