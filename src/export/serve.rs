//! The `/metrics` endpoint: a small HTTP/1.1 server on its own thread,
//! one request a connection, bounded reads with a timeout (whoever can
//! reach the port is not trusted).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use super::metrics::Metrics;

/// Longest request head read.
const MAX_HEAD: usize = 8192;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// The OpenMetrics text content type.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serve `metrics` at `http://addr/metrics` from a new thread; the address
/// bound (with the port chosen when `addr`'s is 0).
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    // One slow or broken client does not stop the next.
                    Ok(c) => {
                        let _ = answer(c, &metrics);
                    }
                    // Out of descriptors, say: not a busy loop.
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        })?;
    Ok(bound)
}

/// Read one request head and answer it.
fn answer(mut c: TcpStream, metrics: &Metrics) -> io::Result<()> {
    c.set_read_timeout(Some(READ_TIMEOUT))?;
    c.set_write_timeout(Some(READ_TIMEOUT))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return respond(
                &mut c,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            );
        }
        let n = c.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    match route(&head) {
        Route::Metrics => respond(&mut c, "200 OK", CONTENT_TYPE, &metrics.encode()),
        Route::NotFound => respond(&mut c, "404 Not Found", "text/plain", "see /metrics\n"),
        Route::NotAllowed => respond(&mut c, "405 Method Not Allowed", "text/plain", ""),
    }
}

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /metrics` (any query string).
    Metrics,
    /// A GET of anything else.
    NotFound,
    /// Not a GET (or no request line).
    NotAllowed,
}

/// The route of a request whose head (request line first) is `head`:
/// untrusted bytes, read up to the first CR or LF.
pub fn route(head: &[u8]) -> Route {
    let line = head
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    match (parts.next(), parts.next()) {
        (Some(b"GET"), Some(target)) => match target.split(|&b| b == b'?').next() {
            Some(b"/metrics") => Route::Metrics,
            _ => Route::NotFound,
        },
        _ => Route::NotAllowed,
    }
}

fn respond(c: &mut TcpStream, status: &str, ctype: &str, body: &str) -> io::Result<()> {
    write!(
        c,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    c.flush()
}
