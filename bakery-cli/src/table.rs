//! Tables on stdout (`releases`, `prune`, `cleanup`, `audit`, `outdated`, regions):
//! columns sized to their content, two spaces apart. No line is wider than the terminal
//! (`COLUMNS` when set, else the terminal's width): the last column (the prose: why,
//! problems, channels) wraps first, then the columns a table names as least important
//! move, one by one, onto an indented line under their row, then the prose too, so
//! nothing is lost. Ids, versions and times are never broken. In a pipe without `COLUMNS` nothing
//! wraps (`grep`, `awk` see whole cells).

use crate::output::outln;

/// The narrowest the last column is wrapped to (or its header, when wider).
const PROSE_FLOOR: usize = 16;
const GAP: usize = 2;

pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Columns (by header) that may leave the line for a row's second line, least
    /// important first.
    stackable: Vec<usize>,
}

/// A table with these column headers.
pub fn new(headers: &[&str]) -> Table {
    Table {
        headers: headers.iter().map(|h| h.to_string()).collect(),
        rows: Vec::new(),
        stackable: Vec::new(),
    }
}

/// The rows without a header line (lists inside a longer text).
pub fn rows() -> Table {
    new(&[])
}

impl Table {
    pub fn add_row(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The columns that move under their row when the terminal is too narrow for them,
    /// least important first.
    pub fn stacking(mut self, headers: &[&str]) -> Table {
        self.stackable = headers
            .iter()
            .filter_map(|h| self.headers.iter().position(|own| own == h))
            .collect();
        self
    }

    /// The lines of the table for a terminal `width` columns wide (None: any width),
    /// each indented by `indent` spaces and without padding after its last cell.
    pub fn lines(&self, width: Option<usize>, indent: usize) -> Vec<String> {
        let columns = self
            .headers
            .len()
            .max(self.rows.iter().map(Vec::len).max().unwrap_or(0));
        let widths: Vec<usize> = (0..columns).map(|c| self.widest(c)).collect();
        let mut shown: Vec<usize> = (0..columns).collect();
        let mut stackable = self.stackable.iter();
        let last_width = loop {
            let Some(width) = width else { break None };
            match self.fit(&widths, &shown, width.saturating_sub(indent)) {
                Some(last) => break Some(last),
                None => match stackable.next() {
                    Some(column) => shown.retain(|c| c != column),
                    // Then the prose itself goes under its row.
                    None if shown.len() > 1 && !self.headers.is_empty() => {
                        shown.pop();
                    }
                    // A single column wider than the terminal: it wraps at its floor.
                    None => break Some(self.prose_floor(&widths, *shown.last().unwrap_or(&0))),
                },
            }
        };
        let stacked: Vec<usize> = (0..columns).filter(|c| !shown.contains(c)).collect();
        let mut lines = Vec::new();
        if !self.headers.is_empty() {
            lines.extend(self.row_lines(&self.headers, &widths, &shown, last_width, indent));
        }
        for row in &self.rows {
            lines.extend(self.row_lines(row, &widths, &shown, last_width, indent));
            if !stacked.is_empty() {
                lines.extend(self.stacked_lines(row, &stacked, width, indent));
            }
        }
        lines
    }

    fn cell(row: &[String], column: usize) -> &str {
        row.get(column).map_or("", String::as_str)
    }

    fn widest(&self, column: usize) -> usize {
        std::iter::once(&self.headers)
            .chain(&self.rows)
            .map(|row| chars(Self::cell(row, column)))
            .max()
            .unwrap_or(0)
    }

    fn prose_floor(&self, widths: &[usize], column: usize) -> usize {
        let header = chars(Self::cell(&self.headers, column));
        widths[column].min(PROSE_FLOOR).max(header)
    }

    /// The width of the last shown column when `shown` fits in `width`, else None.
    fn fit(&self, widths: &[usize], shown: &[usize], width: usize) -> Option<usize> {
        let (&last, others) = shown.split_last()?;
        let fixed: usize = others.iter().map(|&c| widths[c] + GAP).sum();
        let room = width.checked_sub(fixed)?;
        (room >= self.prose_floor(widths, last)).then(|| widths[last].min(room))
    }

    fn row_lines(
        &self,
        row: &[String],
        widths: &[usize],
        shown: &[usize],
        last_width: Option<usize>,
        indent: usize,
    ) -> Vec<String> {
        let Some((&last, others)) = shown.split_last() else {
            return Vec::new();
        };
        let mut head = " ".repeat(indent);
        for &column in others {
            let cell = Self::cell(row, column);
            head.push_str(&format!("{cell:<w$}", w = widths[column] + GAP));
        }
        let prose = Self::cell(row, last);
        let wrapped = match last_width {
            Some(width) => wrap(prose, width),
            None => vec![prose.to_string()],
        };
        let pad = " ".repeat(chars(&head));
        wrapped
            .iter()
            .enumerate()
            .map(|(i, part)| {
                let start = if i == 0 { &head } else { &pad };
                format!("{start}{part}").trim_end().to_string()
            })
            .collect()
    }

    /// A row's stacked columns, `header value` apart by two spaces, under the row.
    fn stacked_lines(
        &self,
        row: &[String],
        stacked: &[usize],
        width: Option<usize>,
        indent: usize,
    ) -> Vec<String> {
        let items: Vec<String> = stacked
            .iter()
            .map(|&c| (Self::cell(&self.headers, c), Self::cell(row, c)))
            .filter(|(_, value)| !value.is_empty() && *value != "-")
            .map(|(header, value)| format!("{} {value}", header.to_lowercase()))
            .collect();
        let margin = " ".repeat(indent + 4);
        let room = width.map_or(usize::MAX, |w| w.saturating_sub(indent + 4));
        wrap_items(&items, room)
            .into_iter()
            .map(|line| format!("{margin}{line}"))
            .collect()
    }
}

/// Prints the table, fitted to the terminal.
pub fn print(table: Table) {
    print_indented(table, 0);
}

/// Prints the table indented by `indent` spaces, fitted to the terminal.
pub fn print_indented(table: Table, indent: usize) {
    for line in table.lines(terminal_width(), indent) {
        outln!("{line}");
    }
}

/// `COLUMNS` when set, else the width of the terminal stdout is; None in a pipe.
fn terminal_width() -> Option<usize> {
    let columns = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
    columns.filter(|&c: &usize| c > 0).or_else(|| {
        console::Term::stdout()
            .size_checked()
            .map(|(_, c)| c as usize)
    })
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// `text` in lines of at most `width` characters: broken at spaces, then after commas
/// or semicolons, and only a word longer than a line is cut.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    // Each piece, and whether it continues the word before it (no space between).
    let mut words: Vec<(String, bool)> = Vec::new();
    for word in text.split(' ') {
        let pieces = pieces(word, width);
        words.extend(pieces.into_iter().enumerate().map(|(i, p)| (p, i > 0)));
    }
    let mut lines: Vec<String> = Vec::new();
    for (word, glued) in words {
        let gap = usize::from(!glued);
        match lines.last_mut() {
            Some(line) if chars(line) + gap + chars(&word) <= width => {
                if !glued {
                    line.push(' ');
                }
                line.push_str(&word);
            }
            _ => lines.push(word),
        }
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

/// A word as pieces of at most `width`: after its commas when it is longer, then cut.
fn pieces(word: &str, width: usize) -> Vec<String> {
    if chars(word) <= width {
        return vec![word.to_string()];
    }
    let mut out = Vec::new();
    for part in word.split_inclusive(',') {
        let letters: Vec<char> = part.chars().collect();
        out.extend(letters.chunks(width).map(|c| c.iter().collect::<String>()));
    }
    out
}

/// Items on lines of at most `width`, two spaces apart, each whole where it fits.
fn wrap_items(items: &[String], width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for item in items {
        match lines.last_mut() {
            Some(line) if chars(line) + GAP + chars(item) <= width => {
                line.push_str("  ");
                line.push_str(item);
            }
            _ => lines.extend(wrap(item, width)),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comma_followed_by_a_space_keeps_its_space_when_lines_are_joined() {
        assert_eq!(
            wrap("bake 20261207t204005-0e43f8, which died", 40),
            ["bake 20261207t204005-0e43f8, which died"]
        );
        assert_eq!(
            wrap("stable (us-east-1), stabel (eu-west-1)", 25),
            ["stable (us-east-1),", "stabel (eu-west-1)"]
        );
        // One word of commas is cut after them, its pieces joined without a space.
        assert_eq!(
            wrap("latest,stable,canary,beta", 14),
            ["latest,stable,", "canary,beta"]
        );
    }

    /// `releases` of a role in two regions and two architectures, on three channels.
    fn releases() -> Table {
        let mut table = new(&[
            "VERSION", "ARCH", "REGION", "IMAGE", "STATE", "TESTS", "CREATED", "BASE", "CHANNELS",
        ])
        .stacking(&["BASE", "CREATED", "STATE", "TESTS"]);
        for (region, arch) in [
            ("ap-southeast-7", "x86_64"),
            ("ap-southeast-7", "arm64"),
            ("eu-central-1", "x86_64"),
        ] {
            table.add_row(
                [
                    "1.10.0-rc.12",
                    arch,
                    region,
                    "ami-0123456789abcdef0",
                    "available",
                    "passed",
                    "2026-12-07 10:11:12Z",
                    "base@1.10.3",
                    "latest,stable,canary-eu-west",
                ]
                .map(String::from)
                .to_vec(),
            );
        }
        table
    }

    #[test]
    fn no_line_is_wider_than_the_terminal_and_nothing_is_lost() {
        for width in [80, 100, 200] {
            let lines = releases().lines(Some(width), 0);
            for line in &lines {
                assert!(line.chars().count() <= width, "{width}: {line:?}");
            }
            let text = lines.join("\n");
            for kept in [
                "ami-0123456789abcdef0",
                "2026-12-07 10:11:12Z",
                "base@1.10.3",
            ] {
                assert_eq!(text.matches(kept).count(), 3, "{width}: {text}");
            }
            assert!(text.contains("ap-southeast-7") && text.contains("1.10.0-rc.12"));
        }
        // Wide enough: one line per row, as in a pipe.
        assert_eq!(releases().lines(Some(200), 0).len(), 4);
        assert_eq!(releases().lines(None, 0), releases().lines(Some(200), 0));
        // At 80 columns the least important columns stack under their row.
        let narrow = releases().lines(Some(80), 0);
        assert!(narrow[0].starts_with("VERSION") && !narrow[0].contains("BASE"));
        let under = narrow
            .iter()
            .filter(|l| l.starts_with("    ") && l.contains("base base@"));
        assert_eq!(under.count(), 3, "{narrow:#?}");
    }

    /// The other tables' shapes, with their longest plausible cells.
    fn others() -> Vec<Table> {
        let snapshots = "snap-0123456789abcdef0, snap-0123456789abcdef1".to_string();
        let mut prune =
            new(&["ACTION", "VERSION", "REGION", "IMAGE", "WHY / SNAPSHOTS"]).stacking(&["REGION"]);
        prune.add_row(
            [
                "would delete",
                "1.10.0-rc.12",
                "ap-southeast-7",
                "ami-0123456789abcdef0",
            ]
            .map(String::from)
            .into_iter()
            .chain([snapshots])
            .collect(),
        );
        let mut audit = new(&[
            "REGION", "RELEASE", "IMAGE", "AGE/DAYS", "COUNT", "CHANNELS", "PROBLEMS",
        ])
        .stacking(&["CHANNELS", "AGE/DAYS", "COUNT"]);
        audit.add_row(
            [
                "ap-southeast-7",
                "zookeeper@1.10.0-rc.12",
                "ami-0123456789abcdef0",
                "412",
                "12",
                "latest,stable",
                "older than 90 days; deprecated since 2026-01-01",
            ]
            .map(String::from)
            .to_vec(),
        );
        let mut outdated = new(&["ROLE", "NEWEST", "FLEETS RUN", "WHY"]).stacking(&["FLEETS RUN"]);
        outdated.add_row(
            [
                "zookeeper-ensemble",
                "1.10.0-rc.12",
                "1.9.0 x12, 1.8.3 x4",
                "base moved: ami-0123456789abcdef0 -> ami-0fedcba9876543210 (arm64)",
            ]
            .map(String::from)
            .to_vec(),
        );
        let mut cleanup = new(&["ACTION", "RESOURCE", "WHY"]);
        cleanup.add_row(vec![
            "would remove".into(),
            "security group sg-0123456789abcdef0 (ap-southeast-7)".into(),
            "its bake 20261207t111351-abcdef is dead: its lock is free".into(),
        ]);
        vec![prune, audit, outdated, cleanup]
    }

    #[test]
    fn every_tables_lines_fit_80_100_and_200_columns() {
        for width in [80, 100, 200] {
            for table in others() {
                let lines = table.lines(Some(width), 0);
                for line in &lines {
                    assert!(line.chars().count() <= width, "{width}: {lines:#?}");
                }
                let text = lines.join(" ");
                for id in [
                    "ami-0123456789abcdef0",
                    "1.10.0-rc.12",
                    "sg-0123456789abcdef0",
                ] {
                    let whole = table.rows.iter().flatten().any(|cell| cell.contains(id));
                    assert!(
                        !whole || text.contains(id),
                        "{id} broken at {width}: {lines:#?}"
                    );
                }
            }
        }
    }

    #[test]
    fn prose_wraps_at_spaces_and_commas_and_ids_stay_whole() {
        let mut table = new(&["ACTION", "RESOURCE", "WHY"]);
        table.add_row(vec![
            "remove".into(),
            "instance i-0123456789abcdef0 (eu-west-1)".into(),
            "its bake's deadline passed 3 hours ago and its lock is free".into(),
        ]);
        let lines = table.lines(Some(80), 2);
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{lines:#?}");
        assert!(lines[1].contains("i-0123456789abcdef0"));
        assert!(lines.len() > 2, "the reason wraps: {lines:#?}");
        assert_eq!(
            wrap("latest,stable,canary", 8),
            ["latest,", "stable,", "canary"]
        );
        assert_eq!(wrap("a b c", 3), ["a b", "c"]);
    }
}
