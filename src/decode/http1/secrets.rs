//! Which bytes of an HTTP/1.x call are secret, in one place for what is
//! shown (`<redacted N bytes>`) and for `redact` (which overwrites them in
//! a capture, keeping lengths).
//!
//! - Header fields: `Authorization`, `Proxy-Authorization`, `Cookie`,
//!   `Set-Cookie`, and Docker's `X-Registry-Auth` and `X-Registry-Config`
//!   (base64url JSON of username, password, identitytoken, registrytoken:
//!   moby's `registry.EncodeAuthConfig`); any field named as the schema
//!   rule names secrets ([`crate::protobuf::is_secret_name`]).
//! - Query parameters so named (Podman's `password=` on
//!   `/libpod/images/pull`).
//! - JSON bodies: string values of members so named, at any depth (the
//!   body of `/auth` holds `password`, `identitytoken`, `registrytoken`);
//!   Docker's `/secrets/create` `Data`; Podman's `/libpod/secrets/create`
//!   body, which is the secret itself; a body of `/auth` that is not JSON.

use std::ops::Range;

use base64::Engine as _;

use crate::protobuf::is_secret_name;

/// Header fields that are secret beside those the name rule catches.
const SECRET_FIELDS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-registry-auth",
    "x-registry-config",
];

/// Whether header field `name` holds a secret.
pub fn is_secret_field(name: &str) -> bool {
    SECRET_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name)) || is_secret_name(name)
}

/// The ranges (within `target`) of the values of secret query parameters.
pub fn query_secrets(target: &str) -> Vec<Range<usize>> {
    let Some(q) = target.find('?') else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut at = q + 1;
    for pair in target[q + 1..].split('&') {
        if let Some((name, value)) = pair.split_once('=') {
            if is_secret_name(name) && !value.is_empty() {
                let start = at + name.len() + 1;
                out.push(start..start + value.len());
            }
        }
        at += pair.len() + 1;
    }
    out
}

/// `target` with its secret query values shown as `<redacted N bytes>`.
pub fn redacted_target(target: &str) -> String {
    let mut out = String::with_capacity(target.len());
    let mut done = 0;
    for r in query_secrets(target) {
        out.push_str(&target[done..r.start]);
        out.push_str(&format!("<redacted {} bytes>", r.len()));
        done = r.end;
    }
    out.push_str(&target[done..]);
    out
}

/// The same-length stand-in for the value of secret header `name`: the
/// registry headers stay valid base64 (of JSON whose secret values are
/// filled, when they decode), any other value is filled.
pub fn masked_field(name: &str, value: &[u8], fill: u8) -> Vec<u8> {
    let registry = name.eq_ignore_ascii_case("x-registry-auth")
        || name.eq_ignore_ascii_case("x-registry-config");
    if !registry {
        return vec![fill; value.len()];
    }
    masked_base64(value)
}

/// Base64 (standard or URL alphabet, padded or not) of the same length:
/// the decoded JSON with its secret values filled, or zero bytes.
fn masked_base64(value: &[u8]) -> Vec<u8> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let padded = value.ends_with(b"=");
    let url = value.iter().any(|&b| b == b'-' || b == b'_');
    let engine = match (url, padded) {
        (true, true) => &URL_SAFE,
        (true, false) => &URL_SAFE_NO_PAD,
        (false, true) => &STANDARD,
        (false, false) => &STANDARD_NO_PAD,
    };
    if let Ok(mut json) = engine.decode(value) {
        if let Some(ranges) = json_secrets(&json) {
            for r in ranges {
                json[r].fill(b'x');
            }
            let again = engine.encode(&json).into_bytes();
            if again.len() == value.len() {
                return again;
            }
        }
    }
    // `A` is six zero bits: still base64, of zero bytes.
    value
        .iter()
        .map(|&b| if b == b'=' { b'=' } else { b'A' })
        .collect()
}

/// The ranges of `payload`, a body of the call named `name` (`/docker/OP`,
/// `/podman/OP`, `METHOD /path`), that are secret.
pub fn body_secrets(name: &str, payload: &[u8]) -> Vec<Range<usize>> {
    if payload.is_empty() {
        return Vec::new();
    }
    match name {
        "/podman/SecretCreateLibpod" => return whole(payload),
        "/docker/SecretCreate" | "/docker/SecretUpdate" => {
            let mut r = json_members(payload, |k| {
                k.eq_ignore_ascii_case("data") || is_secret_name(k)
            })
            .unwrap_or_else(|| whole(payload));
            r.sort_by_key(|r| r.start);
            return r;
        }
        _ => {}
    }
    match json_secrets(payload) {
        Some(r) => r,
        None if name == "/docker/SystemAuth" => whole(payload),
        None => Vec::new(),
    }
}

/// All of `payload`, as the one secret range.
fn whole(payload: &[u8]) -> Vec<Range<usize>> {
    std::iter::once(0..payload.len()).collect()
}

/// The content ranges of string values of secret members, at any depth;
/// `None` when `json` is not JSON.
pub fn json_secrets(json: &[u8]) -> Option<Vec<Range<usize>>> {
    json_members(json, is_secret_name)
}

/// The content ranges (inside the quotes) of string values of members
/// whose names `secret` accepts; `None` when `json` is not one JSON value.
fn json_members(json: &[u8], secret: impl Fn(&str) -> bool) -> Option<Vec<Range<usize>>> {
    let mut s = Scan {
        b: json,
        i: 0,
        out: Vec::new(),
        depth: 0,
    };
    s.ws();
    s.value(false, &secret)?;
    s.ws();
    (s.i == json.len()).then_some(s.out)
}

/// A JSON reader that notes where secret strings are.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    out: Vec<Range<usize>>,
    depth: usize,
}

/// Deeper JSON is not walked (serde_json's own limit is 128).
const MAX_DEPTH: usize = 128;

impl Scan<'_> {
    fn ws(&mut self) {
        while self.b.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    /// A string; returns the range of its contents.
    fn string(&mut self) -> Option<Range<usize>> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(start..self.i - 1);
                }
                b'\\' => self.i += 2,
                _ => self.i += 1,
            }
        }
    }

    fn value(&mut self, secret_here: bool, secret: &impl Fn(&str) -> bool) -> Option<()> {
        self.ws();
        match *self.b.get(self.i)? {
            b'"' => {
                let r = self.string()?;
                if secret_here && !r.is_empty() {
                    self.out.push(r);
                }
            }
            b'{' | b'[' if self.depth >= MAX_DEPTH => return None,
            b'{' => {
                self.i += 1;
                self.depth += 1;
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                } else {
                    loop {
                        let k = self.string()?;
                        let key = String::from_utf8_lossy(&self.b[k]);
                        let hide = secret(&key);
                        self.eat(b':')?;
                        self.value(hide, secret)?;
                        self.ws();
                        match self.b.get(self.i)? {
                            b',' => self.i += 1,
                            b'}' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                self.depth -= 1;
            }
            b'[' => {
                self.i += 1;
                self.depth += 1;
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                } else {
                    loop {
                        // A list under a secret name: its strings are secret.
                        self.value(secret_here, secret)?;
                        self.ws();
                        match self.b.get(self.i)? {
                            b',' => self.i += 1,
                            b']' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                self.depth -= 1;
            }
            _ => {
                // A number, true, false or null.
                let start = self.i;
                while self
                    .b
                    .get(self.i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || b"+-.".contains(c))
                {
                    self.i += 1;
                }
                if self.i == start {
                    return None;
                }
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests;
