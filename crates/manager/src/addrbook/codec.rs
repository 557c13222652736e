//! Little helpers to read the two binary formats (ours and Core's `peers.dat`) without
//! trusting a length or a count: every read is checked against what is left.

/// Reading ran past the end of the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Truncated {
    /// Where the read that failed started.
    pub(crate) at: usize,
}

/// A cursor over a byte slice.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        let at = self.pos;
        if n > self.remaining() {
            return Err(Truncated { at });
        }
        self.pos += n;
        Ok(&self.buf[at..self.pos])
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Truncated> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16_le(&mut self) -> Result<u16, Truncated> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u16_be(&mut self) -> Result<u16, Truncated> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32_le(&mut self) -> Result<u32, Truncated> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn i32_le(&mut self) -> Result<i32, Truncated> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64, Truncated> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn i64_le(&mut self) -> Result<i64, Truncated> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// Bitcoin's CompactSize. `Ok(None)` for a non-canonical encoding (Core refuses those).
    pub(crate) fn compact_size(&mut self) -> Result<Option<u64>, Truncated> {
        let first = self.u8()?;
        Ok(match first {
            0xfd => {
                let v = u64::from(self.u16_le()?);
                (v >= 0xfd).then_some(v)
            }
            0xfe => {
                let v = u64::from(self.u32_le()?);
                (v > 0xffff).then_some(v)
            }
            0xff => {
                let v = self.u64_le()?;
                (v > 0xffff_ffff).then_some(v)
            }
            n => Some(u64::from(n)),
        })
    }
}

/// Bitcoin's double SHA-256 of `data`, in the byte order it is stored in files.
pub(crate) fn sha256d(data: &[u8]) -> [u8; 32] {
    use bitcoin::hashes::Hash;
    bitcoin::hashes::sha256d::Hash::hash(data).to_byte_array()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16_le(), Ok(0x0201));
        assert_eq!(r.u16_le(), Err(Truncated { at: 2 }));
        assert_eq!(r.u8(), Ok(3));
        assert_eq!(r.take(usize::MAX), Err(Truncated { at: 3 }));
    }

    #[test]
    fn compact_size_refuses_non_canonical() {
        assert_eq!(Reader::new(&[0xfc]).compact_size(), Ok(Some(0xfc)));
        assert_eq!(Reader::new(&[0xfd, 0xfd, 0]).compact_size(), Ok(Some(0xfd)));
        assert_eq!(Reader::new(&[0xfd, 0x10, 0]).compact_size(), Ok(None));
        assert_eq!(
            Reader::new(&[0xfe, 0, 0, 1, 0]).compact_size(),
            Ok(Some(0x10000))
        );
        assert_eq!(Reader::new(&[0xfe, 1, 0, 0, 0]).compact_size(), Ok(None));
        assert!(Reader::new(&[0xff, 1]).compact_size().is_err());
    }
}
