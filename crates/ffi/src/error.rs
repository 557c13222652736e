//! Error detail without thread-local state: an owned `btcclient_error` handed out through an
//! optional `btcclient_error **err` out-parameter.

use std::ffi::{c_char, CString};

use btcclient_manager::Error;

use crate::ffi::{free_box, try_ref, Castable};
use crate::status::{btcclient_status, status_of};
use crate::types::c_string;

/// The detail of a failed call: its status and a message naming what was wrong (which config
/// field, which address and why, which argument).
///
/// Received through a function's `btcclient_error **err` out-parameter when the function
/// fails; owned by the caller, released with `btcclient_error_free`.
pub struct btcclient_error {
    _private: [u8; 0],
}

/// A failure inside the library: a status and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FfiError {
    pub(crate) status: btcclient_status,
    pub(crate) message: String,
}

impl FfiError {
    pub(crate) fn new(status: btcclient_status, message: impl Into<String>) -> FfiError {
        FfiError {
            status,
            message: message.into(),
        }
    }

    /// An invalid argument: NULL, not UTF-8, out of range, wrong mode.
    pub(crate) fn arg(message: impl Into<String>) -> FfiError {
        FfiError::new(btcclient_status::InvalidArgument, message)
    }

    /// A NULL pointer argument.
    pub(crate) fn null(name: &str) -> FfiError {
        FfiError::arg(format!("{name} is NULL"))
    }

    /// A config field out of range.
    pub(crate) fn config(field: &str, reason: impl std::fmt::Display) -> FfiError {
        FfiError::new(
            btcclient_status::InvalidConfig,
            format!("invalid config: {field}: {reason}"),
        )
    }

    pub(crate) fn panic() -> FfiError {
        FfiError::new(
            btcclient_status::InternalPanic,
            "internal panic in btcclient (a bug; please report it)",
        )
    }

    pub(crate) fn in_callback(what: &str) -> FfiError {
        FfiError::new(
            btcclient_status::CalledFromCallback,
            format!("{what} cannot be called from inside a listener callback of this client"),
        )
    }
}

impl From<Error> for FfiError {
    fn from(error: Error) -> FfiError {
        FfiError::new(status_of(&error), error.to_string())
    }
}

/// What a `btcclient_error` holds.
pub(crate) struct ErrorDetail {
    status: btcclient_status,
    message: CString,
}

impl Castable for btcclient_error {
    type RustType = ErrorDetail;
}

impl ErrorDetail {
    pub(crate) fn from_error(error: FfiError) -> ErrorDetail {
        ErrorDetail {
            status: error.status,
            // Interior NULs cannot be represented in C: cut the message there.
            message: c_string(&error.message),
        }
    }
}

/// The message of an error: NUL-terminated UTF-8, owned by `err` and valid until
/// `btcclient_error_free(err)`. Returns `""` when `err` is NULL.
#[no_mangle]
pub unsafe extern "C" fn btcclient_error_message(err: *const btcclient_error) -> *const c_char {
    crate::ffi::boundary_value(c"".as_ptr(), || {
        // SAFETY: `err` is NULL or an error handed out by this library and not yet freed
        // (the header's ownership rules).
        match unsafe { try_ref(err) } {
            Some(e) => e.message.as_ptr(),
            None => c"".as_ptr(),
        }
    })
}

/// The status of an error (the value the failing function returned). Returns
/// `BTCCLIENT_STATUS_INVALID_ARGUMENT` when `err` is NULL.
#[no_mangle]
pub unsafe extern "C" fn btcclient_error_status(err: *const btcclient_error) -> btcclient_status {
    crate::ffi::boundary_value(btcclient_status::InternalPanic, || {
        // SAFETY: as in `btcclient_error_message`.
        match unsafe { try_ref(err) } {
            Some(e) => e.status,
            None => btcclient_status::InvalidArgument,
        }
    })
}

/// Releases an error. NULL is ignored. Each error is freed exactly once.
#[no_mangle]
pub unsafe extern "C" fn btcclient_error_free(err: *mut btcclient_error) {
    crate::ffi::boundary_value((), || {
        // SAFETY: `err` is NULL or an error handed out by this library that the caller owns
        // and has not freed yet.
        unsafe { free_box(err) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manager_error_message_is_kept() {
        let e = FfiError::from(Error::InvalidConfig {
            field: "max_peers",
            reason: "must be at least 1".into(),
        });
        assert_eq!(e.status, btcclient_status::InvalidConfig);
        assert_eq!(e.message, "invalid config: max_peers: must be at least 1");
    }

    #[test]
    fn interior_nul_is_cut() {
        let d = ErrorDetail::from_error(FfiError::arg("bad\0tail"));
        assert_eq!(d.message.to_str().ok(), Some("bad"));
    }
}
