//! Byte classes for the pre-scans (nesting, repair, item split): each skips the bytes it does
//! not act on in a tight loop, instead of matching every byte.

/// A set of bytes.
pub(crate) struct Bytes([bool; 256]);

impl Bytes {
    /// The set of `members`.
    pub(crate) const fn of(members: &[u8]) -> Bytes {
        let mut set = [false; 256];
        let mut i = 0;
        while i < members.len() {
            set[members[i] as usize] = true;
            i += 1;
        }
        Bytes(set)
    }

    /// The offset of the first byte of the set at or after `from`, or the length of `bytes`.
    pub(crate) fn next(&self, bytes: &[u8], from: usize) -> usize {
        bytes
            .get(from..)
            .and_then(|rest| rest.iter().position(|b| self.0[usize::from(*b)]))
            .map_or(bytes.len(), |n| from + n)
    }
}

#[cfg(test)]
mod tests {
    use super::Bytes;

    #[test]
    fn finds_the_next_member() {
        const QUOTES: Bytes = Bytes::of(b"\"`");
        assert_eq!(QUOTES.next(b"ab\"c`", 0), 2);
        assert_eq!(QUOTES.next(b"ab\"c`", 3), 4);
        assert_eq!(QUOTES.next(b"abc", 1), 3);
        assert_eq!(QUOTES.next(b"abc", 9), 3);
    }
}
