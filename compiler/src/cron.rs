//! Cron checks for Port's `SCHEDULE_TRIGGER`.
//!
//! Port takes a standard 5-field cron (`minute hour day-of-month month
//! day-of-week`), evaluated in UTC, that fires at most once every 5 minutes.
//! [`check`] reports every problem with a byte range an editor can underline;
//! [`Schedule`] gives hover text and next fire times.
//!
//! # Accepted syntax
//!
//! Per field, a comma-separated list of items, each one of:
//! `*`, `*/step`, `value`, `a-b`, `a-b/step`. Values are decimal numbers in
//! the field's range (minute 0-59, hour 0-23, day-of-month 1-31, month 1-12,
//! day-of-week 0-7 with both 0 and 7 meaning Sunday), or, case-insensitively,
//! the three-letter names `JAN`-`DEC` (month) and `SUN`-`SAT` (day-of-week);
//! names may appear in ranges and lists (`MON-FRI`, `SAT,SUN`), and `SUN` at the
//! end of a range means 7 (`FRI-SUN`). Steps run from 1 to the field's maximum.
//! Fields are separated by ASCII whitespace; leading and trailing whitespace is
//! ignored.
//!
//! # Rejected on purpose
//!
//! croner (used for [`Schedule::describe`]) understands more than Port's
//! "standard 5-field cron", so these are reported as `cron-syntax` with a
//! suggestion: a seconds or year field (6 or 7 fields), the Quartz extensions
//! `L`, `W`, `#` and `?`, croner's `+` (AND) prefix, `@daily`-style nicknames
//! (the help names the 5-field equivalent), single-value steps such as `5/10`
//! (Vixie cron rejects them; write `5-59/10`), wrapping ranges such as `22-2`,
//! full day or month names (`MONDAY`) and non-ASCII characters.
//!
//! # Day matching
//!
//! Vixie semantics: when the day-of-month and day-of-week fields are both
//! restricted, a day matches if *either* matches (`0 0 31 2 1` fires on Mondays
//! in February). A field counts as unrestricted when its text starts with `*`
//! (so `*/2` is unrestricted, as in Vixie cron and cronie; croner and some
//! other libraries only treat a bare `*` that way). With an unrestricted field
//! a day must match both.
//!
//! # Semantic checks
//!
//! * `cron-too-frequent`: the true smallest gap between two consecutive fire
//!   times is under 5 minutes, counting gaps across hour and day boundaries
//!   (`*/7 * * * *` fires at :56 and again at :00, 4 minutes later).
//! * `cron-never-fires`: no date in any year matches (`0 0 30 2 *`). Every
//!   accepted schedule fires at some point; a plain day-of-month/month schedule
//!   fires within 8 years. (A date combined with a weekday, such as February 29
//!   on a Sunday via `0 0 29 2 */7`, can be decades apart but is accepted.)

use std::ops::Range;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

/// Code of a malformed expression (field count, bad value, unsupported syntax).
pub const CODE_SYNTAX: &str = "cron-syntax";
/// Code of a schedule that fires more than once within 5 minutes.
pub const CODE_TOO_FREQUENT: &str = "cron-too-frequent";
/// Code of a schedule that never fires.
pub const CODE_NEVER_FIRES: &str = "cron-never-fires";

/// Smallest gap between two runs that Port allows, in minutes.
const MIN_GAP_MINUTES: u32 = 5;

const FIELD_LIST: &str = "minute hour day-of-month month day-of-week";
const STANDARD_HELP: &str = "Port takes standard 5-field cron: numbers, `*`, ranges `1-5`, steps \
     `*/15` or `0-30/10`, lists `1,15`, and names JAN-DEC and SUN-SAT";

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MONTH_FULL: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
/// Longest possible length of each month (February in a leap year).
const MONTH_MAX_DAYS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// A problem in a cron expression; `range` is a byte range into the expression text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronIssue {
    /// Bytes of the expression the problem is about.
    pub range: Range<usize>,
    /// One of [`CODE_SYNTAX`], [`CODE_TOO_FREQUENT`], [`CODE_NEVER_FIRES`].
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something specific to say.
    pub help: Option<String>,
}

/// Checks a cron expression as Port's SCHEDULE_TRIGGER takes it. Returns every problem (empty = valid).
///
/// Syntax problems are reported per field (one per bad field); the
/// frequency and never-fires checks only run on a syntactically valid expression.
pub fn check(expr: &str) -> Vec<CronIssue> {
    match analyze(expr) {
        Ok(_) => Vec::new(),
        Err(issues) => issues,
    }
}

/// A parsed schedule, for hover text and the scheduler: human description and next fire times (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Bits 0-59.
    minutes: u64,
    /// Bits 0-23.
    hours: u32,
    /// Bits 1-31.
    days: u32,
    /// Bits 1-12.
    months: u16,
    /// Bits 0-6, Sunday = 0.
    weekdays: u8,
    /// Whether a day must match both day fields (one of them is unrestricted).
    and_days: bool,
    /// Numeric form of the expression for croner, with croner's `+` prefix on
    /// day-of-week where Vixie semantics need AND and croner would OR.
    normalized: String,
}

impl Schedule {
    /// Parses `expr`; fails with the same issues [`check`] reports.
    pub fn parse(expr: &str) -> Result<Schedule, Vec<CronIssue>> {
        analyze(expr)
    }

    /// English description from croner, e.g. "At 09:00, on Monday through Friday."
    /// Times are UTC.
    pub fn describe(&self) -> String {
        use croner::parser::{CronParser, Seconds, Year};
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        match parser.parse(&self.normalized) {
            Ok(cron) => cron.describe(),
            // Not expected: the normalized form only uses syntax croner takes.
            Err(_) => format!("Cron `{}` (UTC)", self.normalized),
        }
    }

    /// The first fire time strictly after `t` (UTC, whole minutes), or `None`
    /// past the end of chrono's calendar.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let naive = t.naive_utc();
        let start = naive
            .date()
            .and_hms_opt(naive.hour(), naive.minute(), 0)?
            .checked_add_signed(chrono::Duration::minutes(1))?;
        let mut year = start.year();
        let mut month = start.month();
        let mut day = start.day();
        let mut minute_of_day = start.hour() * 60 + start.minute();
        // 400 years is a whole Gregorian cycle: a schedule that fires at all
        // fires within it.
        for _ in 0..=400 * 12 {
            if self.months & (1 << month) != 0 {
                let len = days_in_month(year, month);
                let mut weekday = weekday_of(year, month, day);
                while day <= len {
                    if self.day_matches(day, weekday)
                        && let Some((h, m)) = self.first_time_from(minute_of_day)
                    {
                        let date = NaiveDate::from_ymd_opt(year, month, day)?;
                        return Some(date.and_hms_opt(h, m, 0)?.and_utc());
                    }
                    day += 1;
                    weekday = (weekday + 1) % 7;
                    minute_of_day = 0;
                }
            }
            month += 1;
            if month > 12 {
                month = 1;
                year = year.checked_add(1)?;
            }
            day = 1;
            minute_of_day = 0;
        }
        None
    }

    fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let dom = self.days & (1 << day) != 0;
        let dow = self.weekdays & (1 << weekday) != 0;
        if self.and_days {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first (hour, minute) of a firing day at or after `minute_of_day`.
    fn first_time_from(&self, minute_of_day: u32) -> Option<(u32, u32)> {
        let (h0, m0) = (minute_of_day / 60, minute_of_day % 60);
        for h in h0..24 {
            if self.hours & (1 << h) == 0 {
                continue;
            }
            let mask = if h == h0 {
                self.minutes & (u64::MAX << m0)
            } else {
                self.minutes
            };
            if mask != 0 {
                return Some((h, mask.trailing_zeros()));
            }
        }
        None
    }

    /// Whether two consecutive calendar days both fire. Scans 2000-2027, which
    /// holds every kind of year (14 calendars) and every year boundary.
    fn fires_on_consecutive_days(&self) -> bool {
        let mut prev = false;
        let mut weekday = weekday_of(2000, 1, 1);
        for year in 2000..2028 {
            for month in 1..=12u32 {
                let len = days_in_month(year, month);
                if self.months & (1 << month) == 0 {
                    prev = false;
                    weekday = (weekday + len) % 7;
                    continue;
                }
                for day in 1..=len {
                    let fires = self.day_matches(day, weekday);
                    if fires && prev {
                        return true;
                    }
                    prev = fires;
                    weekday = (weekday + 1) % 7;
                }
            }
        }
        false
    }
}

/// One of the five fields.
struct FieldSpec {
    name: &'static str,
    lo: u32,
    hi: u32,
    names: &'static [&'static str],
    /// Value of `names[0]`.
    name_base: u32,
}

const FIELDS: [FieldSpec; 5] = [
    FieldSpec {
        name: "minute",
        lo: 0,
        hi: 59,
        names: &[],
        name_base: 0,
    },
    FieldSpec {
        name: "hour",
        lo: 0,
        hi: 23,
        names: &[],
        name_base: 0,
    },
    FieldSpec {
        name: "day-of-month",
        lo: 1,
        hi: 31,
        names: &[],
        name_base: 1,
    },
    FieldSpec {
        name: "month",
        lo: 1,
        hi: 12,
        names: &MONTH_NAMES,
        name_base: 1,
    },
    FieldSpec {
        name: "day-of-week",
        lo: 0,
        hi: 7,
        names: &DAY_NAMES,
        name_base: 0,
    },
];

const DOW: usize = 4;

/// A bad field: message and help, the range is the field's.
struct FieldError {
    message: String,
    help: Option<String>,
}

fn field_error(message: String, help: Option<String>) -> FieldError {
    FieldError { message, help }
}

fn plural(n: u32, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Shows user text inside backticks, escaping control and invisible characters.
fn show(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_ascii_graphic()
                || c == ' '
                || (!c.is_ascii() && !c.is_whitespace() && !c.is_control())
            {
                vec![c]
            } else {
                c.escape_unicode().collect()
            }
        })
        .collect()
}

fn analyze(expr: &str) -> Result<Schedule, Vec<CronIssue>> {
    let (schedule, fields) = parse_syntax(expr)?;
    if let Some(issue) = never_fires(&schedule, expr, &fields) {
        return Err(vec![issue]);
    }
    if let Some(issue) = too_frequent(&schedule, fields[0].clone()) {
        return Err(vec![issue]);
    }
    Ok(schedule)
}

/// Parses the five fields, without the semantic checks; also returns the field ranges.
fn parse_syntax(expr: &str) -> Result<(Schedule, Vec<Range<usize>>), Vec<CronIssue>> {
    let fields: Vec<Range<usize>> = split_fields(expr);
    let whole = 0..expr.len();

    if let Some(first) = fields.first() {
        let token = &expr[first.clone()];
        if token.starts_with('@') {
            return Err(vec![nickname_issue(token, first.clone())]);
        }
    }

    if fields.len() != 5 {
        let n = fields.len();
        let texts: Vec<&str> = fields.iter().map(|r| &expr[r.clone()]).collect();
        let help = match n {
            6 if looks_like_year(texts[5]) => format!(
                "Port supports neither a seconds nor a year field; remove the year: `{}`",
                texts[..5].join(" ")
            ),
            6 => format!(
                "seconds are not supported by Port; remove the seconds field: `{}` \
                 (fields: {FIELD_LIST})",
                texts[1..].join(" ")
            ),
            7 => format!(
                "seconds and year fields are not supported by Port; remove them: `{}` \
                 (fields: {FIELD_LIST})",
                texts[1..6].join(" ")
            ),
            _ => format!(
                "fields are: {FIELD_LIST}; e.g. `0 9 * * 1-5` runs at 09:00 UTC on weekdays"
            ),
        };
        return Err(vec![CronIssue {
            range: whole,
            code: CODE_SYNTAX,
            message: format!("expected 5 fields ({FIELD_LIST}), found {n}"),
            help: Some(help),
        }]);
    }

    let mut issues = Vec::new();
    let mut bits = [0u64; 5];
    let mut normalized: Vec<String> = Vec::with_capacity(5);
    for (i, (range, spec)) in fields.iter().zip(FIELDS.iter()).enumerate() {
        match parse_field(&expr[range.clone()], spec) {
            Ok((b, norm)) => {
                bits[i] = b;
                normalized.push(norm);
            }
            Err(e) => issues.push(CronIssue {
                range: range.clone(),
                code: CODE_SYNTAX,
                message: e.message,
                help: e.help,
            }),
        }
    }
    if !issues.is_empty() {
        return Err(issues);
    }

    // Fold Sunday = 7 into Sunday = 0.
    let mut weekdays = bits[DOW];
    if weekdays & (1 << 7) != 0 {
        weekdays = (weekdays & !(1 << 7)) | 1;
    }
    let dom_text = &expr[fields[2].clone()];
    let dow_text = &expr[fields[DOW].clone()];
    let and_days = dom_text.starts_with('*') || dow_text.starts_with('*');
    if and_days && dom_text != "*" && dow_text != "*" {
        // croner ORs unless a field is a bare `*`; its `+` prefix asks for AND.
        normalized[DOW].insert(0, '+');
    }

    let schedule = Schedule {
        minutes: bits[0],
        hours: bits[1] as u32,
        days: bits[2] as u32,
        months: bits[3] as u16,
        weekdays: weekdays as u8,
        and_days,
        normalized: normalized.join(" "),
    };
    Ok((schedule, fields))
}

/// Byte ranges of the whitespace-separated fields.
fn split_fields(expr: &str) -> Vec<Range<usize>> {
    let mut fields = Vec::with_capacity(5);
    let mut start = None;
    for (i, b) in expr.bytes().enumerate() {
        if b.is_ascii_whitespace() {
            if let Some(s) = start.take() {
                fields.push(s..i);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        fields.push(s..expr.len());
    }
    fields
}

fn looks_like_year(text: &str) -> bool {
    text.len() == 4
        && text.bytes().all(|b| b.is_ascii_digit())
        && text
            .parse::<u32>()
            .is_ok_and(|y| (1970..=2199).contains(&y))
}

fn nickname_issue(token: &str, range: Range<usize>) -> CronIssue {
    let equivalent = match token.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => Some("0 0 1 1 *"),
        "@monthly" => Some("0 0 1 * *"),
        "@weekly" => Some("0 0 * * 0"),
        "@daily" | "@midnight" => Some("0 0 * * *"),
        "@hourly" => Some("0 * * * *"),
        _ => None,
    };
    match equivalent {
        Some(eq) => CronIssue {
            range,
            code: CODE_SYNTAX,
            message: format!(
                "nickname `{}` is not supported by Port, which takes a standard 5-field cron",
                show(token)
            ),
            help: Some(format!("use `{eq}`")),
        },
        None => CronIssue {
            range,
            code: CODE_SYNTAX,
            message: format!(
                "`{}` is not a cron expression; Port takes a standard 5-field cron",
                show(token)
            ),
            help: Some(format!(
                "fields are: {FIELD_LIST}; e.g. `0 9 * * 1-5` runs at 09:00 UTC on weekdays"
            )),
        },
    }
}

/// Parses one field into a bit set (bit n = value n) and its numeric form.
fn parse_field(text: &str, spec: &FieldSpec) -> Result<(u64, String), FieldError> {
    let mut bits = 0u64;
    let mut normalized = String::with_capacity(text.len());
    if text == "*" {
        for v in spec.lo..=spec.hi {
            bits |= 1 << v;
        }
        return Ok((bits, text.to_string()));
    }
    for item in text.split(',') {
        if item.is_empty() {
            return Err(field_error(
                format!("{} `{}` has an empty list item", spec.name, show(text)),
                Some("separate values with single commas, e.g. `1,15`".to_string()),
            ));
        }
        let (b, norm) = parse_item(item, spec)?;
        bits |= b;
        if !normalized.is_empty() {
            normalized.push(',');
        }
        normalized.push_str(&norm);
    }
    Ok((bits, normalized))
}

/// A small cursor over one list item.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// Takes the longest run of bytes satisfying `f` (ASCII only).
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &str {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        while self.pos < bytes.len() && f(bytes[self.pos]) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }
}

fn parse_item(item: &str, spec: &FieldSpec) -> Result<(u64, String), FieldError> {
    let mut cur = Cursor { text: item, pos: 0 };
    let (start, end, kind) = if cur.eat('*') {
        (spec.lo, spec.hi, ItemKind::Star)
    } else {
        let a = parse_value(&mut cur, spec, item, false)?;
        if cur.eat('-') {
            let b = parse_value(&mut cur, spec, item, true)?;
            if a > b {
                let help = if spec.hi == 7 && b == 0 {
                    format!("use 7 for Sunday at the end of a range: `{a}-7`")
                } else {
                    format!(
                        "cron ranges do not wrap around; use a list: `{a}-{},{}-{b}`",
                        spec.hi, spec.lo
                    )
                };
                return Err(field_error(
                    format!(
                        "{} range `{}` is backwards (starts after it ends)",
                        spec.name,
                        show(item)
                    ),
                    Some(help),
                ));
            }
            (a, b, ItemKind::Range)
        } else {
            (a, a, ItemKind::Single)
        }
    };

    let mut step = 1;
    if cur.eat('/') {
        if kind == ItemKind::Single {
            return Err(field_error(
                format!(
                    "{} `{}` steps from a single value, which standard cron does not allow",
                    spec.name,
                    show(item)
                ),
                Some(format!(
                    "use a range with a step, e.g. `{start}-{}/N`, or `*/N`",
                    spec.hi
                )),
            ));
        }
        let digits = cur.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err(match cur.peek() {
                None => field_error(
                    format!("{} `{}` is missing a step after `/`", spec.name, show(item)),
                    Some(format!("e.g. `*/5` means every 5th {}", spec.name)),
                ),
                Some(c) => unexpected(c, item, spec),
            });
        }
        step = match digits.parse::<u32>() {
            Ok(s) if (1..=spec.hi).contains(&s) => s,
            _ => {
                return Err(field_error(
                    format!(
                        "{} step `{}` is out of range 1-{}",
                        spec.name,
                        show(digits),
                        spec.hi
                    ),
                    None,
                ));
            }
        };
    }
    if let Some(c) = cur.peek() {
        return Err(unexpected(c, item, spec));
    }

    let mut bits = 0u64;
    let mut v = start;
    while v <= end {
        bits |= 1 << v;
        v += step;
    }
    let normalized = match (kind, step) {
        // croner takes `*` only as a whole field, not as a list item.
        (ItemKind::Star, 1) => format!("{start}-{end}"),
        (ItemKind::Star, s) => format!("*/{s}"),
        (ItemKind::Single, _) => start.to_string(),
        (ItemKind::Range, 1) => format!("{start}-{end}"),
        (ItemKind::Range, s) => format!("{start}-{end}/{s}"),
    };
    Ok((bits, normalized))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ItemKind {
    Star,
    Single,
    Range,
}

/// Parses a number or a name; `range_end` makes `SUN` mean 7.
fn parse_value(
    cur: &mut Cursor<'_>,
    spec: &FieldSpec,
    item: &str,
    range_end: bool,
) -> Result<u32, FieldError> {
    match cur.peek() {
        Some(c) if c.is_ascii_digit() => {
            let digits = cur.take_while(|b| b.is_ascii_digit());
            match digits.parse::<u32>() {
                Ok(v) if (spec.lo..=spec.hi).contains(&v) => Ok(v),
                _ => Err(out_of_range(digits, spec)),
            }
        }
        Some(c) if c.is_ascii_alphabetic() => {
            let start = cur.pos;
            let word = cur.take_while(|b| b.is_ascii_alphabetic());
            if let Some(i) = spec.names.iter().position(|n| n.eq_ignore_ascii_case(word)) {
                let v = spec.name_base + i as u32;
                return Ok(if range_end && spec.hi == 7 && v == 0 {
                    7
                } else {
                    v
                });
            }
            let upper = word.to_ascii_uppercase();
            if matches!(upper.as_str(), "L" | "W" | "LW") {
                // Report the extension, not an unknown name.
                let c = item[start..].chars().next().unwrap_or('L');
                return Err(unexpected(c, item, spec));
            }
            Err(bad_name(word, spec))
        }
        Some('*') if range_end => Err(field_error(
            format!("{} `{}` has `*` inside a range", spec.name, show(item)),
            Some(STANDARD_HELP.to_string()),
        )),
        Some(c) => Err(unexpected(c, item, spec)),
        None => Err(field_error(
            if range_end {
                format!(
                    "{} `{}` is missing the end of the range",
                    spec.name,
                    show(item)
                )
            } else {
                format!("{} `{}` is missing a value", spec.name, show(item))
            },
            Some(STANDARD_HELP.to_string()),
        )),
    }
}

fn out_of_range(token: &str, spec: &FieldSpec) -> FieldError {
    let help = match spec.hi {
        7 => Some("0 and 7 both mean Sunday; names SUN-SAT also work".to_string()),
        12 => Some("names JAN-DEC also work".to_string()),
        _ => None,
    };
    field_error(
        format!(
            "{} `{}` is out of range {}-{}",
            spec.name,
            show(token),
            spec.lo,
            spec.hi
        ),
        help,
    )
}

fn bad_name(word: &str, spec: &FieldSpec) -> FieldError {
    let word = show(word);
    match spec.hi {
        12 => field_error(
            format!("month `{word}` is not a month name"),
            Some("use 1-12 or the three-letter names JAN-DEC".to_string()),
        ),
        7 => field_error(
            format!("day-of-week `{word}` is not a day name"),
            Some("use 0-7 (0 and 7 are Sunday) or the three-letter names SUN-SAT".to_string()),
        ),
        _ => field_error(
            format!("{} `{word}` is not a number", spec.name),
            Some(format!("{} takes {}-{}", spec.name, spec.lo, spec.hi)),
        ),
    }
}

fn unexpected(c: char, item: &str, spec: &FieldSpec) -> FieldError {
    let extension = match c.to_ascii_uppercase() {
        'L' => Some("`L` (last)"),
        'W' => Some("`W` (nearest weekday)"),
        '#' => Some("`#` (nth weekday of the month)"),
        '?' => Some("`?` (no specific value)"),
        _ => None,
    };
    match extension {
        Some(ext) => field_error(
            format!(
                "{} `{}` uses {ext}, a non-standard cron extension Port does not accept",
                spec.name,
                show(item)
            ),
            Some(if c == '?' {
                "use `*` instead of `?`".to_string()
            } else {
                STANDARD_HELP.to_string()
            }),
        ),
        None => field_error(
            format!(
                "{} `{}` contains unexpected character `{}`",
                spec.name,
                show(item),
                show(c.encode_utf8(&mut [0; 4]))
            ),
            Some(STANDARD_HELP.to_string()),
        ),
    }
}

/// `cron-never-fires`: with both day fields needed, no chosen month has a chosen day.
fn never_fires(s: &Schedule, expr: &str, fields: &[Range<usize>]) -> Option<CronIssue> {
    if !s.and_days {
        // Any weekday occurs in every month.
        return None;
    }
    let months: Vec<usize> = (1..=12).filter(|m| s.months & (1 << m) != 0).collect();
    let min_day = s.days.trailing_zeros();
    if months.iter().any(|&m| min_day <= MONTH_MAX_DAYS[m - 1]) {
        return None;
    }
    let names: Vec<&str> = months.iter().map(|&m| MONTH_FULL[m - 1]).collect();
    let month_list = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    };
    let longest = months
        .iter()
        .map(|&m| MONTH_MAX_DAYS[m - 1])
        .max()
        .unwrap_or(31);
    let help = if months.len() == 1 {
        let leap = if months[0] == 2 {
            " (in leap years)"
        } else {
            ""
        };
        format!(
            "{month_list} has at most {longest} days{leap}; choose a day-of-month from 1 to {longest}, or change the month"
        )
    } else {
        format!(
            "the longest of these months has {longest} days; choose a day-of-month from 1 to {longest}, or change the months"
        )
    };
    Some(CronIssue {
        range: fields[2].start..fields[3].end,
        code: CODE_NEVER_FIRES,
        message: format!(
            "schedule never fires: day-of-month `{}` does not occur in {month_list}",
            show(&expr[fields[2].clone()])
        ),
        help: Some(help),
    })
}

/// `cron-too-frequent`: the smallest gap between consecutive runs is under 5 minutes.
fn too_frequent(s: &Schedule, minute_field: Range<usize>) -> Option<CronIssue> {
    let mut first = None;
    let mut prev: Option<u32> = None;
    let mut best: Option<(u32, u32, u32)> = None; // (gap, from, to)
    for h in 0..24u32 {
        if s.hours & (1 << h) == 0 {
            continue;
        }
        let mut mins = s.minutes;
        while mins != 0 {
            let m = mins.trailing_zeros();
            mins &= mins - 1;
            let t = h * 60 + m;
            if let Some(p) = prev {
                let gap = t - p;
                if best.is_none_or(|(g, _, _)| gap < g) {
                    best = Some((gap, p, t));
                }
            }
            first.get_or_insert(t);
            prev = Some(t);
        }
    }
    let (first, last) = (first?, prev?);
    let wrap = 24 * 60 - last + first;
    let mut next_day = false;
    if wrap < MIN_GAP_MINUTES
        && best.is_none_or(|(g, _, _)| wrap < g)
        && s.fires_on_consecutive_days()
    {
        best = Some((wrap, last, first));
        next_day = true;
    }
    let (gap, from, to) = best?;
    if gap >= MIN_GAP_MINUTES {
        return None;
    }
    let clock = |t: u32| format!("{:02}:{:02}", t / 60, t % 60);
    Some(CronIssue {
        range: minute_field,
        code: CODE_TOO_FREQUENT,
        message: format!(
            "schedule fires more than once within 5 minutes: runs can be {} apart ({} and {}{})",
            plural(gap, "minute"),
            clock(from),
            clock(to),
            if next_day { " the next day" } else { "" }
        ),
        help: Some(
            "Port runs a schedule at most once every 5 minutes; use e.g. `*/5 * * * *`".to_string(),
        ),
    })
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Weekday (Sunday = 0) of a proleptic Gregorian date.
fn weekday_of(year: i32, month: u32, day: u32) -> u32 {
    // Howard Hinnant's days_from_civil.
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    // 1970-01-01 was a Thursday.
    (days + 4).rem_euclid(7) as u32
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone;

    fn issue(
        range: Range<usize>,
        code: &'static str,
        message: &str,
        help: Option<&str>,
    ) -> CronIssue {
        CronIssue {
            range,
            code,
            message: message.to_string(),
            help: help.map(str::to_string),
        }
    }

    fn one(expr: &str) -> CronIssue {
        let issues = check(expr);
        assert_eq!(issues.len(), 1, "{expr:?}: {issues:#?}");
        issues.into_iter().next().unwrap()
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn valid_expressions() {
        for expr in [
            "0 9 * * 1-5",
            "*/5 * * * *",
            "0 0 1 1 *",
            "30 2 * * 0",
            "0 0 29 2 *",
            "0 0 31 2 1",
            "0 */6 * * *",
            "0,5 * * * *",
            "0,30 * * * *",
            "0 12 * * MON-FRI",
            "0 12 * jan,Jul *",
            "0 12 * * 7",
            "0 12 * * FRI-SUN",
            "0 12 * * 5-7",
            "15 10 1-7/2 */3 *",
            "  0 9 * * 1-5\t",
            "59 23 * * *",
            "0,59 0,23 1 * *",
            "0 0 31 * *",
            "0 0 30 4,2 *",
            "0 0 29 2 */7",
            "*/12 */2 * * *",
        ] {
            assert_eq!(check(expr), vec![], "{expr:?}");
            assert!(Schedule::parse(expr).is_ok(), "{expr:?}");
        }
    }

    #[test]
    fn wrong_field_count() {
        let help = "fields are: minute hour day-of-month month day-of-week; e.g. `0 9 * * 1-5` runs at 09:00 UTC on weekdays";
        assert_eq!(
            check(""),
            vec![issue(
                0..0,
                CODE_SYNTAX,
                "expected 5 fields (minute hour day-of-month month day-of-week), found 0",
                Some(help)
            )]
        );
        assert_eq!(
            check("   "),
            vec![issue(
                0..3,
                CODE_SYNTAX,
                "expected 5 fields (minute hour day-of-month month day-of-week), found 0",
                Some(help)
            )]
        );
        assert_eq!(
            check("0 9 * *"),
            vec![issue(
                0..7,
                CODE_SYNTAX,
                "expected 5 fields (minute hour day-of-month month day-of-week), found 4",
                Some(help)
            )]
        );
        assert_eq!(
            check("0 0 9 * * 1-5"),
            vec![issue(
                0..13,
                CODE_SYNTAX,
                "expected 5 fields (minute hour day-of-month month day-of-week), found 6",
                Some(
                    "seconds are not supported by Port; remove the seconds field: `0 9 * * 1-5` (fields: minute hour day-of-month month day-of-week)"
                )
            )]
        );
        assert_eq!(
            one("0 9 * * 1 2026").help.as_deref(),
            Some("Port supports neither a seconds nor a year field; remove the year: `0 9 * * 1`")
        );
        assert_eq!(
            one("0 0 9 * * ? 2026").help.as_deref(),
            Some(
                "seconds and year fields are not supported by Port; remove them: `0 9 * * ?` (fields: minute hour day-of-month month day-of-week)"
            )
        );
    }

    #[test]
    fn bad_fields() {
        assert_eq!(
            check("61 9 * * *"),
            vec![issue(
                0..2,
                CODE_SYNTAX,
                "minute `61` is out of range 0-59",
                None
            )]
        );
        assert_eq!(
            check("0 24 * * *"),
            vec![issue(
                2..4,
                CODE_SYNTAX,
                "hour `24` is out of range 0-23",
                None
            )]
        );
        assert_eq!(
            check("0 9 0 * *"),
            vec![issue(
                4..5,
                CODE_SYNTAX,
                "day-of-month `0` is out of range 1-31",
                None
            )]
        );
        assert_eq!(
            check("0 9 * 13 *"),
            vec![issue(
                6..8,
                CODE_SYNTAX,
                "month `13` is out of range 1-12",
                Some("names JAN-DEC also work")
            )]
        );
        assert_eq!(
            check("0 9 * * 1-8"),
            vec![issue(
                8..11,
                CODE_SYNTAX,
                "day-of-week `8` is out of range 0-7",
                Some("0 and 7 both mean Sunday; names SUN-SAT also work")
            )]
        );
        // Every bad field is reported, each with its own range.
        assert_eq!(
            check("60 25 * * *"),
            vec![
                issue(0..2, CODE_SYNTAX, "minute `60` is out of range 0-59", None),
                issue(3..5, CODE_SYNTAX, "hour `25` is out of range 0-23", None),
            ]
        );
        assert_eq!(
            check("99999999999999999999 * * * *"),
            vec![issue(
                0..20,
                CODE_SYNTAX,
                "minute `99999999999999999999` is out of range 0-59",
                None
            )]
        );
    }

    #[test]
    fn trailing_junk_and_unicode() {
        let help = Some(STANDARD_HELP);
        assert_eq!(
            check("0 9x * * *"),
            vec![issue(
                2..4,
                CODE_SYNTAX,
                "hour `9x` contains unexpected character `x`",
                help
            )]
        );
        assert_eq!(
            check("0 9 * * 1-5;"),
            vec![issue(
                8..12,
                CODE_SYNTAX,
                "day-of-week `1-5;` contains unexpected character `;`",
                help
            )]
        );
        // "é" is two bytes: the range covers the whole field.
        assert_eq!(
            check("0 9é * * *"),
            vec![issue(
                2..5,
                CODE_SYNTAX,
                "hour `9é` contains unexpected character `é`",
                help
            )]
        );
        // A non-breaking space does not separate fields and is shown escaped.
        assert_eq!(
            check("0\u{a0}9 * * * *"),
            vec![issue(
                0..4,
                CODE_SYNTAX,
                "minute `0\\u{a0}9` contains unexpected character `\\u{a0}`",
                help
            )]
        );
        assert_eq!(
            check("🕘 9 * * *"),
            vec![issue(
                0..4,
                CODE_SYNTAX,
                "minute `🕘` contains unexpected character `🕘`",
                help
            )]
        );
        assert_eq!(
            check("0 9 * * ５"),
            vec![issue(
                8..11,
                CODE_SYNTAX,
                "day-of-week `５` contains unexpected character `５`",
                help
            )]
        );
    }

    #[test]
    fn other_syntax_errors() {
        assert_eq!(
            one("0 22-2 * * *"),
            issue(
                2..6,
                CODE_SYNTAX,
                "hour range `22-2` is backwards (starts after it ends)",
                Some("cron ranges do not wrap around; use a list: `22-23,0-2`")
            )
        );
        assert_eq!(
            one("0 9 * * FRI-0").help.as_deref(),
            Some("use 7 for Sunday at the end of a range: `5-7`")
        );
        assert_eq!(
            one("5/10 * * * *"),
            issue(
                0..4,
                CODE_SYNTAX,
                "minute `5/10` steps from a single value, which standard cron does not allow",
                Some("use a range with a step, e.g. `5-59/N`, or `*/N`")
            )
        );
        assert_eq!(
            one("*/0 * * * *"),
            issue(
                0..3,
                CODE_SYNTAX,
                "minute step `0` is out of range 1-59",
                None
            )
        );
        assert_eq!(
            one("*/60 * * * *").message,
            "minute step `60` is out of range 1-59"
        );
        assert_eq!(
            one("*/ * * * *").message,
            "minute `*/` is missing a step after `/`"
        );
        assert_eq!(
            one("1, * * * *").message,
            "minute `1,` has an empty list item"
        );
        assert_eq!(
            one("0 1- * * *").message,
            "hour `1-` is missing the end of the range"
        );
        assert_eq!(
            one("0 1-* * * *").message,
            "hour `1-*` has `*` inside a range"
        );
        assert_eq!(
            one("0 9 * * MONDAY"),
            issue(
                8..14,
                CODE_SYNTAX,
                "day-of-week `MONDAY` is not a day name",
                Some("use 0-7 (0 and 7 are Sunday) or the three-letter names SUN-SAT")
            )
        );
        assert_eq!(
            one("0 9 * MON *").message,
            "month `MON` is not a month name"
        );
        assert_eq!(
            one("0 9 JAN * *"),
            issue(
                4..7,
                CODE_SYNTAX,
                "day-of-month `JAN` is not a number",
                Some("day-of-month takes 1-31")
            )
        );
        assert_eq!(
            one("0 9 * * +1").message,
            "day-of-week `+1` contains unexpected character `+`"
        );
    }

    #[test]
    fn extensions_are_rejected() {
        let help = Some(STANDARD_HELP);
        assert_eq!(
            one("0 0 L * *"),
            issue(
                4..5,
                CODE_SYNTAX,
                "day-of-month `L` uses `L` (last), a non-standard cron extension Port does not accept",
                help
            )
        );
        assert_eq!(
            one("0 0 15W * *").message,
            "day-of-month `15W` uses `W` (nearest weekday), a non-standard cron extension Port does not accept"
        );
        assert_eq!(
            one("0 0 LW * *").message,
            "day-of-month `LW` uses `L` (last), a non-standard cron extension Port does not accept"
        );
        assert_eq!(
            one("0 0 * * 5L").message,
            "day-of-week `5L` uses `L` (last), a non-standard cron extension Port does not accept"
        );
        assert_eq!(
            one("0 0 * * 1#2").message,
            "day-of-week `1#2` uses `#` (nth weekday of the month), a non-standard cron extension Port does not accept"
        );
        assert_eq!(
            one("0 0 ? * 1"),
            issue(
                4..5,
                CODE_SYNTAX,
                "day-of-month `?` uses `?` (no specific value), a non-standard cron extension Port does not accept",
                Some("use `*` instead of `?`")
            )
        );
        assert_eq!(
            check("@daily"),
            vec![issue(
                0..6,
                CODE_SYNTAX,
                "nickname `@daily` is not supported by Port, which takes a standard 5-field cron",
                Some("use `0 0 * * *`")
            )]
        );
        assert_eq!(one(" @WEEKLY").range, 1..8);
        assert_eq!(one("@hourly").help.as_deref(), Some("use `0 * * * *`"));
        assert_eq!(
            one("@reboot").message,
            "`@reboot` is not a cron expression; Port takes a standard 5-field cron"
        );
    }

    #[test]
    fn too_frequent() {
        let help =
            Some("Port runs a schedule at most once every 5 minutes; use e.g. `*/5 * * * *`");
        assert_eq!(
            check("* * * * *"),
            vec![issue(
                0..1,
                CODE_TOO_FREQUENT,
                "schedule fires more than once within 5 minutes: runs can be 1 minute apart (00:00 and 00:01)",
                help
            )]
        );
        assert_eq!(
            one("*/2 * * * *").message,
            "schedule fires more than once within 5 minutes: runs can be 2 minutes apart (00:00 and 00:02)"
        );
        assert_eq!(
            one("0,3 * * * *").message,
            "schedule fires more than once within 5 minutes: runs can be 3 minutes apart (00:00 and 00:03)"
        );
        assert_eq!(
            one("58,59 * * * *").message,
            "schedule fires more than once within 5 minutes: runs can be 1 minute apart (00:58 and 00:59)"
        );
        // Across the hour boundary.
        assert_eq!(
            one("0,59 * * * *").message,
            "schedule fires more than once within 5 minutes: runs can be 1 minute apart (00:59 and 01:00)"
        );
        assert_eq!(
            one("*/7 * * * *").message,
            "schedule fires more than once within 5 minutes: runs can be 4 minutes apart (00:56 and 01:00)"
        );
        // Across the day boundary, only when consecutive days fire.
        assert_eq!(
            one("0,59 0,23 * * *").message,
            "schedule fires more than once within 5 minutes: runs can be 1 minute apart (23:59 and 00:00 the next day)"
        );
        assert_eq!(
            one("0,58 0,23 30,31 * *").message,
            "schedule fires more than once within 5 minutes: runs can be 2 minutes apart (23:58 and 00:00 the next day)"
        );
        // Jan 31 -> Feb 1.
        assert_eq!(one("0,59 0,23 1,31 * *").code, CODE_TOO_FREQUENT);
        // Day 1 and day 3 are never adjacent.
        assert_eq!(check("0,59 0,23 1,3 * *"), vec![]);
        // Mondays only.
        assert_eq!(check("0,59 0,23 * * 1"), vec![]);
        // Every minute of one hour, on one day.
        assert_eq!(one("* 9 1 1 *").range, 0..1);
        assert_eq!(one("  */3 9 * * *").range, 2..5);
    }

    #[test]
    fn never_fires() {
        assert_eq!(
            check("0 0 31 2 *"),
            vec![issue(
                4..8,
                CODE_NEVER_FIRES,
                "schedule never fires: day-of-month `31` does not occur in February",
                Some(
                    "February has at most 29 days (in leap years); choose a day-of-month from 1 to 29, or change the month"
                )
            )]
        );
        assert_eq!(
            one("0 0 30 FEB *").message,
            "schedule never fires: day-of-month `30` does not occur in February"
        );
        assert_eq!(
            one("0 0 31 2,4,jun,9 *"),
            issue(
                4..16,
                CODE_NEVER_FIRES,
                "schedule never fires: day-of-month `31` does not occur in February, April, June or September",
                Some(
                    "the longest of these months has 30 days; choose a day-of-month from 1 to 30, or change the months"
                )
            )
        );
        // `*/1` is unrestricted (Vixie), so both day fields must match.
        assert_eq!(one("0 0 30 2 */1").code, CODE_NEVER_FIRES);
        // OR semantics: fires on Mondays in February.
        assert_eq!(check("0 0 31 2 1"), vec![]);
        // Never-fires wins over too-frequent.
        assert_eq!(one("* * 31 4 *").code, CODE_NEVER_FIRES);
    }

    #[test]
    fn next_after_fixed_instant() {
        // 2025-03-14 is a Friday.
        let t = Utc.with_ymd_and_hms(2025, 3, 14, 10, 30, 15).unwrap();
        let s = Schedule::parse("0 9 * * 1-5").unwrap();
        assert_eq!(s.next_after(t), Some(at(2025, 3, 17, 9, 0)));
        let s = Schedule::parse("*/5 * * * *").unwrap();
        assert_eq!(s.next_after(t), Some(at(2025, 3, 14, 10, 35)));
        // Strictly after: an instant on a fire time moves on.
        assert_eq!(
            s.next_after(at(2025, 3, 14, 10, 35)),
            Some(at(2025, 3, 14, 10, 40))
        );
        let s = Schedule::parse("0 0 29 2 *").unwrap();
        assert_eq!(s.next_after(t), Some(at(2028, 2, 29, 0, 0)));
        // OR semantics: the next Monday in February comes before any Feb 31.
        let s = Schedule::parse("0 0 31 2 1").unwrap();
        assert_eq!(s.next_after(t), Some(at(2026, 2, 2, 0, 0)));
        let s = Schedule::parse("30 2 * * 0").unwrap();
        assert_eq!(s.next_after(t), Some(at(2025, 3, 16, 2, 30)));
        let s = Schedule::parse("0 0 1 1 *").unwrap();
        assert_eq!(
            s.next_after(at(2025, 12, 31, 23, 59)),
            Some(at(2026, 1, 1, 0, 0))
        );
        // Feb 29 on a Sunday (AND: `*/7` is unrestricted): 2032, then 2060.
        let s = Schedule::parse("0 0 29 2 */7").unwrap();
        assert_eq!(s.next_after(t), Some(at(2032, 2, 29, 0, 0)));
        assert_eq!(
            s.next_after(at(2032, 3, 1, 0, 0)),
            Some(at(2060, 2, 29, 0, 0))
        );
        // The end of chrono's calendar.
        let s = Schedule::parse("0 0 1 1 *").unwrap();
        assert_eq!(s.next_after(DateTime::<Utc>::MAX_UTC), None);
    }

    #[test]
    fn describe_text() {
        let d = |e: &str| Schedule::parse(e).unwrap().describe();
        assert_eq!(
            d("0 9 * * 1-5"),
            "At 09:00, on Monday, Tuesday, Wednesday, Thursday, and Friday."
        );
        assert_eq!(d("0 9 * * MON-FRI"), d("0 9 * * 1-5"));
        assert_eq!(d("*/5 * * * *"), "At every 5 minutes.");
        assert_eq!(
            d("0 0 31 2 1"),
            "At 00:00, on day 31 or Monday, in February."
        );
    }

    /// My matcher against croner's search, on the normalized expression.
    #[test]
    fn next_after_agrees_with_croner() {
        use croner::parser::{CronParser, Seconds, Year};
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        let mut exprs: Vec<String> = [
            "0 9 * * 1-5",
            "0 0 31 2 1",
            "0 0 29 2 *",
            "15 3 */2 * 1",
            "15 3 13 * 5",
            "0 0 1-7 * */3",
            "0 12 * * FRI-SUN",
            "5 4 * jan,jul 0,6",
            "0 0 29 2 */7",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut rng = Lcg(7);
        for _ in 0..300 {
            exprs.push(random_valid(&mut rng));
        }
        let start = at(2025, 3, 14, 10, 30);
        let mut compared = 0;
        for expr in &exprs {
            let Ok(s) = Schedule::parse(expr) else {
                continue;
            };
            compared += 1;
            let cron = parser
                .parse(&s.normalized)
                .unwrap_or_else(|e| panic!("{expr:?} {} {e}", s.normalized));
            let (mut mine, mut theirs) = (start, start);
            for _ in 0..12 {
                mine = s.next_after(mine).unwrap();
                theirs = cron.find_next_occurrence(&theirs, false).unwrap();
                assert_eq!(mine, theirs, "{expr:?} ({})", s.normalized);
            }
        }
        assert!(compared > 100, "only {compared} valid expressions");
    }

    /// The analytic smallest gap against walking `next_after` through fire times.
    #[test]
    fn gap_agrees_with_simulation() {
        let mut rng = Lcg(99);
        let pick =
            |rng: &mut Lcg, pool: &[&str]| pool[rng.below(pool.len() as u64) as usize].to_string();
        let minute_pool = [
            "0", "59", "58", "1", "3", "30", "55-59/2", "*/7", "*/13", "0-4/4", "57",
        ];
        let hour_pool = ["*", "0", "23", "12", "0,23", "*/6", "22-23"];
        let dom_pool = ["*", "1", "31", "30,31", "1,31", "*/2", "28-29", "15"];
        let dow_pool = ["*", "1", "0,6", "5-6", "*/3"];
        let month_pool = ["*", "1", "2", "1,2", "12,1"];
        let mut checked = 0;
        for _ in 0..400 {
            let minutes: Vec<String> = (0..1 + rng.below(2))
                .map(|_| pick(&mut rng, &minute_pool))
                .collect();
            let expr = format!(
                "{} {} {} {} {}",
                minutes.join(","),
                pick(&mut rng, &hour_pool),
                pick(&mut rng, &dom_pool),
                pick(&mut rng, &month_pool),
                pick(&mut rng, &dow_pool),
            );
            let (s, fields) = parse_syntax(&expr).unwrap();
            if super::never_fires(&s, &expr, &fields).is_some() {
                continue;
            }
            checked += 1;
            let reported = super::too_frequent(&s, fields[0].clone()).map(|i| {
                let digits: String = i
                    .message
                    .split("be ")
                    .nth(1)
                    .unwrap()
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse::<i64>().unwrap()
            });
            // Walk from a few starting points, 1500 fires each.
            let mut smallest = i64::MAX;
            for start in [
                at(2000, 1, 1, 0, 0),
                at(2023, 2, 27, 0, 0),
                at(2024, 12, 30, 0, 0),
            ] {
                let mut t = s.next_after(start).unwrap();
                for _ in 0..1500 {
                    let n = s.next_after(t).unwrap();
                    smallest = smallest.min((n - t).num_minutes());
                    t = n;
                }
            }
            match reported {
                Some(gap) => assert!(
                    smallest >= gap,
                    "{expr:?}: reported {gap}, walked {smallest}"
                ),
                None => assert!(smallest >= 5, "{expr:?}: accepted, walked {smallest}"),
            }
            // Where every day fires the walk sees every kind of gap.
            if expr.ends_with(" * * *") {
                assert_eq!(
                    reported.unwrap_or(smallest.min(5)),
                    smallest.min(5),
                    "{expr:?}"
                );
            }
        }
        assert!(checked > 200, "{checked}");
    }

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn random_valid(rng: &mut Lcg) -> String {
        let spans = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
        let mut fields = Vec::new();
        for (i, &(lo, hi)) in spans.iter().enumerate() {
            let items = 1 + rng.below(2);
            let mut parts = Vec::new();
            for _ in 0..items {
                let a = lo + rng.below(hi - lo + 1);
                let b = a + rng.below(hi - a + 1);
                let step = 1 + rng.below(hi.min(12));
                parts.push(match rng.below(if i == 0 { 3 } else { 5 }) {
                    0 => a.to_string(),
                    1 => format!("{a}-{b}/{step}"),
                    2 => format!("{a}-{b}"),
                    3 => "*".to_string(),
                    _ => format!("*/{step}"),
                });
            }
            fields.push(parts.join(","));
        }
        fields.join(" ")
    }

    #[test]
    fn never_panics() {
        let alphabet: Vec<char> = "0123456789 */-,  LW#?@aJnMOsuxé\u{a0}\t5🕘+"
            .chars()
            .collect();
        let mut rng = Lcg(42);
        let t = at(2025, 1, 1, 0, 0);
        let mut inputs: Vec<String> = Vec::new();
        for _ in 0..20_000 {
            let len = rng.below(24) as usize;
            inputs.push(
                (0..len)
                    .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                    .collect(),
            );
        }
        for _ in 0..2_000 {
            inputs.push(random_valid(&mut rng));
        }
        for input in &inputs {
            for issue in check(input) {
                assert!(issue.range.end <= input.len(), "{input:?}: {issue:?}");
                assert!(input.is_char_boundary(issue.range.start), "{input:?}");
                assert!(input.is_char_boundary(issue.range.end), "{input:?}");
            }
            if let Ok(s) = Schedule::parse(input) {
                let next = s.next_after(t).unwrap();
                assert!(next > t);
                let _ = s.describe();
            }
        }
    }
}
