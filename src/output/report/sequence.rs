//! Sequence diagrams: one per pod (its CRI calls, containerd's calls and
//! its shims' calls about it, as the pipeline attributed them), and one
//! per connection for the calls of no known pod. Each call is an arrow
//! from its client to its server when its request came and one back when
//! it ended, with its status. Bounded: [`MAX_POD_DIAGRAMS`] pods and
//! [`MAX_CONN_DIAGRAMS`] connections get a diagram, each at most
//! [`CALLS_PER_DIAGRAM`] calls (the first to end), all together at most
//! [`MAX_CALLS`]; the rest is counted on the page.

use std::collections::HashMap;
use std::fmt::Write;

use super::calls::{Call, Outcome};
use super::escape::{attr, cut, text};
use super::svg::{num, relative};
use crate::flow::{ConnId, Process};
use crate::subjects::extract::PodMeta;

/// Pods with a diagram at most.
pub const MAX_POD_DIAGRAMS: usize = 40;
/// Connections (calls of no known pod) with a diagram at most.
pub const MAX_CONN_DIAGRAMS: usize = 20;
/// Calls drawn in one diagram at most.
pub const CALLS_PER_DIAGRAM: usize = 250;
/// Calls drawn in all diagrams at most.
pub const MAX_CALLS: usize = 2_500;
/// Processes with a column of their own in one diagram; the others share
/// the last.
pub const MAX_PARTICIPANTS: usize = 10;

/// What a diagram is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// A pod.
    Pod(String, String, String),
    /// A connection, for calls of no known pod.
    Conn(ConnId),
}

/// One diagram's calls.
#[derive(Debug)]
pub struct Diagram {
    /// What it is about.
    pub key: Key,
    /// `namespace/name` of its pod.
    pub pod: Option<String>,
    /// Its calls, in the order they ended.
    pub calls: Vec<Call>,
    /// Its calls not drawn (past [`CALLS_PER_DIAGRAM`] or [`MAX_CALLS`]).
    pub more: u64,
}

/// Every diagram.
#[derive(Default)]
pub struct Diagrams {
    index: HashMap<Key, usize>,
    /// The diagrams, pods' first, each kind in the order first seen.
    pub list: Vec<Diagram>,
    pods: usize,
    conns: usize,
    drawn: usize,
    /// Calls of pods past [`MAX_POD_DIAGRAMS`].
    pub pods_left_out: u64,
    /// Calls of connections past [`MAX_CONN_DIAGRAMS`].
    pub conns_left_out: u64,
}

/// `namespace/name` of a pod, `uid:UID` when it has no name.
pub fn pod_label(p: &PodMeta) -> String {
    match (p.namespace.is_empty(), p.name.is_empty()) {
        (_, true) => format!("uid:{}", p.uid),
        (true, false) => p.name.clone(),
        (false, false) => format!("{}/{}", p.namespace, p.name),
    }
}

impl Diagrams {
    /// A call about `pod` (None: no pod known).
    pub fn add(&mut self, call: &Call, pod: Option<&PodMeta>) {
        let key = match pod {
            Some(p) => Key::Pod(p.namespace.clone(), p.name.clone(), p.uid.clone()),
            None => Key::Conn(call.conn),
        };
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                let room = match key {
                    Key::Pod(..) => self.pods < MAX_POD_DIAGRAMS,
                    Key::Conn(_) => self.conns < MAX_CONN_DIAGRAMS,
                };
                if !room {
                    match key {
                        Key::Pod(..) => self.pods_left_out += 1,
                        Key::Conn(_) => self.conns_left_out += 1,
                    }
                    return;
                }
                match key {
                    Key::Pod(..) => self.pods += 1,
                    Key::Conn(_) => self.conns += 1,
                }
                self.list.push(Diagram {
                    key: key.clone(),
                    pod: pod.map(pod_label),
                    calls: Vec::new(),
                    more: 0,
                });
                self.index.insert(key, self.list.len() - 1);
                self.list.len() - 1
            }
        };
        let d = &mut self.list[i];
        if d.calls.len() < CALLS_PER_DIAGRAM && self.drawn < MAX_CALLS {
            d.calls.push(call.clone());
            self.drawn += 1;
        } else {
            d.more += 1;
        }
    }

    /// The diagrams, pods' first.
    pub fn sorted(&self) -> Vec<&Diagram> {
        let mut v: Vec<&Diagram> = self.list.iter().collect();
        v.sort_by_key(|d| matches!(d.key, Key::Conn(_)));
        v
    }
}

/// A column: one process (pid, name).
type Participant = (Option<u32>, Option<String>);

fn participant(p: &Process) -> Participant {
    (p.pid, p.comm.map(|c| c.to_string()))
}

fn participant_label(p: &Participant) -> String {
    match p {
        (Some(pid), Some(c)) => format!("{c} ({pid})"),
        (Some(pid), None) => format!("pid {pid}"),
        (None, Some(c)) => c.clone(),
        (None, None) => "unknown process".to_string(),
    }
}

const COL_W: f64 = 230.0;
const LEFT: f64 = 90.0;
const HEAD_H: f64 = 40.0;
const ROW_H: f64 = 22.0;

/// One arrow: a call's request, or its end.
struct Arrow<'a> {
    ts: u64,
    call: &'a Call,
    request: bool,
}

/// Bytes of the page all sequence diagrams may take.
pub const DIAGRAMS_BYTES: usize = 1_500_000;

/// The SVG of `d`'s first calls that fit in `budget` bytes, and how many
/// calls it draws (all, when they fit; none when not even one does).
pub fn render_within(d: &Diagram, budget: usize) -> (String, usize) {
    let mut n = d.calls.len();
    loop {
        let mut out = String::new();
        render(&d.calls[..n], &mut out);
        if out.len() <= budget {
            return (out, n);
        }
        if n == 0 {
            return (String::new(), 0);
        }
        n = (n * budget / out.len()).min(n - 1);
    }
}

/// The SVG of a diagram of `calls`.
pub fn render(calls: &[Call], out: &mut String) {
    let mut columns: Vec<Participant> = Vec::new();
    let mut column = |p: &Process| -> usize {
        let key = participant(p);
        if let Some(i) = columns.iter().position(|c| *c == key) {
            return i;
        }
        if columns.len() < MAX_PARTICIPANTS {
            columns.push(key);
            return columns.len() - 1;
        }
        MAX_PARTICIPANTS
    };
    // Columns in the order the processes first spoke: each call's client,
    // then its server, by when its request came (kubelet, containerd,
    // then the shims, for a pod).
    let mut by_start: Vec<&Call> = calls.iter().collect();
    by_start.sort_by_key(|c| (c.start_ns.unwrap_or(c.end_ns), c.seq));
    for c in by_start {
        column(&c.client);
        column(&c.server);
    }
    let mut ends = Vec::with_capacity(calls.len());
    for c in calls {
        ends.push((column(&c.client), column(&c.server)));
    }
    let shared = ends
        .iter()
        .any(|&(a, b)| a == MAX_PARTICIPANTS || b == MAX_PARTICIPANTS);
    let mut labels: Vec<String> = columns.iter().map(participant_label).collect();
    if shared {
        labels.push("other processes".to_string());
    }
    let mut arrows: Vec<(Arrow, (usize, usize))> = Vec::new();
    for (c, &e) in calls.iter().zip(&ends) {
        arrows.push((
            Arrow {
                ts: c.start_ns.unwrap_or(c.end_ns),
                call: c,
                request: true,
            },
            e,
        ));
        if c.outcome != Outcome::Open {
            arrows.push((
                Arrow {
                    ts: c.end_ns,
                    call: c,
                    request: false,
                },
                e,
            ));
        }
    }
    arrows.sort_by_key(|(a, _)| (a.ts, a.call.seq, !a.request));
    let t0 = arrows.first().map_or(0, |(a, _)| a.ts);
    let width = LEFT + COL_W * labels.len() as f64 + 20.0;
    let height = HEAD_H + ROW_H * arrows.len() as f64 + 16.0;
    let x = |i: usize| LEFT + COL_W * i as f64 + COL_W / 2.0;
    let _ = write!(
        out,
        "<svg class=\"sequence\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">",
        w = num(width),
        h = num(height)
    );
    for (i, label) in labels.iter().enumerate() {
        let cx = x(i);
        let _ = write!(
            out,
            "<g class=\"participant\"><rect x=\"{}\" y=\"4\" width=\"{}\" height=\"24\" rx=\"3\"/>\
             <text x=\"{}\" y=\"20\" text-anchor=\"middle\">{}</text><title>{}</title></g>\
             <line class=\"life\" x1=\"{cx}\" y1=\"28\" x2=\"{cx}\" y2=\"{}\"/>",
            num(cx - COL_W / 2.0 + 8.0),
            num(COL_W - 16.0),
            num(cx),
            text(&cut(label, 26)),
            text(label),
            num(height - 4.0),
            cx = num(cx),
        );
    }
    for (row, (a, (client, server))) in arrows.iter().enumerate() {
        let y = HEAD_H + ROW_H * row as f64 + 14.0;
        let (from, mut to) = match a.request {
            true => (x(*client), x(*server)),
            false => (x(*server), x(*client)),
        };
        if client == server {
            // Both ends in one column (processes not known apart): a
            // short arrow to the right, so that it still shows.
            to = from + 40.0;
        }
        arrow(out, a, from, to, y, a.ts.saturating_sub(t0));
    }
    out.push_str("</svg>");
}

/// One arrow from `from` to `to` at height `y`, `rel` ns after the first.
fn arrow(out: &mut String, a: &Arrow, from: f64, to: f64, y: f64, rel: u64) {
    let c = a.call;
    let short = crate::output::short_method(&c.method);
    let (class, label) = match a.request {
        true => ("req".to_string(), short.to_string()),
        false => {
            let took = c.duration_ns().map_or(String::new(), |ns| {
                format!(" {}", crate::output::duration(ns))
            });
            (
                format!("resp {}", c.outcome.class()),
                format!("{short} {}{took}", c.outcome.label()),
            )
        }
    };
    let _ = write!(
        out,
        "<g class=\"arrow {class}\" data-method=\"{}\"",
        attr(&c.method)
    );
    if let Some(p) = &c.pod {
        let _ = write!(out, " data-pod=\"{}\"", attr(p));
    }
    out.push('>');
    let mut title = format!(
        "{}\nc{}:{}",
        cut(&c.method, super::timeline::TITLE_METHOD_CHARS),
        c.conn,
        c.stream
    );
    if a.request {
        if c.start_ns.is_none() {
            title.push_str(" (request not seen: drawn at its end)");
        }
        if let Some(e) = &c.excerpt {
            let _ = write!(title, "\nrequest: {e}");
        }
    } else {
        let _ = write!(title, "\n{}", c.outcome.label());
        if let Some(m) = &c.status_message {
            let _ = write!(title, ": {m}");
        }
    }
    let _ = write!(out, "<title>{}</title>", text(&title));
    let dir = if to >= from { 1.0 } else { -1.0 };
    let tip = to - dir * 2.0;
    let _ = write!(
        out,
        "<text class=\"t\" x=\"4\" y=\"{}\">+{}</text>\
         <line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>\
         <path d=\"M{} {y}l{} -4v8z\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
        num(y + 4.0),
        text(&relative(rel)),
        num(from),
        num(tip),
        num(tip),
        num(-dir * 7.0),
        num((from + to) / 2.0),
        num(y - 4.0),
        text(&cut(&label, 40)),
        y = num(y),
    );
}
