//! The status enum every fallible function returns, its text, and the mapping from the
//! manager's errors.

use std::ffi::c_char;

use btcclient_manager::Error;

/// What a fallible function returns. The numbers are fixed: they never change between
/// versions, and new values are only ever added. 0 is success.
///
/// C code receives and passes these as `uint32_t`; `btcclient_status_str` takes any integer,
/// so a value this version does not know is not undefined behaviour.
#[repr(u32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum btcclient_status {
    /// Success.
    Ok = 0,
    /// `btcclient_client_start` on a client that is running.
    ClientAlreadyStarted = 1,
    /// An operation that needs a running client before `btcclient_client_start` or after
    /// `btcclient_client_stop`; also `btcclient_poll_next` once a stopped client's queue is empty.
    ClientNotStarted = 2,
    /// `btcclient_client_add_peer` with an address that is already managed.
    PeerAlreadyExists = 3,
    /// No managed peer has this address or id.
    PeerNotFound = 4,
    /// `btcclient_client_add_peer` when `max_peers` peers are managed.
    MaxPeersReached = 5,
    /// `btcclient_client_stop` did not finish in time; the client is stopped anyway and no
    /// callback starts after it returned.
    StopTimeout = 6,
    /// A `btcclient_config` field is out of range; the error message names the field.
    InvalidConfig = 7,
    /// Connecting to a peer failed (dial or handshake); the message says which peer and why.
    PeerConnection = 8,
    /// A NULL pointer, a string that is not UTF-8, an enum integer out of range, a length
    /// out of range, or a call that does not fit the client's mode.
    InvalidArgument = 9,
    /// A peer address that is not `host:port`, `ipv4:port` or `[ipv6]:port`.
    InvalidAddress = 10,
    /// A message that cannot be sent: a bad command name or a payload over `max_message_size`.
    InvalidMessage = 11,
    /// The peer's send queue is full; try again later.
    QueueFull = 12,
    /// The peer is managed but has no connection at the moment.
    PeerNotConnected = 13,
    /// A call that is not allowed inside a listener callback (stop, free, wait_connected,
    /// set_logger from the log callback).
    CalledFromCallback = 14,
    /// No event arrived within the timeout of `btcclient_poll_next`.
    NoEvent = 15,
    /// The library could not create a thread or its runtime, or the logger could not be
    /// installed.
    Internal = 16,
    /// A bug: the library panicked. The call had no effect that can be relied on.
    InternalPanic = 17,
    /// A Bitcoin Core `peers.dat` could not be imported: unreadable, truncated, a bad
    /// checksum, another network's, or a newer format than Core 29 reads.
    PeersDat = 18,
}

impl btcclient_status {
    /// Every value, in numeric order. (Crate-private: cbindgen would emit a public `const`
    /// array as a macro naming the Rust variants.)
    pub(crate) const ALL: [btcclient_status; 19] = [
        btcclient_status::Ok,
        btcclient_status::ClientAlreadyStarted,
        btcclient_status::ClientNotStarted,
        btcclient_status::PeerAlreadyExists,
        btcclient_status::PeerNotFound,
        btcclient_status::MaxPeersReached,
        btcclient_status::StopTimeout,
        btcclient_status::InvalidConfig,
        btcclient_status::PeerConnection,
        btcclient_status::InvalidArgument,
        btcclient_status::InvalidAddress,
        btcclient_status::InvalidMessage,
        btcclient_status::QueueFull,
        btcclient_status::PeerNotConnected,
        btcclient_status::CalledFromCallback,
        btcclient_status::NoEvent,
        btcclient_status::Internal,
        btcclient_status::InternalPanic,
        btcclient_status::PeersDat,
    ];

    /// The status with this number, if there is one.
    pub fn from_u32(value: u32) -> Option<btcclient_status> {
        btcclient_status::ALL.get(value as usize).copied()
    }

    /// The text of the status, NUL-terminated.
    pub fn text(self) -> &'static str {
        match self {
            btcclient_status::Ok => "ok\0",
            btcclient_status::ClientAlreadyStarted => "client already started\0",
            btcclient_status::ClientNotStarted => "client not started\0",
            btcclient_status::PeerAlreadyExists => "peer already exists\0",
            btcclient_status::PeerNotFound => "peer not found\0",
            btcclient_status::MaxPeersReached => "maximum number of peers reached\0",
            btcclient_status::StopTimeout => "stop did not finish within the timeout\0",
            btcclient_status::InvalidConfig => "invalid config\0",
            btcclient_status::PeerConnection => "peer connection failed\0",
            btcclient_status::InvalidArgument => "invalid argument\0",
            btcclient_status::InvalidAddress => "invalid peer address\0",
            btcclient_status::InvalidMessage => "invalid message\0",
            btcclient_status::QueueFull => "send queue full\0",
            btcclient_status::PeerNotConnected => "peer not connected\0",
            btcclient_status::CalledFromCallback => "not allowed inside a callback\0",
            btcclient_status::NoEvent => "no event within the timeout\0",
            btcclient_status::Internal => "internal error\0",
            btcclient_status::InternalPanic => "internal panic\0",
            btcclient_status::PeersDat => "peers.dat could not be imported\0",
        }
    }
}

/// The status for a manager error.
pub(crate) fn status_of(error: &Error) -> btcclient_status {
    match error {
        Error::ClientAlreadyStarted => btcclient_status::ClientAlreadyStarted,
        Error::ClientNotStarted => btcclient_status::ClientNotStarted,
        Error::PeerAlreadyExists(_) => btcclient_status::PeerAlreadyExists,
        Error::PeerNotFound(_) => btcclient_status::PeerNotFound,
        Error::MaxPeersReached(_) => btcclient_status::MaxPeersReached,
        Error::StopTimeout { .. } => btcclient_status::StopTimeout,
        Error::InvalidConfig { .. } => btcclient_status::InvalidConfig,
        Error::PeerConnection(_) => btcclient_status::PeerConnection,
        Error::InvalidAddress { .. } => btcclient_status::InvalidAddress,
        Error::InvalidMessage(_) => btcclient_status::InvalidMessage,
        Error::QueueFull(_) => btcclient_status::QueueFull,
        Error::PeerNotConnected(_) => btcclient_status::PeerNotConnected,
        Error::CalledFromCallback => btcclient_status::CalledFromCallback,
        Error::Runtime(_) => btcclient_status::Internal,
        Error::PeersDat(_) => btcclient_status::PeersDat,
        // The manager's error enum is non-exhaustive: a future variant is reported as
        // internal until it gets a number of its own.
        _ => btcclient_status::Internal,
    }
}

/// The text of a status: a static, NUL-terminated string that the caller must not free.
///
/// Takes the raw integer: a value this version of the library does not know gives
/// `"unknown status"`, never undefined behaviour. Never returns NULL.
#[no_mangle]
pub extern "C" fn btcclient_status_str(status: u32) -> *const c_char {
    let text = match btcclient_status::from_u32(status) {
        Some(s) => s.text(),
        None => "unknown status\0",
    };
    text.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;
    use std::time::Duration;

    #[test]
    fn numbers_are_fixed_and_dense() {
        for (i, s) in btcclient_status::ALL.iter().enumerate() {
            assert_eq!(*s as u32, i as u32);
            assert_eq!(btcclient_status::from_u32(i as u32), Some(*s));
        }
        assert_eq!(btcclient_status::Ok as u32, 0);
        assert_eq!(btcclient_status::InternalPanic as u32, 17);
        assert_eq!(btcclient_status::PeersDat as u32, 18);
        assert_eq!(btcclient_status::from_u32(19), None);
        assert_eq!(btcclient_status::from_u32(u32::MAX), None);
    }

    #[test]
    fn every_text_is_nul_terminated_and_unknown_is_safe() {
        for s in btcclient_status::ALL {
            let text = s.text();
            assert!(text.ends_with('\0') && text.len() > 1);
            assert_eq!(text.matches('\0').count(), 1);
        }
        for raw in [0, 9, 17, 18, 1000, u32::MAX] {
            // SAFETY: btcclient_status_str returns a pointer to a static NUL-terminated string.
            let text = unsafe { CStr::from_ptr(btcclient_status_str(raw)) };
            let expected = btcclient_status::from_u32(raw)
                .map(|s| s.text().trim_end_matches('\0'))
                .unwrap_or("unknown status");
            assert_eq!(text.to_str().ok(), Some(expected));
        }
    }

    #[test]
    fn manager_errors_map_one_to_one() {
        let cases: Vec<(Error, btcclient_status)> = vec![
            (
                Error::ClientAlreadyStarted,
                btcclient_status::ClientAlreadyStarted,
            ),
            (Error::ClientNotStarted, btcclient_status::ClientNotStarted),
            (
                Error::PeerAlreadyExists("a".into()),
                btcclient_status::PeerAlreadyExists,
            ),
            (
                Error::PeerNotFound("a".into()),
                btcclient_status::PeerNotFound,
            ),
            (Error::MaxPeersReached(3), btcclient_status::MaxPeersReached),
            (
                Error::StopTimeout {
                    timeout: Duration::from_millis(1),
                    undelivered_disconnects: 0,
                },
                btcclient_status::StopTimeout,
            ),
            (
                Error::InvalidConfig {
                    field: "max_peers",
                    reason: "x".into(),
                },
                btcclient_status::InvalidConfig,
            ),
            (
                Error::InvalidAddress {
                    addr: "x".into(),
                    reason: "y",
                },
                btcclient_status::InvalidAddress,
            ),
            (Error::QueueFull("a".into()), btcclient_status::QueueFull),
            (
                Error::PeerNotConnected("a".into()),
                btcclient_status::PeerNotConnected,
            ),
            (
                Error::CalledFromCallback,
                btcclient_status::CalledFromCallback,
            ),
            (Error::Runtime("x".into()), btcclient_status::Internal),
        ];
        for (error, status) in cases {
            assert_eq!(status_of(&error), status, "{error}");
        }
    }
}
