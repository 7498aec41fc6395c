//! Tables on stdout (`releases`, `prune`, `cleanup`, `audit`, `outdated`, regions):
//! columns sized to their content; on a terminal the last column (the prose: why,
//! problems, channels) wraps to its width, while ids, versions and times are never
//! broken; in a pipe nothing wraps (`grep`, `awk` see whole cells).

use comfy_table::presets::NOTHING;
use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width};

use crate::output::outln;

/// The narrowest the last column is wrapped to.
const PROSE_WIDTH: u16 = 32;

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
    let last = table.column_count().saturating_sub(1);
    // The prose wraps, but keeps a readable width even when the ids fill the terminal
    // (the terminal then wraps the line instead).
    let header = table
        .header()
        .and_then(|row| row.cell_iter().nth(last))
        .map_or(0, |cell| cell.content().chars().count() as u16);
    let prose_floor = table
        .column_max_content_widths()
        .get(last)
        .map_or(0, |widest| (*widest).min(PROSE_WIDTH))
        .max(header);
    for (index, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, 2));
        column.set_constraint(if index < last {
            ColumnConstraint::ContentWidth
        } else {
            ColumnConstraint::LowerBoundary(Width::Fixed(prose_floor))
        });
    }
    for line in table.lines() {
        outln!("{:indent$}{}", "", line.trim_end());
    }
}
