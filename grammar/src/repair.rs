//! Finds the `{` that was never closed, by indentation, and repairs the text for parsing.
//!
//! A PEG parser that meets a missing `}` lets the unclosed block swallow everything after it,
//! then blames the outermost brace. People indent, though: the block whose body dedents back to
//! its opening line's indentation is the one missing its `}`. When the braces do not balance,
//! this pass finds that block and replaces one indentation character of the dedented line with
//! `}`: the same byte length, so every span of the repaired text is a span of the original.

use crate::scan::Bytes;

/// A missing `}`: the brace left open, and where the repaired text closes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Repair {
    pub open: usize,
    /// Where the `}` was put, or None when the dedented line had no indentation to use.
    pub close_at: Option<usize>,
    /// The 1-based line before which the block seems to end.
    pub line: usize,
}

#[derive(Clone)]
struct Line {
    start: usize,
    indent: usize,
    first: Option<u8>,
    /// Offsets of braces outside strings, comments and backticks.
    braces: Vec<(usize, u8)>,
    /// The line starts inside a multi-line backtick expression.
    in_jq: bool,
}

/// Calls `visit` with each line of `src`, in order. The line's `braces` are reused from one line
/// to the next, so a scan that only counts them allocates nothing per line.
fn scan_with(src: &str, mut visit: impl FnMut(&Line)) {
    const ACTS_ON: Bytes = Bytes::of(b"\n\"`/{}");
    const IN_STRING: Bytes = Bytes::of(b"\n\"\\");
    const IN_JQ: Bytes = Bytes::of(b"\n`");
    let bytes = src.as_bytes();
    let mut in_jq = false;
    let mut i = 0;
    let mut line = Line {
        start: 0,
        indent: 0,
        first: None,
        braces: Vec::new(),
        in_jq: false,
    };
    while i <= bytes.len() {
        let start = i;
        let starts_in_jq = in_jq;
        let mut indent = 0;
        while matches!(bytes.get(i), Some(b' ' | b'\t')) {
            indent += 1;
            i += 1;
        }
        let first = bytes.get(i).copied().filter(|b| *b != b'\n' && *b != b'\r');
        line.braces.clear();
        let mut in_str = false;
        loop {
            i = match (in_jq, in_str) {
                (true, _) => IN_JQ.next(bytes, i),
                (false, true) => IN_STRING.next(bytes, i),
                (false, false) => ACTS_ON.next(bytes, i),
            };
            let Some(&b) = bytes.get(i) else {
                break;
            };
            if b == b'\n' {
                break;
            }
            match (in_jq, in_str, b) {
                (true, _, b'`') => in_jq = false,
                (true, _, _) => {}
                (false, true, b'\\') => i += 1,
                (false, true, b'"') => in_str = false,
                (false, true, _) => {}
                (false, false, b'"') => in_str = true,
                (false, false, b'`') => in_jq = true,
                (false, false, b'/') if bytes.get(i + 1) == Some(&b'/') => {
                    while bytes.get(i).is_some_and(|b| *b != b'\n') {
                        i += 1;
                    }
                    break;
                }
                (false, false, b'{' | b'}') => line.braces.push((i, b)),
                _ => {}
            }
            i += 1;
        }
        line.start = start;
        line.indent = indent;
        line.first = first;
        line.in_jq = starts_in_jq;
        visit(&line);
        i += 1;
    }
}

/// The missing closing braces of `src`, if its braces do not balance. Balanced text (the usual
/// case) costs one pass and no memory; only unbalanced text has its lines kept.
pub(crate) fn find(src: &str) -> Vec<Repair> {
    let (mut opens, mut closes) = (0usize, 0usize);
    scan_with(src, |l| {
        for (_, b) in &l.braces {
            if *b == b'{' {
                opens += 1;
            } else {
                closes += 1;
            }
        }
    });
    let mut missing = opens.saturating_sub(closes);
    if missing == 0 {
        return Vec::new();
    }
    let mut lines = Vec::new();
    scan_with(src, |l| lines.push(l.clone()));
    let mut repairs = Vec::new();
    // Open braces: (offset, indentation of the line that opened it, index of that line).
    let mut stack: Vec<(usize, usize, usize)> = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        if let (false, true, Some(first)) = (line.in_jq, missing > 0, line.first) {
            let mut spare = line.indent;
            while let Some(&(open, indent, opened_on)) = stack.last() {
                let dedented = opened_on != n
                    && if first == b'}' {
                        line.indent < indent
                    } else {
                        line.indent <= indent
                    };
                if !dedented || missing == 0 {
                    break;
                }
                let close_at = (spare > 0).then(|| line.start + spare - 1);
                spare = spare.saturating_sub(1);
                repairs.push(Repair {
                    open,
                    close_at,
                    line: n + 1,
                });
                stack.pop();
                missing -= 1;
            }
        }
        for &(at, b) in &line.braces {
            if b == b'{' {
                stack.push((at, line.indent, n));
            } else {
                stack.pop();
            }
        }
    }
    repairs
}

/// `src` with a `}` written at each repair point.
pub(crate) fn apply(src: &str, repairs: &[Repair]) -> String {
    let mut bytes = src.as_bytes().to_vec();
    for r in repairs {
        if let Some(b) = r.close_at.and_then(|at| bytes.get_mut(at)) {
            *b = b'}';
        }
    }
    // Only ASCII spaces and tabs were replaced by an ASCII brace.
    String::from_utf8(bytes).unwrap_or_else(|_| src.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_block_whose_body_dedents() {
        let src =
            "workflow w {\n  webhook a {\n    url \"x\"\n\n  webhook b {\n    url \"y\"\n  }\n}\n";
        let r = find(src);
        assert_eq!(r.len(), 1);
        assert_eq!(&src[r[0].open..r[0].open + 1], "{");
        assert_eq!(r[0].open, src.find("a {").map(|i| i + 2).unwrap_or(0));
        assert_eq!(r[0].line, 5);
        let fixed = apply(src, &r);
        assert_eq!(fixed.len(), src.len());
        assert!(fixed.contains("\n }webhook b"), "{fixed}");
    }

    #[test]
    fn balanced_text_is_left_alone() {
        let src = "workflow w {\n  a { b \"{\" }\n// {\n  c `{`\n}\n";
        assert!(find(src).is_empty());
    }

    #[test]
    fn a_closing_brace_at_lower_indentation_belongs_to_the_outer_block() {
        let src = "workflow w {\n  webhook a {\n    url \"x\"\n}\n";
        let r = find(src);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].open, src.find("a {").map(|i| i + 2).unwrap_or(0));
        assert_eq!(r[0].close_at, None, "no indentation to put the brace in");
    }
}
