//! The page: head with inline CSS, the summary, the per-method table, the
//! timeline, the sequence diagrams, the figures as inline JSON for other
//! programs, and the short script that sorts and highlights.

use std::fmt::Write;

use serde_json::json;

use super::calls::{Call, Outcome};
use super::escape::{attr, script_json, text};
use super::lanes::{Lanes, MAX_GAP_MARKS, OWN_LANES};
use super::methods::{Methods, Quantile, EXACT_SAMPLES, MAX_METHODS};
use super::sequence::{self, Diagrams, Key};
use super::svg::Scale;
use super::timeline::{self, LABEL_W, PLOT_W};
use super::{drawn::MAX_DRAWN, Facts, Totals};
use crate::output::time::rfc3339;

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
struct Cut {
    /// Calls kept to draw but counted in slices instead.
    bars: u64,
    /// Calls of sequence diagrams not drawn.
    arrows: u64,
    /// Methods without a row.
    methods: u64,
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

/// What was counted rather than drawn, said before anything else.
fn bounds(out: &mut String, p: &Parts, cut: &Cut) {
    let mut said = Vec::new();
    let drawn = p.drawn.len() as u64;
    if drawn < p.totals.calls {
        said.push(format!(
            "The timeline draws {drawn} of the {} calls one by one (the errors first, then the \
             longest; at most {MAX_DRAWN}{}); the other {} are shaded slices of their lane, darker \
             for more calls.",
            p.totals.calls,
            if cut.bars > 0 {
                format!(", and {} fewer to keep the page small", cut.bars)
            } else {
                String::new()
            },
            p.totals.calls - drawn
        ));
    }
    if cut.arrows > 0 {
        said.push(format!(
            "{} calls of sequence diagrams are not drawn, to keep the page small.",
            cut.arrows
        ));
    }
    if cut.methods > 0 {
        said.push(format!(
            "{} methods have no row of their own, to keep the page small: the last row counts them.",
            cut.methods
        ));
    }
    let grouped: u64 = p
        .lanes
        .lanes
        .iter()
        .filter(|l| !matches!(l.kind, super::lanes::LaneKind::Conn(_)))
        .map(|l| l.conns)
        .sum();
    if grouped > 0 {
        said.push(format!(
            "The first {OWN_LANES} connections have a lane each; the {grouped} after them share \
             a lane per client, server and socket{}.",
            if p.lanes.uncounted {
                " (at least: past a million connections they are no longer told apart)"
            } else {
                ""
            }
        ));
    }
    if p.lanes.gaps_not_marked > 0 {
        said.push(format!(
            "{} gaps are counted but not marked (at most {MAX_GAP_MARKS} are).",
            p.lanes.gaps_not_marked
        ));
    }
    let d = &p.diagrams;
    let more: u64 = d.list.iter().map(|x| x.more).sum();
    if more > 0 {
        said.push(format!(
            "{more} calls are left out of their sequence diagram (each draws the first {} to \
             end, all together at most {}).",
            sequence::CALLS_PER_DIAGRAM,
            sequence::MAX_CALLS
        ));
    }
    if d.pods_left_out > 0 {
        said.push(format!(
            "{} calls of pods past the first {} have no sequence diagram.",
            d.pods_left_out,
            sequence::MAX_POD_DIAGRAMS
        ));
    }
    if d.conns_left_out > 0 {
        said.push(format!(
            "{} calls of no known pod, on connections past the first {} drawn, have no sequence diagram.",
            d.conns_left_out,
            sequence::MAX_CONN_DIAGRAMS
        ));
    }
    if p.methods.overflowed() {
        said.push(format!(
            "Methods past the first {MAX_METHODS} share the row \"{}\".",
            super::methods::OTHER_METHODS
        ));
    }
    if p.methods.histograms > 0 {
        said.push(format!(
            "Past {EXACT_SAMPLES} latencies, {} methods' percentiles come from a histogram (marked ≈: \
             within 1.6% below the true value); every maximum is exact.",
            p.methods.histograms
        ));
    }
    if p.not_followed > 0 {
        said.push(format!(
            "{} calls had too many others in flight to keep their request text and message counts.",
            p.not_followed
        ));
    }
    if said.is_empty() {
        return;
    }
    out.push_str("<section id=\"bounds\" class=\"bounds\"><h2>Aggregated</h2><ul>");
    for s in said {
        let _ = write!(out, "<li>{}</li>", text(&s));
    }
    out.push_str("</ul></section>\n");
}

fn dt(out: &mut String, term: &str, value: &str) {
    let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", text(term), text(value));
}

fn summary(out: &mut String, p: &Parts, f: &Facts) {
    let t = &p.totals;
    out.push_str("<section id=\"summary\"><h2>Summary</h2><dl>");
    if let Some(problem) = &f.problem {
        dt(out, "Read", problem);
    }
    match t.span {
        Some((a, b)) => dt(
            out,
            "Time span",
            &format!(
                "{} to {} ({})",
                rfc3339(a),
                rfc3339(b),
                crate::output::duration(b - a)
            ),
        ),
        None => dt(out, "Time span", "no call, message or gap"),
    }
    let count = |o: &dyn Fn(&Outcome) -> bool| -> u64 {
        t.outcomes
            .iter()
            .filter(|(k, _)| o(k))
            .map(|(_, n)| n)
            .sum()
    };
    dt(
        out,
        "Calls",
        &format!(
            "{} ({} errors, {} open at the end, {} with no status); {} messages",
            t.calls,
            count(&|o| o.is_error()),
            count(&|o| *o == Outcome::Open),
            count(&|o| *o == Outcome::NoStatus),
            t.messages
        ),
    );
    let pr = &f.protocols;
    dt(
        out,
        "Connections",
        &format!(
            "{} with calls, notes or gaps shown; in the capture {} gRPC, {} ttrpc, {} other{}",
            p.lanes.conns(),
            pr.grpc,
            pr.ttrpc,
            pr.other,
            if f.mid_connection > 0 {
                format!("; {} begun before the capture", f.mid_connection)
            } else {
                String::new()
            }
        ),
    );
    dt(
        out,
        "Gaps and drops",
        &format!(
            "{} gaps in the calls shown ({} bytes lost); in the capture {} bytes lost (dropped \
             while recording, or missing), {} bytes seen twice and dropped, {} packets skipped",
            t.gaps, t.gap_bytes, f.gap_bytes, f.duplicate_bytes, f.skipped_packets
        ),
    );
    dt(
        out,
        "Capture",
        &format!("{} packets, {} payload bytes", f.packets, f.bytes),
    );
    if f.unnamed > 0 {
        dt(
            out,
            "Unnamed",
            &format!(
                "{} calls' methods stayed unknown (header fields from before the capture)",
                f.unnamed
            ),
        );
    }
    if let Some(c) = &f.containers {
        dt(out, "From containers", c);
    }
    if !f.filters.is_empty() {
        dt(out, "Filters", &f.filters.join(" "));
    }
    if t.notes > 0 {
        let mut s = format!("{}", t.notes);
        for n in &t.first_notes {
            let _ = write!(s, "\n{n}");
        }
        if t.notes > t.first_notes.len() as u64 {
            s.push_str("\n…");
        }
        out.push_str("<dt>Decoder notes</dt><dd><pre>");
        out.push_str(&text(&s));
        out.push_str("</pre></dd>");
    }
    out.push_str(
        "</dl>\n<h3>Connections</h3><table class=\"conns sortable\"><thead><tr>\
        <th>lane</th><th>socket</th><th>protocol</th><th>connections</th><th>calls</th>\
        <th>errors</th><th>gaps</th><th>bytes lost</th></tr></thead><tbody>",
    );
    for l in &p.lanes.lanes {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td>{}{}{}{}{}</tr>",
            text(&timeline::lane_label(l)),
            text(l.path.as_deref().unwrap_or("-")),
            l.protocol.map_or("-", |p| p.name()),
            num_cell(l.conns),
            num_cell(l.calls),
            num_cell(l.errors),
            num_cell(l.gaps),
            num_cell(l.gap_bytes),
        );
    }
    out.push_str("</tbody></table></section>\n");
}

fn num_cell(n: u64) -> String {
    format!("<td class=\"n\" data-sort=\"{n}\">{n}</td>")
}

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
fn methods(out: &mut String, m: &mut Methods) -> usize {
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
        let _ = write!(
            out,
            "<tr class=\"method\" data-method=\"{}\" data-calls=\"{}\"><td class=\"m\">{}</td>{}{}\
             <td>{}</td>{}{}{}{}{}</tr>",
            attr(name),
            row.calls,
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
