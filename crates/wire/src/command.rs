//! The 12-byte command field of a frame header.

use std::fmt;

use crate::WireError;

/// Length of the command field in a v1 frame header.
pub const COMMAND_LEN: usize = 12;

/// A message command such as `version` or `headers`: up to 12 printable ASCII bytes.
///
/// Stored inline (no allocation), cheap to copy and compare. Validation follows Bitcoin Core's
/// `IsMessageTypeValid`: printable ASCII (0x20..=0x7e) up to the first NUL, and only NULs after it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Command {
    bytes: [u8; COMMAND_LEN],
    len: u8,
}

impl Command {
    /// Builds a command from a string; fails when it is longer than 12 bytes or contains a byte
    /// outside printable ASCII.
    pub fn new(name: &str) -> Result<Command, WireError> {
        let raw = name.as_bytes();
        if raw.len() > COMMAND_LEN || !raw.iter().all(|b| (0x20..=0x7e).contains(b)) {
            return Err(WireError::InvalidCommand(name.to_owned()));
        }
        let mut bytes = [0u8; COMMAND_LEN];
        bytes[..raw.len()].copy_from_slice(raw);
        Ok(Command {
            bytes,
            len: raw.len() as u8,
        })
    }

    /// Parses the NUL-padded command field of a frame header.
    pub fn from_wire(raw: [u8; COMMAND_LEN]) -> Result<Command, WireError> {
        let len = raw.iter().position(|&b| b == 0).unwrap_or(COMMAND_LEN);
        let printable = raw[..len].iter().all(|b| (0x20..=0x7e).contains(b));
        let padded = raw[len..].iter().all(|&b| b == 0);
        if printable && padded {
            Ok(Command {
                bytes: raw,
                len: len as u8,
            })
        } else {
            Err(WireError::BadCommand { raw })
        }
    }

    /// The command as a string slice (without padding).
    pub fn as_str(&self) -> &str {
        // Validated as printable ASCII on construction, hence valid UTF-8.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }

    /// The NUL-padded 12-byte field as it appears on the wire.
    pub fn to_wire(&self) -> [u8; COMMAND_LEN] {
        self.bytes
    }

    /// Builds a command from one of the constant names used in this crate.
    pub(crate) const fn from_static(name: &'static str) -> Command {
        let raw = name.as_bytes();
        let mut bytes = [0u8; COMMAND_LEN];
        let mut i = 0;
        while i < raw.len() {
            bytes[i] = raw[i];
            i += 1;
        }
        Command {
            bytes,
            len: raw.len() as u8,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Command({:?})", self.as_str())
    }
}

impl PartialEq<str> for Command {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Command {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::str::FromStr for Command {
    type Err = WireError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Command::new(s)
    }
}

/// Commands the library itself handles or limits, as constants.
#[allow(missing_docs)]
pub mod commands {
    use super::Command;
    pub const VERSION: Command = Command::from_static("version");
    pub const VERACK: Command = Command::from_static("verack");
    pub const PING: Command = Command::from_static("ping");
    pub const PONG: Command = Command::from_static("pong");
    pub const ADDR: Command = Command::from_static("addr");
    pub const ADDRV2: Command = Command::from_static("addrv2");
    pub const SENDADDRV2: Command = Command::from_static("sendaddrv2");
    pub const GETADDR: Command = Command::from_static("getaddr");
    pub const INV: Command = Command::from_static("inv");
    pub const GETDATA: Command = Command::from_static("getdata");
    pub const NOTFOUND: Command = Command::from_static("notfound");
    pub const HEADERS: Command = Command::from_static("headers");
    pub const GETHEADERS: Command = Command::from_static("getheaders");
    pub const BLOCK: Command = Command::from_static("block");
    pub const TX: Command = Command::from_static("tx");
    pub const REJECT: Command = Command::from_static("reject");
    pub const WTXIDRELAY: Command = Command::from_static("wtxidrelay");
    pub const SENDHEADERS: Command = Command::from_static("sendheaders");
}
