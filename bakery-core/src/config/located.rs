//! Errors that point into a file: `file:line:column: message`, the line, and a marker
//! under the place. A file's checks collect every mistake and report them together.

use std::ops::Range;
use std::path::Path;

use crate::error::{Error, Result};

/// `file:line:column: message`, then the line itself with a marker under the place.
pub fn located(file: &Path, source: &str, span: Range<usize>, message: &str) -> String {
    let start = span.start.min(source.len());
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let line_number = source[..start].matches('\n').count() + 1;
    let column = source[line_start..start].chars().count() + 1;
    let line_text = &source[line_start..line_end];
    let width = source[start..span.end.min(line_end).max(start)]
        .chars()
        .count()
        .max(1);
    let gutter = " ".repeat(line_number.to_string().len());
    format!(
        "{}:{line_number}:{column}: {message}\n{gutter} |\n{line_number} | {line_text}\n{gutter} | {}{}",
        file.display(),
        " ".repeat(column - 1),
        "^".repeat(width)
    )
}

/// The line a byte offset is on, from 1.
pub fn line_of(source: &str, offset: usize) -> usize {
    source[..offset.min(source.len())].matches('\n').count() + 1
}

/// The mistakes found in one file, each at its place.
pub struct Problems<'a> {
    file: &'a Path,
    source: &'a str,
    /// Each mistake with where it starts, so that they are reported in file order.
    found: Vec<(usize, String)>,
}

impl<'a> Problems<'a> {
    pub fn new(file: &'a Path, source: &'a str) -> Self {
        Problems {
            file,
            source,
            found: Vec::new(),
        }
    }

    /// Notes a mistake at `span`; checking goes on.
    pub fn at(&mut self, span: Range<usize>, message: impl AsRef<str>) {
        let start = span.start;
        let text = located(self.file, self.source, span, message.as_ref());
        self.found.push((start, text));
    }

    /// The value, or None after noting the mistake.
    pub fn check<T>(&mut self, span: Range<usize>, checked: Result<T, String>) -> Option<T> {
        match checked {
            Ok(value) => Some(value),
            Err(message) => {
                self.at(span, message);
                None
            }
        }
    }

    /// A mistake that stops the reading at once (the file cannot be read further).
    pub fn fatal(&self, span: Range<usize>, message: impl AsRef<str>) -> Error {
        Error::input(located(self.file, self.source, span, message.as_ref()))
    }

    /// Every mistake noted, in file order, as one error; Ok when there is none.
    pub fn finish(mut self) -> Result<()> {
        self.found.sort_by_key(|(start, _)| *start);
        let texts: Vec<String> = self.found.into_iter().map(|(_, text)| text).collect();
        match texts.len() {
            0 => Ok(()),
            1 => Err(Error::input(texts.concat())),
            n => Err(Error::input(format!(
                "{n} problems in {}:\n{}",
                self.file.display(),
                texts.join("\n")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistake_is_shown_at_its_line_and_column() {
        let source = "name = \"base\"\ntimeout = \"soon\"\n";
        let text = located(Path::new("recipe.toml"), source, 24..30, "invalid duration");
        assert_eq!(
            text,
            "recipe.toml:2:11: invalid duration\n  |\n2 | timeout = \"soon\"\n  |           ^^^^^^"
        );
    }

    #[test]
    fn every_mistake_of_a_file_is_reported_together() {
        let source = "a = 1\nb = 2\n";
        let mut problems = Problems::new(Path::new("x.toml"), source);
        assert!(problems.check(0..1, Ok::<_, String>(1)).is_some());
        problems.at(6..7, "second");
        problems.at(0..1, "first");
        let message = problems.finish().unwrap_err().to_string();
        assert!(message.starts_with("2 problems in x.toml:\n"), "{message}");
        assert!(message.contains("x.toml:1:1: first"), "{message}");
        assert!(message.contains("x.toml:2:1: second"), "{message}");
        assert!(
            message.find("first") < message.find("second"),
            "in file order: {message}"
        );
    }
}
