//! A JSON reader that keeps the span of every value and key.
//!
//! It recovers from the slips people make when copying JSON out of docs (a trailing comma, a
//! missing comma, a comment) and reports each one; anything worse ends the read with one error.

use std::collections::HashMap;

use crate::ast::{Key, Str, Value, ValueKind};
use crate::span::{OffsetMap, Span};
use crate::strings::{Escape, Utf16Pairer, decode_escape};
use crate::{MAX_NESTING, SyntaxError};

/// Reads one JSON document. Returns the value (None when the text is not JSON at all) and every
/// syntax error found. Never panics.
pub fn parse(src: &str) -> (Option<Value>, Vec<SyntaxError>) {
    if let Some(e) = SyntaxError::too_large(src.len()) {
        return (None, vec![e]);
    }
    let mut r = Reader {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        errors: Vec::new(),
    };
    r.skip_ws();
    let value = match r.value(0) {
        Ok(v) => {
            r.skip_ws();
            if r.pos < r.bytes.len() {
                let at = r.pos;
                r.error(at, at + 1, "unexpected text after the JSON value", None);
            }
            Some(v)
        }
        Err(()) => None,
    };
    (value, r.errors)
}

struct Reader<'s> {
    src: &'s str,
    bytes: &'s [u8],
    pos: usize,
    errors: Vec<SyntaxError>,
}

type Fatal = ();

impl Reader<'_> {
    fn error(&mut self, start: usize, end: usize, message: impl Into<String>, help: Option<&str>) {
        let mut end = end.min(self.bytes.len()).max(start);
        // `start + 1` may fall inside a multi-byte character: end on its boundary.
        while !self.src.is_char_boundary(end) {
            end += 1;
        }
        self.errors.push(SyntaxError::new(
            Span::new(start, end),
            message,
            help.map(Into::into),
        ));
    }

    fn fatal(&mut self, message: &str) -> Result<Value, Fatal> {
        let at = self.pos;
        let end = at
            + self
                .src
                .get(at..)
                .and_then(|r| r.chars().next())
                .map_or(0, char::len_utf8);
        let found = match self.src.get(at..).and_then(|r| r.chars().next()) {
            None => "the end of the file".to_string(),
            Some(c) => format!("`{c}`"),
        };
        self.error(at, end, format!("{message}, found {found}"), None);
        Err(())
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Skips white space, reporting (and skipping) comments, which JSON does not allow.
    fn skip_ws(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.pos += 1,
                Some(b'/') if self.bytes.get(self.pos + 1) == Some(&b'/') => {
                    let start = self.pos;
                    while self.peek().is_some_and(|b| b != b'\n') {
                        self.pos += 1;
                    }
                    self.error(
                        start,
                        self.pos,
                        "JSON does not allow comments",
                        Some("remove the comment"),
                    );
                }
                _ => return,
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, Fatal> {
        if depth > MAX_NESTING {
            self.errors
                .push(SyntaxError::too_deep(self.src, self.pos, "JSON"));
            return Err(());
        }
        let start = self.pos;
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => {
                let s = self.string()?;
                Ok(Value {
                    span: s.span,
                    kind: ValueKind::Str(s),
                })
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') if self.src[start..].starts_with("true") => {
                self.word(4, ValueKind::Bool(true))
            }
            Some(b'f') if self.src[start..].starts_with("false") => {
                self.word(5, ValueKind::Bool(false))
            }
            Some(b'n') if self.src[start..].starts_with("null") => self.word(4, ValueKind::Null),
            _ => self.fatal("expected a JSON value"),
        }
    }

    fn word(&mut self, len: usize, kind: ValueKind) -> Result<Value, Fatal> {
        let start = self.pos;
        self.pos += len;
        Ok(Value {
            kind,
            span: Span::new(start, self.pos),
        })
    }

    fn number(&mut self) -> Result<Value, Fatal> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits = |r: &mut Self| {
            let s = r.pos;
            while r.peek().is_some_and(|b| b.is_ascii_digit()) {
                r.pos += 1;
            }
            r.pos > s
        };
        if !digits(self) {
            return self.fatal("expected digits");
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !digits(self) {
                return self.fatal("expected digits after `.`");
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return self.fatal("expected an exponent");
            }
        }
        let text = self.src[start..self.pos].to_string();
        Ok(Value {
            kind: ValueKind::Number(text),
            span: Span::new(start, self.pos),
        })
    }

    fn string(&mut self) -> Result<Str, Fatal> {
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        let mut map = OffsetMap::identity(self.pos);
        let mut pairer = Utf16Pairer::default();
        loop {
            let run_start = self.pos;
            while self
                .peek()
                .is_some_and(|b| b != b'"' && b != b'\\' && b >= 0x20)
            {
                self.pos += 1;
            }
            if self.pos > run_start {
                map.push(value.len(), run_start);
                value.push_str(&self.src[run_start..self.pos]);
            }
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Str {
                        value,
                        span: Span::new(start, self.pos),
                        map,
                    });
                }
                Some(b'\\') => {
                    let esc_start = self.pos;
                    let body_len = match self.bytes.get(self.pos + 1) {
                        Some(b'u') => 5,
                        Some(_) => 1,
                        None => 0,
                    };
                    let body_end = floor(self.src, (self.pos + 1 + body_len).min(self.bytes.len()));
                    let body = &self.src[self.pos + 1..body_end];
                    self.pos = body_end.max(self.pos + 1);
                    let c = match decode_escape(body) {
                        Ok(Escape::Char(c)) => Some(c),
                        Ok(Escape::Unit(u)) => pairer.feed(u).unwrap_or_else(|m| {
                            self.error(esc_start, self.pos, m, None);
                            None
                        }),
                        Err(m) => {
                            self.error(esc_start, self.pos, m, None);
                            None
                        }
                    };
                    if let Some(c) = c {
                        map.push(value.len(), esc_start);
                        value.push(c);
                    }
                }
                Some(b'\n') | None => {
                    self.pos = start;
                    let end = self.src[start..]
                        .find('\n')
                        .map_or(self.src.len(), |i| start + i);
                    self.error(
                        start,
                        end,
                        "unterminated string",
                        Some("close the string with `\"`"),
                    );
                    return Err(());
                }
                Some(_) => {
                    let at = self.pos;
                    self.error(
                        at,
                        at + 1,
                        "control character in string",
                        Some("write it as an escape such as `\\t`"),
                    );
                    self.pos += 1;
                }
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, Fatal> {
        let start = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value {
                kind: ValueKind::Array(items),
                span: Span::new(start, self.pos),
            });
        }
        loop {
            items.push(self.value(depth + 1)?);
            if self.separator(b']')? {
                return Ok(Value {
                    kind: ValueKind::Array(items),
                    span: Span::new(start, self.pos),
                });
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, Fatal> {
        let start = self.pos;
        self.pos += 1;
        let mut members: Vec<(Key, Value)> = Vec::new();
        // Where each key was first given, to report repeats without rescanning the members.
        let mut first_given: HashMap<String, usize> = HashMap::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value {
                kind: ValueKind::Object(members),
                span: Span::new(start, self.pos),
            });
        }
        loop {
            if self.peek() != Some(b'"') {
                self.fatal("expected a key in double quotes")?;
            }
            let k = self.string()?;
            let key = Key {
                name: k.value,
                span: k.span,
            };
            if let Some(&first) = first_given.get(&key.name) {
                let (line, _) = crate::span::line_col(self.src, first);
                let help = format!("the key is first given on line {line}; remove one of them");
                self.error(
                    key.span.start,
                    key.span.end,
                    format!("duplicate key `{}`", key.name),
                    Some(&help),
                );
            } else {
                first_given.insert(key.name.clone(), key.span.start);
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                self.fatal("expected `:` after the key")?;
            }
            self.pos += 1;
            self.skip_ws();
            let v = self.value(depth + 1)?;
            members.push((key, v));
            if self.separator(b'}')? {
                return Ok(Value {
                    kind: ValueKind::Object(members),
                    span: Span::new(start, self.pos),
                });
            }
        }
    }

    /// After an item: consumes `,` or the closing bracket. Returns true when closed. Recovers
    /// from a trailing comma and from a missing comma.
    fn separator(&mut self, close: u8) -> Result<bool, Fatal> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                let comma = self.pos;
                self.pos += 1;
                self.skip_ws();
                if self.peek() == Some(close) {
                    self.error(
                        comma,
                        comma + 1,
                        "trailing comma",
                        Some("remove the `,` before the closing bracket"),
                    );
                    self.pos += 1;
                    return Ok(true);
                }
                Ok(false)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(true)
            }
            Some(b'"' | b'{' | b'[' | b'0'..=b'9' | b'-' | b't' | b'f' | b'n') => {
                let at = self.pos;
                self.error(at, at + 1, "missing comma", Some("separate items with `,`"));
                Ok(false)
            }
            _ => {
                let what = if close == b'}' {
                    "expected `,` or `}`"
                } else {
                    "expected `,` or `]`"
                };
                self.fatal(what).map(|_| true)
            }
        }
    }
}

fn floor(src: &str, i: usize) -> usize {
    crate::span::floor_char_boundary(src, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(src: &str) -> Vec<(usize, String)> {
        parse(src)
            .1
            .into_iter()
            .map(|e| (e.span.start, e.message))
            .collect()
    }

    #[test]
    fn spans_point_at_values() {
        let src = r#"{"a": [1, "x\"y"], "b": null}"#;
        let (v, errs) = parse(src);
        assert!(errs.is_empty());
        let v = v.expect("value");
        let a = v.get("a").expect("a");
        assert_eq!(&src[a.span.range()], r#"[1, "x\"y"]"#);
        let ValueKind::Array(items) = &a.kind else {
            panic!("array")
        };
        let ValueKind::Str(s) = &items[1].kind else {
            panic!("string")
        };
        assert_eq!(s.value, "x\"y");
        // `y` is decoded offset 2 and sits after the two-byte escape.
        assert_eq!(&src[s.sub_span(2..3).range()], "y");
    }

    #[test]
    fn recovers_from_trailing_and_missing_commas() {
        let src = "{\"a\": 1,\n \"b\": 2 \"c\": 3,}";
        let (v, errs) = parse(src);
        assert!(v.is_some());
        let got: Vec<_> = errs
            .iter()
            .map(|e| (e.span.start, e.message.as_str()))
            .collect();
        assert_eq!(got, vec![(17, "missing comma"), (23, "trailing comma")]);
    }

    #[test]
    fn reports_fatal_errors_with_position() {
        assert_eq!(
            errors("{\"a\": }"),
            vec![(6, "expected a JSON value, found `}`".to_string())]
        );
        assert_eq!(
            errors("{\"a\": \"x}"),
            vec![(6, "unterminated string".to_string())]
        );
        assert_eq!(
            errors(""),
            vec![(
                0,
                "expected a JSON value, found the end of the file".to_string()
            )]
        );
        assert_eq!(errors("{\"a\":1,\"a\":2}")[0].1, "duplicate key `a`");
    }

    #[test]
    fn never_panics_on_junk() {
        for src in [
            "\"\\u",
            "\"\\ud800\"",
            "[",
            "{\"",
            "-",
            "1e",
            "\"é\\",
            "[[[[",
            "\u{0}",
        ] {
            let _ = parse(src);
        }
        let deep = "[".repeat(10_000);
        assert_eq!(parse(&deep).1.len(), 1);
    }
}
