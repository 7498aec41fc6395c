//! Tables on stdout (`releases`, `prune`, `cleanup`, `audit`, `outdated`, regions):
//! columns sized to their content, wrapped to the terminal's width when stdout is one,
//! never cut when it is a pipe (`grep`, `awk` see whole cells).

use comfy_table::presets::NOTHING;
use comfy_table::{ContentArrangement, Table};

use crate::output::outln;

/// A table with these column headers, without borders, two spaces between columns.
pub fn new(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(headers.iter().copied());
    table
}

/// The rows without a header line (lists inside a longer text).
pub fn rows() -> Table {
    let mut table = Table::new();
    table
        .load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic);
    table
}

/// Prints the table, each line without the padding after its last cell.
pub fn print(table: Table) {
    print_indented(table, 0);
}

/// Prints the table indented by `indent` spaces.
pub fn print_indented(mut table: Table, indent: usize) {
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    for line in table.lines() {
        outln!("{:indent$}{}", "", line.trim_end());
    }
}
