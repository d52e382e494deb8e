//! What miette is given to render one diagnostic: only the lines its labels touch (with one
//! line of context), made safe. Long lines are cut to a window around the label with `…` at
//! the cut, tabs are expanded, control characters are shown as their Unicode pictures, and
//! spans are clamped to the file and to character boundaries. The header still names the true
//! line and column. The work per diagnostic depends on the lines shown, not the file's size.

use std::ops::Range;

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};
use wflow_grammar::span::floor_char_boundary;

/// Lines longer than this many bytes are cut to a window.
const LONG_LINE: usize = 300;
/// How much of a long line is shown before and after the window's anchor, in bytes.
const WINDOW_BEFORE: usize = 60;
const WINDOW_AFTER: usize = 180;
/// A label over more lines than this is shown on its first line only.
const MAX_LABEL_LINES: usize = 40;
/// Labels of one diagnostic further apart than this are shown in separate snippets.
const MAX_RUN_LINES: usize = 100;
/// miette's tab width.
const TAB_WIDTH: usize = 4;
/// Characters counted in blocks of this many bytes (see [`LineIndex::chars_before`]).
const BLOCK: usize = 256;

/// Line starts and character counts of a file: the line and column of any offset in
/// O(log n + BLOCK).
pub struct LineIndex<'a> {
    src: &'a str,
    line_starts: Vec<usize>,
    /// The number of characters before each `BLOCK`-byte boundary.
    chars_before_block: Vec<usize>,
}

fn is_char_start(b: u8) -> bool {
    (b as i8) >= -0x40
}

impl<'a> LineIndex<'a> {
    pub fn new(src: &'a str) -> LineIndex<'a> {
        let bytes = src.as_bytes();
        let mut line_starts = vec![0];
        line_starts.extend(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        );
        let mut chars_before_block = Vec::with_capacity(bytes.len() / BLOCK + 1);
        let mut count = 0;
        for block in bytes.chunks(BLOCK) {
            chars_before_block.push(count);
            count += block.iter().filter(|b| is_char_start(**b)).count();
        }
        chars_before_block.push(count);
        LineIndex {
            src,
            line_starts,
            chars_before_block,
        }
    }

    /// `offset` clamped to the file and moved back to a character boundary.
    pub fn clamp(&self, offset: usize) -> usize {
        floor_char_boundary(self.src, offset)
    }

    /// The 0-based line of `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts
            .partition_point(|s| *s <= offset)
            .saturating_sub(1)
    }

    fn chars_before(&self, offset: usize) -> usize {
        let block = offset / BLOCK;
        let counted = self.chars_before_block.get(block).copied().unwrap_or(0);
        let rest = self
            .src
            .as_bytes()
            .get(block * BLOCK..offset)
            .unwrap_or_default();
        counted + rest.iter().filter(|b| is_char_start(**b)).count()
    }

    /// The 1-based line and column (in characters) of `offset`, as
    /// [`wflow_grammar::span::line_col`] gives them.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = self.clamp(offset);
        let line = self.line_of(offset);
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        (
            line + 1,
            self.chars_before(offset) - self.chars_before(start) + 1,
        )
    }

    /// The byte range of 0-based `line`, without its line break.
    fn line_range(&self, line: usize) -> Range<usize> {
        let start = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.src.len());
        let end = self
            .line_starts
            .get(line + 1)
            .map_or(self.src.len(), |next| next - 1);
        let end = if self.src.as_bytes().get(end.wrapping_sub(1)) == Some(&b'\r') && end > start {
            end - 1
        } else {
            end
        };
        start..end
    }
}

/// A control character's Unicode picture (U+2400 on for C0, U+2421 for DEL, U+FFFD for C1);
/// any other character itself.
pub fn picture(c: char) -> char {
    match c as u32 {
        n @ 0..0x20 => char::from_u32(0x2400 + n).unwrap_or('\u{fffd}'),
        0x7f => '\u{2421}',
        _ if c.is_control() => '\u{fffd}',
        _ => c,
    }
}

/// One source line as shown.
struct ShownLine {
    /// The 0-based line in the file.
    line: usize,
    /// Where the shown line starts and ends in the excerpt's text.
    range: Range<usize>,
    /// For each character taken from the file: its offset in the excerpt and in the file,
    /// then the end of the shown part in both.
    points: Vec<(usize, usize)>,
}

/// The lines one diagnostic shows, as miette reads them (see the module comment).
pub struct Excerpt<'a> {
    name: String,
    index: &'a LineIndex<'a>,
    text: String,
    /// Runs of consecutive lines (where they are in the text, and the 0-based file line of
    /// their last line); miette never reads across two.
    groups: Vec<(Range<usize>, usize)>,
    lines: Vec<ShownLine>,
}

impl<'a> Excerpt<'a> {
    /// The excerpt showing `spans` (byte ranges of the file; the first is the primary one), and
    /// the spans as offsets into it.
    pub fn new(
        name: &str,
        index: &'a LineIndex<'a>,
        spans: &[Range<usize>],
    ) -> (Excerpt<'a>, Vec<SourceSpan>) {
        let last_line = index.line_starts.len() - 1;
        // Clamped spans, and the line each starts on (the anchor of a long line's window).
        let spans: Vec<Range<usize>> = spans
            .iter()
            .map(|s| {
                let start = index.clamp(s.start);
                let mut end = index.clamp(s.end.max(start));
                let first = index.line_of(start);
                if index.line_of(end.saturating_sub(1).max(start)) > first + MAX_LABEL_LINES {
                    end = index.line_range(first).end.max(start);
                }
                start..end
            })
            .collect();
        // Runs of lines as miette groups them: each label's lines with one line around, in
        // order of position, merged into the run before when they overlap or when miette would
        // merge them (`line + line_count >= next line`, its line count being the lines from the
        // start of the file), as long as the run stays under MAX_RUN_LINES.
        let mut sorted: Vec<&Range<usize>> = spans.iter().collect();
        sorted.sort_by_key(|s| s.start);
        let ends_with_newline = index.src.ends_with('\n');
        let mut runs: Vec<Range<usize>> = Vec::new();
        for s in sorted {
            let first = index.line_of(s.start);
            let last = index.line_of(s.end.saturating_sub(1).max(s.start));
            let lines = first.saturating_sub(1)..(last + 1).min(last_line) + 1;
            if let Some(run) = runs.last_mut() {
                let run_last = run.end - 1;
                let miette_count = if run_last == last_line && !ends_with_newline {
                    run_last
                } else {
                    run_last + 1
                };
                let merged = run.start..run.end.max(lines.end);
                if lines.start < run.end
                    || (run.start + miette_count >= lines.start && merged.len() <= MAX_RUN_LINES)
                {
                    *run = merged;
                    continue;
                }
            }
            runs.push(lines);
        }
        let mut excerpt = Excerpt {
            name: name.to_string(),
            index,
            text: String::new(),
            groups: Vec::new(),
            lines: Vec::new(),
        };
        for run in runs {
            let run_last = run.end - 1;
            if !excerpt.groups.is_empty() {
                excerpt.text.push('\n');
            }
            let group_start = excerpt.text.len();
            for (k, line) in run.enumerate() {
                if k > 0 {
                    excerpt.text.push('\n');
                }
                let anchor = spans
                    .iter()
                    .map(|s| s.start)
                    .find(|s| index.line_of(*s) == line);
                excerpt.push_line(line, anchor);
            }
            excerpt
                .groups
                .push((group_start..excerpt.text.len(), run_last));
        }
        let mapped = spans
            .iter()
            .map(|s| {
                let start = excerpt.to_excerpt(s.start);
                let end = excerpt.to_excerpt(s.end).max(start);
                SourceSpan::new(start.into(), end - start)
            })
            .collect();
        (excerpt, mapped)
    }

    /// Appends 0-based `line`, cut to a window around `anchor` when it is long.
    fn push_line(&mut self, line: usize, anchor: Option<usize>) {
        let full = self.index.line_range(line);
        let window = if full.len() > LONG_LINE {
            let anchor = anchor.unwrap_or(full.start);
            let start = self
                .index
                .clamp(anchor.saturating_sub(WINDOW_BEFORE).max(full.start));
            let end = self.index.clamp((anchor + WINDOW_AFTER).min(full.end));
            start..end
        } else {
            full.clone()
        };
        let start = self.text.len();
        if window.start > full.start {
            self.text.push('…');
        }
        let mut points = Vec::with_capacity(window.len() + 1);
        let mut column = 0;
        let src = self.index.src;
        for (i, c) in src.get(window.clone()).unwrap_or_default().char_indices() {
            points.push((self.text.len(), window.start + i));
            match c {
                '\t' => {
                    let width = TAB_WIDTH - column % TAB_WIDTH;
                    self.text.extend(std::iter::repeat_n(' ', width));
                    column += width;
                }
                c => {
                    self.text.push(picture(c));
                    column += 1;
                }
            }
        }
        points.push((self.text.len(), window.end));
        let end = self.text.len();
        if window.end < full.end {
            self.text.push('…');
        }
        self.lines.push(ShownLine {
            line,
            range: start..end,
            points,
        });
    }

    /// The excerpt offset of file offset `offset`: clamped into its line's window, or the end
    /// of the last line shown before it.
    fn to_excerpt(&self, offset: usize) -> usize {
        let line = self.index.line_of(offset);
        let i = self.lines.partition_point(|l| l.line <= line);
        let Some(shown) = i.checked_sub(1).and_then(|i| self.lines.get(i)) else {
            return 0;
        };
        if shown.line != line {
            return shown.range.end;
        }
        let at = shown
            .points
            .partition_point(|(_, o)| *o <= offset)
            .saturating_sub(1);
        shown.points.get(at).map_or(shown.range.start, |(e, _)| *e)
    }

    /// The file offset shown at excerpt offset `offset`.
    fn to_file(&self, offset: usize) -> usize {
        let i = self
            .lines
            .partition_point(|l| l.range.start <= offset)
            .saturating_sub(1);
        let Some(line) = self.lines.get(i) else {
            return 0;
        };
        let at = line
            .points
            .partition_point(|(e, _)| *e <= offset)
            .saturating_sub(1);
        line.points.get(at).map_or(0, |(_, o)| *o)
    }
}

impl SourceCode for Excerpt<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let (group, group_last) = self
            .groups
            .iter()
            .find(|(g, _)| span.offset() <= g.end)
            .ok_or(MietteError::OutOfBounds)?;
        let text = self
            .text
            .get(group.clone())
            .ok_or(MietteError::OutOfBounds)?;
        let start = span.offset().saturating_sub(group.start);
        let len = span.len().min(text.len().saturating_sub(start));
        let inner = text.read_span(
            &SourceSpan::new(start.into(), len),
            context_lines_before,
            context_lines_after,
        )?;
        let data_start = inner.span().offset() + group.start;
        let (line, column) = self.index.line_col(self.to_file(data_start));
        let data = self
            .text
            .as_bytes()
            .get(data_start..data_start + inner.span().len())
            .ok_or(MietteError::OutOfBounds)?;
        // miette merges two snippets when `line + line_count` reaches the next one's line:
        // exactly those in one group.
        let line_count = group_last.saturating_sub(line - 1);
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            data,
            SourceSpan::new(data_start.into(), inner.span().len()),
            line - 1,
            column - 1,
            line_count,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_agrees_with_the_grammar() {
        let src = format!("a\tb\r\né{}\nx\u{1F600}y\n\nlast", "ü".repeat(300));
        let index = LineIndex::new(&src);
        for offset in 0..=src.len() + 2 {
            assert_eq!(
                index.line_col(offset),
                wflow_grammar::span::line_col(&src, offset),
                "offset {offset}"
            );
        }
    }

    #[test]
    fn a_long_line_is_cut_around_the_span() {
        let src = format!("{}SPAN{}", "x".repeat(5000), "y".repeat(5000));
        let index = LineIndex::new(&src);
        let (excerpt, spans) = Excerpt::new("f", &index, std::slice::from_ref(&(5000..5004)));
        assert!(excerpt.text.len() < 300, "{}", excerpt.text);
        assert!(excerpt.text.starts_with('…') && excerpt.text.ends_with('…'));
        let shown = &excerpt.text[spans[0].offset()..spans[0].offset() + spans[0].len()];
        assert_eq!(shown, "SPAN");
        let contents = excerpt.read_span(&spans[0], 0, 0).expect("readable");
        assert_eq!((contents.line(), contents.column()), (0, 5000));
    }

    #[test]
    fn tabs_and_controls_become_spaces_and_pictures() {
        let src = "\ta\u{1}b\rc";
        let index = LineIndex::new(src);
        let (excerpt, spans) = Excerpt::new("f", &index, std::slice::from_ref(&(5..6)));
        assert_eq!(excerpt.text, "    a\u{2401}b\u{240d}c");
        assert_eq!(spans[0].offset(), excerpt.text.len() - 1);
    }
}
