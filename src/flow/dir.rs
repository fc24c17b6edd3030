//! Which way bytes flow on a connection: the one direction type of every layer.

use std::fmt;

/// Which way bytes flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    /// From the connecting (client) side to the bound (server) side: requests.
    ToServer,
    /// From the server to the client: responses.
    ToClient,
}

impl Dir {
    /// Both directions, client to server first.
    pub const BOTH: [Dir; 2] = [Dir::ToServer, Dir::ToClient];

    /// Index for per-direction arrays: 0 to the server, 1 to the client.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The other direction.
    pub fn opposite(self) -> Dir {
        match self {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        }
    }

    /// Whether bytes this way are requests (client to server).
    pub fn is_request(self) -> bool {
        self == Dir::ToServer
    }

    /// `request` or `response`, as JSON output names a direction.
    pub fn role(self) -> &'static str {
        match self {
            Dir::ToServer => "request",
            Dir::ToClient => "response",
        }
    }
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dir::ToServer => "client->server",
            Dir::ToClient => "server->client",
        })
    }
}
