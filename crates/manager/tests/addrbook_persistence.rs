//! Saving and loading the address book: a round trip, and every kind of bad file moved aside.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use btcclient_manager::addrbook::{
    AddrBook, AddrEntry, Admission, BookAddr, LoadProblem, NetAddr, Source,
};
use btcclient_manager::bitcoin::hashes::{sha256d, Hash};
use btcclient_manager::bitcoin::p2p::address::AddrV2Message;
use btcclient_manager::bitcoin::p2p::ServiceFlags;
use btcclient_manager::Network;

const NOW: u64 = 1_700_000_000;

fn msg(net: NetAddr, port: u16) -> AddrV2Message {
    AddrV2Message {
        time: NOW as u32,
        services: ServiceFlags::NETWORK | ServiceFlags::WITNESS,
        addr: net.to_addrv2(),
        port,
    }
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> NetAddr {
    NetAddr::Ipv4(Ipv4Addr::new(a, b, c, d))
}

/// A book with new and tried IPv4, IPv6 and onion entries from peer, seed and local sources.
fn sample_book() -> AddrBook {
    let mut book = AddrBook::new(Network::Mainnet);
    book.set_admission(Admission {
        onion: true,
        local: false,
    });
    let peer = Source::Peer(v4(9, 9, 9, 9));
    let v6 = NetAddr::Ipv6("2a01:4f8::1".parse().expect("ip"));
    let onion = NetAddr::TorV3([0x5a; 32]);
    book.add(
        &[msg(v4(8, 8, 8, 8), 8333), msg(v6, 8333), msg(onion, 9050)],
        &peer,
        NOW,
    );
    book.add(
        &[msg(v4(1, 1, 1, 1), 8333), msg(v4(2, 2, 2, 2), 8333)],
        &Source::seed("seed.example.org"),
        NOW,
    );
    book.add(&[msg(v4(3, 3, 3, 3), 18333)], &Source::Local, NOW);
    book.good(&BookAddr::new(v4(1, 1, 1, 1), 8333), NOW + 10);
    book.good(&BookAddr::new(v6, 8333), NOW + 20);
    book.attempt(&BookAddr::new(v4(2, 2, 2, 2), 8333), true, NOW + 30);
    assert_eq!((book.len_new(), book.len_tried()), (4, 2));
    book
}

fn sorted(book: &AddrBook) -> Vec<AddrEntry> {
    let mut v: Vec<AddrEntry> = book.entries().cloned().collect();
    v.sort_by_key(|e| e.addr);
    v
}

fn saved(dir: &Path) -> (PathBuf, AddrBook) {
    let path = dir.join("addrbook.dat");
    let book = sample_book();
    book.save(&path).expect("save");
    (path, book)
}

fn with_checksum(mut body: Vec<u8>) -> Vec<u8> {
    let sum = sha256d::Hash::hash(&body).to_byte_array();
    body.extend(sum);
    body
}

/// Loads `path` expecting `problem`: an empty book, the file moved to `PATH.bad-<secs>`.
fn assert_moved_aside(path: &Path, network: Network, problem: LoadProblem) {
    let bytes = fs::read(path).expect("file");
    let loaded = AddrBook::load(path, network);
    assert!(loaded.book.is_empty());
    let warning = loaded.warning.expect("a warning");
    assert_eq!(warning.problem, problem);
    assert_eq!(warning.path, path);
    let moved = warning.moved_to.clone().expect("moved aside");
    let name = moved
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name")
        .to_owned();
    assert!(name.starts_with("addrbook.dat.bad-"), "{name}");
    assert_eq!(fs::read(&moved).expect("moved file"), bytes);
    assert!(!path.exists());
    assert!(warning.to_string().contains("moved to"), "{warning}");
    // The next start finds no file: an empty book, no warning.
    let again = AddrBook::load(path, network);
    assert!(again.book.is_empty() && again.warning.is_none());
}

#[test]
fn a_saved_book_loads_back_identical() {
    let dir = tempfile::tempdir().expect("dir");
    let (path, book) = saved(dir.path());
    let loaded = AddrBook::load(&path, Network::Mainnet);
    assert!(loaded.warning.is_none(), "{:?}", loaded.warning);
    let back = loaded.book;
    assert_eq!(sorted(&back), sorted(&book));
    assert_eq!((back.len_new(), back.len_tried()), (4, 2));
    for e in book.entries() {
        assert_eq!(back.position(&e.addr), book.position(&e.addr), "{}", e.addr);
    }
    back.check().expect("consistent");
    assert_eq!(back.stats(), book.stats());
    // Saved again, the same bytes.
    let path2 = dir.path().join("again.dat");
    back.save(&path2).expect("save");
    assert_eq!(
        fs::read(&path).expect("read"),
        fs::read(&path2).expect("read")
    );
}

#[test]
fn a_missing_file_is_an_empty_book() {
    let dir = tempfile::tempdir().expect("dir");
    let loaded = AddrBook::load(&dir.path().join("none.dat"), Network::Mainnet);
    assert!(loaded.book.is_empty());
    assert!(loaded.warning.is_none());
}

#[test]
fn a_truncated_file_is_moved_aside() {
    for cut in [0usize, 3, 7, 40, 60, 32] {
        let dir = tempfile::tempdir().expect("dir");
        let (path, _) = saved(dir.path());
        let bytes = fs::read(&path).expect("read");
        let keep = if cut == 32 { bytes.len() - 1 } else { cut };
        fs::write(&path, &bytes[..keep]).expect("write");
        assert_moved_aside(&path, Network::Mainnet, LoadProblem::Truncated);
    }
}

#[test]
fn a_file_damaged_in_place_is_moved_aside() {
    let dir = tempfile::tempdir().expect("dir");
    let (path, _) = saved(dir.path());
    let mut bytes = fs::read(&path).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&path, &bytes).expect("write");
    assert_moved_aside(&path, Network::Mainnet, LoadProblem::BadChecksum);
}

#[test]
fn another_networks_book_is_moved_aside() {
    let dir = tempfile::tempdir().expect("dir");
    let (path, _) = saved(dir.path());
    assert_moved_aside(
        &path,
        Network::Testnet4,
        LoadProblem::ForeignNetwork(Network::Mainnet.magic()),
    );
}

#[test]
fn a_file_that_is_not_a_book_is_moved_aside() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("addrbook.dat");
    fs::write(
        &path,
        b"{\"peers\": []} and more than forty bytes of text here",
    )
    .expect("write");
    assert_moved_aside(&path, Network::Mainnet, LoadProblem::NotAddrBook);
}

/// Something at the path that cannot be read as a file (here a directory) is moved aside
/// too, so that the next save neither fails on it nor replaces it.
#[test]
fn an_unreadable_path_is_moved_aside_and_the_next_save_works() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("addrbook.dat");
    fs::create_dir(&path).expect("mkdir");
    fs::write(path.join("kept"), b"what was there").expect("write");
    let loaded = AddrBook::load(&path, Network::Mainnet);
    assert!(loaded.book.is_empty());
    let warning = loaded.warning.expect("a warning");
    assert!(
        matches!(warning.problem, LoadProblem::Unreadable(_)),
        "{warning}"
    );
    let moved = warning.moved_to.expect("moved aside");
    assert_eq!(
        fs::read(moved.join("kept")).expect("kept"),
        b"what was there"
    );
    loaded.book.save(&path).expect("the next save");
    let again = AddrBook::load(&path, Network::Mainnet);
    assert!(again.warning.is_none(), "{:?}", again.warning);
}

#[test]
fn a_newer_format_is_moved_aside() {
    let dir = tempfile::tempdir().expect("dir");
    let (path, _) = saved(dir.path());
    let bytes = fs::read(&path).expect("read");
    let mut body = bytes[..bytes.len() - 32].to_vec();
    body[4] = 2;
    fs::write(&path, with_checksum(body)).expect("write");
    assert_moved_aside(&path, Network::Mainnet, LoadProblem::FutureVersion(2));
}

#[test]
fn a_checksummed_but_invalid_file_is_moved_aside() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("addrbook.dat");
    let mut body = b"BCAB\x01".to_vec();
    body.extend(Network::Mainnet.magic());
    body.extend([0u8; 32]);
    body.extend(1u32.to_le_bytes());
    body.push(7); // no table 7
    body.extend([0u8; 60]);
    fs::write(&path, with_checksum(body)).expect("write");
    let loaded = AddrBook::load(&path, Network::Mainnet);
    assert!(matches!(
        loaded.warning.as_ref().map(|w| &w.problem),
        Some(LoadProblem::Corrupt(_))
    ));
    assert!(loaded.book.is_empty());
    assert!(!path.exists());

    // An entry count above the capacity, checksum right.
    let mut body = b"BCAB\x01".to_vec();
    body.extend(Network::Mainnet.magic());
    body.extend([0u8; 32]);
    body.extend(u32::MAX.to_le_bytes());
    fs::write(&path, with_checksum(body)).expect("write");
    let loaded = AddrBook::load(&path, Network::Mainnet);
    assert!(matches!(
        loaded.warning.map(|w| w.problem),
        Some(LoadProblem::Corrupt(_))
    ));
}

#[test]
fn random_garbage_never_panics() {
    let dir = tempfile::tempdir().expect("dir");
    let (path, _) = saved(dir.path());
    let good = fs::read(&path).expect("read");
    let mut x: u32 = 12345;
    for i in 0..300 {
        let mut bytes = good.clone();
        // Flip a few bytes after the network magic, then re-seal half of the files so the
        // parser, not the checksum, meets the damage.
        for _ in 0..1 + i % 4 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let at = 9 + (x as usize) % (bytes.len() - 9 - 32);
            bytes[at] = (x >> 16) as u8;
        }
        if i % 2 == 0 {
            bytes.truncate(bytes.len() - 32);
            bytes = with_checksum(bytes);
        }
        fs::write(&path, &bytes).expect("write");
        let loaded = AddrBook::load(&path, Network::Mainnet);
        loaded.book.check().expect("consistent");
        let _ = fs::remove_file(&path);
    }
}

#[test]
fn a_crash_between_write_and_rename_leaves_the_old_book_and_breaks_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let (path, book) = saved(dir.path());
    // What a save killed before its rename leaves: a partial temporary file.
    let tmp = dir.path().join("addrbook.dat.tmp");
    let partial = fs::read(&path).expect("read");
    fs::write(&tmp, &partial[..partial.len() / 2]).expect("write");

    let loaded = AddrBook::load(&path, Network::Mainnet);
    assert!(loaded.warning.is_none());
    assert_eq!(sorted(&loaded.book), sorted(&book));

    let mut next = loaded.book;
    next.add(&[msg(v4(4, 4, 4, 4), 8333)], &Source::Local, NOW);
    next.save(&path).expect("save over the leftover");
    assert!(!tmp.exists());
    let reloaded = AddrBook::load(&path, Network::Mainnet);
    assert!(reloaded.warning.is_none());
    assert_eq!(reloaded.book.len(), book.len() + 1);

    // With no book at all, only a leftover: an empty book, the leftover not read.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("addrbook.dat");
    fs::write(dir.path().join("addrbook.dat.tmp"), &partial).expect("write");
    let loaded = AddrBook::load(&path, Network::Mainnet);
    assert!(loaded.book.is_empty() && loaded.warning.is_none());
}

#[test]
fn saving_into_a_missing_directory_fails_cleanly() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("no").join("such").join("addrbook.dat");
    assert!(sample_book().save(&path).is_err());
}

#[test]
fn a_file_too_large_to_be_a_book_is_not_read() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("addrbook.dat");
    let file = fs::File::create(&path).expect("create");
    file.set_len(64 << 20).expect("sparse file");
    drop(file);
    let loaded = AddrBook::load(&path, Network::Mainnet);
    assert!(loaded.book.is_empty());
    assert!(matches!(
        loaded.warning.map(|w| w.problem),
        Some(LoadProblem::Corrupt(_))
    ));
}
