//! Link settings of the shared library (`libbtcclient.so`) on ELF platforms:
//!
//! - a versioned SONAME, `libbtcclient.so.<ABI>`, so that a program linked against one ABI
//!   never loads a library of another (`ABI` is `BTCCLIENT_ABI_VERSION` in the header; it
//!   changes only when a released layout or signature changes incompatibly);
//! - only the C ABI (`btcclient_*`) exported: rustc exports every `#[no_mangle]` function of
//!   every crate linked in (libsecp256k1's `rustsecp256k1_*`, for one), and
//!   `--exclude-libs,ALL` keeps the symbols of the dependencies, which reach the linker as
//!   archives, local. The C ABI is this crate's own code and stays exported.
//!
//! The static library is not affected: it carries every object, as static libraries do.

/// The ABI's major number: the SONAME suffix. Keep in step with `BTCCLIENT_ABI_VERSION` in
/// `cbindgen.toml` (a test compares them).
const ABI_VERSION: u32 = 1;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=BTCCLIENT_ABI_VERSION={ABI_VERSION}");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly" | "illumos"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libbtcclient.so.{ABI_VERSION}");
        println!("cargo:rustc-cdylib-link-arg=-Wl,--exclude-libs,ALL");
    }
}
