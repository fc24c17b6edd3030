//! The packet comments containerdsnoop's pcapng writer leaves (see
//! `writer.rs`), read back. Comments in other captures simply do not parse.

use crate::capture::record::{Comm, Writer};
use crate::flow::Side;

/// What the comment on a connection's SYN says.
#[derive(Debug, PartialEq, Eq)]
pub struct Opening {
    /// The socket path (`(unnamed)` when there was none).
    pub path: Option<String>,
    /// The connecting side.
    pub client: Side,
    /// The bound side.
    pub server: Side,
}

/// `connection 3 on /run/x.sock: client pid 17013 (ctr) inode 5678; server pid 15367 (containerd) inode 5679`
pub fn opening(comment: &str) -> Option<Opening> {
    let rest = comment.strip_prefix("connection ")?;
    let (id, rest) = rest.split_once(" on ")?;
    id.parse::<u64>().ok()?;
    let (rest, server) = rest.rsplit_once("; server ")?;
    let (path, client) = rest.rsplit_once(": client ")?;
    Some(Opening {
        path: (path != "(unnamed)").then(|| path.to_string()),
        client: side(client)?,
        server: side(server)?,
    })
}

/// `pid 17013 (ctr) inode 5678`, `?` for what was unknown.
fn side(text: &str) -> Option<Side> {
    let rest = text.strip_prefix("pid ")?;
    let (pid, rest) = rest.split_once(" (")?;
    let (comm, ino) = rest.rsplit_once(") inode ")?;
    Some(Side {
        ino: ino.parse().ok()?,
        pid: if pid == "?" {
            None
        } else {
            Some(pid.parse().ok()?)
        },
        comm: (comm != "?").then(|| Comm::from_name(comm)),
    })
}

/// `pid 17013 tid 17016 comm ctr`
pub fn writer(comment: &str) -> Option<Writer> {
    let rest = comment.strip_prefix("pid ")?;
    let (pid, rest) = rest.split_once(" tid ")?;
    let (tid, comm) = rest.split_once(" comm ")?;
    Some(Writer {
        pid: pid.parse().ok()?,
        tid: tid.parse().ok()?,
        comm: Comm::from_name(comm),
    })
}

/// `1234 bytes lost`: the bare ACK the writer puts just past a gap.
pub fn lost(comment: &str) -> Option<u64> {
    comment.strip_suffix(" bytes lost")?.parse().ok()
}

/// The segment holding a preface the writer made up (the capture began mid-connection).
pub fn is_synthetic_preface(comment: &str) -> bool {
    comment.starts_with("synthetic HTTP/2 preface")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_writer_writes() {
        let o = opening(
            "connection 3 on /run/x: y.sock: client pid 17013 (c) tr) inode 5678; \
             server pid ? (?) inode 0",
        )
        .unwrap();
        assert_eq!(o.path.as_deref(), Some("/run/x: y.sock"));
        assert_eq!(o.client.pid, Some(17013));
        assert_eq!(o.client.comm.unwrap().as_str(), "c) tr");
        assert_eq!(o.client.ino, 5678);
        assert_eq!(o.server, Side::default());
        let u = opening(
            "connection 0 on (unnamed): client pid 1 (a) inode 2; server pid 3 (b) inode 4",
        );
        assert_eq!(u.unwrap().path, None);
        let w = writer("pid 17013 tid 17016 comm ctr x").unwrap();
        assert_eq!(
            (w.pid, w.tid, w.comm.as_str().into_owned()),
            (17013, 17016, "ctr x".into())
        );
        assert_eq!(lost("65536 bytes lost"), Some(65536));
        assert!(is_synthetic_preface(
            "synthetic HTTP/2 preface: the capture began mid-connection"
        ));
    }

    #[test]
    fn foreign_comments_do_not_parse() {
        assert!(opening("connection reset").is_none());
        assert!(writer("pid x tid 1 comm a").is_none());
        assert!(writer("hello").is_none());
        assert!(lost("many bytes lost").is_none());
        assert!(!is_synthetic_preface("PRI"));
    }
}
