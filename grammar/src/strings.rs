//! Escape decoding shared by the `.wflow` and JSON readers, and a nesting pre-check.

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

/// The offset of the first bracket opened deeper than `max`, read the way the grammar reads the
/// text (see `wflow.pest`): brackets in a backtick expression or a comment nest nothing, and a
/// string (from `"` to the next `"` or the end of its line) nests only until it ends. A backtick
/// never closed is an ordinary character, as it is to the recovery rule. One pass, no recursion.
pub(crate) fn too_deep(src: &str, max: usize) -> Option<usize> {
    let bytes = src.as_bytes();
    // The last backtick: every one before it opens a flat jq expression.
    let last_backtick = bytes.iter().rposition(|b| *b == b'`');
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'`' if last_backtick.is_some_and(|last| last > i) => {
                i += 1 + bytes[i + 1..].iter().position(|b| *b == b'`').unwrap_or(0);
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => i = line_end(bytes, i),
            b'"' => {
                // Inside a string only a template's jq nests (`\(`), and only until the string ends.
                let mut inner = 0usize;
                i += 1;
                while let Some(&b) = bytes.get(i) {
                    match b {
                        b'"' | b'\n' => break,
                        b'\\' if bytes.get(i + 1).is_some_and(|b| *b != b'\n') => i += 1,
                        b'(' => {
                            inner += 1;
                            if depth + inner > max {
                                return Some(i);
                            }
                        }
                        b')' => inner = inner.saturating_sub(1),
                        _ => {}
                    }
                    i += 1;
                }
            }
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
    None
}

/// The offset of the line break ending the line that holds `at` (or the end of the text).
fn line_end(bytes: &[u8], at: usize) -> usize {
    bytes
        .get(at..)
        .and_then(|rest| rest.iter().position(|b| *b == b'\n'))
        .map_or(bytes.len(), |n| at + n)
}
