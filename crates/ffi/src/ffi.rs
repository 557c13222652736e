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
/// written only on failure, and only when `err` is not NULL. Inside the log callback the
/// body does not run: `BTCCLIENT_STATUS_CALLED_FROM_CALLBACK`.
pub(crate) fn boundary(
    err: *mut *mut btcclient_error,
    body: impl FnOnce() -> Result<(), FfiError>,
) -> btcclient_status {
    let result = if crate::log::in_log_callback() {
        Err(FfiError::new(
            btcclient_status::CalledFromCallback,
            "the library cannot be called from the log callback (it may hold its own locks \
             while it logs)",
        ))
    } else {
        catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| Err(FfiError::panic()))
    };
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

/// A struct the caller allocates and the library reads (`btcclient_config`,
/// `btcclient_listeners`): its first field is `size_t struct_size`, the `sizeof` the program
/// was compiled with. This is how the ABI grows:
///
/// - fields are only ever appended, and an appended field starts at or after the end of the
///   previous layout (`sizeof` of the struct before it was added), never in its tail padding;
/// - every released layout's size is listed in [`SizedStruct::LAYOUTS`], oldest first, the
///   last being the current `size_of::<Self>()` (a unit test checks it);
/// - a struct of an older layout is read as far as it goes, and the fields appended after it
///   take their defaults; a size the library does not know (0, a newer header's, anything
///   else) is refused with `BTCCLIENT_STATUS_INVALID_ARGUMENT` naming both sizes. The library
///   never reads or writes past `struct_size` bytes.
///
/// # Safety
/// Implementors are `#[repr(C)]`, have `struct_size: usize` as their first field, and every
/// bit pattern a C program may legitimately store in a field is a valid value of it.
pub(crate) unsafe trait SizedStruct: Copy {
    /// The C name of the struct, for error messages.
    const NAME: &'static str;
    /// The sizes of every layout this library reads, oldest first; the last is the current
    /// `size_of::<Self>()`.
    const LAYOUTS: &'static [usize];
    /// The value a caller gets from the library's defaults, `struct_size` included.
    fn defaults() -> Self;
}

/// Checks a caller's `struct_size` against the layouts the library knows.
pub(crate) fn check_struct_size<T: SizedStruct>(size: usize, what: &str) -> Result<(), FfiError> {
    let current = std::mem::size_of::<T>();
    if T::LAYOUTS.contains(&size) {
        return Ok(());
    }
    let name = T::NAME;
    Err(FfiError::arg(if size == 0 {
        format!(
            "{what}.struct_size is 0: set it to sizeof({name}) (this library's is {current} bytes)"
        )
    } else if size > current {
        format!(
            "{what}.struct_size is {size} bytes, more than this library's {name} ({current} \
             bytes): the program was built against a newer btcclient.h than the library it runs \
             with"
        )
    } else {
        format!(
            "{what}.struct_size is {size} bytes, which is no layout of {name} this library knows \
             (known: {:?} bytes); set it to sizeof({name})",
            T::LAYOUTS
        )
    }))
}

/// Reads a caller's sized struct: the fields its layout has come from the caller, the fields
/// appended after that layout from [`SizedStruct::defaults`]. Reads at most `struct_size`
/// bytes.
///
/// # Safety
/// `ptr` is NULL or points to at least `struct_size` readable bytes (the caller's `sizeof`),
/// valid during the call.
pub(crate) unsafe fn read_sized<T: SizedStruct>(ptr: *const T, what: &str) -> Result<T, FfiError> {
    if ptr.is_null() {
        return Err(FfiError::null(what));
    }
    // SAFETY: every layout begins with `size_t struct_size`, so at least that much is readable.
    let size = unsafe { ptr.cast::<usize>().read_unaligned() };
    check_struct_size::<T>(size, what)?;
    let mut value = T::defaults();
    // SAFETY: `size` bytes are readable at `ptr` (the caller's layout) and `size <=
    // size_of::<T>()` (it is one of `T::LAYOUTS`), so the copy stays inside `value`; the
    // fields it overwrites take values a C program stores (the trait's contract).
    unsafe {
        std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), (&mut value as *mut T).cast::<u8>(), size)
    };
    Ok(value)
}

/// Writes the defaults into a caller's sized struct of `size` bytes (the caller's `sizeof`),
/// `struct_size` set to `size`. Writes exactly `size` bytes.
///
/// # Safety
/// `out` is NULL or valid for writes of `size` bytes during the call.
pub(crate) unsafe fn write_sized_defaults<T: SizedStruct>(
    out: *mut T,
    size: usize,
    what: &str,
) -> Result<(), FfiError> {
    if out.is_null() {
        return Err(FfiError::null(what));
    }
    check_struct_size::<T>(size, what)?;
    let mut value = T::defaults();
    // SAFETY: `struct_size` is the first field, a `usize` (the trait's contract).
    unsafe { (&mut value as *mut T).cast::<usize>().write(size) };
    // SAFETY: `size <= size_of::<T>()` (one of `T::LAYOUTS`) bytes are read from `value`,
    // and `out` is valid for `size` bytes of writes.
    unsafe {
        std::ptr::copy_nonoverlapping((&value as *const T).cast::<u8>(), out.cast::<u8>(), size)
    };
    Ok(())
}

#[cfg(test)]
mod sized_tests {
    use super::*;

    /// A struct with two released layouts: `a` alone, then `b` appended.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Grown {
        struct_size: usize,
        a: u32,
        b: u64,
    }

    const V1: usize = std::mem::offset_of!(Grown, b); // 16: `b` starts after v1's padding

    // SAFETY: repr(C), `struct_size: usize` first, plain integers.
    unsafe impl SizedStruct for Grown {
        const NAME: &'static str = "grown";
        const LAYOUTS: &'static [usize] = &[V1, std::mem::size_of::<Grown>()];
        fn defaults() -> Grown {
            Grown {
                struct_size: std::mem::size_of::<Grown>(),
                a: 1,
                b: 2,
            }
        }
    }

    #[test]
    fn an_older_layout_is_read_as_far_as_it_goes_and_the_rest_defaults() {
        // Only V1 bytes exist, as in a program built against the first layout.
        let mut old = [0u8; V1];
        old[..8].copy_from_slice(&V1.to_ne_bytes());
        old[8..12].copy_from_slice(&7u32.to_ne_bytes());
        // SAFETY: `old` holds V1 readable bytes, the struct_size it declares.
        let got = unsafe { read_sized::<Grown>(old.as_ptr().cast(), "grown") }.expect("v1");
        assert_eq!(
            got,
            Grown {
                struct_size: V1,
                a: 7,
                b: 2
            }
        );
    }

    #[test]
    fn defaults_are_written_for_the_callers_layout_only() {
        let mut old = vec![0xAAu8; V1 + 8];
        // SAFETY: `old` has room for V1 bytes.
        unsafe { write_sized_defaults::<Grown>(old.as_mut_ptr().cast(), V1, "grown") }.expect("v1");
        assert_eq!(&old[..8], &V1.to_ne_bytes());
        assert_eq!(&old[8..12], &1u32.to_ne_bytes());
        assert_eq!(
            &old[V1..],
            &[0xAA; 8],
            "nothing written past the caller's struct"
        );
    }

    #[test]
    fn unknown_sizes_are_refused_with_both_sizes_named() {
        for (size, needle) in [
            (0, "struct_size is 0"),
            (64, "newer btcclient.h"),
            (12, "no layout of grown"),
        ] {
            let mut bytes = [0u8; 64];
            bytes[..8].copy_from_slice(&usize::to_ne_bytes(size));
            // SAFETY: 64 readable bytes, more than any size tried.
            let e = unsafe { read_sized::<Grown>(bytes.as_ptr().cast(), "g") }.expect_err("bad");
            assert_eq!(e.status, btcclient_status::InvalidArgument);
            assert!(e.message.contains(needle), "{}", e.message);
            assert!(e.message.contains("g.struct_size"), "{}", e.message);
        }
        // SAFETY: NULL is allowed.
        let e = unsafe { read_sized::<Grown>(std::ptr::null(), "g") }.expect_err("null");
        assert_eq!(e.status, btcclient_status::InvalidArgument);
    }
}
