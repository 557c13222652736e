//! Saving and loading the book in this crate's own file format.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::p2p::ServiceFlags;

use super::codec::{sha256d, Reader, Truncated};
use super::{AddrBook, AddrEntry, BookAddr, NetAddr, Source, NEW_CAPACITY, TRIED_CAPACITY};
use crate::Network;

/// The first four bytes of a saved book.
const FILE_MAGIC: [u8; 4] = *b"BCAB";
/// The format version written, and the newest read.
const FORMAT_VERSION: u8 = 1;
/// Magic, version, network magic, key, entry count.
const HEADER_LEN: usize = 4 + 1 + 4 + 32 + 4;
/// The longest entry: table, onion address, port, services, onion source, times, attempts.
const MAX_ENTRY_LEN: usize = 1 + 33 + 2 + 8 + 1 + 33 + 4 + 8 + 8 + 4;
const MAX_ENTRIES: usize = NEW_CAPACITY + TRIED_CAPACITY;
/// No book file is larger than this; a larger file is not read.
const MAX_FILE_LEN: usize = HEADER_LEN + MAX_ENTRIES * MAX_ENTRY_LEN + 32;

/// Why a book file was not used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadProblem {
    /// The file ends before its last entry or its checksum.
    Truncated,
    /// The checksum does not match the contents.
    BadChecksum,
    /// The file does not start with the book's magic (`BCAB`): not a book file.
    NotAddrBook,
    /// A book of another network (its magic bytes).
    ForeignNetwork([u8; 4]),
    /// A format version newer than this library reads.
    FutureVersion(u8),
    /// The checksum matches but the contents are not a valid book.
    Corrupt(String),
    /// The file could not be read (moved aside, if it could be).
    Unreadable(String),
}

impl fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadProblem::Truncated => write!(f, "the file is truncated"),
            LoadProblem::BadChecksum => write!(f, "the checksum does not match"),
            LoadProblem::NotAddrBook => write!(f, "not an address book file"),
            LoadProblem::ForeignNetwork(m) => write!(
                f,
                "an address book of another network (magic {:02x}{:02x}{:02x}{:02x})",
                m[0], m[1], m[2], m[3]
            ),
            LoadProblem::FutureVersion(v) => {
                write!(f, "format version {v} is newer than this library reads")
            }
            LoadProblem::Corrupt(why) => write!(f, "corrupt: {why}"),
            LoadProblem::Unreadable(why) => write!(f, "unreadable: {why}"),
        }
    }
}

/// A book file that was not used: log it. The book returned with it is empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadWarning {
    /// The file.
    pub path: PathBuf,
    /// What was wrong with it.
    pub problem: LoadProblem,
    /// Where the file was moved (`PATH.bad-<unix seconds>`), if it was.
    pub moved_to: Option<PathBuf>,
}

impl fmt::Display for LoadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "address book {}: {}", self.path.display(), self.problem)?;
        match &self.moved_to {
            Some(to) => write!(f, "; moved to {}, starting empty", to.display()),
            None => write!(f, "; starting empty"),
        }
    }
}

/// What [`AddrBook::load`] gives back.
#[derive(Debug)]
pub struct Loaded {
    /// The book read, or an empty one.
    pub book: AddrBook,
    /// Set when a file existed but could not be used.
    pub warning: Option<LoadWarning>,
}

impl AddrBook {
    /// Writes the book to `path` atomically: to `PATH.tmp` in the same directory (a leftover
    /// one is overwritten), flushed to disk, renamed over `path`, then the directory flushed.
    ///
    /// The file layout (integers little-endian):
    ///
    /// | bytes | content |
    /// | --- | --- |
    /// | 4 | `BCAB` |
    /// | 1 | format version, 1 |
    /// | 4 | the network's magic |
    /// | 32 | the bucketing key |
    /// | 4 | number of entries, at most 81,920 |
    /// | … | the entries |
    /// | 32 | double SHA-256 of every byte before it |
    ///
    /// Each entry: table (1 byte: 0 new, 1 tried); address (network id byte 1 IPv4, 2 IPv6,
    /// 4 Tor v3, then 4, 16 or 32 bytes); port (2); services (8); source (1 byte: 0 local,
    /// 1 peer followed by an address as above, 2 DNS seed followed by its 10-byte id); last
    /// seen (4); last try (8); last success (8); attempts (4). Buckets and slots are not
    /// stored: they follow from the key.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let bytes = self.encode();
        let tmp = temp_path(path);
        let result = write_and_rename(&bytes, &tmp, path);
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Reads the book saved at `path` for `network`. A missing file gives an empty book. A
    /// truncated, corrupt (bad checksum), foreign (another network, or not a book file),
    /// newer-format or unreadable file is moved aside to `PATH.bad-<unix seconds>` and an empty book comes
    /// back with a [`LoadWarning`] for the caller to log. `PATH.tmp` (a save interrupted
    /// before its rename) is never read.
    pub fn load(path: &Path, network: Network) -> Loaded {
        let warn = |problem: LoadProblem, moved_to: Option<PathBuf>| Loaded {
            book: AddrBook::new(network),
            warning: Some(LoadWarning {
                path: path.to_path_buf(),
                problem,
                moved_to,
            }),
        };
        let bytes = match read_bounded(path) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                return Loaded {
                    book: AddrBook::new(network),
                    warning: None,
                }
            }
            Err(ReadError::TooLarge) => {
                let problem = LoadProblem::Corrupt("larger than any address book".into());
                return warn(problem, move_aside(path));
            }
            // Moved aside too, so that the next save does not replace what could not be read.
            Err(ReadError::Io(e)) => {
                return warn(LoadProblem::Unreadable(e.to_string()), move_aside(path))
            }
        };
        match decode(&bytes, network.magic()) {
            Ok(book) => Loaded {
                book,
                warning: None,
            },
            Err(problem) => warn(problem, move_aside(path)),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.len() * 64 + 32);
        out.extend(FILE_MAGIC);
        out.push(FORMAT_VERSION);
        out.extend(self.network_magic);
        out.extend(self.key);
        out.extend((self.len() as u32).to_le_bytes());
        // In table order (new, then tried), so one book always gives the same bytes.
        let ids = self.new_table.iter().chain(self.tried_table.iter());
        for e in ids.filter_map(|&id| self.slot(id)).map(|s| &s.entry) {
            out.push(u8::from(e.in_tried));
            put_addr(&mut out, &e.addr.net);
            out.extend(e.addr.port.to_le_bytes());
            out.extend(e.services.to_u64().to_le_bytes());
            match e.source {
                Source::Local => out.push(0),
                Source::Peer(net) => {
                    out.push(1);
                    put_addr(&mut out, &net);
                }
                Source::Seed(id) => {
                    out.push(2);
                    out.extend(id);
                }
            }
            out.extend(e.last_seen.to_le_bytes());
            out.extend(e.last_try.to_le_bytes());
            out.extend(e.last_success.to_le_bytes());
            out.extend(e.attempts.to_le_bytes());
        }
        let checksum = sha256d(&out);
        out.extend(checksum);
        out
    }
}

fn put_addr(out: &mut Vec<u8>, net: &NetAddr) {
    out.push(net.network_id());
    out.extend(net.bytes());
}

/// Why the body could not be parsed.
enum BodyError {
    Truncated,
    Corrupt(String),
}

impl From<Truncated> for BodyError {
    fn from(_: Truncated) -> BodyError {
        BodyError::Truncated
    }
}

fn decode(bytes: &[u8], network_magic: [u8; 4]) -> Result<AddrBook, LoadProblem> {
    let mut r = Reader::new(bytes);
    let magic: [u8; 4] = r.array().map_err(|_| LoadProblem::Truncated)?;
    if magic != FILE_MAGIC {
        return Err(LoadProblem::NotAddrBook);
    }
    match r.u8().map_err(|_| LoadProblem::Truncated)? {
        FORMAT_VERSION => {}
        0 => return Err(LoadProblem::Corrupt("format version 0".into())),
        v => return Err(LoadProblem::FutureVersion(v)),
    }
    let net: [u8; 4] = r.array().map_err(|_| LoadProblem::Truncated)?;
    if net != network_magic {
        return Err(LoadProblem::ForeignNetwork(net));
    }
    // With a good checksum the body must parse exactly; without one, the body tells apart a
    // file cut short (it runs out) from one damaged in place.
    let checksum_ok = bytes.len() >= HEADER_LEN + 32 && {
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        sha256d(body)[..] == sum[..]
    };
    if !checksum_ok {
        let mut walk = Reader::new(bytes);
        return match parse_body(&mut walk, network_magic) {
            Err(BodyError::Truncated) => Err(LoadProblem::Truncated),
            Ok(_) if walk.remaining() < 32 => Err(LoadProblem::Truncated),
            _ => Err(LoadProblem::BadChecksum),
        };
    }
    let body = &bytes[..bytes.len() - 32];
    let mut r = Reader::new(body);
    match parse_body(&mut r, network_magic) {
        Ok(book) if r.remaining() == 0 => Ok(book),
        Ok(_) => Err(LoadProblem::Corrupt("bytes after the last entry".into())),
        Err(BodyError::Truncated) => Err(LoadProblem::Corrupt("entries run past the end".into())),
        Err(BodyError::Corrupt(why)) => Err(LoadProblem::Corrupt(why)),
    }
}

/// Parses the whole file body (header included) into a book.
fn parse_body(r: &mut Reader<'_>, network_magic: [u8; 4]) -> Result<AddrBook, BodyError> {
    r.take(4 + 1 + 4)?;
    let key: [u8; 32] = r.array()?;
    let count = r.u32_le()? as usize;
    if count > MAX_ENTRIES {
        return Err(BodyError::Corrupt(format!("{count} entries")));
    }
    let mut book = AddrBook::with_magic(network_magic, key);
    let mut tried = Vec::new();
    for _ in 0..count {
        let in_tried = match r.u8()? {
            0 => false,
            1 => true,
            t => return Err(BodyError::Corrupt(format!("table {t}"))),
        };
        let net = get_addr(r)?;
        let port = r.u16_le()?;
        let services = ServiceFlags::from(r.u64_le()?);
        let source = match r.u8()? {
            0 => Source::Local,
            1 => Source::Peer(get_addr(r)?),
            2 => Source::Seed(r.array()?),
            s => return Err(BodyError::Corrupt(format!("source kind {s}"))),
        };
        let entry = AddrEntry {
            addr: BookAddr::new(net, port),
            services,
            source,
            last_seen: r.u32_le()?,
            last_try: r.u64_le()?,
            last_success: r.u64_le()?,
            attempts: r.u32_le()?,
            in_tried: false,
        };
        if in_tried {
            tried.push(entry);
        } else {
            book.place_loaded(entry, false);
        }
    }
    // Tried entries after new ones: one whose tried slot is taken falls back to new.
    for entry in tried {
        book.place_loaded(entry, true);
    }
    Ok(book)
}

fn get_addr(r: &mut Reader<'_>) -> Result<NetAddr, BodyError> {
    let id = r.u8()?;
    let len = match id {
        1 => 4,
        2 => 16,
        4 => 32,
        other => return Err(BodyError::Corrupt(format!("network id {other}"))),
    };
    let bytes = r.take(len)?;
    NetAddr::from_id_bytes(id, bytes).ok_or_else(|| BodyError::Corrupt("address".into()))
}

impl AddrBook {
    /// Puts an entry read from a file where it belongs, without evicting anything:
    /// duplicates and collisions are dropped.
    fn place_loaded(&mut self, entry: AddrEntry, tried: bool) {
        if self.index.contains_key(&entry.addr) {
            return;
        }
        if tried && self.insert_tried(entry.clone()) {
            return;
        }
        self.insert_new(entry, None);
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

fn write_and_rename(bytes: &[u8], tmp: &Path, path: &Path) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)?;
    sync_dir(path)
}

#[cfg(unix)]
fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_path: &Path) -> io::Result<()> {
    Ok(())
}

enum ReadError {
    TooLarge,
    Io(io::Error),
}

/// The file's bytes; `None` if it does not exist; never more than `MAX_FILE_LEN`.
fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, ReadError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadError::Io(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() > MAX_FILE_LEN {
        return Err(ReadError::TooLarge);
    }
    Ok(Some(bytes))
}

/// Renames a bad file to `PATH.bad-<unix seconds>` (`-2`, `-3`… if taken).
fn move_aside(path: &Path) -> Option<PathBuf> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let base = path.file_name()?.to_os_string();
    for n in 1..=10 {
        let mut name = base.clone();
        name.push(format!(".bad-{secs}"));
        if n > 1 {
            name.push(format!("-{n}"));
        }
        let to = path.with_file_name(name);
        if to.exists() {
            continue;
        }
        return fs::rename(path, &to).ok().map(|()| to);
    }
    None
}
