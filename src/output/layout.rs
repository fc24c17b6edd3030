//! Column widths of the table. Rows are written as they come, so widths
//! can only grow: each column starts at a width that fits the common case
//! and widens to the widest cell seen, up to a bound; cells past the bound
//! are cut with `…`. Widths and cuts count terminal columns (a CJK
//! character takes two), never bytes or chars.
//!
//! METHOD is bounded by the terminal: 40% of what the terminal has beyond
//! 60 columns (16 on 100 columns, 24 on 120, 40 on 160), cut at its start
//! so that the method name stays. With `--full` (or when the output is not
//! a terminal) nothing is cut.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Cells of a row before MESSAGE, which takes the rest.
pub const COLUMNS: usize = 7;

/// Column headers, MESSAGE last.
pub const HEADERS: [&str; COLUMNS + 1] = [
    "TIMESTAMP",
    "COMM",
    "PID/TID",
    "PEER",
    "TYPE",
    "STREAM",
    "METHOD",
    "MESSAGE",
];

/// Where METHOD is.
const METHOD: usize = 6;
/// Starting widths: `14:10:00.123`, `containerd`, `20598/20611`,
/// `containerd/20598`, `RESP`, `c12:34`, a short method.
const START: [usize; COLUMNS] = [12, 10, 11, 16, 4, 6, 12];
/// Starting widths with `--full`: microseconds, any comm, method paths.
const START_FULL: [usize; COLUMNS] = [15, 15, 11, 16, 4, 6, 32];
/// Widest a cell may be (METHOD: see [`method_bound`]). A comm is at most
/// 15 bytes and a pid 7 digits (pid_max is at most 2^22).
const BOUND: [usize; COLUMNS] = [15, 15, 15, 23, 4, 16, usize::MAX];
/// Numbers are right-aligned.
const RIGHT: [bool; COLUMNS] = [false, false, true, false, false, true, false];

/// METHOD's bound on a terminal `columns` wide.
pub fn method_bound(columns: usize) -> usize {
    (columns.saturating_sub(60) * 2 / 5).clamp(10, 40)
}

/// The widths so far.
#[derive(Clone, Debug)]
pub struct Layout {
    widths: [usize; COLUMNS],
    bounds: [usize; COLUMNS],
}

impl Layout {
    /// A layout for a terminal `columns` wide (None: not a terminal) that
    /// cuts cells unless `full`.
    pub fn new(columns: Option<usize>, full: bool) -> Self {
        let mut bounds = BOUND;
        match columns {
            Some(c) if !full => bounds[METHOD] = method_bound(c),
            _ => bounds = [usize::MAX; COLUMNS],
        }
        let mut widths = if full { START_FULL } else { START };
        for (w, b) in widths.iter_mut().zip(bounds) {
            *w = (*w).min(b);
        }
        Layout { widths, bounds }
    }

    /// The current widths.
    pub fn widths(&self) -> [usize; COLUMNS] {
        self.widths
    }

    /// Grows the widths to fit `cells` (before the header, so that the
    /// header fits the first row).
    pub fn fit(&mut self, cells: &[String; COLUMNS + 1]) {
        for ((w, bound), cell) in self.widths.iter_mut().zip(self.bounds).zip(cells) {
            *w = (*w).max(cell.width().min(bound));
        }
    }

    /// One row: the cells cut to their bounds, padded to the widths (which
    /// grow to fit them), MESSAGE as it is; no trailing blanks.
    pub fn row(&mut self, cells: &[String; COLUMNS + 1]) -> String {
        self.fit(cells);
        let mut row = String::with_capacity(160);
        for i in 0..COLUMNS {
            let cell = match i {
                METHOD => cut_front(&cells[i], self.bounds[i]),
                _ => cut_to_width(&cells[i], self.bounds[i]),
            };
            let width = cell.width();
            let pad = " ".repeat(self.widths[i] - width);
            match RIGHT[i] {
                true => row.extend([pad.as_str(), &cell]),
                false => row.extend([cell.as_str(), &pad]),
            }
            row.push(' ');
        }
        row.push_str(&cells[COLUMNS]);
        row.truncate(row.trim_end().len());
        row
    }

    /// The header row, at the current widths.
    pub fn header(&mut self) -> String {
        self.row(&HEADERS.map(str::to_string))
    }
}

/// `text` cut to `max` terminal columns, ending in `…` when cut.
pub fn cut_to_width(text: &str, max: usize) -> String {
    if text.width() <= max {
        return text.to_string();
    }
    let mut out = String::with_capacity(max + 3);
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// `text` cut to `max` terminal columns from its start, beginning with `…`
/// when cut (a method's name is at its end).
pub fn cut_front(text: &str, max: usize) -> String {
    if text.width() <= max {
        return text.to_string();
    }
    let mut kept = Vec::new();
    let mut used = 0;
    for c in text.chars().rev() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        used += w;
        kept.push(c);
    }
    std::iter::once('…').chain(kept.into_iter().rev()).collect()
}

#[cfg(test)]
mod tests;
