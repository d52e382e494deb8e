//! Type inference through jq, by abstract interpretation over jaq's parsed term.
//!
//! Given the type of an expression's input, [`infer`] walks the term once and returns the type
//! of its output with the problems found on the way: a field missing from a known object,
//! indexing something that is neither an array nor an object. It is conservative: paths,
//! literals, comparisons, `and`/`or`/`not`, `//`, `if`, `select`, `map`, `length`, `keys`,
//! `tostring`, `tonumber`, `fromjson`, `ascii_downcase`, string interpolation and pipes are
//! typed; everything else is `any`, which is never an error. `.outputs.<node>` is resolved by
//! the caller ([`Resolve`]), which knows the workflow graph.

use std::ops::Range;

use jaq_core::load::lex::{Lexer, StrPart};
use jaq_core::load::parse::{BinaryOp, Parser, Pattern, Term};
use jaq_core::path::{Opt, Part};

use crate::jq::span;
use crate::suggest::did_you_mean;
use crate::types::{Object, Type};

/// Code: a field that a known object does not have.
pub const NO_SUCH_FIELD: &str = "no-such-field";
/// Code: indexing or iterating a value that is not an array or an object.
pub const BAD_INDEX: &str = "bad-index";
/// Code: `.outputs.a-b`, where the hyphen is parsed as minus.
pub const HYPHEN: &str = "hyphen-in-reference";
/// Code: a deprecated path (`.response` in variables).
pub const DEPRECATED: &str = "deprecated";

/// Longest name of a value in messages (`.outputs.x.a.b`); a longer path is cut with `…`.
const MAX_NAME: usize = 120;

/// A problem in one expression; `range` is a byte range of the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeIssue {
    pub range: Range<usize>,
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
    /// A warning rather than an error.
    pub warning: bool,
    /// A mechanical fix: the text that should replace `range`.
    pub fix: Option<String>,
}

/// Resolves `.outputs.<name>` against the workflow.
pub trait Resolve {
    /// The type of `.outputs.<name>`; `range` is the name's range in the code and `guarded`
    /// says whether the expression handles the output being absent (`//`, `?`, a null check).
    /// The resolver reports reference problems itself.
    fn output(&mut self, name: &str, range: Range<usize>, guarded: bool) -> Type;
    /// Whether a node is called `name` (to recognise `.outputs.check-env`).
    fn is_node(&self, name: &str) -> bool;
    /// Whether `.outputs.<node>.<key>` is a secret (`encryption`) form input.
    fn is_secret_input(&self, _node: &str, _key: &str) -> bool {
        false
    }
}

/// What [`infer`] found.
#[derive(Debug, Default)]
pub struct Inferred {
    /// The output type.
    pub ty: Type,
    pub issues: Vec<TypeIssue>,
    /// Where `.secrets` is read.
    pub secrets: Vec<Range<usize>>,
    /// Where a secret form input (`.outputs.<trigger>.<key>`) is read.
    pub secret_inputs: Vec<Range<usize>>,
    /// Fields read directly from the input (`.outputs`, `.response`), with their ranges.
    pub roots: Vec<(String, Range<usize>)>,
    /// With `record`: the type after each path step, by the step's range.
    pub steps: Vec<(Range<usize>, Type)>,
}

/// Infers the output type of `code` for input type `input`, called `root` in messages (e.g.
/// "the run context"). `None` when the code does not parse (the jq checker reports that).
/// With `record`, every path step's type is kept (hover).
pub fn infer(
    code: &str,
    input: &Type,
    root: &str,
    resolve: &mut dyn Resolve,
    record: bool,
) -> Option<Inferred> {
    if code.trim().is_empty() || crate::jq::too_deep(code).is_some() {
        return None;
    }
    let tokens = Lexer::new(code).lex().ok()?;
    let term = Parser::new(&tokens).parse(Parser::term).ok()?;
    let mut w = Walker {
        code,
        resolve,
        vars: Vec::new(),
        quiet: 0,
        guard: 0,
        guarded_nodes: Vec::new(),
        referenced: Vec::new(),
        record,
        root,
        last_key_end: 0,
        outputs_named: Vec::new(),
        out: Inferred::default(),
    };
    let start = Val {
        ty: input.clone(),
        name: Some(String::new()),
    };
    let v = w.term(&term, &start);
    w.out.ty = v.ty;
    Some(w.out)
}

/// A value's type and, when it is a plain path, how it was reached (`.outputs.deploy`).
#[derive(Debug, Clone)]
struct Val {
    ty: Type,
    name: Option<String>,
}

impl Val {
    fn of(ty: Type) -> Val {
        Val { ty, name: None }
    }
    fn any() -> Val {
        Val::of(Type::Any)
    }
}

struct Walker<'s, 'r> {
    code: &'s str,
    resolve: &'r mut dyn Resolve,
    vars: Vec<(&'s str, Type)>,
    /// Inside `try` or after `?`: errors are caught.
    quiet: u32,
    /// Inside something that handles a missing output (`//` left side, `?`, `try`, a null
    /// comparison, an `if` condition).
    guard: u32,
    /// Nodes whose absence an enclosing condition has checked.
    guarded_nodes: Vec<String>,
    /// Nodes referenced so far, in order.
    referenced: Vec<String>,
    record: bool,
    /// The input's name in messages.
    root: &'s str,
    /// Where the last field name read ends: jaq keeps no position for `[]`, which is found
    /// after it.
    last_key_end: usize,
    /// The paths that name a node's output (`.outputs.deploy`), with the node.
    outputs_named: Vec<(String, &'s str)>,
    out: Inferred,
}

/// The literal string of a term such as `"a"` or the key of `.a`.
fn literal<'s>(t: &Term<&'s str>) -> Option<&'s str> {
    match t {
        Term::Str(None, parts) => match parts.as_slice() {
            [StrPart::Str(s)] => Some(s),
            _ => None,
        },
        _ => None,
    }
}

fn is_null(t: &Term<&str>) -> bool {
    matches!(t, Term::Call("null", args) if args.is_empty())
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl<'s> Walker<'s, '_> {
    /// How a value is named in messages.
    fn what(&self, v: &Val) -> String {
        match v.name.as_deref() {
            Some("") => self.root.to_string(),
            Some(n) => format!("`{n}`"),
            None => "this value".to_string(),
        }
    }

    fn issue(
        &mut self,
        range: Range<usize>,
        code: &'static str,
        message: String,
        help: Option<String>,
    ) {
        if self.quiet == 0 {
            self.out.issues.push(TypeIssue {
                range,
                code,
                message,
                help,
                warning: false,
                fix: None,
            });
        }
    }

    fn guarded(&mut self, f: impl FnOnce(&mut Self) -> Val) -> Val {
        self.guard += 1;
        let v = f(self);
        self.guard -= 1;
        v
    }

    fn term(&mut self, t: &Term<&'s str>, input: &Val) -> Val {
        match t {
            Term::Id => input.clone(),
            Term::Recurse => Val::any(),
            Term::Num(_) => Val::of(Type::Number),
            Term::Str(_, parts) => {
                for p in parts {
                    if let StrPart::Term(t) = p {
                        self.term(t, input);
                    }
                }
                Val::of(Type::String)
            }
            Term::Arr(None) => Val::of(Type::Array(Box::new(Type::Any))),
            Term::Arr(Some(t)) => {
                let v = self.term(t, input);
                Val::of(Type::Array(Box::new(v.ty)))
            }
            Term::Obj(entries) => {
                let mut o = Object::default();
                for (k, v) in entries {
                    let key = literal(k);
                    let vt = match (key, v) {
                        (_, Some(v)) => {
                            if key.is_none() {
                                self.term(k, input);
                            }
                            self.term(v, input).ty
                        }
                        // `{a}` is `{a: .a}`; `{$x}` is `{x: $x}`.
                        (Some(k), None) => {
                            let r = span(self.code, k);
                            self.field(input, k, r, false).ty
                        }
                        (None, None) => {
                            self.term(k, input);
                            o.open = true;
                            continue;
                        }
                    };
                    match (key, k) {
                        (Some(k), _) => o.fields.push((k.to_string(), vt)),
                        (None, Term::Var(x)) => o.fields.push((x[1..].to_string(), vt)),
                        _ => o.open = true,
                    }
                }
                Val::of(Type::Object(std::sync::Arc::new(o)))
            }
            Term::Neg(t) => {
                self.term(t, input);
                Val::of(Type::Number)
            }
            Term::BinOp(l, op, r) => self.binop(l, op, r, input),
            Term::Label(_, t) => {
                self.term(t, input);
                Val::any()
            }
            Term::Break(_) => Val::any(),
            Term::Fold(_, xs, pat, args) => {
                let x = self.term(xs, input);
                let n = self.vars.len();
                self.bind(pat, &x.ty);
                for a in args {
                    self.term(a, &Val::any());
                }
                self.vars.truncate(n);
                Val::any()
            }
            Term::TryCatch(body, catch) => {
                self.quiet += 1;
                let v = self.guarded(|w| w.term(body, input));
                self.quiet -= 1;
                match catch {
                    Some(c) => {
                        let cv = self.term(c, &Val::of(Type::String));
                        Val::of(Type::join(v.ty, cv.ty))
                    }
                    None => Val::of(v.ty),
                }
            }
            Term::IfThenElse(branches, else_) => {
                let n = self.guarded_nodes.len();
                let mut ty: Option<Type> = None;
                for (cond, then) in branches {
                    let before = self.referenced.len();
                    self.guarded(|w| w.term(cond, input));
                    let named: Vec<String> = self.referenced[before..].to_vec();
                    self.guarded_nodes.extend(named);
                    let v = self.term(then, input);
                    ty = Some(ty.map_or(v.ty.clone(), |t| Type::join(t, v.ty)));
                }
                let e = match else_ {
                    Some(e) => self.term(e, input).ty,
                    None => input.ty.clone(),
                };
                self.guarded_nodes.truncate(n);
                Val::of(ty.map_or(e.clone(), |t| Type::join(t, e)))
            }
            Term::Def(_, t) => {
                // Local definitions are not typed; the body runs on the same input.
                self.term(t, input);
                Val::any()
            }
            Term::Call(name, args) => self.call(name, args, input),
            Term::Var(x) => {
                let ty = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == x)
                    .map_or(Type::Any, |(_, t)| t.clone());
                Val::of(ty)
            }
            Term::Path(head, path) => {
                let optional = path.0.iter().any(|(_, o)| matches!(o, Opt::Optional));
                let mut cur = self.term(head, input);
                if optional {
                    self.guard += 1;
                }
                for (part, opt) in &path.0 {
                    let quiet = matches!(opt, Opt::Optional);
                    if quiet {
                        self.quiet += 1;
                    }
                    cur = self.part(part, &cur, input);
                    if quiet {
                        self.quiet -= 1;
                    }
                }
                if optional {
                    self.guard -= 1;
                }
                cur
            }
        }
    }

    fn binop(
        &mut self,
        l: &Term<&'s str>,
        op: &BinaryOp<&'s str>,
        r: &Term<&'s str>,
        input: &Val,
    ) -> Val {
        match op {
            BinaryOp::Pipe(None) => {
                let lv = self.term(l, input);
                self.term(r, &lv)
            }
            BinaryOp::Pipe(Some(pat)) => {
                let lv = self.term(l, input);
                let n = self.vars.len();
                self.bind(pat, &lv.ty);
                let v = self.term(r, input);
                self.vars.truncate(n);
                v
            }
            BinaryOp::Comma => {
                let a = self.term(l, input);
                let b = self.term(r, input);
                Val::of(Type::join(a.ty, b.ty))
            }
            BinaryOp::Alt => {
                let a = self.guarded(|w| w.term(l, input));
                let b = self.term(r, input);
                Val::of(Type::join(a.ty.non_null(), b.ty))
            }
            BinaryOp::And | BinaryOp::Or => {
                let n = self.guarded_nodes.len();
                let before = self.referenced.len();
                self.term(l, input);
                let named: Vec<String> = self.referenced[before..].to_vec();
                self.guarded_nodes.extend(named);
                self.term(r, input);
                self.guarded_nodes.truncate(n);
                Val::of(Type::Bool)
            }
            BinaryOp::Cmp(_) => {
                if is_null(l) || is_null(r) {
                    self.guarded(|w| {
                        w.term(l, input);
                        w.term(r, input)
                    });
                } else {
                    self.term(l, input);
                    self.term(r, input);
                }
                Val::of(Type::Bool)
            }
            BinaryOp::Math(m) => {
                let a = self.term(l, input).ty;
                let b = self.term(r, input).ty;
                use jaq_core::ops::Math;
                let ty = match (m, &a, &b) {
                    (Math::Add, Type::Null, t) | (Math::Add, t, Type::Null) => t.clone(),
                    (Math::Add, Type::String, Type::String) => Type::String,
                    (Math::Add, Type::Array(x), Type::Array(y)) => {
                        Type::Array(Box::new(Type::join((**x).clone(), (**y).clone())))
                    }
                    (_, Type::Number, Type::Number) => Type::Number,
                    _ => Type::Any,
                };
                Val::of(ty)
            }
            BinaryOp::Assign | BinaryOp::Update | BinaryOp::UpdateMath(_) | BinaryOp::UpdateAlt => {
                self.term(l, input);
                self.term(r, &Val::any());
                Val::any()
            }
        }
    }

    fn bind(&mut self, pat: &Pattern<&'s str>, ty: &Type) {
        match pat {
            Pattern::Var(x) => self.vars.push((x, ty.clone())),
            Pattern::Arr(ps) => ps.iter().for_each(|p| self.bind(p, &Type::Any)),
            Pattern::Obj(entries) => {
                for (_, p) in entries {
                    self.bind(p, &Type::Any);
                }
            }
        }
    }

    fn part(&mut self, part: &Part<Term<&'s str>>, cur: &Val, input: &Val) -> Val {
        match part {
            Part::Index(k) => {
                if let Some(key) = literal(k) {
                    let r = span(self.code, key);
                    return self.field(cur, key, r, true);
                }
                let kt = self.term(k, input).ty;
                match kt {
                    Type::Number => self.index_number(cur, k),
                    _ => Val::any(),
                }
            }
            Part::Range(None, None) => self.iterate(cur),
            Part::Range(from, to) => {
                for t in [from, to].into_iter().flatten() {
                    self.term(t, input);
                }
                let ty = match &cur.ty {
                    Type::Array(_) | Type::String | Type::Null => cur.ty.clone(),
                    _ => Type::Any,
                };
                Val::of(ty)
            }
        }
    }

    fn index_number(&mut self, cur: &Val, k: &Term<&'s str>) -> Val {
        let mut out: Option<Type> = None;
        let mut bad: Option<Type> = None;
        for t in cur.ty.alternatives() {
            let r = match t {
                Type::Array(e) => (**e).clone(),
                Type::Null => Type::Null,
                Type::Any => Type::Any,
                other => {
                    bad = Some(other.clone());
                    continue;
                }
            };
            out = Some(out.map_or(r.clone(), |o| Type::join(o, r)));
        }
        match (out, bad) {
            (None, Some(b)) => {
                let range = match k {
                    Term::Num(n) => span(self.code, n),
                    _ => self.code.len()..self.code.len(),
                };
                let what = self.what(cur);
                self.issue(
                    range,
                    BAD_INDEX,
                    format!(
                        "{what} is {}, which cannot be indexed with a number",
                        b.noun()
                    ),
                    Some(match b {
                        Type::Object(_) => "index an object by field name, e.g. `.name`".into(),
                        _ => "only arrays are indexed with numbers".into(),
                    }),
                );
                Val::any()
            }
            (Some(t), _) => Val {
                ty: t,
                name: cur.name.as_ref().map(|n| format!("{n}[]")),
            },
            (None, None) => Val::any(),
        }
    }

    /// The first `[]` (spaces allowed inside) at or after `from`.
    fn iteration_after(&self, from: usize) -> Option<Range<usize>> {
        let rest = self.code.get(from..)?;
        rest.match_indices('[').find_map(|(i, _)| {
            let open = from + i;
            let inner = self.code.get(open + 1..)?;
            let close = open + 1 + inner.find(|c: char| !c.is_whitespace())?;
            (self.code.get(close..close + 1) == Some("]")).then_some(open..close + 1)
        })
    }

    fn iterate(&mut self, cur: &Val) -> Val {
        let mut out: Option<Type> = None;
        let mut bad: Option<Type> = None;
        for t in cur.ty.alternatives() {
            let r = match t {
                Type::Array(e) => (**e).clone(),
                Type::Object(o) if !o.open && !o.fields.is_empty() => o
                    .fields
                    .iter()
                    .map(|(_, t)| t.clone())
                    .reduce(Type::join)
                    .unwrap_or(Type::Any),
                Type::Number | Type::Bool | Type::String | Type::JsonText(_) => {
                    bad = Some(t.clone());
                    continue;
                }
                _ => Type::Any,
            };
            out = Some(out.map_or(r.clone(), |o| Type::join(o, r)));
        }
        match (out, bad) {
            (None, Some(b)) => {
                let what = self.what(cur);
                let range = self
                    .iteration_after(self.last_key_end)
                    .unwrap_or(self.code.len()..self.code.len());
                self.issue(
                    range,
                    BAD_INDEX,
                    format!(
                        "{what} is {}, which cannot be iterated with `.[]`",
                        b.noun()
                    ),
                    Some("only arrays and objects can be iterated".into()),
                );
                Val::any()
            }
            (Some(t), _) => Val {
                ty: t,
                name: cur.name.as_ref().map(|n| format!("{n}[]")),
            },
            (None, None) => Val::any(),
        }
    }

    /// `.key` on a value of type `cur`.
    fn field(&mut self, cur: &Val, key: &'s str, range: Range<usize>, record: bool) -> Val {
        self.last_key_end = range.end;
        let name = cur.name.as_ref().map(|n| {
            // Long paths are named by their start, so that naming each step costs no more
            // than a constant: `.a.a.a…`.
            if n.len() >= MAX_NAME {
                if n.ends_with('…') {
                    n.clone()
                } else {
                    format!("{n}…")
                }
            } else if key.chars().all(is_ident_char)
                && key.chars().next().is_some_and(|c| !c.is_ascii_digit())
            {
                // Not `format!`: this runs for every step of every path.
                let mut name = String::with_capacity(n.len() + 1 + key.len());
                name.push_str(n);
                name.push('.');
                name.push_str(key);
                name
            } else {
                format!("{n}[{key:?}]")
            }
        });
        if cur.name.as_deref() == Some("") {
            self.out.roots.push((key.to_string(), range.clone()));
        }
        if let Some((_, node)) = self
            .outputs_named
            .iter()
            .find(|(n, _)| cur.name.as_ref() == Some(n))
            && self.resolve.is_secret_input(node, key)
        {
            self.out.secret_inputs.push(range.clone());
        }
        let mut out: Option<Type> = None;
        let mut missing: Option<&Object> = None;
        let mut bad: Option<Type> = None;
        let add = |out: &mut Option<Type>, t: Type| {
            *out = Some(out.take().map_or(t.clone(), |o| Type::join(o, t)));
        };
        for t in cur.ty.alternatives() {
            match t {
                Type::Any => add(&mut out, Type::Any),
                Type::Null => add(&mut out, Type::Null),
                Type::Outputs => {
                    let t = self.output(key, range.clone());
                    if let Some(n) = &name {
                        self.outputs_named.push((n.clone(), key));
                    }
                    add(&mut out, t);
                }
                Type::Secrets => {
                    self.out.secrets.push(range.clone());
                    add(&mut out, Type::String);
                }
                Type::Object(o) => match o.field(key) {
                    Some(t) => add(&mut out, t.clone()),
                    None if o.open => add(&mut out, Type::Any),
                    None => {
                        missing = Some(o);
                        add(&mut out, Type::Any);
                    }
                },
                other => bad = Some(other.clone()),
            }
        }
        if let Some(o) = missing {
            let what = self.what(cur);
            let fields: Vec<&str> = o.fields.iter().map(|(k, _)| k.as_str()).collect();
            let mut help = match did_you_mean(key, fields.iter().copied()) {
                Some(d) => format!("{d} "),
                None => String::new(),
            };
            if fields.is_empty() {
                help.push_str("it has no fields");
            } else {
                help.push_str(&format!("its fields: {}", fields.join(", ")));
            }
            self.issue(
                range.clone(),
                NO_SUCH_FIELD,
                format!("{what} has no field `{key}`"),
                Some(help),
            );
            // Written as a bare `.field`, the closest field name replaces it as is.
            let bare = self.code.get(range.clone()) == Some(key);
            if let (true, Some(c), Some(i)) = (
                bare,
                crate::suggest::closest(key, fields.iter().copied()),
                self.out.issues.last_mut(),
            ) && c.chars().all(is_ident_char)
            {
                i.fix = Some(c.to_string());
            }
        } else if let (None, Some(b)) = (&out, &bad) {
            let what = self.what(cur);
            self.issue(
                range.clone(),
                BAD_INDEX,
                format!("{what} is {}, so it has no field `{key}`", b.noun()),
                Some(match b {
                    Type::Array(_) => {
                        format!("index the array first, e.g. `.[0].{key}` or `map(.{key})`")
                    }
                    Type::JsonText(_) => format!("parse it first: `fromjson | .{key}`"),
                    _ => "only objects have fields".into(),
                }),
            );
        }
        let ty = out.unwrap_or(Type::Any);
        if record && self.record {
            self.out.steps.push((range, ty.clone()));
        }
        Val { ty, name }
    }

    fn output(&mut self, key: &'s str, range: Range<usize>) -> Type {
        // `.outputs.check-env`: jq reads `.outputs.check - env`.
        let rest = &self.code[range.end.min(self.code.len())..];
        if key.chars().all(is_ident_char) && rest.starts_with('-') {
            let tail: String = rest[1..]
                .chars()
                .take_while(|c| is_ident_char(*c) || *c == '-')
                .collect();
            let glued = format!("{key}-{tail}");
            if !tail.is_empty() && self.resolve.is_node(&glued) {
                let whole = range.start..range.end + 1 + tail.len();
                self.issue(
                    whole.clone(),
                    HYPHEN,
                    format!("jq reads `.outputs.{glued}` as `.outputs.{key} - {tail}`"),
                    Some(format!(
                        "write `.outputs[\"{glued}\"]`: a hyphenated name needs brackets"
                    )),
                );
                self.referenced.push(glued.clone());
                self.resolve.output(&glued, whole, true);
                return Type::Any;
            }
            // `.outputs.lst-tokens`: neither the first part nor the whole is a node, so the
            // hyphenated name was meant: it is the unknown one (with its did-you-mean), not
            // `lst` and a jq function `tokens`.
            if !tail.is_empty() && key != "trigger" && !self.resolve.is_node(key) {
                let whole = range.start..range.end + 1 + tail.len();
                self.referenced.push(glued.clone());
                self.resolve.output(&glued, whole, true);
                return Type::Any;
            }
        }
        let guarded = self.guard > 0 || self.guarded_nodes.iter().any(|n| n == key);
        self.referenced.push(key.to_string());
        self.resolve.output(key, range, guarded)
    }

    fn call(&mut self, name: &str, args: &[Term<&'s str>], input: &Val) -> Val {
        let ty = |t: Type| Val::of(t);
        match (name, args) {
            ("null", []) => ty(Type::Null),
            ("true" | "false", []) => ty(Type::Bool),
            ("not", []) => ty(Type::Bool),
            (
                "length" | "utf8bytelength" | "now" | "tonumber" | "floor" | "ceil" | "round"
                | "sqrt" | "fabs",
                [],
            ) => ty(Type::Number),
            (
                "tostring" | "tojson" | "ascii_downcase" | "ascii_upcase" | "type" | "trim"
                | "ltrim" | "rtrim" | "todate" | "todateiso8601" | "@base64" | "@base64d" | "@uri"
                | "@html" | "@sh" | "@json" | "@text",
                [],
            ) => ty(Type::String),
            ("fromjson", []) => {
                let t = input
                    .ty
                    .alternatives()
                    .iter()
                    .map(|t| match t {
                        Type::JsonText(inner) => (**inner).clone(),
                        _ => Type::Any,
                    })
                    .reduce(Type::join)
                    .unwrap_or(Type::Any);
                ty(t)
            }
            ("keys" | "keys_unsorted", []) => ty(Type::Array(Box::new(match &input.ty {
                Type::Object(_) => Type::String,
                Type::Array(_) => Type::Number,
                _ => Type::Any,
            }))),
            ("select", [f]) => {
                self.guarded(|w| w.term(f, input));
                input.clone()
            }
            ("map", [f]) => {
                let elem = match &input.ty {
                    Type::Array(e) => Val::of((**e).clone()),
                    _ => Val::any(),
                };
                let v = self.term(f, &elem);
                ty(Type::Array(Box::new(v.ty)))
            }
            (
                "test" | "startswith" | "endswith" | "contains" | "inside" | "has" | "any" | "all"
                | "isempty" | "in",
                _,
            ) => {
                for a in args {
                    self.term(a, input);
                }
                ty(Type::Bool)
            }
            ("split", [a]) => {
                self.term(a, input);
                ty(Type::Array(Box::new(Type::String)))
            }
            ("join" | "ltrimstr" | "rtrimstr" | "strftime" | "ascii", [a]) => {
                self.term(a, input);
                ty(Type::String)
            }
            ("first" | "last", []) => match &input.ty {
                Type::Array(e) => ty((**e).clone()),
                _ => Val::any(),
            },
            ("sort" | "unique" | "reverse" | "values", []) => input.clone(),
            ("empty" | "error", _) => {
                for a in args {
                    self.term(a, input);
                }
                Val::any()
            }
            _ => {
                // Unknown to the typer: its arguments may run on other inputs.
                for a in args {
                    self.term(a, &Val::any());
                }
                Val::any()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Type);

    impl Resolve for Fixed {
        fn output(&mut self, name: &str, _: Range<usize>, _: bool) -> Type {
            if name == "deploy" || name == "check-env" {
                self.0.clone()
            } else {
                Type::Any
            }
        }
        fn is_node(&self, name: &str) -> bool {
            name == "deploy" || name == "check-env"
        }
    }

    fn root() -> Type {
        Type::object(vec![
            ("outputs".into(), Type::Outputs),
            ("secrets".into(), Type::Secrets),
        ])
    }

    fn webhook() -> Type {
        Type::from_notation(
            &serde_json::json!({"response": {"status": "number", "data": "any"}}),
            &mut |_| Type::Any,
        )
    }

    fn run(code: &str) -> Inferred {
        infer(
            code,
            &root(),
            "the run context",
            &mut Fixed(webhook()),
            true,
        )
        .expect("parses")
    }

    #[test]
    fn paths_literals_and_operators() {
        assert_eq!(run(".outputs.deploy.response.status").ty, Type::Number);
        assert_eq!(
            run(".outputs[\"deploy\"].response").ty.to_string(),
            "{status: number, data: any}"
        );
        assert_eq!(run(".outputs.deploy.response.status == 200").ty, Type::Bool);
        assert_eq!(
            run("\"x\\(.outputs.deploy.response.status)\"").ty,
            Type::String
        );
        assert_eq!(
            run(".outputs.deploy.response.data.x // \"d\"").ty,
            Type::Any
        );
        assert_eq!(
            run("[.outputs.deploy.response.status] | .[0]").ty,
            Type::Number
        );
        assert_eq!(
            run("if true then 1 else \"a\" end").ty.to_string(),
            "number | string"
        );
        assert_eq!(run(".outputs.deploy | keys").ty.to_string(), "string[]");
        assert_eq!(run(".secrets.token").secrets.len(), 1);
        assert!(run(".outputs.x.anything.at.all").issues.is_empty());
    }

    #[test]
    fn missing_field_with_did_you_mean() {
        let r = run(".outputs.deploy.respnse");
        assert_eq!(r.issues.len(), 1);
        let i = &r.issues[0];
        assert_eq!(i.code, NO_SUCH_FIELD);
        assert_eq!(&".outputs.deploy.respnse"[i.range.clone()], "respnse");
        assert_eq!(i.message, "`.outputs.deploy` has no field `respnse`");
        assert_eq!(
            i.help.as_deref(),
            Some("did you mean `response`? its fields: response")
        );
        assert!(run(".outputs.deploy.respnse?").issues.is_empty());
        assert!(run("try .outputs.deploy.respnse").issues.is_empty());
    }

    #[test]
    fn bad_indexing() {
        let r = run(".outputs.deploy.response.status.x");
        assert_eq!(r.issues[0].code, BAD_INDEX);
        assert_eq!(
            r.issues[0].message,
            "`.outputs.deploy.response.status` is a number, so it has no field `x`"
        );
        let r = run(".outputs.deploy.response[0]");
        assert_eq!(r.issues[0].code, BAD_INDEX);
        let code = "[.outputs.deploy.response.status[]]";
        let r = run(code);
        assert_eq!(r.issues[0].code, BAD_INDEX);
        assert_eq!(&code[r.issues[0].range.clone()], "[]");
    }

    #[test]
    fn hyphenated_reference() {
        let code = ".outputs.check-env.response";
        let r = run(code);
        assert_eq!(r.issues.len(), 1);
        assert_eq!(r.issues[0].code, HYPHEN);
        assert_eq!(&code[r.issues[0].range.clone()], "check-env");
        assert!(run(".outputs.deploy-1").issues.is_empty());
    }

    #[test]
    fn unknown_hyphenated_reference_is_resolved_whole() {
        struct Names(Vec<(String, Range<usize>)>);
        impl Resolve for Names {
            fn output(&mut self, name: &str, range: Range<usize>, _: bool) -> Type {
                self.0.push((name.to_string(), range));
                Type::Any
            }
            fn is_node(&self, name: &str) -> bool {
                name == "deploy"
            }
        }
        let mut names = Names(Vec::new());
        let code = ".outputs.chek-env.response";
        infer(code, &root(), "the run context", &mut names, false).expect("parses");
        assert_eq!(names.0, vec![("chek-env".to_string(), 9..17)]);
        // A node's name before the hyphen is a subtraction, as jq reads it.
        let mut names = Names(Vec::new());
        infer(
            ".outputs.deploy-1",
            &root(),
            "the run context",
            &mut names,
            false,
        )
        .expect("parses");
        assert_eq!(names.0, vec![("deploy".to_string(), 9..15)]);
    }

    #[test]
    fn guards_are_seen() {
        struct Guards(Vec<bool>);
        impl Resolve for Guards {
            fn output(&mut self, _: &str, _: Range<usize>, g: bool) -> Type {
                self.0.push(g);
                Type::Any
            }
            fn is_node(&self, _: &str) -> bool {
                true
            }
        }
        for (code, want) in [
            (".outputs.a.x", vec![false]),
            (".outputs.a.x // 1", vec![true]),
            (".outputs.a?.x", vec![true]),
            (
                "if .outputs.a then .outputs.a.x else 0 end",
                vec![true, true],
            ),
            (".outputs.a != null and .outputs.a.ok", vec![true, true]),
            ("[.outputs.a.x, .outputs.b.y]", vec![false, false]),
        ] {
            let mut g = Guards(Vec::new());
            infer(code, &root(), "the run context", &mut g, false).expect("parses");
            assert_eq!(g.0, want, "{code}");
        }
    }
}
