//! A hand-written reader for clean `.wflow` text, tried before pest.
//!
//! It follows `wflow.pest` rule by rule, settling each of the grammar's choices by looking a
//! bounded way ahead, and builds the tree `lower` builds from pest's pairs. It gives up (`None`)
//! at the first thing it does not read exactly as the grammar does, every syntax error included,
//! and pest then reads the text as before. The contract: whenever it returns a tree, pest reads
//! the same text cleanly, to the same tree, without an error; so syntax errors and their
//! recovery stay pest's. `tests/tests/fast_parse.rs` checks it against pest.
//!
//! Every method returns `None` to give up. A method for a rule that may not be there returns
//! `Option<Option<_>>`, whose inner `None` means the grammar's rule fails here.

use crate::MAX_NESTING;
use crate::ast::*;
use crate::lower::letter_or_number;
use crate::span::Span;
use crate::strings::StrDecoder;

/// The tree of `src`, the text of a file from byte `base` on, if it reads cleanly and exactly as
/// pest reads it (`file` in the grammar).
pub(crate) fn parse(src: &str, base: usize) -> Option<File> {
    let mut r = Reader {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        base,
        depth: 0,
        comments: Vec::new(),
    };
    let mut statements = Vec::new();
    loop {
        r.skip(true);
        if r.pos >= r.bytes.len() {
            break;
        }
        statements.push(r.statement()?);
    }
    Some(File {
        statements,
        comments: r.comments,
    })
}

struct Reader<'s> {
    src: &'s str,
    bytes: &'s [u8],
    /// The next byte to read.
    pos: usize,
    /// Where `src` starts in the file: added to every span.
    base: usize,
    /// How many blocks, lists and objects are open at `pos`.
    depth: usize,
    /// Every comment read, in source order.
    comments: Vec<Comment>,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn at(&self, s: &[u8]) -> bool {
        self.bytes.get(self.pos..).is_some_and(|r| r.starts_with(s))
    }

    /// The span in the file from `start` to `pos`.
    fn span(&self, start: usize) -> Span {
        Span::new(self.base + start, self.base + self.pos)
    }

    /// The text from `start` to `pos`.
    fn text(&self, start: usize) -> Option<String> {
        self.src.get(start..self.pos).map(str::to_string)
    }

    /// Skips what the grammar skips between the parts of a rule (whitespace and comments,
    /// keeping the comments), and line breaks and `;` too if `seps`.
    fn skip(&mut self, seps: bool) {
        let (src, base, comments) = (self.src, self.base, &mut self.comments);
        self.pos = blanks_end(self.bytes, self.pos, seps, |s, e| {
            let text = src.get(s..e).unwrap_or("").trim_start_matches("//");
            comments.push(Comment {
                text: text.to_string(),
                span: Span::new(base + s, base + e),
            });
        });
    }

    /// `end`: a line break, `;`, `}` or the end of the text is next.
    fn at_end(&self) -> bool {
        matches!(self.peek(), None | Some(b'\n' | b'\r' | b';' | b'}'))
    }

    /// Steps over the bracket opening a block, list or object, one level deeper.
    fn open(&mut self) -> Option<()> {
        self.pos += 1;
        self.depth += 1;
        (self.depth <= MAX_NESTING).then_some(())
    }

    /// Steps over the bracket `close`, which must be next.
    fn close(&mut self, close: u8) -> Option<()> {
        (self.peek()? == close).then(|| {
            self.pos += 1;
            self.depth -= 1;
        })
    }

    /// `statement`: `input_decl | edge_chain | entry`. An edge chain is told from an entry by
    /// the `->` after its first endpoint, which no entry can have there. A statement starting
    /// with the keyword `input` that is no declaration (an entry or edge named `input`) is left
    /// to pest.
    fn statement(&mut self) -> Option<Statement> {
        let start = self.pos;
        if self.at(b"input") && ident_char_len(self.src, start + 5) == 0 {
            return self.input_decl().map(Statement::Input);
        }
        let first = self.endpoint()?;
        let after = blanks_end(self.bytes, self.pos, false, |_, _| {});
        if self.bytes.get(after..after + 2) == Some(b"->") {
            return self.edges(start, first).map(Statement::Edges);
        }
        // An entry's name is an `ident`: neither a string nor followed by an outlet.
        if first.outlet.is_some() || self.bytes.get(start) == Some(&b'"') {
            return None;
        }
        let (args, block) = self.args_and_block()?;
        Some(Statement::Entry(Entry {
            name: first.node,
            args,
            block,
            span: self.span(start),
        }))
    }

    /// `input_decl`, after `kw_input`.
    fn input_decl(&mut self) -> Option<InputDecl> {
        let start = self.pos;
        self.pos += "input".len();
        self.skip(false);
        let key = self.key()??;
        self.skip(false);
        let optional = self.peek() == Some(b'?');
        if optional {
            self.pos += 1;
            self.skip(false);
        }
        if self.peek()? != b':' {
            return None;
        }
        self.pos += 1;
        self.skip(false);
        let ty = self.type_expr()?;
        let (args, block) = self.args_and_block()?;
        Some(InputDecl {
            key,
            optional,
            ty,
            args,
            block,
            span: self.span(start),
        })
    }

    /// `type_expr`: `name`, or `name(arg)`, then `[]` marks; nothing skipped inside.
    fn type_expr(&mut self) -> Option<TypeExpr> {
        let start = self.pos;
        let name = self.ident()?;
        let mut arg = None;
        if self.peek() == Some(b'(') {
            let end = ident_end(self.src, self.pos + 1);
            if end > self.pos + 1 && self.bytes.get(end) == Some(&b')') {
                self.pos += 1;
                arg = Some(self.ident()?);
                self.pos += 1;
            }
        }
        let mut array_depth = 0;
        while self.at(b"[]") {
            self.pos += 2;
            array_depth += 1;
        }
        Some(TypeExpr {
            name,
            arg,
            array_depth,
            span: self.span(start),
        })
    }

    /// `value* ~ (block | end)`: the rest of an entry or input declaration.
    fn args_and_block(&mut self) -> Option<(Vec<Value>, Option<Block>)> {
        let mut args = Vec::new();
        loop {
            self.skip(false);
            match self.value()? {
                Some(v) => args.push(v),
                None => break,
            }
        }
        // A `{` that opens an object was read as a value: this one opens a block.
        if self.peek() == Some(b'{') {
            return Some((args, Some(self.block()?)));
        }
        self.at_end().then_some((args, None))
    }

    /// `block`, only a closed one.
    fn block(&mut self) -> Option<Block> {
        let start = self.pos;
        self.open()?;
        let mut statements = Vec::new();
        loop {
            self.skip(true);
            if self.peek()? == b'}' {
                break;
            }
            statements.push(self.statement()?);
        }
        self.close(b'}')?;
        Some(Block {
            statements,
            closed: true,
            span: self.span(start),
        })
    }

    /// `edge_chain`, from its first endpoint on.
    fn edges(&mut self, start: usize, first: Endpoint) -> Option<EdgeChain> {
        let mut endpoints = vec![first];
        loop {
            self.skip(false);
            if !self.at(b"->") {
                break;
            }
            self.pos += 2;
            self.skip(false);
            endpoints.push(self.endpoint()?);
        }
        let mut description = None;
        if self.peek() == Some(b'"') {
            description = Some(self.string()?);
            self.skip(false);
        }
        self.at_end().then(|| EdgeChain {
            endpoints,
            description,
            span: self.span(start),
        })
    }

    /// `endpoint`: a name, then maybe `.` and an outlet; nothing skipped inside.
    fn endpoint(&mut self) -> Option<Endpoint> {
        let start = self.pos;
        let node = self.name()?;
        let mut outlet = None;
        let next = self.pos + 1;
        if self.peek() == Some(b'.')
            && (self.bytes.get(next) == Some(&b'"') || ident_char_len(self.src, next) > 0)
        {
            self.pos = next;
            outlet = Some(self.name()?);
        }
        Some(Endpoint {
            node,
            outlet,
            span: self.span(start),
        })
    }

    /// A node or outlet name: an `ident`, or a string (then its decoded text).
    fn name(&mut self) -> Option<Ident> {
        if self.peek() == Some(b'"') {
            let s = self.string()?;
            return Some(Ident {
                name: s.value,
                span: s.span,
            });
        }
        self.ident()
    }

    /// `ident` (or `outlet_name`, `type_arg`: the same characters).
    fn ident(&mut self) -> Option<Ident> {
        let start = self.pos;
        self.pos = ident_end(self.src, start);
        if self.pos == start {
            return None;
        }
        Some(Ident {
            name: self.text(start)?,
            span: self.span(start),
        })
    }

    /// `value`.
    fn value(&mut self) -> Option<Option<Value>> {
        let start = self.pos;
        let kind = match self.peek() {
            Some(b'"') => ValueKind::Str(self.string()?),
            Some(b'`') => self.jq()?,
            Some(b'[') => self.list()?,
            Some(b'{') if self.looks_like_object()? => self.object()?,
            _ => match self.word() {
                Some(kind) => kind,
                None => return Some(None),
            },
        };
        Some(Some(Value {
            kind,
            span: self.span(start),
        }))
    }

    /// `number | boolean | null | ident`, in the grammar's order; `None` if none is here.
    fn word(&mut self) -> Option<ValueKind> {
        let start = self.pos;
        if let Some(end) = number_end(self.src, start) {
            self.pos = end;
            return self.text(start).map(ValueKind::Number);
        }
        let keywords = [
            ("true", ValueKind::Bool(true)),
            ("false", ValueKind::Bool(false)),
            ("null", ValueKind::Null),
        ];
        for (word, kind) in keywords {
            if self.at(word.as_bytes()) && ident_char_len(self.src, start + word.len()) == 0 {
                self.pos += word.len();
                return Some(kind);
            }
        }
        self.ident().map(ValueKind::Ident)
    }

    /// `jq`: backtick code, which may span lines.
    fn jq(&mut self) -> Option<ValueKind> {
        let code_start = self.pos + 1;
        let len = self
            .bytes
            .get(code_start..)?
            .iter()
            .position(|b| *b == b'`')?;
        let code = self.src.get(code_start..code_start + len)?.to_string();
        self.pos = code_start + len + 1;
        Some(ValueKind::Jq {
            code,
            code_start: self.base + code_start,
        })
    }

    /// `list`.
    fn list(&mut self) -> Option<ValueKind> {
        self.open()?;
        let items = self.items(Self::value)?;
        self.close(b']')?;
        Some(ValueKind::Array(items))
    }

    /// `object`, at a `{` that looks like one.
    fn object(&mut self) -> Option<ValueKind> {
        self.open()?;
        let members = self.items(Self::member)?;
        self.close(b'}')?;
        Some(ValueKind::Object(members))
    }

    /// `sep* ~ (item ~ (item_sep ~ item)* ~ item_sep?)? ~ sep*`: the inside of a list or object.
    fn items<T>(&mut self, item: fn(&mut Self) -> Option<Option<T>>) -> Option<Vec<T>> {
        let mut out = Vec::new();
        self.skip(true);
        while let Some(x) = item(self)? {
            out.push(x);
            self.skip(false);
            // `item_sep`: a `,` or line breaks, with the blanks after them.
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'\n' | b'\r' | b';') => {}
                _ => break,
            }
            self.skip(true);
        }
        self.skip(true);
        Some(out)
    }

    /// `member`. Once a key is read, the member must follow: where it does not, the object
    /// cannot close there either.
    fn member(&mut self) -> Option<Option<(Key, Value)>> {
        let Some(key) = self.key()? else {
            return Some(None);
        };
        self.skip(false);
        if self.peek()? != b':' {
            return None;
        }
        self.pos += 1;
        self.skip(false);
        let value = self.value()??;
        Some(Some((key, value)))
    }

    /// `key`: a string or a `bare_key`.
    fn key(&mut self) -> Option<Option<Key>> {
        let start = self.pos;
        if self.peek() == Some(b'"') {
            let s = self.string()?;
            return Some(Some(Key {
                name: s.value,
                span: s.span,
            }));
        }
        self.pos = bare_key_end(self.src, start);
        if self.pos == start {
            return Some(None);
        }
        Some(Some(Key {
            name: self.text(start)?,
            span: self.span(start),
        }))
    }

    /// `looks_like_object`, at a `{`. Gives up on a key string that does not close: what
    /// follows is no statement either.
    fn looks_like_object(&self) -> Option<bool> {
        let i = blanks_end(self.bytes, self.pos + 1, true, |_, _| {});
        let key_end = match self.bytes.get(i) {
            Some(b'}') => return Some(true),
            Some(b'"') => string_end(self.bytes, i, |_, _, _| {})?,
            _ => bare_key_end(self.src, i),
        };
        let colon = blanks_end(self.bytes, key_end, false, |_, _| {});
        Some(key_end > i && self.bytes.get(colon) == Some(&b':'))
    }

    /// `string`, decoded. Gives up where the grammar's `string` fails, and on a bad escape.
    fn string(&mut self) -> Option<Str> {
        let start = self.pos;
        let (src, base) = (self.src, self.base);
        let mut decoder = StrDecoder::new(base + start + 1);
        let mut clean = true;
        self.pos = string_end(self.bytes, start, |s, e, escape| {
            let text = src.get(s..e).unwrap_or("");
            clean &= decoder
                .piece(text, Span::new(base + s, base + e), escape)
                .is_none();
        })?;
        clean.then(|| decoder.finish(self.span(start)))
    }
}

/// Where the blanks from `i` end: whitespace (`WHITESPACE`) and comments, and line breaks and
/// `;` too if `seps`. Each comment's range is passed to `comment`.
fn blanks_end(b: &[u8], mut i: usize, seps: bool, mut comment: impl FnMut(usize, usize)) -> usize {
    loop {
        match b.get(i) {
            Some(b' ' | b'\t') => i += 1,
            Some(b'\n' | b'\r' | b';') if seps => i += 1,
            Some(0xEF) if b.get(i + 1..i + 3) == Some(&[0xBB, 0xBF]) => i += 3,
            Some(b'/') if b.get(i + 1) == Some(&b'/') => {
                let end = b
                    .get(i..)
                    .and_then(|r| r.iter().position(|c| matches!(c, b'\n' | b'\r')))
                    .map_or(b.len(), |n| i + n);
                comment(i, end);
                i = end;
            }
            _ => return i,
        }
    }
}

/// The length of the character at `i` if it is a `LETTER | NUMBER | "_" | "@"`, else 0.
fn word_len(src: &str, i: usize) -> usize {
    match src.as_bytes().get(i) {
        Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'@') => 1,
        Some(c) if *c >= 0x80 => src
            .get(i..)
            .and_then(|r| r.chars().next())
            .filter(|c| letter_or_number(*c))
            .map_or(0, char::len_utf8),
        _ => 0,
    }
}

/// The length of the `ident_char` at `i`, or 0 if there is none: a `-` not starting `->`, a `:`
/// before a word character, or a word character.
fn ident_char_len(src: &str, i: usize) -> usize {
    let b = src.as_bytes();
    match b.get(i) {
        Some(b'-') => usize::from(b.get(i + 1) != Some(&b'>')),
        Some(b':') => usize::from(word_len(src, i + 1) > 0),
        _ => word_len(src, i),
    }
}

/// The end of the identifier characters from `i`.
fn ident_end(src: &str, mut i: usize) -> usize {
    loop {
        match ident_char_len(src, i) {
            0 => return i,
            n => i += n,
        }
    }
}

/// The end of the `bare_key` characters from `i`.
fn bare_key_end(src: &str, mut i: usize) -> usize {
    loop {
        let n = match src.as_bytes().get(i) {
            Some(b'-' | b'$') => 1,
            _ => word_len(src, i),
        };
        if n == 0 {
            return i;
        }
        i += n;
    }
}

/// The end of the `number` at `i`, if there is one: not followed by an identifier character.
fn number_end(src: &str, i: usize) -> Option<usize> {
    let b = src.as_bytes();
    let digits = |from: usize| {
        from + b
            .get(from..)
            .map_or(0, |r| r.iter().take_while(|c| c.is_ascii_digit()).count())
    };
    let int = i + usize::from(b.get(i) == Some(&b'-'));
    let mut end = digits(int);
    if end == int {
        return None;
    }
    if b.get(end) == Some(&b'.') && digits(end + 1) > end + 1 {
        end = digits(end + 1);
    }
    if matches!(b.get(end), Some(b'e' | b'E')) {
        let exp = end + 1 + usize::from(matches!(b.get(end + 1), Some(b'+' | b'-')));
        if digits(exp) > exp {
            end = digits(exp);
        }
    }
    (ident_char_len(src, end) == 0).then_some(end)
}

/// Reads the `string` whose opening quote is at `start`, passing each piece to `piece` (its
/// range, and whether it is an escape); returns the string's end, or `None` where the grammar's
/// `string` fails.
fn string_end(b: &[u8], start: usize, mut piece: impl FnMut(usize, usize, bool)) -> Option<usize> {
    let mut i = start + 1;
    loop {
        let (end, escape) = match *b.get(i)? {
            b'"' => return Some(i + 1),
            b'\n' | b'\r' => return None,
            b'\\' => {
                let len = match *b.get(i + 1)? {
                    b'\n' | b'\r' => return None,
                    b'u' if b
                        .get(i + 2..i + 6)
                        .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                    {
                        6
                    }
                    c => 1 + utf8_len(c),
                };
                (i + len, true)
            }
            // A template, or else `open_braces`.
            b'{' if b.get(i + 1) == Some(&b'{') => {
                (template_end(b, i, true).unwrap_or(i + 2), false)
            }
            _ => (text_end(b, i), false),
        };
        piece(i, end, escape);
        i = end;
    }
}

/// The length of the UTF-8 character whose first byte is `c`.
fn utf8_len(c: u8) -> usize {
    match c {
        0..=0x7F => 1,
        0x80..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// The end of the `str_text` at `i`.
fn text_end(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        match c {
            b'"' | b'\\' | b'\n' | b'\r' => break,
            b'{' if b.get(i + 1) == Some(&b'{') => break,
            _ => i += 1,
        }
    }
    i
}

/// The end of the `template` at `start` (its `{{`), or `None` where the grammar's `template`
/// fails. A line break ends it where `one_line` (a `.wflow` string); a Port JSON string's
/// template may span lines.
pub fn template_end(b: &[u8], start: usize, one_line: bool) -> Option<usize> {
    match template_reach(b, start, one_line, usize::MAX) {
        Reach::Closed(end) => Some(end),
        Reach::Failed | Reach::TooDeep(_) => None,
    }
}

/// How far the reading of a template went.
pub(crate) enum Reach {
    /// It closed; its end (after the `}}`).
    Closed(usize),
    /// It failed: the grammar reads its `{{` as text.
    Failed,
    /// A jq string or group there was nested deeper than asked.
    TooDeep(usize),
}

/// Reads the `template` at `start` (its `{{`) as the grammar does, nested at most `max` deep.
/// `template_code`, `jq_string` and `jq_interp` are read with a stack of what each open level
/// closes with (`"` a jq string, `)` an interpolation or group), not by recursion. Any part
/// that fails fails the whole template, as in the grammar; so does any `{{` in it.
pub(crate) fn template_reach(b: &[u8], start: usize, one_line: bool, max: usize) -> Reach {
    let mut open: Vec<u8> = Vec::new();
    let mut i = start + 2;
    loop {
        let next = b.get(i + 1).copied();
        let Some(&c) = b.get(i) else {
            return Reach::Failed;
        };
        match (open.last(), c) {
            (_, b'\n' | b'\r') if one_line => return Reach::Failed,
            (_, b'{') if next == Some(b'{') => return Reach::Failed,
            (None, b'}') if next == Some(b'}') => return Reach::Closed(i + 2),
            (None | Some(b')'), b'"') => open.push(b'"'),
            (Some(b'"'), b'"') | (Some(b')'), b')') => {
                open.pop();
            }
            (Some(b'"'), b'\\') => {
                match next {
                    Some(b'(') => open.push(b')'),
                    None | Some(b'{') => return Reach::Failed,
                    Some(b'\n' | b'\r') if one_line => return Reach::Failed,
                    _ => {}
                }
                i += 1;
            }
            (Some(b')'), b'(') => open.push(b')'),
            _ => {}
        }
        if open.len() > max {
            return Reach::TooDeep(i);
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lower::parse_piece_pest;

    /// Asserts the fast reader reads `src`, to pest's tree.
    fn same(src: &str) {
        let fast = parse(src, 7).unwrap_or_else(|| panic!("fast reader gave up on {src:?}"));
        let (pest, clean) = parse_piece_pest(src, 7);
        assert!(
            clean && pest.errors.is_empty(),
            "pest: {:?} on {src:?}",
            pest.errors
        );
        assert_eq!(fast, pest.file, "on {src:?}");
    }

    /// Asserts the fast reader leaves `src` to pest.
    fn refused(src: &str) {
        assert_eq!(parse(src, 0), None, "on {src:?}");
    }

    #[test]
    fn identifiers() {
        same("a-b c-d\n");
        same("a:b :c x@y _z\n");
        same("a -> b\n");
        same("a->b\n");
        same("é日本 x²\n");
        same("a x:y\n");
        refused("a x:\"s\"\n");
        refused("a b:\n");
        refused("a x\u{a0}y\n");
    }

    #[test]
    fn numbers_keywords_and_words() {
        same("a 1 -2.5e3 1E+4 0.5 -0\n");
        same("a 1b 1e 3:x -x - true false null\n");
        same("a trueish nullable false:x true\"s\"\n");
        same("a 1\"s\" 2[3] 4{}\n");
        refused("a 1.5x\n");
        refused("a 1.\n");
        refused("a 1e+5x\n");
        refused("a 1.5e\n");
    }

    #[test]
    fn objects_lists_and_blocks() {
        same("a {}\n");
        same("a {\n}\n");
        same("a { b: 1, c: [1, 2,], \"d e\": {} }\n");
        same("a { // c\n b: 1 }\n");
        same("a { b:c }\n");
        same("a { $x-y@: 1 }\n");
        same("a [\n 1\n 2; 3,\n]\n");
        same("a { b 1 }\n");
        same("a { b -> c }\n");
        same("a { input: 1 }\n");
        same("a {} b {} c\n");
        same("a { b { c { d } } }\n");
        refused("a [1\n,2]\n");
        refused("a [1,\n,2]\n");
        refused("a [1 2]\n");
        refused("a [,]\n");
        refused("a { b: }\n");
        refused("a { b: 1 c: 2 }\n");
        refused("a { x }\n}\n");
        refused("a {\n");
        refused("a { \"b\n");
        refused("}\n");
        refused("a = 1\n");
        let n = MAX_NESTING + 1;
        refused(&format!("{}{}", "a { ".repeat(n), "}".repeat(n)));
    }

    #[test]
    fn inputs_and_types() {
        same("input a: string\n");
        same("input a?: entity(service)[][] \"A\" { b 1 }\n");
        same("input \"a b\" : user[] []\n");
        same("inputs a\n");
        same("input-x a\n");
        refused("input \"a\"\n");
        refused("input a: string (x)\n");
        refused("input a: entity(service\n");
        refused("input a : \n");
        refused("input a: entity (service)\n");
    }

    #[test]
    fn edges() {
        same("a -> b.c -> \"d e\".\"f\" \"why\" // c\n");
        same("a.b->c;d -> e\n");
        same("\"a\" -> b\n");
        refused("a -> b c\n");
        refused("a ->\n");
        refused("a.b c\n");
        refused("a.\n");
        refused("\"a\" b\n");
    }

    #[test]
    fn strings() {
        same("a \"x\\n\\u00e9\\ud83d\\ude80 {{ .a[\"b\"] }} {{ \"\\(.x | (f(\"y\")))\" }}\"\n");
        same("a \"{{ x\" \"{{{ .a }}}\" \"}}\" \"{{ \\\" }}\" \"{{ \"\\n\" }}\"\n");
        same("a \"{{ (\" \"{{ \\\"( }}\"\n");
        same("a \"{{ .a } {{ .b }}\" \"{{ \\\"{{ }}\" \"{{ \\\"\\\\{ }}\"\n");
        same("a \"\\ud800\\n\"\n");
        refused("a \"x\n");
        refused("a \"\\q\"\n");
        refused("a \"\\u12\"\n");
        refused("a \"\\ud800x\"\n");
        refused("a \"\\\n");
    }

    #[test]
    fn jq_comments_and_blanks() {
        same("a `x\n y` b\n");
        same("\u{FEFF}// one\n//// two\r\na 1 // three\r\n\r;b\t\u{FEFF}2;\n");
        same("a // c { [\nb\n");
        same("");
        same("a [1, // c\n 2 // d\n]; b 1");
        same("\n\n;\n");
        refused("a `x\n");
    }
}
