//! Byte spans, and the map from a decoded string back to its source bytes.

use std::ops::Range;

/// A byte range `start..end` in one source file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    /// The span `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn join(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    /// The span as a range, for slicing the source.
    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }

    /// The number of bytes covered.
    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// Whether the span covers no bytes.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// Maps byte offsets in a decoded string (escapes resolved) to offsets in the source text.
///
/// Holds one breakpoint per escape sequence: from decoded offset `d` on, source offsets are
/// `d + delta`. A string without escapes has a single breakpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetMap {
    breaks: Vec<(usize, usize)>,
}

impl OffsetMap {
    /// A map for text that starts at source offset `start` and has no escapes.
    pub fn identity(start: usize) -> OffsetMap {
        OffsetMap {
            breaks: vec![(0, start)],
        }
    }

    /// Records that decoded offset `decoded` corresponds to source offset `source`.
    pub fn push(&mut self, decoded: usize, source: usize) {
        // A break that continues the last one adds nothing: the map is the same however the
        // text was split into pieces.
        if self
            .breaks
            .last()
            .is_some_and(|&(d, s)| decoded >= d && s + (decoded - d) == source)
        {
            return;
        }
        self.breaks.push((decoded, source));
    }

    /// The source offset of decoded offset `decoded`.
    pub fn source(&self, decoded: usize) -> usize {
        let i = self.breaks.partition_point(|&(d, _)| d <= decoded);
        match i.checked_sub(1).and_then(|i| self.breaks.get(i)) {
            Some(&(d, s)) => s + (decoded - d),
            None => decoded,
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `src`.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(src, offset.min(src.len()));
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// The largest char boundary at or below `i`.
pub fn floor_char_boundary(src: &str, mut i: usize) -> usize {
    i = i.min(src.len());
    while !src.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_map_shifts_after_escapes() {
        // source: "a\"b" starting at 10: decoded `a"b`; `b` is decoded 2, source 10+1+3=14.
        let mut m = OffsetMap::identity(11);
        m.push(2, 14);
        assert_eq!(m.source(0), 11);
        assert_eq!(m.source(1), 12);
        assert_eq!(m.source(2), 14);
        assert_eq!(m.source(3), 15);
    }

    #[test]
    fn line_col_counts_characters() {
        let src = "ab\néé x";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 3), (2, 1));
        assert_eq!(line_col(src, 8), (2, 4));
        assert_eq!(line_col(src, 4), (2, 1), "inside a char rounds down");
    }
}
