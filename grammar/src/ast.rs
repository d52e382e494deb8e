//! The syntax tree of a `.wflow` file, and the value tree shared with the JSON reader.
//!
//! Every node carries a [`Span`] (byte offsets into the source). The tree is generic: it records
//! what was written (`name arg* { ... }`), and the compiler decides what it means.

use crate::span::{OffsetMap, Span};

/// A parsed `.wflow` file: its statements and every comment, in source order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct File {
    pub statements: Vec<Statement>,
    pub comments: Vec<Comment>,
}

/// A `// comment`; `text` excludes the slashes.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub text: String,
    pub span: Span,
}

/// One line-level construct of a block or of the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Entry(Entry),
    Input(InputDecl),
    Edges(EdgeChain),
}

impl Statement {
    /// The source range of the whole statement.
    pub fn span(&self) -> Span {
        match self {
            Statement::Entry(e) => e.span,
            Statement::Input(i) => i.span,
            Statement::Edges(e) => e.span,
        }
    }
}

/// `name arg* { block }`, e.g. `webhook deploy "Deploy" { ... }` or `method POST`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub name: Ident,
    pub args: Vec<Value>,
    pub block: Option<Block>,
    pub span: Span,
}

/// `{ statement* }`. `closed` is false when the file ended before the closing brace.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub statements: Vec<Statement>,
    pub closed: bool,
    pub span: Span,
}

/// `input key?: type args* { block }`, a form field.
#[derive(Debug, Clone, PartialEq)]
pub struct InputDecl {
    pub key: Key,
    pub optional: bool,
    pub ty: TypeExpr,
    pub args: Vec<Value>,
    pub block: Option<Block>,
    pub span: Span,
}

/// An input type such as `string`, `entity(service)` or `user[]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    pub name: Ident,
    pub arg: Option<Ident>,
    pub array_depth: usize,
    pub span: Span,
}

/// `a -> b.outlet -> c "description"`.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeChain {
    pub endpoints: Vec<Endpoint>,
    pub description: Option<Str>,
    pub span: Span,
}

/// A node, optionally with one of its outlets: `check_env.prod`.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub node: Ident,
    pub outlet: Option<Ident>,
    pub span: Span,
}

/// A bare word: a name, a node identifier, an enum value such as `POST`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// An object key, bare or quoted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

/// A string literal: its decoded text, and how decoded offsets map back to the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Str {
    pub value: String,
    /// The whole literal, quotes included.
    pub span: Span,
    pub map: OffsetMap,
}

impl Str {
    /// The source span of the decoded byte range `range`.
    pub fn sub_span(&self, range: std::ops::Range<usize>) -> Span {
        Span::new(self.map.source(range.start), self.map.source(range.end))
    }
}

/// A value: in `.wflow` an argument or object member, in JSON any value.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

/// What a [`Value`] is.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    Null,
    Bool(bool),
    /// The number as written; the compiler converts it.
    Number(String),
    Str(Str),
    /// Backtick jq, `` `.form.env == "prod"` ``; `code_start` is where the code begins.
    Jq {
        code: String,
        code_start: usize,
    },
    /// A bare word (only in `.wflow`).
    Ident(Ident),
    Array(Vec<Value>),
    Object(Vec<(Key, Value)>),
}

impl Value {
    /// A short description of the value's kind, for messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            ValueKind::Null => "null",
            ValueKind::Bool(_) => "a boolean",
            ValueKind::Number(_) => "a number",
            ValueKind::Str(_) => "a string",
            ValueKind::Jq { .. } => "a jq expression",
            ValueKind::Ident(_) => "a bare word",
            ValueKind::Array(_) => "a list",
            ValueKind::Object(_) => "an object",
        }
    }

    /// The member `key` of an object value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match &self.kind {
            ValueKind::Object(members) => {
                members.iter().find(|(k, _)| k.name == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }
}
