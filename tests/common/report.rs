//! Reading a `report` page back, in its raw form or as Chromium's DOM: the
//! elements that stand for calls, arrows and method rows, with their
//! attributes unescaped, and every reference the page could load.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use super::bin;

/// One start tag: its name and attributes, values unescaped.
#[derive(Clone, Debug)]
pub struct Tag {
    pub name: String,
    pub attrs: BTreeMap<String, String>,
}

impl Tag {
    /// Whether its `class` holds `class` (space-separated).
    pub fn has_class(&self, class: &str) -> bool {
        self.attrs
            .get("class")
            .is_some_and(|c| c.split_ascii_whitespace().any(|x| x == class))
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }
}

/// The five entities the report and Chromium's serializer write, and numeric ones.
pub fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').unwrap_or(0);
        let entity = &rest[..=end];
        let c = match entity {
            "&amp;" => Some('&'),
            "&lt;" => Some('<'),
            "&gt;" => Some('>'),
            "&quot;" => Some('"'),
            "&nbsp;" => Some('\u{a0}'),
            e if e.starts_with("&#x") => u32::from_str_radix(&e[3..e.len() - 1], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with("&#") => e[2..e.len() - 1].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every start tag of `html`, in order; the content of `<script>` and
/// `<style>` elements is skipped (raw text).
pub fn tags(html: &str) -> Vec<Tag> {
    let b = html.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = html[i..].find('<') {
        i += off + 1;
        if i >= b.len() || !b[i].is_ascii_alphabetic() {
            continue;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
            i += 1;
        }
        let name = html[start..i].to_ascii_lowercase();
        let mut attrs = BTreeMap::new();
        loop {
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
                i += 1;
            }
            if i >= b.len() || b[i] == b'>' {
                break;
            }
            let s = i;
            while i < b.len() && !b" \t\n\r=>/".contains(&b[i]) {
                i += 1;
            }
            let key = html[s..i].to_ascii_lowercase();
            let mut value = String::new();
            if i < b.len() && b[i] == b'=' {
                i += 1;
                if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                    let q = b[i];
                    let e = html[i + 1..].find(q as char).map_or(b.len(), |e| i + 1 + e);
                    value = unescape(&html[i + 1..e]);
                    i = (e + 1).min(b.len());
                } else {
                    let s = i;
                    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                        i += 1;
                    }
                    value = unescape(&html[s..i]);
                }
            }
            attrs.insert(key, value);
        }
        if name == "script" || name == "style" {
            let close = format!("</{name}");
            if let Some(e) = html[i..].find(&close) {
                i += e;
            }
        }
        out.push(Tag { name, attrs });
    }
    out
}

/// What a page draws, counted.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Drawn {
    /// `data-method` of each call bar, counted by method.
    pub calls: BTreeMap<String, u64>,
    /// Request arrows by method.
    pub requests: BTreeMap<String, u64>,
    /// Response arrows by method.
    pub responses: BTreeMap<String, u64>,
    /// Method rows: method -> calls.
    pub rows: BTreeMap<String, u64>,
    /// `data-pod` of each sequence diagram.
    pub pod_diagrams: Vec<String>,
    /// Sequence diagrams of connections.
    pub conn_diagrams: usize,
    /// `<script>` elements.
    pub scripts: usize,
}

/// Counts what `html` draws.
pub fn drawn(html: &str) -> Drawn {
    let mut d = Drawn::default();
    for t in tags(html) {
        let method = || t.attr("data-method").expect("data-method").to_string();
        if t.has_class("call") {
            *d.calls.entry(method()).or_default() += 1;
        } else if t.has_class("arrow") && t.has_class("req") {
            *d.requests.entry(method()).or_default() += 1;
        } else if t.has_class("arrow") && t.has_class("resp") {
            *d.responses.entry(method()).or_default() += 1;
        } else if t.name == "tr" && t.has_class("method") {
            let calls = t.attr("data-calls").unwrap().parse().unwrap();
            assert!(
                d.rows.insert(method(), calls).is_none(),
                "one row per method"
            );
        } else if t.name == "section" && t.has_class("seq") {
            match t.attr("data-pod") {
                Some(p) => d.pod_diagrams.push(p.to_string()),
                None => d.conn_diagrams += 1,
            }
        } else if t.name == "script" {
            d.scripts += 1;
        }
    }
    d
}

/// Every way `html` could load something: `src`, `srcset`, `href` (other
/// than to a place in the page), `action`, `data`, `poster`, CSS `url(`
/// and `@import`, and `fetch`.
pub fn network_references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for t in tags(html) {
        for (k, v) in &t.attrs {
            let loads = match k.as_str() {
                "src" | "srcset" | "action" | "data" | "poster" | "xlink:href" => true,
                "href" => !v.starts_with('#'),
                _ => false,
            };
            if loads {
                found.push(format!("<{} {k}=\"{v}\">", t.name));
            }
        }
    }
    let lower = html.to_ascii_lowercase();
    for needle in [
        "url(",
        "@import",
        "fetch",
        "xmlhttprequest",
        "<link",
        "<iframe",
        "<img",
    ] {
        if lower.contains(needle) {
            found.push(needle.to_string());
        }
    }
    found
}

/// `containerdsnoop report FILE -o OUT ARGS...`; panics with its stderr when it fails.
pub fn report_ok(file: &Path, out: &Path, args: &[&str]) -> String {
    let o = Command::new(bin())
        .arg("report")
        .arg(file)
        .arg("-o")
        .arg(out)
        .args(args)
        .output()
        .expect("run report");
    assert!(
        o.status.success(),
        "report {} {args:?}: {}",
        file.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read_to_string(out).expect("the report is UTF-8")
}
