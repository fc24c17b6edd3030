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
                // One slow or broken client does not stop the next.
                if let Ok(c) = conn {
                    let _ = answer(c, &metrics);
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
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (parts.next(), parts.next());
    match (method, target.map(|t| t.split(|&b| b == b'?').next())) {
        (Some(b"GET"), Some(Some(b"/metrics"))) => {
            respond(&mut c, "200 OK", CONTENT_TYPE, &metrics.encode())
        }
        (Some(b"GET"), _) => respond(&mut c, "404 Not Found", "text/plain", "see /metrics\n"),
        _ => respond(&mut c, "405 Method Not Allowed", "text/plain", ""),
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
