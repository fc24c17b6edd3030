//! The per-method table: calls, errors by status, latency p50/p95/max and
//! bytes, sortable (with script) by the `data-sort` value of each cell.

use std::fmt::Write;

use super::escape::{attr, text};
use super::methods::{Methods, Quantile, OTHER_METHODS};
use super::page::num_cell;

/// A duration in a table cell, sortable; `≈` when from a histogram.
fn ns_cell(q: Option<Quantile>) -> String {
    match q {
        Some(q) => format!(
            "<td class=\"n\" data-sort=\"{}\">{}{}</td>",
            q.ns,
            if q.approximate { "≈" } else { "" },
            crate::output::duration(q.ns)
        ),
        None => "<td class=\"n\" data-sort=\"-1\">-</td>".to_string(),
    }
}

/// Bytes of the page the method rows may take.
const METHOD_ROWS_BYTES: usize = 800_000;

/// The method table; how many methods have a row (the first ones: the
/// others had no room).
pub fn methods(out: &mut String, m: &mut Methods) -> usize {
    let start = out.len();
    let (mut listed, mut left, mut left_calls) = (0usize, 0u64, 0u64);
    out.push_str(
        "<section id=\"methods\"><h2>Per method</h2>\
         <p class=\"hint\">Latency is request to end, of the calls whose request was seen and \
         that ended; bytes are message bytes after decompression. Click a heading to sort \
         (with script).</p>\
         <table class=\"methods sortable\"><thead><tr><th>method</th><th>calls</th>\
         <th>errors</th><th>by status</th><th>p50</th><th>p95</th><th>max</th>\
         <th>request bytes</th><th>response bytes</th></tr></thead><tbody>",
    );
    for (name, row) in m.rows() {
        if left > 0 || out.len() - start > METHOD_ROWS_BYTES {
            left += 1;
            left_calls += row.calls;
            continue;
        }
        listed += 1;
        let statuses: Vec<String> = row
            .outcomes
            .iter()
            .map(|(o, n)| format!("{} {n}", o.label()))
            .collect();
        let (p50, p95) = (row.percentile(50), row.percentile(95));
        let max = (row.timed > 0).then_some(Quantile {
            ns: row.max_ns,
            approximate: false,
        });
        // The row of the methods past the bound names no method.
        let tag = match name == OTHER_METHODS {
            true => format!("<tr class=\"others\" data-calls=\"{}\">", row.calls),
            false => format!(
                "<tr class=\"method\" data-method=\"{}\" data-calls=\"{}\">",
                attr(name),
                row.calls
            ),
        };
        let _ = write!(
            out,
            "{tag}<td class=\"m\">{}</td>{}{}<td>{}</td>{}{}{}{}{}</tr>",
            text(name),
            num_cell(row.calls),
            num_cell(row.errors()),
            text(&statuses.join(", ")),
            ns_cell(p50),
            ns_cell(p95),
            ns_cell(max),
            num_cell(row.request_bytes),
            num_cell(row.response_bytes),
        );
    }
    if left > 0 {
        let _ = write!(
            out,
            "<tr><td>{left} more methods, not listed</td>{}<td colspan=\"7\"></td></tr>",
            num_cell(left_calls)
        );
    }
    out.push_str("</tbody></table></section>\n");
    listed
}
