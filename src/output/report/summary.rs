//! The top of the page: what the bounds left out, the summary (time span,
//! calls, connections, protocols, gaps and drops) and the connections.

use std::fmt::Write;

use super::calls::Outcome;
use super::escape::text;
use super::lanes::{LaneKind, MAX_GAP_MARKS, OWN_LANES};
use super::methods::{EXACT_SAMPLES, MAX_METHODS};
use super::page::{num_cell, Cut, Parts};
use super::sequence;
use super::timeline;
use super::{drawn::MAX_DRAWN, Facts};
use crate::output::time::rfc3339;

/// What was counted rather than drawn, said before anything else.
pub fn bounds(out: &mut String, p: &Parts, cut: &Cut) {
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
        .filter(|l| !matches!(l.kind, LaneKind::Conn(_)))
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

/// The summary and the connections (a row per lane).
pub fn summary(out: &mut String, p: &Parts, f: &Facts) {
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
            "{}{} with calls, notes or gaps shown; in the capture {} gRPC, {} ttrpc, {}{} other{}",
            if p.lanes.uncounted { "at least " } else { "" },
            p.lanes.conns(),
            pr.grpc,
            pr.ttrpc,
            match pr.http {
                0 => String::new(),
                n => format!("{n} HTTP/1.1, "),
            },
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
    for hint in &f.schema_hints {
        dt(out, "Schemas", hint);
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
