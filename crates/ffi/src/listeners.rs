//! Listener callbacks from C: the `btcclient_listeners` struct, and the trampolines that turn
//! the manager's listener calls into calls of the C function pointers.

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use btcclient_manager::Listeners;

use crate::event::{btcclient_event_kind, Event, EventData};
use crate::ffi::{boundary, lock, write_sized_defaults, SizedStruct};
use crate::poll::EventQueue;
use crate::status::btcclient_status;
use crate::types::{btcclient_addr, btcclient_header, btcclient_inv, btcclient_peer_info};

/// A peer finished the version/verack handshake.
///
/// `peer` and the strings in it are borrowed: valid only until this callback returns.
pub type btcclient_peer_connected_cb = Option<
    unsafe extern "C" fn(user_data: *mut c_void, peer_id: u64, peer: *const btcclient_peer_info),
>;

/// A connected peer was disconnected (exactly once after each connected callback, also on
/// remove and stop). `reason` is a `btcclient_disconnect_reason` value, `reason_text` a
/// description.
///
/// `peer`, its strings and `reason_text` are borrowed: valid only until this callback
/// returns.
pub type btcclient_peer_disconnected_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        peer_id: u64,
        peer: *const btcclient_peer_info,
        reason: u32,
        reason_text: *const c_char,
    ),
>;

/// A `headers` message: `count` headers (at most `BTCCLIENT_MAX_HEADERS`; fewer means the
/// peer has no more after them, 0 that it had none).
///
/// `headers`, `peer` and its strings are borrowed: valid only until this callback returns.
/// To keep the headers, copy them: `memcpy(dst, headers, count * sizeof *headers)` (the
/// struct holds no pointers).
pub type btcclient_headers_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        peer_id: u64,
        peer: *const btcclient_peer_info,
        headers: *const btcclient_header,
        count: usize,
    ),
>;

/// An `inv` message: `count` entries.
///
/// `items`, `peer` and its strings are borrowed: valid only until this callback returns. To
/// keep the entries, copy them with `memcpy` (the struct holds no pointers).
pub type btcclient_inv_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        peer_id: u64,
        peer: *const btcclient_peer_info,
        items: *const btcclient_inv,
        count: usize,
    ),
>;

/// An `addr` or `addrv2` message: its `count` IPv4/IPv6 entries (other kinds are left out; a
/// message without any IP entry is not delivered).
///
/// `addrs`, `peer` and its strings are borrowed: valid only until this callback returns. To
/// keep the entries, copy them with `memcpy` (the struct holds no pointers).
pub type btcclient_addr_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        peer_id: u64,
        peer: *const btcclient_peer_info,
        addrs: *const btcclient_addr,
        count: usize,
    ),
>;

/// A `block` message: the serialized block (`len` bytes, exactly as the peer sent it; its
/// structure was checked, so it decodes as a block) and its 32-byte hash (internal byte
/// order). The library does not decode the block: the bytes come straight from the wire.
///
/// `block`, `hash`, `peer` and its strings are borrowed: valid only until this callback
/// returns. To keep the block, copy the `len` bytes.
pub type btcclient_block_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        peer_id: u64,
        peer: *const btcclient_peer_info,
        block: *const u8,
        len: usize,
        hash: *const u8,
    ),
>;

/// A `tx` message: the serialized transaction (`len` bytes) and its 32-byte txid (internal
/// byte order).
///
/// `tx`, `txid`, `peer` and its strings are borrowed: valid only until this callback
/// returns. To keep the transaction, copy the `len` bytes.
pub type btcclient_tx_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        peer_id: u64,
        peer: *const btcclient_peer_info,
        tx: *const u8,
        len: usize,
        txid: *const u8,
    ),
>;

/// Any other message (not version, verack, ping, pong, sendaddrv2, wtxidrelay, and not one
/// of the kinds above whose callback is set): its command (NUL-terminated) and raw payload
/// (`len` bytes; `payload` may be NULL when `len` is 0).
///
/// `command`, `payload`, `peer` and its strings are borrowed: valid only until this callback
/// returns. To keep the message, copy the command (`strdup`) and the `len` bytes.
pub type btcclient_message_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        peer_id: u64,
        peer: *const btcclient_peer_info,
        command: *const c_char,
        payload: *const u8,
        len: usize,
    ),
>;

/// A connection attempt failed: dialling or the handshake failed, or a connection ended
/// before it was stable (`btcclient_config.stable_after_ms`). `cause` describes it,
/// `failures` is the number of failures in a row (this one included), `retry_in_ms` the delay
/// before the next attempt. The peer becomes unhealthy when `failures` reaches
/// `max_failure_count`.
///
/// `peer`, its strings and `cause` are borrowed: valid only until this callback returns.
pub type btcclient_attempt_failed_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        peer_id: u64,
        peer: *const btcclient_peer_info,
        cause: *const c_char,
        failures: u32,
        retry_in_ms: u64,
    ),
>;

/// A peer's status changed: `old_status` and `new_status` are `btcclient_peer_status` values.
///
/// `peer` and its strings are borrowed: valid only until this callback returns.
pub type btcclient_status_changed_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        peer_id: u64,
        peer: *const btcclient_peer_info,
        old_status: u32,
        new_status: u32,
    ),
>;

/// Releases `user_data`; called exactly once, after the last callback, by
/// `btcclient_client_free`.
pub type btcclient_user_data_free_cb = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// The listeners of a client: nullable function pointers plus `user_data`, passed as the
/// first argument of every callback.
///
/// A NULL callback means the event is not wanted (the message is then not even decoded).
/// By default callbacks come one at a time from one dispatcher thread, in each peer's message
/// order (see `btcclient_config.delivery`). A callback blocks the delivery of further events
/// while it runs (peers' reading pauses; nothing is lost). Inside a callback the program may
/// call `add_peer`, `remove_peer`, `peer_count`, `peers` and the send functions; `stop`,
/// `free` and `wait_connected` return `BTCCLIENT_STATUS_CALLED_FROM_CALLBACK`.
///
/// Every pointer a callback receives is valid only until the callback returns.
///
/// The struct grows at its end in later versions: set `struct_size` to
/// `sizeof(btcclient_listeners)` (`btcclient_listeners_init(&l, sizeof l)` does, and clears
/// every callback); see "How the ABI grows" at the top of this header.
///
/// `btcclient_client_new` copies this struct; it takes ownership of `user_data` only when it
/// succeeds, and then calls `user_data_free` (if not NULL) exactly once, after the last
/// callback, from `btcclient_client_free`.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy)]
pub struct btcclient_listeners {
    /// `sizeof(btcclient_listeners)` as the program was compiled. Must stay the first field.
    pub struct_size: usize,
    /// Passed as the first argument to every callback and to `user_data_free`.
    pub user_data: *mut c_void,
    /// Called once with `user_data` after the last callback (from `btcclient_client_free`).
    pub user_data_free: btcclient_user_data_free_cb,
    /// A peer finished its handshake. Borrowed arguments: valid only during the callback.
    pub on_peer_connected: btcclient_peer_connected_cb,
    /// A connected peer was disconnected. Borrowed arguments: valid only during the callback.
    pub on_peer_disconnected: btcclient_peer_disconnected_cb,
    /// A `headers` message. Borrowed arguments: valid only during the callback.
    pub on_headers: btcclient_headers_cb,
    /// An `inv` message. Borrowed arguments: valid only during the callback.
    pub on_inv: btcclient_inv_cb,
    /// An `addr`/`addrv2` message. Borrowed arguments: valid only during the callback.
    pub on_addr: btcclient_addr_cb,
    /// A `block` message. Borrowed arguments: valid only during the callback.
    pub on_block: btcclient_block_cb,
    /// A `tx` message. Borrowed arguments: valid only during the callback.
    pub on_tx: btcclient_tx_cb,
    /// Any other message. Borrowed arguments: valid only during the callback.
    pub on_message: btcclient_message_cb,
    // ---- ABI 1, layout 2: appended fields; a program built with layout 1 gets NULL. ----
    /// A connection attempt failed. Borrowed arguments: valid only during the callback.
    pub on_attempt_failed: btcclient_attempt_failed_cb,
    /// A peer's status changed. Borrowed arguments: valid only during the callback.
    pub on_status_changed: btcclient_status_changed_cb,
}

/// The size of the first layout of `btcclient_listeners` (up to `on_message`): `struct_size`
/// and ten pointers, no padding.
const LISTENERS_LAYOUT_1: usize = std::mem::offset_of!(btcclient_listeners, on_attempt_failed);
const _: () = assert!(LISTENERS_LAYOUT_1 == 11 * std::mem::size_of::<usize>());

// SAFETY: repr(C), `struct_size: usize` first; the other fields are a pointer and nullable
// function pointers (`Option<fn>`, for which NULL is `None`).
unsafe impl SizedStruct for btcclient_listeners {
    const NAME: &'static str = "btcclient_listeners";
    /// Layout 1 ended with `on_message`; layout 2 appended the attempt-failed and
    /// status-changed callbacks.
    const LAYOUTS: &'static [usize] = &[
        LISTENERS_LAYOUT_1,
        std::mem::size_of::<btcclient_listeners>(),
    ];
    fn defaults() -> btcclient_listeners {
        btcclient_listeners::EMPTY
    }
}

impl btcclient_listeners {
    /// No callbacks, no user data.
    pub const EMPTY: btcclient_listeners = btcclient_listeners {
        struct_size: std::mem::size_of::<btcclient_listeners>(),
        user_data: std::ptr::null_mut(),
        user_data_free: None,
        on_peer_connected: None,
        on_peer_disconnected: None,
        on_headers: None,
        on_inv: None,
        on_addr: None,
        on_block: None,
        on_tx: None,
        on_message: None,
        on_attempt_failed: None,
        on_status_changed: None,
    };

    /// Whether any event callback is set.
    pub(crate) fn any_callback(&self) -> bool {
        self.on_peer_connected.is_some()
            || self.on_peer_disconnected.is_some()
            || self.on_headers.is_some()
            || self.on_inv.is_some()
            || self.on_addr.is_some()
            || self.on_block.is_some()
            || self.on_tx.is_some()
            || self.on_message.is_some()
            || self.on_attempt_failed.is_some()
            || self.on_status_changed.is_some()
    }
}

/// Initialises `*out`, a listeners struct of `struct_size` bytes: pass `sizeof *out` (or
/// `sizeof(btcclient_listeners)`), which also goes into `out->struct_size`; every callback
/// and `user_data` are set to NULL. Exactly `struct_size` bytes are written.
///
/// `BTCCLIENT_STATUS_INVALID_ARGUMENT` when `out` is NULL or `struct_size` is not the size of
/// a layout this library knows (0, or a program built against a newer header).
#[no_mangle]
pub unsafe extern "C" fn btcclient_listeners_init(
    out: *mut btcclient_listeners,
    struct_size: usize,
) -> btcclient_status {
    boundary(std::ptr::null_mut(), || {
        // SAFETY: `out` is NULL or valid for `struct_size` bytes of writes (the header's rules).
        unsafe { write_sized_defaults(out, struct_size, "listeners") }
    })
}

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Token of the client whose C callback this thread is running (0: none).
    static IN_CALLBACK: Cell<u64> = const { Cell::new(0) };
    /// The event whose callback this thread is running (null outside callbacks), for
    /// `btcclient_event_copy_current`.
    static CURRENT: Cell<*const Event> = const { Cell::new(std::ptr::null()) };
}

/// Whether the current thread is inside a C callback of the client with `token`.
pub(crate) fn in_callback_of(token: u64) -> bool {
    IN_CALLBACK.with(|c| c.get() == token)
}

#[derive(Default)]
struct Gate {
    running: usize,
    closed: bool,
}

/// The C side of a client's listeners: the struct as given, the token that identifies the
/// client's callbacks on a thread, and a gate that lets `free` wait for a running callback
/// and keeps any later one from starting.
pub(crate) struct Hooks {
    pub(crate) token: u64,
    c: btcclient_listeners,
    gate: Mutex<Gate>,
    idle: Condvar,
}

// SAFETY: the struct holds the C program's `user_data` pointer and function pointers. The
// header's contract is that callbacks and `user_data` may be used from the library's threads
// (one at a time in serialized delivery, concurrently in concurrent delivery, as the program
// chose); Rust never dereferences `user_data` itself.
unsafe impl Send for Hooks {}
// SAFETY: as above; all mutable state is behind mutexes.
unsafe impl Sync for Hooks {}

impl Hooks {
    pub(crate) fn new(c: btcclient_listeners) -> Hooks {
        Hooks {
            token: NEXT_TOKEN.fetch_add(1, Ordering::Relaxed),
            c,
            gate: Mutex::new(Gate::default()),
            idle: Condvar::new(),
        }
    }

    /// Runs `f` (which calls into C) unless the gate is closed, marking the thread as inside
    /// a callback of this client meanwhile.
    fn invoke(&self, event: &Event, f: impl FnOnce(*mut c_void)) {
        {
            let mut g = lock(&self.gate);
            if g.closed {
                return;
            }
            g.running += 1;
        }
        let previous = IN_CALLBACK.with(|c| c.replace(self.token));
        let previous_event = CURRENT.with(|c| c.replace(event as *const Event));
        f(self.c.user_data);
        CURRENT.with(|c| c.set(previous_event));
        IN_CALLBACK.with(|c| c.set(previous));
        let mut g = lock(&self.gate);
        g.running -= 1;
        if g.running == 0 {
            self.idle.notify_all();
        }
    }

    /// Closes the gate and waits until no callback runs. Must not be called from a callback.
    pub(crate) fn close(&self) {
        let mut g = lock(&self.gate);
        g.closed = true;
        while g.running > 0 {
            g = self.idle.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Calls `user_data_free`. Its one caller is `Client::close`, which consumes the client,
    /// after `close` above: so it runs once, after the last callback.
    pub(crate) fn free_user_data(&self) {
        if let Some(free) = self.c.user_data_free {
            // SAFETY: the program gave this function to release `user_data`; it is called
            // once, after the gate closed and the last callback returned.
            unsafe { free(self.c.user_data) };
        }
    }

    /// The manager listeners that call the C callbacks that are set.
    pub(crate) fn listeners(self: &Arc<Self>) -> Listeners {
        let c = self.c;
        let wants = |kind| match kind {
            btcclient_event_kind::PeerConnected => c.on_peer_connected.is_some(),
            btcclient_event_kind::PeerDisconnected => c.on_peer_disconnected.is_some(),
            btcclient_event_kind::Headers => c.on_headers.is_some(),
            btcclient_event_kind::Inv => c.on_inv.is_some(),
            btcclient_event_kind::Addr => c.on_addr.is_some(),
            btcclient_event_kind::Block => c.on_block.is_some(),
            btcclient_event_kind::Tx => c.on_tx.is_some(),
            btcclient_event_kind::Message => c.on_message.is_some(),
            btcclient_event_kind::AttemptFailed => c.on_attempt_failed.is_some(),
            btcclient_event_kind::StatusChanged => c.on_status_changed.is_some(),
        };
        let hooks = Arc::clone(self);
        event_listeners(wants, move |ev| hooks.call(&ev))
    }

    /// Calls the C callback for `ev`'s kind (set: `listeners` registers no other kind).
    fn call(&self, ev: &Event) {
        let c = &self.c;
        let (id, peer) = (ev.peer.raw.id, &ev.peer.raw as *const btcclient_peer_info);
        self.invoke(ev, |ud| {
            // SAFETY: callbacks the program set; every pointer passed (the peer view, lists,
            // bytes, strings) lives in `ev` until after the call, and each length is that of
            // the list or bytes passed beside it.
            unsafe {
                match &ev.data {
                    EventData::Connected => {
                        if let Some(cb) = c.on_peer_connected {
                            cb(ud, id, peer)
                        }
                    }
                    EventData::Disconnected { reason, text } => {
                        if let Some(cb) = c.on_peer_disconnected {
                            cb(ud, id, peer, *reason as u32, text.as_ptr())
                        }
                    }
                    EventData::Headers(list) => {
                        if let Some(cb) = c.on_headers {
                            cb(ud, id, peer, list.as_ptr(), list.len())
                        }
                    }
                    EventData::Inv(list) => {
                        if let Some(cb) = c.on_inv {
                            cb(ud, id, peer, list.as_ptr(), list.len())
                        }
                    }
                    EventData::Addr(list) => {
                        if let Some(cb) = c.on_addr {
                            cb(ud, id, peer, list.as_ptr(), list.len())
                        }
                    }
                    EventData::Block { raw, hash } => {
                        if let Some(cb) = c.on_block {
                            let bytes = raw.as_bytes();
                            cb(ud, id, peer, bytes.as_ptr(), bytes.len(), hash.as_ptr())
                        }
                    }
                    EventData::Tx { bytes, txid } => {
                        if let Some(cb) = c.on_tx {
                            cb(ud, id, peer, bytes.as_ptr(), bytes.len(), txid.as_ptr())
                        }
                    }
                    EventData::Message { command, frame } => {
                        if let Some(cb) = c.on_message {
                            let payload = &frame.payload;
                            cb(
                                ud,
                                id,
                                peer,
                                command.as_ptr(),
                                payload.as_ptr(),
                                payload.len(),
                            )
                        }
                    }
                    EventData::AttemptFailed {
                        cause,
                        failures,
                        retry_in_ms,
                    } => {
                        if let Some(cb) = c.on_attempt_failed {
                            cb(ud, id, peer, cause.as_ptr(), *failures, *retry_in_ms)
                        }
                    }
                    EventData::StatusChanged { old, new } => {
                        if let Some(cb) = c.on_status_changed {
                            cb(ud, id, peer, *old as u32, *new as u32)
                        }
                    }
                }
            }
        });
    }
}

/// The manager listeners of poll mode: every event goes to the queue (waiting while it is
/// full, which pauses the peers' reading).
pub(crate) fn poll_listeners(queue: &Arc<EventQueue>) -> Listeners {
    let queue = Arc::clone(queue);
    event_listeners(|_| true, move |ev| queue.push(ev))
}

/// Manager listeners for the event kinds `wants` accepts, each turning what it gets into an
/// [`Event`] for `sink`. An `addr` message with no IP entry (all Tor/I2P/CJDNS) is no event.
fn event_listeners(
    wants: impl Fn(btcclient_event_kind) -> bool,
    sink: impl Fn(Event) + Send + Sync + 'static,
) -> Listeners {
    use btcclient_event_kind as K;
    let sink = Arc::new(sink);
    let mut l = Listeners::new();
    if wants(K::PeerConnected) {
        let s = Arc::clone(&sink);
        l = l.on_peer_connected(move |p| s(Event::connected(p)));
    }
    if wants(K::PeerDisconnected) {
        let s = Arc::clone(&sink);
        l = l.on_peer_disconnected(move |p, r| s(Event::disconnected(p, r)));
    }
    if wants(K::Headers) {
        let s = Arc::clone(&sink);
        l = l.on_headers(move |p, h| s(Event::headers(p, h)));
    }
    if wants(K::Inv) {
        let s = Arc::clone(&sink);
        l = l.on_inv(move |p, i| s(Event::inv(p, i)));
    }
    if wants(K::Addr) {
        let s = Arc::clone(&sink);
        l = l.on_addr(move |p, a| {
            let ev = Event::addr(p, a);
            if !matches!(&ev.data, EventData::Addr(list) if list.is_empty()) {
                s(ev)
            }
        });
    }
    if wants(K::Block) {
        let s = Arc::clone(&sink);
        l = l.on_raw_block(move |p, b| s(Event::block(p, b)));
    }
    if wants(K::Tx) {
        let s = Arc::clone(&sink);
        l = l.on_tx(move |p, t| s(Event::tx(p, t)));
    }
    if wants(K::AttemptFailed) {
        let s = Arc::clone(&sink);
        l = l.on_attempt_failed(move |p, f| s(Event::attempt_failed(p, f)));
    }
    if wants(K::StatusChanged) {
        let s = Arc::clone(&sink);
        l = l.on_status_changed(move |p, c| s(Event::status_changed(p, c)));
    }
    if wants(K::Message) {
        l = l.on_message(move |p, m| sink(Event::message(p, m)));
    }
    l
}

/// A deep copy of the event whose callback the current thread is running, if any.
pub(crate) fn copy_current_event() -> Option<Event> {
    let ptr = CURRENT.with(|c| c.get());
    // SAFETY: CURRENT is non-null only while `invoke` runs the callback on this thread, and
    // then points to the event `invoke` borrows for that whole call.
    unsafe { ptr.as_ref() }.map(Event::duplicate)
}
