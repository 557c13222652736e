//! The C ABI of btcclient: `libbtcclient.a` / `libbtcclient.so` and `include/btcclient.h`.
//!
//! Conventions (stated once, in the header's remarks too):
//!
//! - Every symbol starts with `btcclient_`; types are `btcclient_*`; opaque handles are
//!   created by a `_new` (or a function that hands one out) and released by their `_free`,
//!   exactly once.
//! - Every fallible function returns a `btcclient_status` (0 is success, fixed numbers) and
//!   writes its out-parameters only on success. Most take an optional `btcclient_error **err`
//!   that receives, on failure, an owned error with a message (`btcclient_error_message`,
//!   `btcclient_error_free`): no thread-local "last error".
//! - A NULL pointer where a value is required, a string that is not UTF-8, an enum integer
//!   out of range: `BTCCLIENT_STATUS_INVALID_ARGUMENT` (or `_INVALID_CONFIG` for config
//!   fields), never a crash. Every exported function catches panics
//!   (`BTCCLIENT_STATUS_INTERNAL_PANIC`).
//! - Pointers handed to a callback are valid only during that callback.
//! - Hashes are 32 bytes in internal byte order, as on the wire (rust-bitcoin's
//!   `to_byte_array()`).
//!
//! Module by module: [`status`] and [`error`] (results), [`config`], [`listeners`]
//! (callbacks), [`client`] (lifecycle and peers), [`peers`] (snapshots), [`send`], [`poll`]
//! and [`event`] (poll mode), [`log`], and `ffi` (casts, NULL checks, panic boundary).
//!
//! Every exported function is `extern "C"` and safe to call from Rust only with pointers that
//! follow these rules; the crate is `unsafe` only here, and each `unsafe` block says why it
//! holds.

#![allow(non_camel_case_types)]
// The exported functions are `unsafe` because they take raw pointers from C; their contract
// is the one stated above (and in the header), not repeated on each.
#![allow(clippy::missing_safety_doc)]

mod ffi;

pub mod book;
pub mod client;
pub mod config;
pub mod error;
pub mod event;
pub mod listeners;
pub mod log;
pub mod peers;
pub mod poll;
pub mod send;
pub mod status;
pub mod types;

use std::ffi::c_char;

use btcclient_manager::bitcoin::blockdata::constants::genesis_block;
use btcclient_manager::bitcoin::hashes::Hash;

use crate::error::FfiError;
use crate::ffi::{boundary, try_out};
use crate::status::btcclient_status;
use crate::types::btcclient_network;

/// The library version, e.g. `"0.1.0"`: a static NUL-terminated string, never NULL, not to be
/// freed.
#[no_mangle]
pub extern "C" fn btcclient_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Writes the hash of the genesis block of `network` (a `btcclient_network` value other than
/// `BTCCLIENT_NETWORK_CUSTOM`) to `out` (32 bytes, internal byte order): the first locator
/// of a headers sync.
///
/// Errors: `BTCCLIENT_STATUS_INVALID_ARGUMENT` for NULL, an unknown network or a custom one.
#[no_mangle]
pub unsafe extern "C" fn btcclient_genesis_hash(network: u32, out: *mut u8) -> btcclient_status {
    boundary(std::ptr::null_mut(), || {
        // SAFETY: `out` is NULL or writable for 32 bytes (the header's rules).
        let out = unsafe { try_out(out.cast::<[u8; 32]>(), "out") }?;
        let net = btcclient_network::from_u32(network)
            .ok_or_else(|| FfiError::arg(format!("unknown network {network}")))?
            .to_network([0; 4])
            .bitcoin_network()
            .ok_or_else(|| FfiError::arg("a custom network has no known genesis block"))?;
        out.write(genesis_block(net).block_hash().to_byte_array());
        Ok(())
    })
}

/// Writes a 32-byte hash (internal byte order) as the usual 64-character hex string (byte
/// order reversed, as block explorers and Bitcoin Core show it) plus a NUL to `out`, which
/// must have room for 65 bytes.
///
/// Errors: `BTCCLIENT_STATUS_INVALID_ARGUMENT` for NULL.
#[no_mangle]
pub unsafe extern "C" fn btcclient_hash_to_hex(
    hash: *const u8,
    out: *mut c_char,
) -> btcclient_status {
    boundary(std::ptr::null_mut(), || {
        if hash.is_null() {
            return Err(FfiError::null("hash"));
        }
        // SAFETY: `out` is NULL or writable for 65 bytes (the header's rules).
        let out = unsafe { try_out(out.cast::<[u8; 65]>(), "out") }?;
        // SAFETY: non-NULL `hash` points to 32 readable bytes (the header's rules).
        let bytes = unsafe { hash.cast::<[u8; 32]>().read_unaligned() };
        out.write(hex_reversed(&bytes));
        Ok(())
    })
}

fn hex_reversed(bytes: &[u8; 32]) -> [u8; 65] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 65];
    for (i, b) in bytes.iter().rev().enumerate() {
        text[2 * i] = DIGITS[usize::from(b >> 4)];
        text[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn version_is_the_crate_version() {
        // SAFETY: a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(btcclient_version()) };
        assert_eq!(v.to_str().ok(), Some(env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn the_headers_abi_version_is_the_sonames() {
        let defined = include_str!("../cbindgen.toml")
            .lines()
            .find_map(|l| l.strip_prefix("#define BTCCLIENT_ABI_VERSION "))
            .map(|v| v.trim_end_matches('"'));
        assert_eq!(
            defined,
            Some(env!("BTCCLIENT_ABI_VERSION")),
            "cbindgen.toml must define BTCCLIENT_ABI_VERSION as build.rs's ABI_VERSION"
        );
    }

    #[test]
    fn genesis_hash_in_hex_is_the_known_one() {
        let mut hash = [0u8; 32];
        let mut hex = [0 as c_char; 65];
        // SAFETY: both buffers are large enough and writable.
        let (a, b) = unsafe {
            (
                btcclient_genesis_hash(btcclient_network::Mainnet as u32, hash.as_mut_ptr()),
                btcclient_hash_to_hex(hash.as_ptr(), hex.as_mut_ptr()),
            )
        };
        assert_eq!((a, b), (btcclient_status::Ok, btcclient_status::Ok));
        // SAFETY: NUL-terminated by btcclient_hash_to_hex.
        let hex = unsafe { CStr::from_ptr(hex.as_ptr()) };
        assert_eq!(
            hex.to_str().ok(),
            Some("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")
        );
        // SAFETY: `hash` is writable; NULL is allowed (and refused).
        let refused = unsafe {
            [
                btcclient_genesis_hash(btcclient_network::Custom as u32, hash.as_mut_ptr()),
                btcclient_genesis_hash(77, hash.as_mut_ptr()),
                btcclient_genesis_hash(0, std::ptr::null_mut()),
                btcclient_hash_to_hex(std::ptr::null(), std::ptr::null_mut()),
            ]
        };
        assert_eq!(refused, [btcclient_status::InvalidArgument; 4]);
    }
}
