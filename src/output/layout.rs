//! Column widths of the table. A column is as wide as its widest cell so
//! far, up to a bound; cells past the bound are cut with `…`. Widths and
//! cuts count terminal columns (a CJK character takes two), never bytes or
//! chars.
//!
//! Widths never shrink, and when a cell must widen its column the table
//! writes its header again at the new widths (`table.rs`): every row sits
//! under a header that matches it. Columns start as narrow as their header
//! ([`Layout::new`]: `decode` then sizes them from a block of rows before
//! the first is written), or, for rows written as they come, as wide as
//! their cells can be ([`Layout::live`]), so that the header rarely has to
//! be written again.
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
/// The longest comm: the kernel's TASK_COMM_LEN (16) less its NUL.
const COMM_LEN: usize = 15;
/// Digits of the largest pid Linux can give (PID_MAX_LIMIT is 2^22).
pub const MAX_PID_DIGITS: usize = 7;
/// Widest a cell may be (METHOD: see [`method_bound`]): `14:10:00.123456`,
/// a comm, `pid/tid` and `comm/pid` of 7-digit pids, `RESP`, `c12:34567890`.
const BOUND: [usize; COLUMNS] = [15, 15, 15, 23, 4, 16, usize::MAX];
/// Numbers are right-aligned.
const RIGHT: [bool; COLUMNS] = [false, false, true, false, false, true, false];

/// METHOD's bound on a terminal `columns` wide.
pub fn method_bound(columns: usize) -> usize {
    (columns.saturating_sub(60) * 2 / 5).clamp(10, 40)
}

/// Starting widths of a live table: what a timestamp, a comm, `pid/tid`
/// and `comm/pid` of pids of `pid_digits` digits and a type can be; STREAM
/// and METHOD, which have no useful bound, at common widths (`c12:34`, a
/// short method; `--full`: a method path).
fn live_widths(full: bool, pid_digits: usize) -> [usize; COLUMNS] {
    let d = pid_digits.clamp(1, MAX_PID_DIGITS);
    let (timestamp, method) = if full { (15, 32) } else { (12, 12) };
    [
        timestamp,
        COMM_LEN,
        2 * d + 1,
        COMM_LEN + 1 + d,
        4,
        6,
        method,
    ]
}

/// The widths so far.
#[derive(Clone, Debug)]
pub struct Layout {
    widths: [usize; COLUMNS],
    bounds: [usize; COLUMNS],
}

impl Layout {
    /// A layout for a terminal `columns` wide (None: not a terminal) that
    /// cuts cells unless `full`; each column as wide as its header.
    pub fn new(columns: Option<usize>, full: bool) -> Self {
        let mut bounds = BOUND;
        match columns {
            Some(c) if !full => bounds[METHOD] = method_bound(c),
            _ => bounds = [usize::MAX; COLUMNS],
        }
        Layout {
            widths: std::array::from_fn(|i| HEADERS[i].width()),
            bounds,
        }
    }

    /// Like [`Layout::new`], for rows written as they come: each column
    /// starts as wide as its cells can be where that is known (pids of at
    /// most `pid_digits` digits), so that it seldom widens.
    pub fn live(columns: Option<usize>, full: bool, pid_digits: usize) -> Self {
        let mut layout = Layout::new(columns, full);
        let start = live_widths(full, pid_digits);
        for ((w, bound), start) in layout.widths.iter_mut().zip(layout.bounds).zip(start) {
            *w = (*w).max(start.min(bound));
        }
        layout
    }

    /// The current widths.
    pub fn widths(&self) -> [usize; COLUMNS] {
        self.widths
    }

    /// Widens the columns to fit `cells`; whether any width changed (the
    /// header must then be written again).
    pub fn fit(&mut self, cells: &[String; COLUMNS + 1]) -> bool {
        let mut changed = false;
        for ((w, bound), cell) in self.widths.iter_mut().zip(self.bounds).zip(cells) {
            let need = cell.width().min(bound);
            if need > *w {
                *w = need;
                changed = true;
            }
        }
        changed
    }

    /// One row: the cells cut to their bounds, padded to the widths (fitted
    /// to them first), MESSAGE as it is; no trailing blanks.
    pub fn row(&self, cells: &[String; COLUMNS + 1]) -> String {
        let mut row = String::with_capacity(160);
        for i in 0..COLUMNS {
            let cell = match i {
                METHOD => cut_front(&cells[i], self.bounds[i]),
                _ => cut_to_width(&cells[i], self.bounds[i]),
            };
            let pad = " ".repeat(self.widths[i].saturating_sub(cell.width()));
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
    pub fn header(&self) -> String {
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
