//! The decoding pipeline: flow events -> per-connection decoders
//! ([`decoders`]) -> the presentation model ([`item`]) -> the method filter
//! and the schema decoding, done once here -> an [`Output`] that only
//! formats (table or NDJSON). `trace`, `record --decode` and `decode` run
//! this same pipeline, fed by the live capture or a capture file.

pub mod attribution;
pub mod decoders;
pub mod http;
pub mod item;
pub mod method_filter;
pub mod subject_filter;

use std::sync::Arc;

use anyhow::Result;

use crate::decode::{Event, PathInfo};
use crate::flow::{ClientContainers, Conn, FlowEvent, Sink};
use crate::protobuf::{Forms, Schemas};
use crate::servers::SchemaRegistry;
use attribution::Attribution;
pub use decoders::ProtocolCounts;
use decoders::{Decoders, Events};
pub use item::{ConnInfo, Ends, Item, What};
use method_filter::MethodFilter;
use subject_filter::SubjectFilter;

/// The longest the live stages in front of the pipeline hold an event
/// (the tracker and the sniffer wait two seconds at most, the ordering
/// stage half a second), with a margin.
pub const UPSTREAM_HOLD_NS: u64 = 3_000_000_000;

/// Receives items (table, JSON).
pub trait Output {
    /// One item. An error stops the pipeline (e.g. the reader of stdout went away).
    fn item(&mut self, item: &Item) -> Result<()>;
    /// Push buffered output out (called about every 100 ms live, and at the end).
    fn flush(&mut self) -> Result<()>;
    /// Entries the output keeps (`--state-sizes`); none by default.
    fn sizes(&self, _out: &mut crate::sizes::Sizes) {}
}

impl<O: Output + ?Sized> Output for Box<O> {
    fn item(&mut self, item: &Item) -> Result<()> {
        (**self).item(item)
    }

    fn flush(&mut self) -> Result<()> {
        (**self).flush()
    }

    fn sizes(&self, out: &mut crate::sizes::Sizes) {
        (**self).sizes(out)
    }
}

/// What is shown and how messages are decoded.
#[derive(Clone, Debug)]
pub struct View {
    /// The schemas that name and decode messages.
    pub schemas: Arc<Schemas>,
    /// Which calls are shown.
    pub methods: MethodFilter,
    /// Which forms of a message the output prints.
    pub forms: Forms,
    /// Per-connection schemas (a server binary's own before `schemas`),
    /// when they are looked for.
    pub binaries: Option<Arc<SchemaRegistry>>,
    /// Show only connections whose client runs inside a container
    /// (`--from-container`).
    pub from_container: bool,
    /// Show only calls about these pods or containers (`--pod`,
    /// `--container`).
    pub subjects: SubjectFilter,
}

impl View {
    /// Whether items of a call on `path` are shown; gaps and notes
    /// (`path` None) only when no method filter is set.
    fn shows(&self, path: Option<&PathInfo>) -> bool {
        match path {
            Some(p) => self.methods.accepts(p.known()),
            None => self.methods.is_empty(),
        }
    }

    /// `item` filtered, and its message decoded.
    fn prepare(&self, mut item: Item) -> Option<Item> {
        if !self.shows(item.what.path()) {
            return None;
        }
        if self.from_container && item.conn.client.container.container().is_none() {
            return None;
        }
        if !self.subjects.is_empty() && !self.subjects.accepts(&item.subject) {
            return None;
        }
        let redact = self.schemas.redacts();
        if let What::Message { meta, .. } | What::CallEnd { meta, .. } = &mut item.what {
            if let Some(h) = meta.http.as_mut().filter(|_| redact) {
                if let Some(t) = h.target.as_mut() {
                    *t = crate::decode::http1::secrets::redacted_target(t);
                }
            }
        }
        if let What::Message {
            path,
            payload,
            decoded,
            http: Some(part),
            ..
        } = &mut item.what
        {
            *decoded = Some(http::present(part, payload, path, redact));
            return Some(item);
        }
        if let What::Message {
            dir,
            path,
            payload,
            decompress_error: None,
            decoded,
            ..
        } = &mut item.what
        {
            let (path, req) = (path.known(), dir.is_request());
            let d = match &self.binaries {
                Some(r) => r
                    .set_for(item.conn.server.pid)
                    .decode_forms(path, req, payload, self.forms),
                None => self.schemas.decode_forms(path, req, payload, self.forms),
            };
            *decoded = Some(d);
        }
        Some(item)
    }
}

/// Decoder events to items, through the view, into the output.
struct Present<'a, O: Output> {
    view: &'a View,
    out: &'a mut O,
    counts: &'a mut CallCounts,
    attribution: &'a mut Attribution,
    clients: &'a mut ClientContainers,
}

impl<O: Output> Present<'_, O> {
    /// Items that may go out, filtered and decoded, to the output.
    fn emit(&mut self, ready: Vec<Item>) -> Result<()> {
        for item in ready {
            if let Some(c) = item.conn.client.container.container() {
                let s = item.client_subject();
                if let Some(pod) = s.pod.as_ref().filter(|p| !p.name.is_empty()) {
                    self.clients.name(c, || {
                        let ctr = s.container.as_ref().and_then(|c| c.name.as_deref());
                        format!(
                            "pod {}/{} container {}",
                            pod.namespace.escape_debug(),
                            pod.name.escape_debug(),
                            ctr.unwrap_or(c.id.short()).escape_debug()
                        )
                    });
                }
            }
            if let Some(item) = self.view.prepare(item) {
                self.out.item(&item)?;
            }
        }
        Ok(())
    }
}

/// Finished calls, by whether their method is known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// Calls whose method is known.
    pub named: u64,
    /// Calls whose method is unknown (a header field from before the capture).
    pub unnamed: u64,
    /// Of the named, those on connections with recovered HPACK tables.
    pub recovered: u64,
}

impl<O: Output> Events for Present<'_, O> {
    fn event(&mut self, conn: &ConnInfo, ts_ns: u64, ev: Event) -> Result<()> {
        let item = item::of_event(conn, ev, ts_ns);
        if let Some(What::CallEnd { path, .. }) = item.as_ref().map(|i| &i.what) {
            match path.known() {
                Some(_) => {
                    self.counts.named += 1;
                    self.counts.recovered += u64::from(conn.hpack_recovered);
                }
                None => self.counts.unnamed += 1,
            }
        }
        let Some(item) = item else {
            return Ok(());
        };
        let mut ready = Vec::new();
        self.attribution.admit(item, &mut ready);
        self.emit(ready)
    }
}

/// The summary's line for `evicted` pods and containers, if any.
pub fn evicted_summary(evicted: u64) -> Option<String> {
    (evicted > 0).then(|| {
        format!(
            "{evicted} pod sandbox{} or container{} left the pod map past its bound of {} \
             entries: later calls about {} show no pod",
            if evicted == 1 { "" } else { "es" },
            if evicted == 1 { "" } else { "s" },
            crate::subjects::MAX_ENTRIES,
            if evicted == 1 { "it" } else { "them" },
        )
    })
}

/// The pipeline, as a flow sink.
pub struct Pipeline<O: Output> {
    decoders: Decoders,
    view: View,
    calls: CallCounts,
    attribution: Attribution,
    /// Connections whose client runs inside a container, for the summary.
    pub from_containers: ClientContainers,
    /// Where items go.
    pub out: O,
}

impl<O: Output> Pipeline<O> {
    /// Entries kept per connection by the decoders.
    pub fn sizes(&self, out: &mut crate::sizes::Sizes) {
        self.decoders.sizes(out);
        self.attribution.sizes(out);
        out.add("pipeline.from_containers", self.from_containers.len());
        self.out.sizes(out);
    }

    /// A pipeline showing `view` on `out`.
    pub fn new(view: View, out: O) -> Self {
        Pipeline {
            decoders: Decoders::new(),
            view,
            calls: CallCounts::default(),
            attribution: Attribution::default(),
            from_containers: ClientContainers::default(),
            out,
        }
    }

    /// Without attribution (`on` false): items go out as they come, no
    /// subject map is kept (to measure what attribution costs).
    pub fn attributing(mut self, on: bool) -> Self {
        self.attribution.enabled = on;
        self
    }

    /// Pods and containers the subject map let go past its bound.
    pub fn evicted(&self) -> u64 {
        self.attribution.evicted()
    }

    /// Time of the latest event seen (for finishing at the end of a file).
    pub fn last_ns(&self) -> u64 {
        self.decoders.last_ns()
    }

    /// Connections by protocol, as decided from their bytes so far.
    pub fn protocols(&self) -> ProtocolCounts {
        self.decoders.counts()
    }

    /// Finished calls so far, named and not.
    pub fn calls(&self) -> CallCounts {
        self.calls
    }

    /// The decoders, and what their events go through to the output.
    fn stages(&mut self) -> (&mut Decoders, Present<'_, O>) {
        let present = Present {
            view: &self.view,
            out: &mut self.out,
            counts: &mut self.calls,
            attribution: &mut self.attribution,
            clients: &mut self.from_containers,
        };
        (&mut self.decoders, present)
    }

    /// Periodic work, live: items held for their call's id go out once
    /// they waited long enough by `now_ns` (wall time, as the events'),
    /// even when no later event comes. The stages in front may still hold
    /// events older than `now_ns` (the ordering stage half a second, the
    /// tracker and the sniffer two seconds): the wait is measured against
    /// `now_ns` less [`UPSTREAM_HOLD_NS`], so a tick never releases what an
    /// event still on its way would have named.
    pub fn tick(&mut self, now_ns: u64) -> Result<()> {
        let now_ns = now_ns.saturating_sub(UPSTREAM_HOLD_NS);
        let (_, mut present) = self.stages();
        let mut ready = Vec::new();
        present.attribution.expire(now_ns, &mut ready);
        present.emit(ready)
    }

    /// End of input: finish open calls of every connection as unfinished.
    pub fn finish(&mut self, ts_ns: u64) -> Result<()> {
        let (decoders, mut present) = self.stages();
        decoders.finish(ts_ns, &mut present)?;
        let mut ready = Vec::new();
        present.attribution.flush(&mut ready);
        present.emit(ready)
    }
}

impl<O: Output> Sink for Pipeline<O> {
    fn event(&mut self, conn: &Conn, ts_ns: u64, ev: FlowEvent<'_>) -> Result<()> {
        self.from_containers
            .note(conn, matches!(ev, FlowEvent::Close));
        let (decoders, mut present) = self.stages();
        decoders.on_flow(conn, ts_ns, ev, &mut present)
    }
}

#[cfg(test)]
mod tests;
