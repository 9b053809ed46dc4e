//! Little-endian binary encoding helpers shared by the log and snapshot
//! formats. The reader checks every length against the bytes it actually has,
//! so malformed input becomes a `DecodeError`, never a panic or a huge
//! allocation.

use std::fmt;

/// Why a byte sequence could not be decoded, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError {
    pub offset: usize,
    pub what: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {} of the record)", self.what, self.offset)
    }
}

pub(crate) type DecodeResult<T> = Result<T, DecodeError>;

pub(crate) fn put_u8(buf: &mut Vec<u8>, v: u8) {
    buf.push(v);
}

pub(crate) fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_i64(buf: &mut Vec<u8>, v: i64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Length-prefixed (u32) bytes. Callers bound sizes well below 4 GiB before
/// encoding (see `command::MAX_COMMAND_BYTES`).
pub(crate) fn put_bytes(buf: &mut Vec<u8>, v: &[u8]) {
    put_u32(buf, v.len() as u32);
    buf.extend_from_slice(v);
}

pub(crate) fn put_str(buf: &mut Vec<u8>, v: &str) {
    put_bytes(buf, v.as_bytes());
}

/// Encoded size of a length-prefixed byte string.
pub(crate) fn bytes_len(v: &[u8]) -> usize {
    4 + v.len()
}

/// A bounds-checked cursor over a byte slice.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn err(&self, what: &'static str) -> DecodeError {
        DecodeError {
            offset: self.pos,
            what,
        }
    }

    fn take(&mut self, n: usize, what: &'static str) -> DecodeResult<&'a [u8]> {
        if self.remaining() < n {
            return Err(self.err(what));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> DecodeResult<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u8(&mut self, what: &'static str) -> DecodeResult<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn u32(&mut self, what: &'static str) -> DecodeResult<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub fn u64(&mut self, what: &'static str) -> DecodeResult<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    pub fn i64(&mut self, what: &'static str) -> DecodeResult<i64> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    /// A u32 element count, checked against the bytes left so that a corrupt
    /// count cannot make the caller pre-allocate gigabytes.
    pub fn count(&mut self, min_element_bytes: usize, what: &'static str) -> DecodeResult<usize> {
        let n = self.u32(what)? as usize;
        if n.saturating_mul(min_element_bytes.max(1)) > self.remaining() {
            return Err(self.err(what));
        }
        Ok(n)
    }

    pub fn bytes(&mut self, what: &'static str) -> DecodeResult<&'a [u8]> {
        let n = self.u32(what)? as usize;
        self.take(n, what)
    }

    pub fn str(&mut self, what: &'static str) -> DecodeResult<&'a str> {
        let start = self.pos;
        let b = self.bytes(what)?;
        std::str::from_utf8(b).map_err(|_| DecodeError {
            offset: start,
            what: "invalid UTF-8 in key",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_the_reader() {
        let mut buf = Vec::new();
        put_u8(&mut buf, 7);
        put_u32(&mut buf, 0xdead_beef);
        put_u64(&mut buf, u64::MAX - 1);
        put_i64(&mut buf, -42);
        put_str(&mut buf, "/registry/pods");
        put_bytes(&mut buf, b"\x00\x01");
        let mut r = Reader::new(&buf);
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.u32("b").unwrap(), 0xdead_beef);
        assert_eq!(r.u64("c").unwrap(), u64::MAX - 1);
        assert_eq!(r.i64("d").unwrap(), -42);
        assert_eq!(r.str("e").unwrap(), "/registry/pods");
        assert_eq!(r.bytes("f").unwrap(), b"\x00\x01");
        assert!(r.is_empty());
    }

    #[test]
    fn truncated_or_oversized_input_is_an_error_not_a_panic() {
        let mut buf = Vec::new();
        put_str(&mut buf, "hello");
        for cut in 0..buf.len() {
            assert!(Reader::new(&buf[..cut]).str("key").is_err());
        }
        let huge = u32::MAX.to_le_bytes();
        assert!(Reader::new(&huge).bytes("value").is_err());
        assert!(Reader::new(&huge).count(1, "count").is_err());
        assert!(Reader::new(&[2, 0, 0, 0, 0xff, 0xfe]).str("key").is_err());
    }
}
