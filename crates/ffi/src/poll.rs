//! Poll mode: events wait in a bounded queue for `btcclient_poll_next`, and a file descriptor
//! is readable while the queue is not empty, for programs with their own event loop (epoll,
//! poll, libuv) and for Go.
//!
//! The manager's listeners push into the queue from its delivery threads. A full queue makes
//! the push wait, which holds up delivery, which pauses the peers' reading: nothing is lost
//! and memory stays bounded. While the client stops, pushes never wait (the queue may then
//! briefly exceed its bound by the events in flight, such as the final disconnects), so
//! `stop` cannot deadlock on a program that is not polling.
//!
//! The queue belongs to one run at a time: a start empties it (the events of the stopped run
//! that nobody took are dropped), and a push while the client is stopped is dropped, so
//! nothing of one run is taken during the next.

use std::collections::VecDeque;
use std::ffi::c_int;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::client::btcclient_client;
use crate::error::{btcclient_error, FfiError};
use crate::event::{btcclient_event, Event};
use crate::ffi::{boundary, lock, to_boxed_ptr, try_handle, try_out};
use crate::status::btcclient_status;

struct QueueState {
    items: VecDeque<Event>,
    /// The client is started.
    running: bool,
    /// The client is stopping: pushes do not wait.
    draining: bool,
}

/// The bounded event queue of a poll-mode client, with its readiness descriptor.
pub(crate) struct EventQueue {
    state: Mutex<QueueState>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
    signal: Signal,
}

impl EventQueue {
    pub(crate) fn new(capacity: usize) -> std::io::Result<EventQueue> {
        Ok(EventQueue {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                running: false,
                draining: false,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity: capacity.max(1),
            signal: Signal::new()?,
        })
    }

    /// Adds an event, waiting while the queue is full (unless the client is stopping). Drops
    /// it when the client is stopped: a delivery of a run that has ended (its stop timed out)
    /// must not reach the next one.
    pub(crate) fn push(&self, event: Event) {
        let mut st = lock(&self.state);
        while st.running && st.items.len() >= self.capacity && !st.draining {
            st = self.not_full.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if !st.running {
            return;
        }
        st.items.push_back(event);
        if st.items.len() == 1 {
            self.signal.raise();
        }
        self.not_empty.notify_one();
    }

    /// Takes the next event: waits up to `timeout` (forever when `None`). `Err` with
    /// `NoEvent` on timeout, `ClientNotStarted` when the queue is empty and the client is not
    /// running (so a poll loop ends after stop, once it has drained the queue).
    pub(crate) fn pop(&self, timeout: Option<Duration>) -> Result<Event, btcclient_status> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = lock(&self.state);
        loop {
            if let Some(event) = st.items.pop_front() {
                if st.items.is_empty() {
                    self.signal.lower();
                }
                self.not_full.notify_one();
                return Ok(event);
            }
            if !st.running {
                return Err(btcclient_status::ClientNotStarted);
            }
            st = match deadline {
                None => self.not_empty.wait(st).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(btcclient_status::NoEvent);
                    }
                    self.not_empty
                        .wait_timeout(st, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }

    /// The client is starting a new run: the events of the stopped run that nobody took are
    /// dropped, and pushes are accepted from now on. Called before the manager starts, so
    /// that no event of the new run comes before it.
    pub(crate) fn started(&self) {
        let stale = {
            let mut st = lock(&self.state);
            st.running = true;
            st.draining = false;
            if !st.items.is_empty() {
                self.signal.lower();
            }
            std::mem::take(&mut st.items)
        };
        self.not_full.notify_all();
        // Dropped outside the lock: an event owns its data (a block, thousands of headers).
        drop(stale);
    }

    /// The client is about to stop: pushes stop waiting.
    pub(crate) fn stopping(&self) {
        lock(&self.state).draining = true;
        self.not_full.notify_all();
    }

    /// The client stopped: pollers waiting on an empty queue return; later pushes are dropped.
    pub(crate) fn stopped(&self) {
        let mut st = lock(&self.state);
        st.running = false;
        st.draining = false;
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    pub(crate) fn fd(&self) -> c_int {
        self.signal.fd()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.state).items.len()
    }
}

/// A descriptor that is readable exactly while the queue holds events: an eventfd on Linux,
/// a pipe elsewhere. `raise` and `lower` are called under the queue lock, on the
/// empty/non-empty transitions only.
struct Signal {
    read: c_int,
    write: c_int,
}

impl Signal {
    #[cfg(target_os = "linux")]
    fn new() -> std::io::Result<Signal> {
        // SAFETY: plain system call with constant flags; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Signal {
            read: fd,
            write: fd,
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn new() -> std::io::Result<Signal> {
        let mut fds = [0 as c_int; 2];
        // SAFETY: `fds` has room for the two descriptors `pipe` writes; the result is checked.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        for fd in fds {
            // SAFETY: `fd` is a descriptor we just opened.
            unsafe {
                libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        Ok(Signal {
            read: fds[0],
            write: fds[1],
        })
    }

    fn fd(&self) -> c_int {
        self.read
    }

    fn raise(&self) {
        let one: u64 = 1;
        let len = if self.read == self.write {
            std::mem::size_of::<u64>()
        } else {
            1
        };
        // SAFETY: writes `len` (8 or 1) bytes from a live local u64 to our own descriptor;
        // the descriptor is non-blocking, and a failure only means it is already readable.
        unsafe { libc::write(self.write, (&one as *const u64).cast(), len) };
    }

    fn lower(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live local buffer from our own non-blocking
        // descriptor (an eventfd read resets its counter; a pipe holds one byte).
        unsafe { libc::read(self.read, buf.as_mut_ptr().cast(), buf.len()) };
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        // SAFETY: the descriptors are ours and closed once, here.
        unsafe {
            libc::close(self.read);
            if self.write != self.read {
                libc::close(self.write);
            }
        }
    }
}

/// Takes the next event of a poll-mode client.
///
/// `timeout_ms`: how long to wait for an event; 0 returns at once, a negative value waits
/// without limit. On `BTCCLIENT_STATUS_OK`, `*out` receives an event that the caller owns and
/// releases with `btcclient_event_free`; otherwise `*out` is not written.
///
/// Returns `BTCCLIENT_STATUS_NO_EVENT` when the timeout passed without an event,
/// `BTCCLIENT_STATUS_CLIENT_NOT_STARTED` when the queue is empty and the client is not
/// running (before start, or after stop once every event was taken; a waiting call returns
/// it when the client stops), `BTCCLIENT_STATUS_INVALID_ARGUMENT` when the client is not in
/// poll mode or an argument is NULL.
///
/// Events of one peer come in that peer's order, and every event taken belongs to the
/// current run (or, after a stop, to the run that stopped): `btcclient_client_start` drops
/// the events of a stopped run that were not taken. May be called from any thread, also
/// concurrently (each event goes to one caller), but not after or during
/// `btcclient_client_free`.
#[no_mangle]
pub unsafe extern "C" fn btcclient_poll_next(
    client: *const btcclient_client,
    timeout_ms: c_int,
    out: *mut *mut btcclient_event,
    err: *mut *mut btcclient_error,
) -> btcclient_status {
    boundary(err, || {
        let client = try_handle!(client, "client");
        // SAFETY: `out` is NULL or writable (the header's rules).
        let out = unsafe { try_out(out, "out") }?;
        let queue = client.queue()?;
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        match queue.pop(timeout) {
            Ok(event) => {
                out.write(to_boxed_ptr(event));
                Ok(())
            }
            Err(btcclient_status::NoEvent) => Err(FfiError::new(
                btcclient_status::NoEvent,
                format!("no event within {timeout_ms} ms"),
            )),
            Err(status) => Err(FfiError::new(
                status,
                "the client is not running and no event is waiting",
            )),
        }
    })
}

/// The descriptor that is readable while events wait in a poll-mode client's queue (an
/// eventfd on Linux, the read end of a pipe elsewhere), for epoll/poll/select/libuv. Do not
/// read from it or close it: the client owns it and closes it in `btcclient_client_free`.
/// After it polls readable, call `btcclient_poll_next` with a timeout of 0 until it returns
/// `BTCCLIENT_STATUS_NO_EVENT`.
///
/// `BTCCLIENT_STATUS_INVALID_ARGUMENT` when the client is not in poll mode or an argument is
/// NULL; `*fd` is written only on success.
#[no_mangle]
pub unsafe extern "C" fn btcclient_poll_fd(
    client: *const btcclient_client,
    fd: *mut c_int,
) -> btcclient_status {
    boundary(std::ptr::null_mut(), || {
        let client = try_handle!(client, "client");
        // SAFETY: `fd` is NULL or writable (the header's rules).
        let fd = unsafe { try_out(fd, "fd") }?;
        fd.write(client.queue()?.fd());
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(fd: c_int) -> bool {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        n == 1 && p.revents & libc::POLLIN != 0
    }

    #[test]
    fn fd_is_readable_exactly_while_events_wait() {
        let q = EventQueue::new(4).expect("queue");
        q.started();
        assert!(!readable(q.fd()));
        assert_eq!(
            q.pop(Some(Duration::ZERO)).err(),
            Some(btcclient_status::NoEvent)
        );
        q.push(test_event());
        q.push(test_event());
        assert!(readable(q.fd()));
        assert!(q.pop(Some(Duration::ZERO)).is_ok());
        assert!(readable(q.fd()));
        assert!(q.pop(None).is_ok());
        assert!(!readable(q.fd()));
        q.stopped();
        assert_eq!(q.pop(None).err(), Some(btcclient_status::ClientNotStarted));
    }

    #[test]
    fn full_queue_waits_until_polled_or_stopping() {
        let q = std::sync::Arc::new(EventQueue::new(1).expect("queue"));
        q.started();
        q.push(test_event());
        let q2 = std::sync::Arc::clone(&q);
        let pusher = std::thread::spawn(move || q2.push(test_event()));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(q.len(), 1, "the second push waits");
        assert!(q.pop(None).is_ok());
        pusher.join().expect("pusher");
        assert_eq!(q.len(), 1);
        q.stopping();
        q.push(test_event());
        assert_eq!(q.len(), 2, "no wait while stopping");
    }

    #[test]
    fn start_drops_the_stopped_runs_events_and_a_stopped_queue_takes_none() {
        let q = EventQueue::new(4).expect("queue");
        q.started();
        q.push(test_event());
        q.push(test_event());
        q.stopping();
        q.push(test_event());
        q.stopped();
        assert_eq!(q.len(), 3, "a stop keeps the run's events for the poller");
        q.push(test_event());
        assert_eq!(q.len(), 3, "a push after the stop is dropped");
        assert!(readable(q.fd()));
        q.started();
        assert_eq!(q.len(), 0, "the next start drops them");
        assert!(!readable(q.fd()));
        assert_eq!(
            q.pop(Some(Duration::ZERO)).err(),
            Some(btcclient_status::NoEvent)
        );
        q.push(test_event());
        assert!(readable(q.fd()));
        assert!(q.pop(Some(Duration::ZERO)).is_ok());
    }

    fn test_event() -> Event {
        use crate::event::EventData;
        use crate::types::{btcclient_peer_info, PeerInfoOwned};
        Event {
            peer: PeerInfoOwned::test(btcclient_peer_info {
                id: 1,
                addr: std::ptr::null(),
                protocol_version: 0,
                services: 0,
                user_agent: std::ptr::null(),
                start_height: 0,
                relay: false,
                discovered: false,
            }),
            data: EventData::Connected,
        }
    }
}
