//! `btcclient_client`: the client handle and its lifecycle (new, start, stop, free), peers
//! (add, remove, count, wait for connection).

use std::ffi::c_char;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use btcclient_manager::{BtcClient, Error, ManagedPeer};
use tokio::runtime::{Handle, Runtime};

use crate::config::btcclient_config;
use crate::error::{btcclient_error, FfiError};
use crate::ffi::{
    boundary, read_sized, take_box, to_boxed_ptr, try_handle, try_out, try_ref, try_str, Castable,
};
use crate::listeners::{btcclient_listeners, in_callback_of, poll_listeners, Hooks};
use crate::poll::EventQueue;
use crate::status::btcclient_status;

/// How long `btcclient_client_free` lets a running client stop.
const FREE_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `btcclient_client_free` waits for the runtime's threads to end.
const RUNTIME_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// A Bitcoin P2P client: keeps outbound peer connections alive and delivers their messages
/// to listener callbacks (or, in poll mode, to a queue).
///
/// Created by `btcclient_client_new`, released by `btcclient_client_free`. Every other
/// function may be called from any thread, concurrently. The client owns its threads: the
/// program needs no event loop of its own.
pub struct btcclient_client {
    _private: [u8; 0],
}

/// What a `btcclient_client` holds.
pub(crate) struct Client {
    inner: Option<BtcClient>,
    runtime: Option<Runtime>,
    hooks: Arc<Hooks>,
    queue: Option<Arc<EventQueue>>,
    /// Keeps start and stop of a poll-mode client in step with its queue's state.
    lifecycle: Mutex<()>,
}

impl Castable for btcclient_client {
    type RustType = Client;
}

impl Client {
    fn new(config: &btcclient_config, listeners: btcclient_listeners) -> Result<Client, FfiError> {
        // SAFETY: the config's string fields are NULL or NUL-terminated strings valid during
        // the call (the header's rules).
        let strings = unsafe { config.strings() }?;
        let mut manager_config = config.manager_config(&strings)?;
        if config.poll_mode && listeners.any_callback() {
            return Err(FfiError::config(
                "poll_mode",
                "listener callbacks cannot be set in poll mode (events go to the poll queue)",
            ));
        }
        let hooks = Arc::new(Hooks::new(listeners));
        let queue = if config.poll_mode {
            let queue = EventQueue::new(config.event_queue_len).map_err(|e| {
                FfiError::new(btcclient_status::Internal, format!("poll descriptor: {e}"))
            })?;
            let queue = Arc::new(queue);
            manager_config.listeners = poll_listeners(&queue);
            Some(queue)
        } else {
            manager_config.listeners = hooks.listeners();
            None
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("btcclient")
            .enable_all()
            .build()
            .map_err(|e| FfiError::new(btcclient_status::Internal, format!("runtime: {e}")))?;
        let inner = BtcClient::with_runtime(manager_config, runtime.handle().clone())?;
        Ok(Client {
            inner: Some(inner),
            runtime: Some(runtime),
            hooks,
            queue,
            lifecycle: Mutex::new(()),
        })
    }

    pub(crate) fn inner(&self) -> Result<&BtcClient, FfiError> {
        self.inner
            .as_ref()
            .ok_or_else(|| FfiError::new(btcclient_status::Internal, "client already closed"))
    }

    pub(crate) fn queue(&self) -> Result<&Arc<EventQueue>, FfiError> {
        self.queue
            .as_ref()
            .ok_or_else(|| FfiError::arg("the client is not in poll mode"))
    }

    fn lock_lifecycle(&self) -> std::sync::MutexGuard<'_, ()> {
        crate::ffi::lock(&self.lifecycle)
    }

    /// Refuses a blocking call from inside one of this client's callbacks, or from any thread
    /// that runs async code (a concurrent-delivery callback of another client).
    fn check_may_block(&self, what: &str) -> Result<(), FfiError> {
        if in_callback_of(self.hooks.token) || Handle::try_current().is_ok() {
            return Err(FfiError::in_callback(what));
        }
        Ok(())
    }

    fn start(&self) -> Result<(), FfiError> {
        let inner = self.inner()?;
        let Some(q) = &self.queue else {
            inner.start()?;
            return Ok(());
        };
        let _guard = self.lock_lifecycle();
        if inner.is_running() {
            // The queue holds this run's events: it is not touched.
            return Err(Error::ClientAlreadyStarted.into());
        }
        // Before the manager starts: the events of the stopped run still queued are dropped,
        // and the new run's first events are accepted.
        q.started();
        if let Err(e) = inner.start() {
            q.stopped();
            return Err(e.into());
        }
        Ok(())
    }

    fn stop(&self, timeout: Duration) -> Result<(), FfiError> {
        self.check_may_block("btcclient_client_stop")?;
        let _guard = self.queue.as_ref().map(|_| self.lock_lifecycle());
        if let Some(q) = &self.queue {
            q.stopping();
        }
        let result = self.inner()?.stop_blocking(timeout);
        if let Some(q) = &self.queue {
            q.stopped();
        }
        result.map_err(FfiError::from)
    }

    /// The handle of a managed peer by id.
    pub(crate) fn peer(&self, id: u64) -> Result<ManagedPeer, FfiError> {
        let inner = self.inner()?;
        if !inner.is_running() {
            return Err(Error::ClientNotStarted.into());
        }
        inner
            .peer_by_id(id)
            .ok_or_else(|| Error::PeerNotFound(format!("#{id}")).into())
    }

    fn wait_connected(&self, id: u64, timeout: Duration) -> Result<(), FfiError> {
        self.check_may_block("btcclient_client_wait_connected")?;
        let peer = self.peer(id)?;
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| FfiError::new(btcclient_status::Internal, "no runtime"))?;
        runtime.block_on(peer.wait_connected(timeout))?;
        Ok(())
    }

    /// Stops the client if it runs, waits for a running callback, ends the runtime and
    /// releases the user data.
    fn close(mut self) {
        if let Some(q) = &self.queue {
            q.stopping();
        }
        if let Some(inner) = &self.inner {
            if inner.is_running() {
                if let Err(e) = inner.stop_blocking(FREE_STOP_TIMEOUT) {
                    tracing::warn!(error = %e, "stop during btcclient_client_free");
                }
            }
        }
        if let Some(q) = &self.queue {
            q.stopped();
        }
        self.hooks.close();
        drop(self.inner.take());
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(RUNTIME_SHUTDOWN_TIMEOUT);
        }
        self.hooks.free_user_data();
    }
}

/// Creates a client.
///
/// `config` is required (fill it with `btcclient_config_default` first) and is copied;
/// `listeners` may be NULL (no callbacks) and is copied too. On success `*out` receives the
/// client, owned by the caller and released with `btcclient_client_free`, and the client
/// owns `listeners->user_data` (released through `user_data_free`). On failure `*out` is not
/// written, `user_data` stays the caller's, and `*err` (if `err` is not NULL) receives the
/// detail: `BTCCLIENT_STATUS_INVALID_CONFIG` names the field that is out of range.
///
/// The client is created stopped: call `btcclient_client_start`.
#[no_mangle]
pub unsafe extern "C" fn btcclient_client_new(
    config: *const btcclient_config,
    listeners: *const btcclient_listeners,
    out: *mut *mut btcclient_client,
    err: *mut *mut btcclient_error,
) -> btcclient_status {
    boundary(err, || {
        // SAFETY: `config` is NULL or points to `config->struct_size` readable bytes, valid
        // during the call (the header's rules).
        let config = unsafe { read_sized(config, "config") }?;
        // SAFETY: `out` is NULL or writable (the header's rules).
        let out = unsafe { try_out(out, "out") }?;
        let listeners = if listeners.is_null() {
            btcclient_listeners::EMPTY
        } else {
            // SAFETY: as `config`.
            unsafe { read_sized(listeners, "listeners") }?
        };
        let client = Client::new(&config, listeners)?;
        out.write(to_boxed_ptr(client));
        Ok(())
    })
}

/// Starts the client: its health check and the delivery of events. Peers are added after
/// this. A stopped client can be started again; nothing of the stopped run reaches the new
/// one. In poll mode the events of the stopped run that were not taken with
/// `btcclient_poll_next` are dropped here: take them between stop and start if they matter
/// (the final disconnected events, for example). A start that fails with
/// `BTCCLIENT_STATUS_CLIENT_ALREADY_STARTED` drops nothing.
///
/// Errors: `BTCCLIENT_STATUS_CLIENT_ALREADY_STARTED`.
#[no_mangle]
pub unsafe extern "C" fn btcclient_client_start(
    client: *const btcclient_client,
    err: *mut *mut btcclient_error,
) -> btcclient_status {
    boundary(err, || try_handle!(client, "client").start())
}

/// Stops the client: every peer is disconnected (each connected one gets its disconnected
/// callback with `BTCCLIENT_DISCONNECT_REASON_STOPPED`), every thread task and socket is
/// closed. When it returns `BTCCLIENT_STATUS_OK`, no callback is running and none will run
/// again (until the next start). Waits at most `timeout_ms` milliseconds.
///
/// Errors: `BTCCLIENT_STATUS_CLIENT_NOT_STARTED`; `BTCCLIENT_STATUS_CALLED_FROM_CALLBACK`
/// inside a callback; `BTCCLIENT_STATUS_STOP_TIMEOUT` when tasks or a callback did not
/// finish in time (the client is stopped anyway and no callback starts after this returned).
#[no_mangle]
pub unsafe extern "C" fn btcclient_client_stop(
    client: *const btcclient_client,
    timeout_ms: u64,
    err: *mut *mut btcclient_error,
) -> btcclient_status {
    boundary(err, || {
        try_handle!(client, "client").stop(Duration::from_millis(timeout_ms))
    })
}

/// Releases a client: stops it if it runs (waiting up to 10 seconds), waits for a callback
/// that is still running, ends the client's threads, and then calls
/// `listeners.user_data_free` once. NULL is ignored (returns `BTCCLIENT_STATUS_OK`).
///
/// Each client is freed exactly once, and no other call on it may be in progress or follow.
/// Returns `BTCCLIENT_STATUS_CALLED_FROM_CALLBACK` (and frees nothing) when called from inside
/// one of the client's callbacks.
#[no_mangle]
pub unsafe extern "C" fn btcclient_client_free(client: *mut btcclient_client) -> btcclient_status {
    boundary(std::ptr::null_mut(), || {
        // SAFETY: `client` is NULL or a live client (the header's rules).
        let Some(c) = (unsafe { try_ref(client.cast_const()) }) else {
            return Ok(());
        };
        c.check_may_block("btcclient_client_free")?;
        // SAFETY: the caller owns `client` and frees it exactly once; nothing else uses it
        // during or after this call (the header's rules).
        if let Some(c) = unsafe { take_box(client) } {
            c.close();
        }
        Ok(())
    })
}

/// Adds a peer by `host:port`, `ipv4:port` or `[ipv6]:port` and starts connecting to it in
/// the background. `*peer_id` (if `peer_id` is not NULL) receives its id on success.
///
/// Errors: `BTCCLIENT_STATUS_INVALID_ADDRESS`, `BTCCLIENT_STATUS_CLIENT_NOT_STARTED`,
/// `BTCCLIENT_STATUS_PEER_ALREADY_EXISTS`, `BTCCLIENT_STATUS_MAX_PEERS_REACHED`,
/// `BTCCLIENT_STATUS_INVALID_ARGUMENT` (NULL or not UTF-8).
#[no_mangle]
pub unsafe extern "C" fn btcclient_client_add_peer(
    client: *const btcclient_client,
    addr: *const c_char,
    peer_id: *mut u64,
    err: *mut *mut btcclient_error,
) -> btcclient_status {
    boundary(err, || {
        let client = try_handle!(client, "client");
        // SAFETY: `addr` is NULL or a NUL-terminated string valid during the call.
        let addr = unsafe { try_str(addr, "addr") }?;
        let peer = client.inner()?.add_peer(addr)?;
        if !peer_id.is_null() {
            // SAFETY: not NULL, writable by the header's rules.
            unsafe { peer_id.write(peer.id()) };
        }
        Ok(())
    })
}

/// Removes a peer by address: it is disconnected (its disconnected callback gets
/// `BTCCLIENT_DISCONNECT_REASON_REMOVED` if it was connected) and no longer retried.
///
/// Errors: `BTCCLIENT_STATUS_CLIENT_NOT_STARTED`, `BTCCLIENT_STATUS_PEER_NOT_FOUND`,
/// `BTCCLIENT_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn btcclient_client_remove_peer(
    client: *const btcclient_client,
    addr: *const c_char,
    err: *mut *mut btcclient_error,
) -> btcclient_status {
    boundary(err, || {
        let client = try_handle!(client, "client");
        // SAFETY: `addr` is NULL or a NUL-terminated string valid during the call.
        let addr = unsafe { try_str(addr, "addr") }?;
        client.inner()?.remove_peer(addr)?;
        Ok(())
    })
}

/// Removes a peer by id; see `btcclient_client_remove_peer`.
#[no_mangle]
pub unsafe extern "C" fn btcclient_client_remove_peer_by_id(
    client: *const btcclient_client,
    peer_id: u64,
    err: *mut *mut btcclient_error,
) -> btcclient_status {
    boundary(err, || {
        let client = try_handle!(client, "client");
        client.inner()?.remove_peer_by_id(peer_id)?;
        Ok(())
    })
}

/// Writes the number of managed peers (connected or not; 0 when the client is not started)
/// to `*count`.
#[no_mangle]
pub unsafe extern "C" fn btcclient_client_peer_count(
    client: *const btcclient_client,
    count: *mut usize,
) -> btcclient_status {
    boundary(std::ptr::null_mut(), || {
        let client = try_handle!(client, "client");
        // SAFETY: `count` is NULL or writable (the header's rules).
        let count = unsafe { try_out(count, "count") }?;
        count.write(client.inner()?.peer_count());
        Ok(())
    })
}

/// Waits until the peer `peer_id` is connected (handshake finished), or until a connection
/// attempt that ends after this call fails, at most `timeout_ms` milliseconds. When the peer
/// is removed (`btcclient_client_remove_peer`, `_by_id`) or the client is stopped
/// (`btcclient_client_stop`) from another thread during the wait, it returns at once, well
/// before the timeout.
///
/// Errors: `BTCCLIENT_STATUS_PEER_CONNECTION` with the message `peer ADDR: CAUSE`. The cause
/// of a failed attempt (refused, handshake timeout, …) or of the timeout ("not connected
/// within the wait") leaves the peer managed, and it is retried. The cause "the peer was
/// removed" or "the client was stopped" says the wait was ended by a remove or a stop.
/// `BTCCLIENT_STATUS_CLIENT_NOT_STARTED`, `BTCCLIENT_STATUS_PEER_NOT_FOUND` (also for a
/// peer removed before the call), `BTCCLIENT_STATUS_CALLED_FROM_CALLBACK` inside a callback.
#[no_mangle]
pub unsafe extern "C" fn btcclient_client_wait_connected(
    client: *const btcclient_client,
    peer_id: u64,
    timeout_ms: u64,
    err: *mut *mut btcclient_error,
) -> btcclient_status {
    boundary(err, || {
        try_handle!(client, "client").wait_connected(peer_id, Duration::from_millis(timeout_ms))
    })
}
