//! Delivery of events to listener callbacks.
//!
//! A peer's task never calls user code itself: it puts an [`Event`] on a bounded channel and
//! waits when the channel is full, so a slow consumer pauses that peer's reading instead of
//! growing memory. The consumer is either one dispatcher thread for the whole client
//! (serialized delivery) or one small task per peer that runs callbacks on tokio's blocking
//! pool (concurrent delivery). Either way one peer's events are delivered in order, and no
//! client lock is held while a callback runs.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use bitcoin::block::Header;
use bitcoin::p2p::address::AddrV2Message;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::Transaction;
use btcclient_wire::{Frame, RawBlock};
use tokio::sync::{mpsc, oneshot};

use crate::lifecycle::{AttemptFailure, StatusChange};
use crate::listeners::{DisconnectReason, Listeners};
use crate::peer::{lock, ManagedPeer};

/// What happened, for one peer.
pub(crate) enum EventKind {
    Connected,
    Disconnected(DisconnectReason),
    Headers(Vec<Header>),
    Inv(Vec<Inventory>),
    /// Checked but not decoded: decoding happens where the event is delivered. Boxed, as
    /// `AttemptFailed`, to keep every event small.
    Block(Box<RawBlock>),
    Tx(Box<Transaction>),
    Addr(Vec<AddrV2Message>),
    Message(Frame),
    /// Boxed: rare, and the largest kind (every event, and every peer task waiting to hand
    /// one over, would carry its size).
    AttemptFailed(Box<AttemptFailure>),
    StatusChanged(StatusChange),
}

pub(crate) struct Event {
    pub(crate) peer: ManagedPeer,
    pub(crate) kind: EventKind,
}

thread_local! {
    /// Id of the client whose callback this thread is running (0: none).
    static IN_CALLBACK: Cell<u64> = const { Cell::new(0) };
}

/// Whether the current thread is inside a callback of client `client_id`.
pub(crate) fn in_callback_of(client_id: u64) -> bool {
    IN_CALLBACK.with(|c| c.get() == client_id)
}

/// Whether events may still be delivered, and how many peers had their connected callback
/// and not yet their disconnected one.
#[derive(Default)]
struct GateState {
    closed: bool,
    open_pairs: usize,
}

/// Closes delivery for good when a run ends; counts connected/disconnected pairs.
#[derive(Clone, Default)]
pub(crate) struct Gate(Arc<Mutex<GateState>>);

impl Gate {
    /// Closes the gate: no callback starts after this. Returns how many peers got their
    /// connected callback but not their disconnected one.
    pub(crate) fn close(&self) -> usize {
        let mut g = lock(&self.0);
        g.closed = true;
        g.open_pairs
    }

    /// Whether the event may be delivered; counts pairs.
    fn admit(&self, kind: &EventKind) -> bool {
        let mut g = lock(&self.0);
        if g.closed {
            return false;
        }
        match kind {
            EventKind::Connected => g.open_pairs += 1,
            EventKind::Disconnected(_) => g.open_pairs = g.open_pairs.saturating_sub(1),
            _ => {}
        }
        true
    }
}

/// Calls the listeners; shared by both delivery modes.
#[derive(Clone)]
pub(crate) struct Deliverer {
    pub(crate) listeners: Listeners,
    pub(crate) client_id: u64,
    /// Closed when the run ends: from then on events are dropped, not delivered.
    pub(crate) gate: Gate,
}

impl Deliverer {
    pub(crate) fn deliver(&self, event: Event) {
        if !self.gate.admit(&event.kind) {
            return;
        }
        let previous = IN_CALLBACK.with(|c| c.replace(self.client_id));
        let l = &self.listeners;
        let p = &event.peer;
        let outcome = catch_unwind(AssertUnwindSafe(|| match &event.kind {
            EventKind::Connected => {
                if let Some(f) = &l.on_peer_connected {
                    f(p)
                }
            }
            EventKind::Disconnected(reason) => {
                if let Some(f) = &l.on_peer_disconnected {
                    f(p, reason)
                }
            }
            EventKind::Headers(h) => {
                if let Some(f) = &l.on_headers {
                    f(p, h)
                }
            }
            EventKind::Inv(i) => {
                if let Some(f) = &l.on_inv {
                    f(p, i)
                }
            }
            EventKind::Block(raw) => {
                if let Some(f) = &l.on_raw_block {
                    f(p, raw)
                }
                if let Some(f) = &l.on_block {
                    // `RawBlock::new` walked the structure the decoder reads (the tests and
                    // the `raw_block` fuzz target hold the two to the same verdict), so this
                    // does not fail; if it ever did, the block is dropped, loudly.
                    match raw.decode() {
                        Ok(block) => f(p, &block),
                        Err(e) => tracing::error!(
                            peer = %p.addr(), hash = %raw.hash(), error = %e,
                            "a checked block failed to decode; not delivered"
                        ),
                    }
                }
            }
            EventKind::Tx(t) => {
                if let Some(f) = &l.on_tx {
                    f(p, t)
                }
            }
            EventKind::Addr(a) => {
                if let Some(f) = &l.on_addr {
                    f(p, a)
                }
            }
            EventKind::Message(m) => {
                if let Some(f) = &l.on_message {
                    f(p, m)
                }
            }
            EventKind::AttemptFailed(a) => {
                if let Some(f) = &l.on_attempt_failed {
                    f(p, a)
                }
            }
            EventKind::StatusChanged(c) => {
                if let Some(f) = &l.on_status_changed {
                    f(p, c)
                }
            }
        }));
        IN_CALLBACK.with(|c| c.set(previous));
        if outcome.is_err() {
            tracing::error!(peer = %p.addr(), "a listener callback panicked; the event was dropped");
        }
    }
}

/// Starts the serialized dispatcher thread. It ends when every sender is gone; `done` fires
/// after its last callback returned.
pub(crate) fn spawn_serialized(
    deliverer: Deliverer,
    capacity: usize,
) -> std::io::Result<(mpsc::Sender<Event>, oneshot::Receiver<()>)> {
    let (tx, mut rx) = mpsc::channel::<Event>(capacity);
    let (done_tx, done_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("btcclient-dispatch".into())
        .spawn(move || {
            while let Some(event) = rx.blocking_recv() {
                deliverer.deliver(event);
            }
            // The listeners go before `stop` hears that delivery is over: what they hold is
            // released when `stop` returns.
            drop(deliverer);
            let _ = done_tx.send(());
        })?;
    Ok((tx, done_rx))
}

/// The per-peer consumer of concurrent delivery: batches of events run on the blocking pool,
/// one batch at a time, so the peer's order holds and a slow callback holds up only this peer.
pub(crate) async fn run_concurrent(mut rx: mpsc::Receiver<Event>, deliverer: Deliverer) {
    const BATCH: usize = 64;
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::with_capacity(4);
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        let d = deliverer.clone();
        if tokio::task::spawn_blocking(move || batch.into_iter().for_each(|e| d.deliver(e)))
            .await
            .is_err()
        {
            tracing::error!("listener batch did not complete");
        }
    }
}
