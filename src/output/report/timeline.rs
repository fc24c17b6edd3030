//! The timeline: a lane per connection (client -> server), each drawn call
//! a bar from its request to its end coloured by how it ended, streams
//! outlined, calls still open at the end dashed up to it, gaps marked
//! above their lane, and the calls not drawn one by one as shaded slices
//! whose darkness says how many. Hovering (an SVG `<title>`, no script
//! needed) shows a call's method, pod, status and the first part of its
//! request.

use std::fmt::Write;

use super::calls::{Call, Outcome};
use super::escape::{attr, cut, text};
use super::lanes::{GapMark, Lane, LaneKind};
use super::svg::{num, relative, Scale};
use crate::flow::{Dir, Process};

/// Left of the plot: the lanes' labels.
pub const LABEL_W: f64 = 290.0;
/// The plot's width.
pub const PLOT_W: f64 = 1000.0;
const AXIS_H: f64 = 28.0;
/// A lane's height above and below its rows.
const LANE_PAD: f64 = 8.0;
/// A row of bars.
const ROW_H: f64 = 12.0;
const BAR_H: f64 = 10.0;
/// Rows of bars in one lane at most: calls that overlap in time (a
/// connection's concurrent calls, a long stream) are drawn one above the
/// other, and past this many, over each other.
pub const MAX_ROWS: usize = 4;
/// Columns the counted calls of a lane are shown in.
const SLICE_COLUMNS: usize = 200;

fn who(p: &Process) -> String {
    match (p.comm, p.pid) {
        (Some(c), Some(pid)) => format!("{c} {pid}"),
        (Some(c), None) => c.to_string(),
        (None, Some(pid)) => format!("pid {pid}"),
        (None, None) => "?".to_string(),
    }
}

/// A lane's label: `client -> server`, and what it stands for.
pub fn lane_label(l: &Lane) -> String {
    match l.kind {
        LaneKind::Conn(id) => format!("c{id} {} → {}", who(&l.client), who(&l.server)),
        LaneKind::Group => format!("{} → {} ×{}", who(&l.client), who(&l.server), l.conns),
        LaneKind::Rest => format!("other connections ×{}", l.conns),
    }
}

/// Bytes of the page the calls drawn one by one may take, so that a
/// capture of long method paths or pod names still gives a page of a few
/// megabytes.
pub const BARS_BYTES: usize = 1_500_000;

/// The calls of `ranked` (most notable first) that fit in [`BARS_BYTES`],
/// by lane, then start; the others are counted in their lane's slices.
/// Returns them and how many did not fit.
pub fn within_budget(
    ranked: Vec<(usize, Call)>,
    lanes: &mut [Lane],
    t0: u64,
) -> (Vec<(usize, Call)>, u64) {
    let mut used = 0;
    let mut kept = Vec::with_capacity(ranked.len());
    let mut left = 0;
    for (lane, c) in ranked {
        // What `bar` writes, less its numbers.
        let cost = 160
            + attr(&c.method).len()
            + c.pod.as_deref().map_or(0, |p| attr(p).len())
            + text(&hover(&c, t0)).len();
        if used + cost <= BARS_BYTES {
            used += cost;
            kept.push((lane, c));
        } else if let Some(l) = lanes.get_mut(lane) {
            l.bins
                .add(c.start_ns.unwrap_or(c.end_ns), c.outcome.is_error());
            l.binned += 1;
            left += 1;
        }
    }
    kept.sort_by_key(|(lane, c)| (*lane, c.start_ns.unwrap_or(c.end_ns), c.seq));
    (kept, left)
}

/// The row of each drawn call (`drawn` sorted by lane, then start), and
/// how many rows each lane needs: a call takes the first row whose last
/// bar ended a pixel before it starts, else the row that frees first.
fn rows(scale: &Scale, lanes: usize, drawn: &[(usize, Call)]) -> (Vec<usize>, Vec<usize>) {
    let mut needed = vec![1; lanes];
    let mut row_of = Vec::with_capacity(drawn.len());
    let mut ends: Vec<f64> = Vec::new();
    let mut lane_now = usize::MAX;
    for (lane, c) in drawn {
        if *lane != lane_now {
            lane_now = *lane;
            ends.clear();
        }
        let (x, w) = extent(scale, c);
        let row = match ends.iter().position(|&e| e + 1.0 <= x) {
            Some(r) => r,
            None if ends.len() < MAX_ROWS => {
                ends.push(f64::MIN);
                ends.len() - 1
            }
            None => (0..ends.len())
                .min_by(|&a, &b| ends[a].total_cmp(&ends[b]))
                .unwrap_or(0),
        };
        ends[row] = ends[row].max(x + w);
        if let Some(n) = needed.get_mut(*lane) {
            *n = (*n).max(row + 1);
        }
        row_of.push(row);
    }
    (needed, row_of)
}

/// Where a call's bar starts and how wide it is.
fn extent(scale: &Scale, c: &Call) -> (f64, f64) {
    match c.start_ns {
        Some(s) => {
            let x = scale.x(s);
            (x, (scale.x(c.end_ns) - x).max(1.5))
        }
        None => (scale.x(c.end_ns) - 2.0, 2.0),
    }
}

/// The SVG of the timeline.
pub fn render(
    out: &mut String,
    scale: &Scale,
    lanes: &[Lane],
    drawn: &[(usize, Call)],
    gaps: &[GapMark],
) {
    let (needed, row_of) = rows(scale, lanes.len(), drawn);
    let mut tops = Vec::with_capacity(lanes.len());
    let mut bottom = AXIS_H;
    for n in &needed {
        tops.push(bottom);
        bottom += LANE_PAD + ROW_H * *n as f64;
    }
    let height = bottom + 8.0;
    let width = LABEL_W + PLOT_W + 30.0;
    let _ = write!(
        out,
        "<svg class=\"timeline\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">",
        w = num(width),
        h = num(height)
    );
    for (i, lane) in lanes.iter().enumerate() {
        let y = tops[i];
        if i % 2 == 0 {
            let _ = write!(
                out,
                "<rect class=\"stripe\" x=\"0\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
                num(y),
                num(width),
                num(LANE_PAD + ROW_H * needed[i] as f64)
            );
        }
        let label = lane_label(lane);
        let mut about = label.clone();
        if let Some(p) = &lane.path {
            let _ = write!(about, "\nsocket {p}");
        }
        let _ = write!(
            about,
            "\n{} calls, {} errors, {} gaps",
            lane.calls, lane.errors, lane.gaps
        );
        let _ = write!(
            out,
            "<text class=\"lane\" x=\"4\" y=\"{}\">{}<title>{}</title></text>",
            num(y + 14.0),
            text(&cut(&label, 44)),
            text(&about)
        );
    }
    scale.axis(out, AXIS_H, height - 4.0);
    for (i, lane) in lanes.iter().enumerate() {
        let h = ROW_H * needed[i] as f64 - (ROW_H - BAR_H);
        slices(out, scale, lane, tops[i] + LANE_PAD / 2.0, h);
    }
    for ((lane, call), row) in drawn.iter().zip(&row_of) {
        let y = tops[*lane] + LANE_PAD / 2.0 + ROW_H * *row as f64;
        bar(out, scale, call, y);
    }
    for g in gaps {
        if let Some(top) = tops.get(g.lane) {
            gap(out, scale, g, top + 2.0);
        }
    }
    out.push_str("</svg>");
}

/// The counted calls of `lane` in columns, shaded by how many.
fn slices(out: &mut String, scale: &Scale, lane: &Lane, y: f64, h: f64) {
    if lane.binned == 0 {
        return;
    }
    let col_w = PLOT_W / SLICE_COLUMNS as f64;
    let mut cols = vec![(0u64, 0u64); SLICE_COLUMNS];
    for (start, end, calls, errors) in lane.bins.slices() {
        let mid = start / 2 + end / 2;
        let c = (((scale.x(mid) - scale.x0) / col_w) as usize).min(SLICE_COLUMNS - 1);
        cols[c].0 += u64::from(calls);
        cols[c].1 += u64::from(errors);
    }
    let max = cols.iter().map(|c| c.0).max().unwrap_or(1).max(1);
    for (i, &(calls, errors)) in cols.iter().enumerate() {
        if calls == 0 {
            continue;
        }
        let x = scale.x0 + col_w * i as f64;
        let opacity = 0.2 + 0.8 * calls as f64 / max as f64;
        let from = scale.t(x).saturating_sub(scale.t0);
        let to = scale.t(x + col_w).saturating_sub(scale.t0);
        let _ = write!(
            out,
            "<rect class=\"slice{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill-opacity=\"{:.2}\">\
             <title>{calls} calls, {errors} errors, starting +{} to +{}</title></rect>",
            if errors > 0 { " err" } else { "" },
            num(x),
            num(y),
            num(col_w),
            num(h),
            opacity,
            relative(from),
            relative(to),
        );
    }
}

/// One call's bar.
fn bar(out: &mut String, scale: &Scale, c: &Call, y: f64) {
    let mut class = format!("call {}", c.outcome.class());
    if c.streaming {
        class.push_str(" stream");
    }
    if c.start_ns.is_none() {
        class.push_str(" nostart");
    }
    let (x, w) = extent(scale, c);
    let _ = write!(
        out,
        "<rect class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" data-method=\"{}\"",
        num(x),
        num(y),
        num(w),
        num(BAR_H),
        attr(&c.method)
    );
    if let Some(p) = &c.pod {
        let _ = write!(out, " data-pod=\"{}\"", attr(p));
    }
    let _ = write!(out, "><title>{}</title></rect>", text(&hover(c, scale.t0)));
}

/// Characters of a method path in a hover text (`data-method` has it whole).
pub const TITLE_METHOD_CHARS: usize = 300;

/// What hovering a call shows.
pub fn hover(c: &Call, t0: u64) -> String {
    let mut s = cut(&c.method, TITLE_METHOD_CHARS);
    if let Some(p) = &c.pod {
        let _ = write!(s, "\npod {p}");
    }
    if let Some(ctr) = &c.container {
        let _ = write!(s, "\ncontainer {ctr}");
    }
    let _ = write!(s, "\n{}", c.outcome.label());
    match (c.duration_ns(), c.outcome) {
        (Some(ns), Outcome::Open) => {
            let _ = write!(s, ", open {} by the end", crate::output::duration(ns));
        }
        (Some(ns), _) => {
            let _ = write!(s, " after {}", crate::output::duration(ns));
        }
        (None, _) => s.push_str(", request not seen"),
    }
    if let Some(m) = &c.status_message {
        let _ = write!(s, ": {m}");
    }
    if c.streaming {
        s.push_str(", a stream");
    }
    let start = c.start_ns.unwrap_or(c.end_ns);
    let _ = write!(
        s,
        "\nat +{}, c{}:{} {} → {}",
        relative(start.saturating_sub(t0)),
        c.conn,
        c.stream,
        c.client.short(),
        c.server.short()
    );
    if let Some(e) = &c.excerpt {
        let _ = write!(s, "\nrequest: {e}");
    }
    s
}

/// A gap's mark, above its lane.
fn gap(out: &mut String, scale: &Scale, g: &GapMark, y: f64) {
    let dir = match g.dir {
        Dir::ToServer => "client to server",
        Dir::ToClient => "server to client",
    };
    let _ = write!(
        out,
        "<path class=\"gap\" d=\"M{} {}l4 -6h-8z\"><title>{} bytes lost ({dir}) at +{}</title></path>",
        num(scale.x(g.ts_ns)),
        num(y + 6.0),
        g.bytes,
        relative(g.ts_ns.saturating_sub(scale.t0))
    );
}
