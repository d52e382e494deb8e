//! Escape decoding shared by the `.wflow` and JSON readers, and a nesting pre-check.

use crate::SyntaxError;
use crate::ast::Str;
use crate::fast::Reach;
use crate::scan::Bytes;
use crate::span::{OffsetMap, Span};

/// Decodes one escape sequence (`\n`, `\"`, `\u00e9`, ...) given its text after the backslash.
/// `\u` escapes return the UTF-16 unit; the caller pairs surrogates.
pub(crate) enum Escape {
    Char(char),
    Unit(u16),
}

/// Decodes the escape `body` (the text after `\`), or says why it is invalid.
pub(crate) fn decode_escape(body: &str) -> Result<Escape, String> {
    let mut chars = body.chars();
    let c = chars
        .next()
        .ok_or_else(|| "a `\\` must be followed by an escape".to_string())?;
    Ok(Escape::Char(match c {
        '"' => '"',
        '\\' => '\\',
        '/' => '/',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'u' => {
            let hex = chars.as_str();
            return match u16::from_str_radix(hex, 16) {
                Ok(unit) if hex.len() == 4 => Ok(Escape::Unit(unit)),
                _ => Err("`\\u` must be followed by four hex digits".into()),
            };
        }
        other => return Err(format!("unknown escape `\\{other}`")),
    }))
}

/// Pairs UTF-16 units from `\u` escapes into chars.
#[derive(Default)]
pub(crate) struct Utf16Pairer {
    high: Option<u16>,
}

impl Utf16Pairer {
    /// Feeds one unit; returns the char once complete, or an error for a lone surrogate.
    pub(crate) fn feed(&mut self, unit: u16) -> Result<Option<char>, String> {
        match (self.high.take(), unit) {
            (None, 0xD800..=0xDBFF) => {
                self.high = Some(unit);
                Ok(None)
            }
            (Some(high), 0xDC00..=0xDFFF) => {
                let c = 0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                char::from_u32(c)
                    .map(Some)
                    .ok_or_else(|| "invalid surrogate pair".into())
            }
            (Some(_), _) => {
                Err("a high surrogate `\\u` escape must be followed by a low one".into())
            }
            (None, 0xDC00..=0xDFFF) => Err("lone low surrogate in `\\u` escape".into()),
            (None, _) => char::from_u32(u32::from(unit))
                .map(Some)
                .ok_or_else(|| "invalid `\\u` escape".into()),
        }
    }

    /// Whether a high surrogate is still waiting for its pair.
    pub(crate) fn pending(&self) -> bool {
        self.high.is_some()
    }
}

/// Decodes a `.wflow` string literal piece by piece, as the grammar splits it (see `string` in
/// `wflow.pest`): escapes are decoded, every other piece (text, a template, an unopened `{{`) is
/// kept as written, and each piece is recorded in the offset map. Both `.wflow` readers use it.
pub(crate) struct StrDecoder {
    value: String,
    map: OffsetMap,
    pairer: Utf16Pairer,
}

impl StrDecoder {
    /// A decoder for a literal whose text (after the opening quote) starts at `start`.
    pub(crate) fn new(start: usize) -> StrDecoder {
        StrDecoder {
            value: String::new(),
            map: OffsetMap::identity(start),
            pairer: Utf16Pairer::default(),
        }
    }

    /// Adds the piece `text` at `span`, an escape if `escape`; returns the mistake in it, if any.
    pub(crate) fn piece(&mut self, text: &str, span: Span, escape: bool) -> Option<SyntaxError> {
        if escape {
            let (c, error) = match decode_escape(text.get(1..).unwrap_or("")) {
                Ok(Escape::Char(c)) => (Some(c), None),
                Ok(Escape::Unit(u)) => match self.pairer.feed(u) {
                    Ok(c) => (c, None),
                    Err(m) => (None, Some(SyntaxError::new(span, m, None))),
                },
                Err(m) => {
                    let help = "valid escapes: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX";
                    (None, Some(SyntaxError::new(span, m, Some(help.into()))))
                }
            };
            if let Some(c) = c {
                self.map.push(self.value.len(), span.start);
                self.value.push(c);
            }
            return error;
        }
        let mut error = None;
        if self.pairer.pending() {
            let m = "a high surrogate `\\u` escape must be followed by a low one";
            error = Some(SyntaxError::new(span, m, None));
            self.pairer = Utf16Pairer::default();
        }
        self.map.push(self.value.len(), span.start);
        self.value.push_str(text);
        error
    }

    /// The decoded literal, whose whole text (quotes included) is at `span`.
    pub(crate) fn finish(self, span: Span) -> Str {
        Str {
            value: self.value,
            span,
            map: self.map,
        }
    }
}

/// The offset of the first bracket opened deeper than `max`, read the way the grammar reads the
/// text (see `wflow.pest`): brackets in a backtick expression or a comment nest nothing, and a
/// string (from `"` to the next `"` or the end of its line) nests only until it ends. A backtick
/// never closed is an ordinary character, as it is to the recovery rule. One pass, no recursion.
pub(crate) fn too_deep(src: &str, max: usize) -> Option<usize> {
    let bytes = src.as_bytes();
    // The last backtick: every one before it opens a flat jq expression.
    let last_backtick = bytes.iter().rposition(|b| *b == b'`');
    const ACTS_ON: Bytes = Bytes::of(b"`/\"{[()]}");
    let mut depth = 0usize;
    let mut i = 0;
    loop {
        i = ACTS_ON.next(bytes, i);
        let &b = bytes.get(i)?;
        match b {
            b'`' if last_backtick.is_some_and(|last| last > i) => {
                i += 1 + bytes[i + 1..].iter().position(|b| *b == b'`').unwrap_or(0);
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => i = line_end(bytes, i),
            b'"' => match string_too_deep(bytes, i + 1, max.saturating_sub(depth)) {
                Ok(end) => i = end,
                Err(at) => return Some(at),
            },
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > max {
                    return Some(i);
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
}

/// Reads the string whose text starts at `start` as the grammar does: only the jq of a
/// template (`{{ ... }}`) nests, through a jq string's interpolations and the groups inside
/// them; other brackets are plain text. Returns where the string ended (its closing quote or the
/// end of its line), or the offset of the first thing nested deeper than `max`.
fn string_too_deep(bytes: &[u8], start: usize, max: usize) -> Result<usize, usize> {
    const ACTS_ON: Bytes = Bytes::of(b"\n\r\"\\{");
    let mut i = start;
    loop {
        i = ACTS_ON.next(bytes, i);
        let Some(&b) = bytes.get(i) else {
            return Ok(i);
        };
        match b {
            b'\n' | b'\r' | b'"' => return Ok(i),
            b'\\' if !matches!(bytes.get(i + 1), Some(b'\n' | b'\r')) => i += 2,
            // A template nests as far as pest reads it, closed or not; one that does not close
            // is plain text after its `{{`.
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                match crate::fast::template_reach(bytes, i, true, max) {
                    Reach::Closed(end) => i = end,
                    Reach::Failed => i += 2,
                    Reach::TooDeep(at) => return Err(at),
                }
            }
            _ => i += 1,
        }
    }
}

/// The offset of the line break ending the line that holds `at` (or the end of the text).
fn line_end(bytes: &[u8], at: usize) -> usize {
    bytes
        .get(at..)
        .and_then(|rest| rest.iter().position(|b| *b == b'\n'))
        .map_or(bytes.len(), |n| at + n)
}
