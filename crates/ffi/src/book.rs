//! The address book from C: a snapshot of its sizes and network groups
//! (`btcclient_address_book`), and the import of a Bitcoin Core `peers.dat`.

use std::ffi::{c_char, CString};

use btcclient_manager::BookStats;

use crate::client::btcclient_client;
use crate::error::btcclient_error;
use crate::ffi::{
    boundary, boundary_value, free_box, to_boxed_ptr, try_handle, try_out, try_ref, try_str,
    Castable,
};
use crate::status::btcclient_status;
use crate::types::c_string;

/// A snapshot of a client's address book: how many addresses its "new" table (heard of) and
/// its "tried" table (connected to) hold, and how they spread over network groups. Made by
/// `btcclient_client_address_book`, released by `btcclient_address_book_free`.
pub struct btcclient_address_book {
    _private: [u8; 0],
}

/// One network group of a snapshot.
pub(crate) struct Group {
    name: CString,
    new: usize,
    tried: usize,
}

/// What a `btcclient_address_book` holds.
pub(crate) struct BookSnapshot {
    new: usize,
    tried: usize,
    groups: Vec<Group>,
}

impl Castable for btcclient_address_book {
    type RustType = BookSnapshot;
}

/// A network group as text: `1.2.0.0/16`, `2001:db8::/32`, `onion/3` (the first 4 bits of
/// the key), or the group's bytes in hex for anything else.
fn group_name(group: &[u8]) -> String {
    match group {
        [4, a, b] => format!("{a}.{b}.0.0/16"),
        [6, a, b, c, d] => format!(
            "{}::/32",
            std::net::Ipv6Addr::new(
                u16::from_be_bytes([*a, *b]),
                u16::from_be_bytes([*c, *d]),
                0,
                0,
                0,
                0,
                0,
                0
            )
            .to_string()
            .trim_end_matches("::")
        ),
        [b'o', bits] => format!("onion/{bits}"),
        other => other.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

impl BookSnapshot {
    fn new(stats: &BookStats) -> BookSnapshot {
        BookSnapshot {
            new: stats.new,
            tried: stats.tried,
            groups: stats
                .groups
                .iter()
                .map(|(g, c)| Group {
                    name: c_string(&group_name(g)),
                    new: c.new,
                    tried: c.tried,
                })
                .collect(),
        }
    }
}

/// Takes a snapshot of the client's address book (also before start and after stop). On
/// success `*out` receives it, owned by the caller and released with
/// `btcclient_address_book_free`.
#[no_mangle]
pub unsafe extern "C" fn btcclient_client_address_book(
    client: *const btcclient_client,
    out: *mut *mut btcclient_address_book,
    err: *mut *mut btcclient_error,
) -> btcclient_status {
    boundary(err, || {
        let client = try_handle!(client, "client");
        // SAFETY: `out` is NULL or writable (the header's rules).
        let out = unsafe { try_out(out, "out") }?;
        let snapshot = BookSnapshot::new(&client.inner()?.address_book());
        out.write(to_boxed_ptr(snapshot));
        Ok(())
    })
}

/// Addresses in the "new" table (heard of, not yet connected to); 0 when `book` is NULL.
#[no_mangle]
pub unsafe extern "C" fn btcclient_address_book_new_count(
    book: *const btcclient_address_book,
) -> usize {
    boundary_value(0, || {
        // SAFETY: `book` is NULL or a live snapshot (the header's rules).
        unsafe { try_ref(book) }.map_or(0, |b| b.new)
    })
}

/// Addresses in the "tried" table (connected to at least once); 0 when `book` is NULL.
#[no_mangle]
pub unsafe extern "C" fn btcclient_address_book_tried_count(
    book: *const btcclient_address_book,
) -> usize {
    boundary_value(0, || {
        // SAFETY: `book` is NULL or a live snapshot (the header's rules).
        unsafe { try_ref(book) }.map_or(0, |b| b.tried)
    })
}

/// The number of network groups the book's addresses fall in; 0 when `book` is NULL.
#[no_mangle]
pub unsafe extern "C" fn btcclient_address_book_group_count(
    book: *const btcclient_address_book,
) -> usize {
    boundary_value(0, || {
        // SAFETY: `book` is NULL or a live snapshot (the header's rules).
        unsafe { try_ref(book) }.map_or(0, |b| b.groups.len())
    })
}

/// The network group at `index` (0-based): `*group` receives its name (`1.2.0.0/16`,
/// `2001:db8::/32`, `onion/3`), owned by the snapshot and valid until
/// `btcclient_address_book_free(book)`; `*new_count` and `*tried_count` how many of its
/// addresses each table holds.
///
/// `BTCCLIENT_STATUS_INVALID_ARGUMENT` for a NULL argument or an index out of range.
#[no_mangle]
pub unsafe extern "C" fn btcclient_address_book_group(
    book: *const btcclient_address_book,
    index: usize,
    group: *mut *const c_char,
    new_count: *mut usize,
    tried_count: *mut usize,
) -> btcclient_status {
    boundary(std::ptr::null_mut(), || {
        let book = try_handle!(book, "book");
        // SAFETY: the out-parameters are NULL or writable (the header's rules).
        let (group, new_count, tried_count) = unsafe {
            (
                try_out(group, "group")?,
                try_out(new_count, "new_count")?,
                try_out(tried_count, "tried_count")?,
            )
        };
        let g = book.groups.get(index).ok_or_else(|| {
            crate::error::FfiError::arg(format!(
                "index {index} is out of range ({} groups)",
                book.groups.len()
            ))
        })?;
        group.write(g.name.as_ptr());
        new_count.write(g.new);
        tried_count.write(g.tried);
        Ok(())
    })
}

/// Releases a snapshot. NULL is ignored. Each snapshot is freed exactly once.
#[no_mangle]
pub unsafe extern "C" fn btcclient_address_book_free(book: *mut btcclient_address_book) {
    boundary_value((), || {
        // SAFETY: `book` is NULL or a snapshot the caller owns and has not freed.
        unsafe { free_box(book) }
    })
}

/// Adds the addresses of a Bitcoin Core `peers.dat` (the file a node keeps in its data
/// directory) to the client's address book: every file Core 29 itself reads (formats 0 to 4),
/// checksum verified. On success `*added` (if not NULL) receives how many addresses were
/// added. Works before start too: `start` loads the book file (`address_book_path`) and
/// keeps the imported addresses beside what the file holds.
///
/// Errors: `BTCCLIENT_STATUS_PEERS_DAT` for a file that cannot be read, is truncated, has a
/// bad checksum, belongs to another network or has a newer format than Core 29 reads (the
/// message says which); `BTCCLIENT_STATUS_INVALID_ARGUMENT` for a NULL or non-UTF-8 path.
#[no_mangle]
pub unsafe extern "C" fn btcclient_client_import_peers_dat(
    client: *const btcclient_client,
    path: *const c_char,
    added: *mut usize,
    err: *mut *mut btcclient_error,
) -> btcclient_status {
    boundary(err, || {
        let client = try_handle!(client, "client");
        // SAFETY: `path` is NULL or a NUL-terminated string valid during the call.
        let path = unsafe { try_str(path, "path") }?;
        let import = client.inner()?.import_peers_dat(path)?;
        if !added.is_null() {
            // SAFETY: `added` is not NULL and writable (the header's rules).
            unsafe { added.write(import.added()) };
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_read_as_prefixes() {
        assert_eq!(group_name(&[4, 1, 2]), "1.2.0.0/16");
        assert_eq!(group_name(&[6, 0x20, 0x01, 0x0d, 0xb8]), "2001:db8::/32");
        assert_eq!(group_name(&[b'o', 3]), "onion/3");
        assert_eq!(group_name(&[9, 9]), "0909");
    }
}
