//! The plumbing every exported function uses: typed casts between opaque C handles and the
//! Rust values behind them, NULL checks, string and slice conversions, out-parameters, and
//! the panic boundary.
//!
//! Every opaque handle is a `Box` of its Rust type: `Castable` ties each C type to that Rust
//! type, so a `btcclient_event *` can only ever be read as the event it is.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard};

use crate::error::{btcclient_error, ErrorDetail, FfiError};
use crate::status::btcclient_status;

/// Ties an opaque C type to the Rust type a pointer to it really points to (always through a
/// `Box`).
pub(crate) trait Castable {
    /// The Rust value behind the handle.
    type RustType;
}

/// Moves `value` to the heap and returns it as the opaque C handle.
/// Locks `m`, also after a thread panicked while holding it: the data behind our mutexes
/// (queues, flags, counters) stays consistent between statements, and a C caller must not be
/// cut off by a poisoned lock.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn to_boxed_ptr<C: Castable>(value: C::RustType) -> *mut C {
    Box::into_raw(Box::new(value)).cast()
}

/// Borrows the Rust value behind a handle; `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or a handle made by [`to_boxed_ptr`] for the same `C` and not yet freed, and
/// the borrow does not outlive it.
pub(crate) unsafe fn try_ref<'a, C: Castable>(ptr: *const C) -> Option<&'a C::RustType> {
    // SAFETY: by this function's contract the pointer is NULL or points to a live
    // `C::RustType` (the box made by `to_boxed_ptr`).
    unsafe { ptr.cast::<C::RustType>().as_ref() }
}

/// Takes back ownership of a handle; `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or a handle made by [`to_boxed_ptr`] for the same `C`, not yet freed; the
/// caller does not use it afterwards.
pub(crate) unsafe fn take_box<C: Castable>(ptr: *mut C) -> Option<Box<C::RustType>> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: by this function's contract the pointer came from `Box::into_raw` of a
    // `C::RustType` and ownership returns to us exactly once.
    Some(unsafe { Box::from_raw(ptr.cast::<C::RustType>()) })
}

/// Drops the value behind a handle; NULL is ignored.
///
/// # Safety
/// As [`take_box`].
pub(crate) unsafe fn free_box<C: Castable>(ptr: *mut C) {
    // SAFETY: forwarded contract.
    drop(unsafe { take_box(ptr) });
}

/// Borrows a NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid during the call.
pub(crate) unsafe fn try_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, FfiError> {
    if ptr.is_null() {
        return Err(FfiError::null(name));
    }
    // SAFETY: non-NULL and NUL-terminated by this function's contract.
    let raw = unsafe { CStr::from_ptr(ptr) };
    raw.to_str()
        .map_err(|_| FfiError::arg(format!("{name} is not valid UTF-8")))
}

/// Borrows `len` elements at `ptr`; `ptr` may be NULL only when `len` is 0.
///
/// # Safety
/// `ptr` is NULL or points to `len` initialized elements valid during the call.
pub(crate) unsafe fn try_slice<'a, T>(
    ptr: *const T,
    len: usize,
    name: &str,
) -> Result<&'a [T], FfiError> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(FfiError::null(name));
    }
    if len > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(FfiError::arg(format!("{name}: length out of range")));
    }
    // SAFETY: non-NULL, `len` elements valid by this function's contract, total size checked
    // against isize::MAX above.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A checked, non-NULL out-parameter: written once, on success, never read.
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// Writes the result.
    pub(crate) fn write(self, value: T) {
        // SAFETY: checked non-NULL in `try_out`, and valid for writes of a `T` during the
        // call by the header's rules; `write` does not read or drop the old contents, which
        // may be uninitialized.
        unsafe { self.0.write_unaligned(value) }
    }
}

/// Checks a required out-parameter.
///
/// # Safety
/// `ptr` is NULL or valid for writes of a `T` during the call.
pub(crate) unsafe fn try_out<T>(ptr: *mut T, name: &str) -> Result<Out<T>, FfiError> {
    if ptr.is_null() {
        Err(FfiError::null(name))
    } else {
        Ok(Out(ptr))
    }
}

/// Borrows the Rust value behind a required handle argument, or returns an invalid-argument
/// error from the enclosing closure.
macro_rules! try_handle {
    ($ptr:expr, $name:literal) => {
        // SAFETY: the header's rules: a handle argument is NULL or a live handle of its type
        // made by this library, not freed during the call.
        match unsafe { $crate::ffi::try_ref($ptr) } {
            Some(value) => value,
            None => return Err($crate::error::FfiError::null($name)),
        }
    };
}
pub(crate) use try_handle;

/// Runs the body of an exported function that returns a status and may describe its
/// failure through `err`. A panic becomes `BTCCLIENT_STATUS_INTERNAL_PANIC`; `*err` is
/// written only on failure, and only when `err` is not NULL.
pub(crate) fn boundary(
    err: *mut *mut btcclient_error,
    body: impl FnOnce() -> Result<(), FfiError>,
) -> btcclient_status {
    let result = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| Err(FfiError::panic()));
    match result {
        Ok(()) => btcclient_status::Ok,
        Err(error) => {
            let status = error.status;
            if !err.is_null() {
                let detail = to_boxed_ptr::<btcclient_error>(ErrorDetail::from_error(error));
                // SAFETY: `err` is not NULL and, by the header's rules, valid for writing one
                // pointer.
                unsafe { err.write(detail) };
            }
            status
        }
    }
}

/// Runs the body of an exported function that returns a plain value; a panic gives
/// `on_panic`.
pub(crate) fn boundary_value<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}
