//! The page: head with inline CSS, the summary, the per-method table, the
//! timeline, the sequence diagrams, the figures as inline JSON for other
//! programs, and the short script that sorts and highlights.

use std::fmt::Write;

use serde_json::json;

use super::calls::Call;
use super::escape::{attr, script_json, text};
use super::lanes::Lanes;
use super::methods::Methods;
use super::sequence::{self, Diagrams, Key};
use super::summary::{bounds, summary};
use super::svg::Scale;
use super::table::methods;
use super::timeline::{self, LABEL_W, PLOT_W};
use super::{Facts, Totals};

/// What the report collected.
pub struct Parts {
    /// Totals.
    pub totals: Totals,
    /// Per method.
    pub methods: Methods,
    /// The lanes.
    pub lanes: Lanes,
    /// The calls kept to draw one by one, the most notable first.
    pub drawn: Vec<(usize, Call)>,
    /// The sequence diagrams.
    pub diagrams: Diagrams,
    /// Calls whose messages were not followed (too many in flight).
    pub not_followed: u64,
}

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// What the page's size bounds left out, for the notes at its top.
#[derive(Default)]
pub struct Cut {
    /// Calls kept to draw but counted in slices instead.
    pub bars: u64,
    /// Calls of sequence diagrams not drawn.
    pub arrows: u64,
    /// Methods without a row.
    pub methods: u64,
}

/// The whole page.
pub fn render(mut p: Parts, facts: &Facts) -> String {
    let mut cut = Cut::default();
    let t0 = p.totals.span.map_or(0, |s| s.0);
    let (drawn, left) =
        timeline::within_budget(std::mem::take(&mut p.drawn), &mut p.lanes.lanes, t0);
    p.drawn = drawn;
    cut.bars = left;
    let mut timeline = String::new();
    timeline_section(&mut timeline, &p);
    let mut diagrams = String::new();
    cut.arrows = sequences(&mut diagrams, &p.diagrams);
    let mut table = String::new();
    let listed = methods(&mut table, &mut p.methods);
    cut.methods = (p.methods.rows().count() - listed) as u64;
    let mut out = String::with_capacity(1 << 20);
    let title = format!("containerdsnoop report: {}", facts.source);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n\
         <header><h1>{}</h1><p class=\"sub\">containerdsnoop {} report · \
         <a href=\"#summary\">summary</a> · <a href=\"#methods\">methods</a> · \
         <a href=\"#timeline\">timeline</a> · <a href=\"#sequences\">sequence diagrams</a></p></header>\n",
        text(&title),
        text(&facts.source),
        env!("CARGO_PKG_VERSION"),
    );
    bounds(&mut out, &p, &cut);
    summary(&mut out, &p, facts);
    out.push_str(&table);
    out.push_str(&timeline);
    out.push_str(&diagrams);
    data(&mut out, &mut p, listed);
    let _ = write!(out, "<script>{SCRIPT}</script>\n</body></html>\n");
    out
}

/// A number in a table cell, sortable.
pub fn num_cell(n: u64) -> String {
    format!("<td class=\"n\" data-sort=\"{n}\">{n}</td>")
}

fn legend(out: &mut String) {
    out.push_str("<p class=\"legend\">");
    for (class, what) in [
        ("ok", "OK"),
        ("err", "error status"),
        ("rst", "stream reset"),
        ("nost", "no status"),
        ("open", "open at the end (dashed)"),
    ] {
        let _ = write!(out, "<span class=\"key {class}\"></span>{what} ");
    }
    out.push_str(
        "<span class=\"key ok stream\"></span>stream (outlined) \
         <span class=\"key slice\"></span>calls counted, not drawn one by one \
         <span class=\"key gap\">▼</span>gap (bytes lost)</p>",
    );
}

fn timeline_section(out: &mut String, p: &Parts) {
    out.push_str(
        "<section id=\"timeline\"><h2>Timeline</h2><p class=\"hint\">One lane per connection \
         (client → server); each call a bar from its request to its end. Hover a bar for its \
         method, pod, status and the start of its request.</p>",
    );
    legend(out);
    let Some((t0, t1)) = p.totals.span else {
        out.push_str("<p>Nothing to draw.</p></section>\n");
        return;
    };
    let scale = Scale::new(t0, t1, LABEL_W, PLOT_W);
    out.push_str("<div class=\"scroll\">");
    timeline::render(out, &scale, &p.lanes.lanes, &p.drawn, &p.lanes.gap_marks);
    out.push_str("</div></section>\n");
}

/// The sequence diagrams; how many of their calls the page's size left out.
fn sequences(out: &mut String, d: &Diagrams) -> u64 {
    let mut room = sequence::DIAGRAMS_BYTES;
    let mut cut = 0u64;
    out.push_str(
        "<section id=\"sequences\"><h2>Sequence diagrams</h2><p class=\"hint\">One per pod \
         (its CRI calls, and containerd's and the shims' calls about it), and one per \
         connection for calls of no known pod: an arrow for each request and each end, in \
         order, with the time since the diagram's first arrow.</p>",
    );
    let list = d.sorted();
    if list.is_empty() {
        out.push_str("<p>No call.</p>");
    }
    for diagram in list {
        let (attrs, heading) = match (&diagram.key, &diagram.pod) {
            (Key::Pod(..), Some(pod)) => {
                (format!(" data-pod=\"{}\"", attr(pod)), format!("Pod {pod}"))
            }
            (Key::Conn(id), _) => {
                let c = diagram.calls.first();
                let who = c.map_or(String::new(), |c| {
                    format!(": {} → {}", c.client.short(), c.server.short())
                });
                (
                    format!(" data-conn=\"{id}\""),
                    format!("Connection c{id}{who}"),
                )
            }
            (Key::Pod(..), None) => (String::new(), "Pod".to_string()),
        };
        let (svg, n) = sequence::render_within(diagram, room);
        room -= svg.len();
        let more = diagram.more + (diagram.calls.len() - n) as u64;
        cut += (diagram.calls.len() - n) as u64;
        let _ = writeln!(
            out,
            "<section class=\"seq\"{attrs}><h3>{}</h3><p class=\"hint\">{n} calls drawn{}</p>\
             <div class=\"scroll\">{svg}</div></section>",
            text(&heading),
            if more > 0 {
                format!(", {more} more not drawn")
            } else {
                String::new()
            }
        );
    }
    out.push_str("</section>\n");
    cut
}

/// The figures as JSON, for programs (and tests) reading the page.
fn data(out: &mut String, p: &mut Parts, listed: usize) {
    let methods: Vec<serde_json::Value> = p
        .methods
        .rows()
        .take(listed)
        .map(|(name, row)| json!({"method": name, "calls": row.calls, "errors": row.errors()}))
        .collect();
    let pods: Vec<&str> = p
        .diagrams
        .list
        .iter()
        .filter_map(|d| d.pod.as_deref())
        .collect();
    let v = json!({
        "calls": p.totals.calls,
        "messages": p.totals.messages,
        "drawn_calls": p.drawn.len(),
        "gaps": p.totals.gaps,
        "methods": methods,
        "pods": pods,
    });
    let _ = writeln!(
        out,
        "<script type=\"application/json\" id=\"report-data\">{}</script>",
        script_json(&v.to_string())
    );
}
