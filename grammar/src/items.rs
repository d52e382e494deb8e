//! Top-level items, parsed one at a time, so that parsing a large file needs memory for its
//! largest item rather than for the whole file.
//!
//! A cheap scan guesses where each top-level item ends: at the first line break outside
//! brackets, strings, backticks and comments once the item has begun. The guess never decides
//! the result, only the cost. A piece that parses cleanly (every block closed, nothing skipped
//! as junk) gives exactly the tree the whole file would have: no rule of the grammar read past
//! its end, since a piece ends at a line break and only an unclosed bracket, string or backtick
//! reaches further, and each of those leaves junk or an unclosed block behind. A piece that does
//! not parse cleanly is parsed again together with the rest of the file, as one piece, so its
//! syntax errors and their recovery are exactly those of the whole file.

use crate::lower;
use crate::scan::Bytes;
use crate::{Parsed, SyntaxError};

/// The top-level items of a `.wflow` text, as one [`Parsed`] per piece, in source order, with
/// spans into the whole text. See [`crate::parse_items`].
pub struct Items<'s> {
    src: &'s str,
    /// Where the next piece starts.
    pos: usize,
    /// Where this reading stops: the end of the text, or of its stretch (see [`Items::split`]).
    to: usize,
    /// Whether a piece read past `to`, to the end of the text.
    ran_on: bool,
    /// A result decided up front (a refused or repaired text), given once.
    pub(crate) whole: Option<Parsed>,
}

impl<'s> Items<'s> {
    /// Pieces of `src` parsed one by one, from the start.
    pub(crate) fn new(src: &'s str) -> Items<'s> {
        Items {
            src,
            pos: 0,
            to: src.len(),
            ran_on: false,
            whole: None,
        }
    }

    /// One result for the whole text, given as the only piece.
    pub(crate) fn whole(src: &'s str, parsed: Parsed) -> Items<'s> {
        Items {
            src,
            pos: src.len(),
            to: src.len(),
            ran_on: false,
            whole: Some(parsed),
        }
    }

    /// This reading split into up to `n` readings of consecutive stretches of the text, to be
    /// run at once. Each stretch but the last ends after a line break that likely ends a
    /// top-level item (a `}` alone on its line); a stretch's last piece is cut there. Put
    /// together in order, up to and including the first reading that [`ran_on`](Items::ran_on),
    /// their pieces are exactly this reading's: a piece cut short does not parse cleanly, so it
    /// is read again with the rest of the text, as this reading would. A reading already
    /// started, or decided up front, is not split.
    pub fn split(self, n: usize) -> Vec<Items<'s>> {
        if self.whole.is_some() || self.pos != 0 || self.to != self.src.len() || n < 2 {
            return vec![self];
        }
        let len = self.src.len();
        let mut starts = vec![0];
        for i in 1..n {
            let from = (len / n * i).max(starts.last().copied().unwrap_or(0));
            let cut = self
                .src
                .get(from..)
                .and_then(|rest| rest.find("\n}\n"))
                .map(|at| from + at + 3);
            match cut {
                Some(cut) if cut < len => starts.push(cut),
                _ => break,
            }
        }
        let ends = starts.iter().skip(1).copied().chain([len]);
        starts
            .iter()
            .zip(ends)
            .map(|(&pos, to)| Items {
                src: self.src,
                pos,
                to,
                ran_on: false,
                whole: None,
            })
            .collect()
    }

    /// Whether a piece of this reading ran past the end of its stretch to the end of the text:
    /// then the readings of the later stretches are not part of the text's.
    pub fn ran_on(&self) -> bool {
        self.ran_on
    }
}

impl Iterator for Items<'_> {
    type Item = Parsed;

    fn next(&mut self) -> Option<Parsed> {
        if let Some(parsed) = self.whole.take() {
            return Some(parsed);
        }
        if self.pos >= self.to {
            return None;
        }
        let rest = self.src.get(self.pos..).filter(|r| !r.is_empty())?;
        let start = self.pos;
        let end = (start + item_end(rest.as_bytes())).min(self.to);
        let piece = self.src.get(start..end).unwrap_or(rest);
        let (parsed, clean) = lower::parse_piece(piece, start);
        if clean || end == self.src.len() {
            self.pos = end;
            return Some(parsed);
        }
        // Where the scan's guess may have cut an item short, the rest is read as one.
        self.pos = self.src.len();
        self.ran_on = self.to < self.src.len();
        Some(lower::parse_piece(rest, start).0)
    }
}

/// The length of the first top-level item of `text`, with the blank lines and comments before
/// it and the line break after it: up to the first line break after some text, outside brackets,
/// strings, backticks and comments; or all of `text`.
fn item_end(text: &[u8]) -> usize {
    // Bytes that matter once the item has begun; any other one only begins it.
    const ACTS_ON: Bytes = Bytes::of(b"\n/`\"{[}]");
    const IN_STRING: Bytes = Bytes::of(b"\n\"\\");
    let mut depth = 0usize;
    let mut begun = false;
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        match b {
            b'\n' if depth == 0 && begun => return i + 1,
            b'\n' | b' ' | b'\t' | b'\r' | b';' => {}
            b'/' if text.get(i + 1) == Some(&b'/') => {
                i += text[i..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .unwrap_or(text.len() - i);
                continue;
            }
            b'`' => {
                begun = true;
                match text[i + 1..].iter().position(|b| *b == b'`') {
                    Some(n) => i += n + 1,
                    None => return text.len(),
                }
            }
            b'"' => {
                begun = true;
                i = IN_STRING.next(text, i + 1);
                while let Some(&b) = text.get(i) {
                    match b {
                        b'"' => break,
                        b'\n' => {
                            i -= 1;
                            break;
                        }
                        b'\\' if text.get(i + 1).is_some_and(|b| *b != b'\n') => i += 1,
                        _ => {}
                    }
                    i = IN_STRING.next(text, i + 1);
                }
            }
            b'{' | b'[' => {
                begun = true;
                depth += 1;
            }
            b'}' | b']' => {
                begun = true;
                depth = depth.saturating_sub(1);
            }
            _ => {
                begun = true;
                i = ACTS_ON.next(text, i + 1);
                continue;
            }
        }
        i += 1;
    }
    text.len()
}

/// A text refused before parsing, as the one error of an empty tree.
pub(crate) fn refused(error: SyntaxError) -> Parsed {
    Parsed {
        file: crate::ast::File::default(),
        errors: vec![error],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_readings_put_together_are_the_whole_reading() {
        let one = "workflow a {\n  x 1\n}\n";
        let broken = "workflow b {\n  x = 1\n}\n";
        for src in [
            one.repeat(9),
            format!("{}{broken}{}", one.repeat(3), one.repeat(5)),
        ] {
            let whole: Vec<Parsed> = Items::new(&src).collect();
            let mut joined = Vec::new();
            for items in Items::new(&src).split(3) {
                let mut items = items;
                joined.extend(items.by_ref());
                if items.ran_on() {
                    break;
                }
            }
            assert_eq!(joined, whole);
        }
        assert_eq!(Items::new(&one.repeat(9)).split(3).len(), 3);
    }

    #[test]
    fn an_item_ends_at_the_line_break_after_its_brackets() {
        let src = "// c\n\nworkflow a {\n  x \"}\" `\n}` // }\n}\nworkflow b {}\n";
        let end = item_end(src.as_bytes());
        assert_eq!(&src[end..], "workflow b {}\n");
        assert_eq!(item_end(b"a [\n1\n]\nb\n"), 8);
        assert_eq!(item_end(b"a `\n"), 4);
        assert_eq!(item_end(b"a \"x\n\""), 5);
    }
}
