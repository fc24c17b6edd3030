//! The pipeline output that turns finished calls into spans and metrics,
//! and hands every item on to the table or NDJSON behind it, if any.

use std::sync::Arc;

use anyhow::Result;
use foldhash::HashMap;

use super::call::Call;
use super::metrics::Metrics;
use super::otlp::Exporter;
use super::span::{self, attr, Encoder, Gathered, MAX_EVENTS, MAX_EVENT_TEXT};
use crate::flow::ConnId;
use crate::pipeline::{Item, Output, What};
use crate::sizes::Sizes;

/// Most calls whose messages are counted at once; past it, a new call's
/// messages are not counted (its span says 0) until others end.
const MAX_OPEN_CALLS: usize = 65_536;

/// Spans to the exporter, counts to the metrics, items to `inner`.
pub struct Tap {
    inner: Option<Box<dyn Output>>,
    exporter: Option<Arc<Exporter>>,
    metrics: Option<Arc<Metrics>>,
    /// Add message events to spans.
    messages: bool,
    /// What was gathered per call in flight: (connection, stream).
    open: HashMap<(ConnId, u32), Gathered>,
    spans: Encoder,
}

impl Tap {
    /// A tap in front of `inner` (None: items go nowhere else).
    pub fn new(inner: Option<Box<dyn Output>>) -> Tap {
        Tap {
            inner,
            exporter: None,
            metrics: None,
            messages: false,
            open: HashMap::default(),
            spans: Encoder::default(),
        }
    }

    /// Export spans with `exporter`; with message events when `messages`.
    pub fn exporting(mut self, exporter: Arc<Exporter>, messages: bool) -> Tap {
        self.exporter = Some(exporter);
        self.messages = messages;
        self
    }

    /// Count calls in `metrics`.
    pub fn counting(mut self, metrics: Arc<Metrics>) -> Tap {
        self.metrics = Some(metrics);
        self
    }

    /// Note a message of a call in flight (spans only).
    fn message(&mut self, item: &Item) {
        let What::Message {
            dir,
            stream,
            payload,
            decoded,
            ..
        } = &item.what
        else {
            return;
        };
        let key = (item.conn.id, *stream);
        if !self.open.contains_key(&key) && self.open.len() >= MAX_OPEN_CALLS {
            return;
        }
        let g = self.open.entry(key).or_default();
        g.messages += 1;
        if !self.messages {
            return;
        }
        if g.events.len() >= MAX_EVENTS {
            g.dropped_events = g.dropped_events.saturating_add(1);
            return;
        }
        // The server's view: it received the request, sent the response.
        let kind = if dir.is_request() { "RECEIVED" } else { "SENT" };
        let id = i64::try_from(g.messages).unwrap_or(i64::MAX);
        let e = span::event(item.ts_ns, "message", |a| {
            a.string(attr::MESSAGE_DIRECTION, kind);
            a.int(attr::MESSAGE_ID, id);
            a.int(
                attr::MESSAGE_SIZE,
                i64::try_from(payload.len()).unwrap_or(i64::MAX),
            );
            if let Some(d) = decoded {
                if let Some(t) = &d.type_name {
                    a.string(attr::MESSAGE_PROTO_TYPE, t);
                }
                let text = crate::protobuf::cut_str(&d.text, MAX_EVENT_TEXT);
                match text.len() < d.text.len() {
                    true => a.string(attr::MESSAGE_TEXT, &format!("{text}…")),
                    false => a.string(attr::MESSAGE_TEXT, text),
                }
            }
        });
        g.events.push(e);
    }
}

impl Output for Tap {
    fn item(&mut self, item: &Item) -> Result<()> {
        match &item.what {
            What::Message { .. } if self.exporter.is_some() => self.message(item),
            What::CallEnd { stream, .. } => {
                let gathered = self
                    .open
                    .remove(&(item.conn.id, *stream))
                    .unwrap_or_default();
                if let Some(call) = Call::of(item) {
                    if let Some(m) = &self.metrics {
                        m.call(&call);
                    }
                    if let Some(e) = &self.exporter {
                        e.send(self.spans.span(item, &call, gathered));
                    }
                }
            }
            _ => {}
        }
        match &mut self.inner {
            Some(o) => o.item(item),
            None => Ok(()),
        }
    }

    fn flush(&mut self) -> Result<()> {
        match &mut self.inner {
            Some(o) => o.flush(),
            None => Ok(()),
        }
    }

    fn sizes(&self, out: &mut Sizes) {
        out.add("export.open_calls", self.open.len());
        out.add("export.span_conns", self.spans.len());
        if let Some(o) = &self.inner {
            o.sizes(out);
        }
    }
}
