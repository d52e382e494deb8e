//! Inputs found by fuzzing that hung the parser or overflowed its stack, and the deepest inputs
//! the readers accept. Tests run on 2 MiB threads, so every case here also proves the stack holds.

use std::time::{Duration, Instant};

use wflow_grammar::{Limit, MAX_NESTING, SyntaxError, json, parse};

fn limits(errors: &[SyntaxError]) -> Vec<Limit> {
    errors.iter().filter_map(|e| e.limit).collect()
}

/// Parses `src` and fails if it takes longer than a generous bound (the bugs took minutes, or
/// hours).
fn parse_quickly(src: &str) -> wflow_grammar::Parsed {
    let start = Instant::now();
    let parsed = parse(src);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "parsing {} bytes took {:?}",
        src.len(),
        start.elapsed()
    );
    parsed
}

#[test]
fn a_line_of_unclosed_braces_parses_at_once() {
    // 24 of these took 2.4 s, 30 took minutes.
    let p = parse_quickly(&format!("workflow w {}\n", "{".repeat(100)));
    assert!(p.errors.iter().any(|e| e.is_unclosed()), "{:?}", p.errors);
    assert!(limits(&p.errors).is_empty());
}

#[test]
fn unclosed_objects_and_blocks_parse_at_once() {
    for src in [
        format!("workflow w {{\n  x {}\n}}\n", "{a:".repeat(100)),
        format!("x {}", "{a:".repeat(100)),
        "  a {\n".repeat(100),
        format!("x {}", "= {".repeat(100)),
        format!("{}\n", "a { b ".repeat(100)),
    ] {
        let p = parse_quickly(&src);
        assert!(!p.errors.is_empty(), "{src}");
    }
}

#[test]
fn long_lines_of_unclosed_strings_parse_in_linear_time() {
    // Each `"` used to be tried as a string to the end of the line again.
    let line = format!("x = {}\n", "\"\\".repeat(50_000));
    let p = parse_quickly(&line);
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
}

#[test]
fn deep_lists_after_a_backtick_quote_are_refused_not_overflowed() {
    // The nesting pre-check read the `"` in backticks as a string and missed the brackets.
    let src = format!("x `\"` {}\n", "[".repeat(5_000));
    let p = parse(&src);
    assert_eq!(limits(&p.errors), [Limit::Nesting]);
    let at = p.errors[0].span.start;
    assert_eq!(at, src.find('[').map_or(0, |i| i + MAX_NESTING));
    assert!(p.errors[0].message.contains("nested more than 128 deep"));
}

#[test]
fn deep_nesting_of_every_kind_is_refused() {
    for src in [
        "a {\n".repeat(1_000),
        format!("x {}", "{a:".repeat(1_000)),
        format!("x {}", "[".repeat(1_000)),
        format!("x = {}", "{".repeat(1_000)),
        // A `"` not closed on its line does not hide what follows it on later lines.
        format!("x \"{}\n{}", "{".repeat(100), "{".repeat(200)),
        // A comment hides nothing after its line.
        format!("// [\nx {}", "[".repeat(1_000)),
    ] {
        let p = parse(&src);
        assert_eq!(limits(&p.errors), [Limit::Nesting], "{src}");
    }
}

#[test]
fn brackets_that_nest_nothing_are_not_counted() {
    let deep = "[".repeat(1_000);
    for src in [
        format!("x `{deep}`\n"),
        format!("x \"{deep}\"\n"),
        format!("// {deep}\nx 1\n"),
        format!("x \"{}\n{}", "{".repeat(100), "{".repeat(100)),
    ] {
        assert!(limits(&parse(&src).errors).is_empty(), "{src}");
    }
    // Unbalanced brackets in many strings do not add up.
    let many = "input a: string \"A\" { pattern \"^[^(]+$\" }\n".repeat(1_000);
    assert!(limits(&parse(&many).errors).is_empty());
    // Parentheses in a string's text, or in a template's jq outside its strings, are plain
    // characters: only a jq string's `\(` and the groups in it nest (a fuzzed Port JSON enum
    // value with 170 `(` checked clean but its `.wflow` import was refused as too deep).
    let parens = "(".repeat(1_000);
    for src in [
        format!("x \"product{parens}ion\"\n"),
        format!("x \"{{{{ .a | {parens} }}}}\"\n"),
        format!("x \"{{{{ \"{parens}\" }}}} {parens}\"\n"),
    ] {
        assert!(limits(&parse(&src).errors).is_empty(), "{src}");
    }
}

#[test]
fn interpolations_nested_in_a_templates_jq_strings_are_counted() {
    // `"{{ "\( "\( ... ) " ) " }}"`: each jq string and interpolation is a level.
    let deep = format!("x \"{{{{ {} }}}}\"\n", "\"\\(".repeat(200));
    let p = parse(&deep);
    assert_eq!(limits(&p.errors), [Limit::Nesting], "{deep}");
    // Groups inside an interpolation count too; a shallow one passes.
    let groups = format!(
        "x \"{{{{ \"\\({}1{}\" }}}}\"\n",
        "(".repeat(300),
        ")".repeat(300)
    );
    assert_eq!(limits(&parse(&groups).errors), [Limit::Nesting], "{groups}");
    let shallow = "x \"{{ \"a\\((1 + 2))b\" }}\"\n";
    assert!(limits(&parse(shallow).errors).is_empty());
}

#[test]
fn the_deepest_accepted_input_fits_the_stack() {
    let n = MAX_NESTING;
    for src in [
        format!("x {}{}\n", "[".repeat(n), "]".repeat(n)),
        format!("x {}1{}\n", "{a: ".repeat(n), "}".repeat(n)),
        format!("{}{}", "a {\n".repeat(n), "}\n".repeat(n)),
        format!("x = {}{}\n", "{".repeat(n), "}".repeat(n)),
        format!("x = {}\n", "{".repeat(n)),
        format!(
            "x \"{{{{ {}1{} }}}}\"\n",
            "\"\\(".repeat(n / 2),
            ")\"".repeat(n / 2)
        ),
    ] {
        let p = parse(&src);
        assert!(limits(&p.errors).is_empty(), "{src}");
    }
}

#[test]
fn deep_json_is_refused_with_the_nesting_limit() {
    let (_, errors) = json::parse(&"[".repeat(100_000));
    assert_eq!(limits(&errors), [Limit::Nesting]);
    assert_eq!(errors[0].span.start, MAX_NESTING + 1);
    let ok = format!("{}1{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
    assert_eq!(json::parse(&ok).1, vec![]);
}

#[test]
fn a_file_over_the_size_limit_is_not_read() {
    let big = " ".repeat(wflow_grammar::MAX_SOURCE_BYTES + 1);
    let p = parse(&big);
    assert_eq!(limits(&p.errors), [Limit::Size]);
    assert!(p.errors[0].message.contains("more than the 64 MiB limit"));
    assert_eq!(limits(&json::parse(&big).1), [Limit::Size]);
}

#[test]
fn a_wide_json_object_is_read_in_linear_time() {
    // Each key was compared with every key before it.
    let members: Vec<String> = (0..100_000).map(|i| format!("\"k{i}\": {i}")).collect();
    let src = format!("{{{}, \"k7\": 0}}", members.join(", "));
    let start = Instant::now();
    let (value, errors) = json::parse(&src);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert!(value.is_some());
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["duplicate key `k7`"]);
}

#[test]
fn strings_of_unclosed_templates_parse_in_linear_time() {
    // Each `{{` was tried as a template to the end of the line again (fuzz-found: a 25 KB line
    // of `{{ .outputs… vice` took 3.6 s, a 168 KB one of `{` 19 s).
    for line in [
        format!("x \"{}\n", "{{ a ".repeat(50_000)),
        format!("x \"{}\n", "{".repeat(100_000)),
        format!("x \"{}\"\n", "{{ a \\n".repeat(50_000)),
        // Each string's template read on through the strings after it, their quotes taken as
        // its jq strings (fuzz-found: 158 KB took 13 s).
        format!("x {}\n", "ttl: \"{{ now + (.outputs.tr ".repeat(40_000)),
        format!("x {}\n", "\"{{ \"\\(\" ".repeat(40_000)),
    ] {
        let p = parse_quickly(&line);
        assert!(p.errors.len() <= 1, "{:?}", p.errors);
    }
    // The text of a `{{` that never closes is plain: escapes decoded, later `{{` included, and
    // a template after an escaped quote still read as one.
    assert_eq!(
        only_string("x \"{{ a \\n {{ b \\\" {{ c }}\"\n"),
        "{{ a \n {{ b \" {{ c }}"
    );
}

#[test]
fn a_template_ends_before_any_later_double_brace() {
    // Even in a jq string: `"{{ "{{" }}"` is the string `{{ `, and the rest is not a value.
    let p = parse("x \"{{ \"{{\" }}\"\n");
    assert!(!p.errors.is_empty());
    // Outside jq strings the template before a later `{{` is text, and that one is read.
    assert_eq!(only_string("x \"{{ .a } {{ .b }}\"\n"), "{{ .a } {{ .b }}");
}

/// The value of the string that is `src`'s only argument, which must parse cleanly.
fn only_string(src: &str) -> String {
    let p = parse(src);
    assert_eq!(p.errors, []);
    let wflow_grammar::ast::Statement::Entry(e) = &p.file.statements[0] else {
        panic!("an entry")
    };
    let wflow_grammar::ast::ValueKind::Str(s) = &e.args[0].kind else {
        panic!("a string")
    };
    s.value.clone()
}
