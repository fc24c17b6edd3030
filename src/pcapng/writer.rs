//! Flow events as a pcapng file Wireshark's HTTP/2 and gRPC dissectors open
//! with no preferences set (the recipe is in docs/ARCHITECTURE.md, "pcapng").
//! ttrpc connections get their own server port ([`TTRPC_PORT`], where no
//! heuristic dissector of Wireshark's can claim them) and no preface, for
//! `contrib/wireshark/ttrpc.lua`; connections that are neither keep port
//! 80 and no preface.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use anyhow::Result;

use super::blocks::{Blocks, INBOUND, OUTBOUND};
use super::comment;
use super::packet::{self, Endpoint, Flags, MAX_SEGMENT, SERVER_PORT, TTRPC_PORT};
use crate::decode::h2::seed;
use crate::decode::sniff::{is_initial_settings, PREFACE};
use crate::flow::{
    ClientContainers, Conn, ConnId, Dir, FlowEvent, Held, OwnedEvent, Process, Protocol, Sink,
};
use crate::sizes::Sizes;

/// Bytes held while the connection is undecided, at most.
const HOLD_LIMIT: usize = 64 << 10;
/// Ticks (about 100 ms) a fresh server's bytes wait for the client's first
/// write, unless the source says its records can be later than that
/// ([`PcapngWriter::with_wait`]).
const HOLD_TICKS: u32 = 3;
/// Ticks the client's bytes wait for the server's first write, which names
/// the server for the SYN (SO_PEERCRED names the process that called
/// listen(); a shim's `start` binds and exits). A shim's first reply may
/// follow a runc create, so this is longer.
const SERVER_TICKS: u32 = 20;

/// What the connection's first bytes said about the HTTP/2 preface, and
/// whether both sides have been heard from (so that the SYN names both).
enum Preface {
    /// Writes held: nothing from the client yet (a fresh server's
    /// SETTINGS may be held), or nothing from the server yet.
    Undecided {
        /// The connection's writes, in order.
        held: Held,
        age: u32,
        /// The client has written (its first write is the first `ToServer` one held).
        client: bool,
        /// The server has written.
        server: bool,
    },
    /// Settled: real preface, synthetic one written, or not HTTP/2.
    Decided,
}

struct TcpConn {
    iface: u32,
    /// The socket path the interface is for.
    path: String,
    ends: [Endpoint; 2],
    isn: [u32; 2],
    /// Synthetic bytes inserted before each direction's stream.
    shift: [u32; 2],
    /// Next sequence number each direction would send.
    next: [u32; 2],
    preface: Preface,
    /// What the connection speaks, once told (`FlowEvent::Protocol`).
    protocol: Option<Protocol>,
    /// Time and connection details for the SYN, until it is written: it
    /// waits for both sides' first writes, which name them.
    handshake: Option<(u64, Box<Conn>)>,
    /// When the connection was first seen.
    opened_ts: u64,
}

impl TcpConn {
    fn seq(&self, dir: Dir, offset: u64) -> u32 {
        let d = dir.index();
        self.isn[d]
            .wrapping_add(1)
            .wrapping_add(self.shift[d])
            .wrapping_add(offset as u32)
    }
}

/// One segment to write.
struct Seg<'p> {
    dir: Dir,
    seq: u32,
    flags: Flags,
    payload: &'p [u8],
}

fn seg(dir: Dir, seq: u32, flags: Flags, payload: &[u8]) -> Seg<'_> {
    Seg {
        dir,
        seq,
        flags,
        payload,
    }
}

fn dir_flags(dir: Dir) -> u32 {
    match dir {
        Dir::ToServer => INBOUND,
        Dir::ToClient => OUTBOUND,
    }
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriterStats {
    /// Packets written.
    pub packets: u64,
    /// Connections whose preface was synthesised (capture began mid-connection).
    pub synthetic_prefaces: u64,
    /// Connections whose first bytes were HTTP/2.
    pub grpc: u64,
    /// Connections whose first bytes were ttrpc.
    pub ttrpc: u64,
    /// Connections whose first bytes were HTTP/1.x (on port 80, as gRPC:
    /// Wireshark's HTTP dissector takes both).
    pub http: u64,
    /// Connections with bytes that were neither.
    pub other: u64,
    /// Synthetic frames written to carry recovered HPACK tables and headers.
    pub seeds: u64,
}

/// The pcapng sink.
pub struct PcapngWriter<W: Write> {
    blocks: Blocks<W>,
    conns: HashMap<ConnId, TcpConn>,
    server_ips: HashMap<String, [u8; 4]>,
    /// Server addresses handed out so far (never reused).
    next_server: u32,
    named: HashSet<[u8; 4]>,
    /// Ticks a fresh server's bytes wait for the client's first write.
    hold_ticks: u32,
    next_port: u16,
    frame: Vec<u8>,
    /// Counters.
    pub stats: WriterStats,
    /// Connections whose client runs inside a container, for the summary.
    pub from_containers: ClientContainers,
}

impl<W: Write> PcapngWriter<W> {
    /// Connections, named addresses and socket paths kept now.
    pub fn sizes(&self, out: &mut Sizes) {
        out.add("pcapng.conns", self.conns.len());
        out.add("pcapng.named", self.named.len());
        out.add("pcapng.server_ips", self.server_ips.len());
        out.add("pcapng.interfaces", self.blocks.interfaces());
        out.add("pcapng.from_containers", self.from_containers.len());
    }

    /// Start a pcapng stream on `out`; `comment` goes in the section header.
    pub fn new(out: W, comment: &str) -> Result<Self> {
        Ok(PcapngWriter {
            blocks: Blocks::new(out, comment)?,
            conns: HashMap::new(),
            server_ips: HashMap::new(),
            next_server: 0,
            named: HashSet::new(),
            hold_ticks: HOLD_TICKS,
            next_port: 1024,
            frame: Vec::with_capacity(MAX_SEGMENT + 64),
            stats: WriterStats::default(),
            from_containers: ClientContainers::default(),
        })
    }

    /// Wait `ticks` for a client's first write after a fresh server's
    /// SETTINGS: a source that may hold a record that long (the live
    /// capture's ordering stage) says so, or the client's preface would be
    /// taken as missing and a synthetic one written.
    pub fn with_wait(mut self, ticks: u32) -> Self {
        self.hold_ticks = self.hold_ticks.max(ticks);
        self
    }

    /// The output, to flush it.
    pub fn get_mut(&mut self) -> &mut W {
        self.blocks.get_mut()
    }

    /// Finish: settle held bytes and give back the output.
    pub fn finish(mut self) -> Result<W> {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            self.settle(id)?;
        }
        Ok(self.blocks.into_inner())
    }

    /// A note tied to no packet (see `comment::schemas`).
    pub fn note(&mut self, comment: &str) -> Result<()> {
        self.blocks.note(comment)
    }

    /// Periodic work: bytes held too long are written.
    pub fn tick(&mut self) -> Result<()> {
        let mut due = vec![];
        let hold_ticks = self.hold_ticks;
        for (id, c) in self.conns.iter_mut() {
            if let Preface::Undecided {
                held, age, client, ..
            } = &mut c.preface
            {
                if !held.is_empty() {
                    *age += 1;
                    let limit = if *client { SERVER_TICKS } else { hold_ticks };
                    if *age >= limit {
                        due.push(*id);
                    }
                }
            }
        }
        for id in due {
            self.settle(id)?;
        }
        Ok(())
    }

    fn segment(
        &mut self,
        id: ConnId,
        ts: u64,
        seg: Seg<'_>,
        comment: Option<String>,
    ) -> Result<()> {
        let Seg {
            dir,
            seq,
            flags,
            payload,
        } = seg;
        let Some(c) = self.conns.get_mut(&id) else {
            return Ok(());
        };
        let d = dir.index();
        let src = c.ends[d];
        let dst = c.ends[dir.opposite().index()];
        let ack = c.next[dir.opposite().index()];
        packet::build(&mut self.frame, src, dst, seq, ack, flags, payload);
        let consumed = payload.len() as u32 + u32::from(flags.syn) + u32::from(flags.fin);
        c.next[d] = seq.wrapping_add(consumed);
        let iface = c.iface;
        self.stats.packets += 1;
        self.blocks
            .packet(iface, ts, &self.frame, dir_flags(dir), comment)
    }

    fn open(&mut self, conn: &Conn, ts: u64) -> Result<()> {
        let path = conn.path.as_deref().unwrap_or(comment::UNNAMED).to_string();
        let iface = self.blocks.interface(&path)?;
        let next = &mut self.next_server;
        let server_ip = *self.server_ips.entry(path.clone()).or_insert_with(|| {
            *next += 1;
            let n = *next;
            [172, 16 + (n >> 16) as u8 % 16, (n >> 8) as u8, n as u8]
        });
        let pid = conn
            .client
            .owner
            .pid
            .unwrap_or(0xfe_0000 + (conn.id as u32 & 0xffff));
        let client_ip = [10, (pid >> 16) as u8, (pid >> 8) as u8, pid as u8];
        let port = self.next_port;
        self.next_port = if port == u16::MAX { 1024 } else { port + 1 };
        let isn = [
            (conn.id as u32).wrapping_mul(0x9e37_79b9),
            (conn.id as u32).wrapping_mul(0x85eb_ca6b) ^ 0x5555_5555,
        ];
        let client = Endpoint {
            ip: client_ip,
            port,
        };
        let server = Endpoint {
            ip: server_ip,
            port: SERVER_PORT,
        };
        self.conns.insert(
            conn.id,
            TcpConn {
                iface,
                path: path.clone(),
                ends: [client, server],
                isn,
                shift: [0, 0],
                next: [isn[0], isn[1]],
                preface: Preface::Undecided {
                    held: Held::default(),
                    age: 0,
                    client: false,
                    server: false,
                },
                protocol: None,
                handshake: Some((ts, Box::new(conn.clone()))),
                opened_ts: ts,
            },
        );
        Ok(())
    }

    /// Name the addresses and write SYN, SYN-ACK, ACK, once per connection.
    fn handshake(&mut self, id: ConnId) -> Result<()> {
        let Some(c) = self.conns.get_mut(&id) else {
            return Ok(());
        };
        let Some((ts, conn)) = c.handshake.take() else {
            return Ok(());
        };
        let (client_ip, server_ip, isn) = (c.ends[0].ip, c.ends[1].ip, c.isn);
        let path = conn.path.as_deref().unwrap_or(comment::UNNAMED).to_string();
        let mut names = vec![];
        if self.named.insert(server_ip) {
            names.push((server_ip, path.clone()));
        }
        if self.named.insert(client_ip) {
            let owner = conn.client.owner;
            let comm = owner.comm.map_or("pid".to_string(), |c| c.to_string());
            let pid = owner.pid.map_or("?".to_string(), |p| p.to_string());
            names.push((client_ip, format!("{comm}.{pid}")));
        }
        if !names.is_empty() {
            self.blocks.names(&names)?;
        }
        let opening = comment::opening(&conn);
        let syn = Flags {
            syn: true,
            ..Default::default()
        };
        let syn_ack = Flags { ack: true, ..syn };
        let ack = Flags {
            ack: true,
            ..Default::default()
        };
        self.segment(id, ts, seg(Dir::ToServer, isn[0], syn, &[]), Some(opening))?;
        self.segment(id, ts, seg(Dir::ToClient, isn[1], syn_ack, &[]), None)?;
        self.segment(
            id,
            ts,
            seg(Dir::ToServer, isn[0].wrapping_add(1), ack, &[]),
            None,
        )
    }

    fn data(
        &mut self,
        id: ConnId,
        ts: u64,
        dir: Dir,
        w: &Process,
        offset: u64,
        bytes: &[u8],
    ) -> Result<()> {
        let Some(c) = self.conns.get(&id) else {
            return Ok(());
        };
        let flags = Flags {
            ack: true,
            psh: true,
            ..Default::default()
        };
        let mut comment = comment::writer(w);
        let mut seq = c.seq(dir, offset);
        for piece in bytes.chunks(MAX_SEGMENT) {
            self.segment(id, ts, seg(dir, seq, flags, piece), comment.take())?;
            seq = seq.wrapping_add(piece.len() as u32);
        }
        Ok(())
    }

    fn gap(&mut self, id: ConnId, ts: u64, dir: Dir, offset: u64, len: u64) -> Result<()> {
        let Some(c) = self.conns.get(&id) else {
            return Ok(());
        };
        // A bare ACK past the hole: Wireshark marks the lost segment there.
        let seq = c.seq(dir, offset + len);
        let ack = Flags {
            ack: true,
            ..Default::default()
        };
        self.segment(id, ts, seg(dir, seq, ack, &[]), Some(comment::lost(len)))
    }

    /// Settle the preface question with the writes held (the client's
    /// first write among them, if it came) and write them, after the SYN.
    fn settle(&mut self, id: ConnId) -> Result<()> {
        let Some(c) = self.conns.get_mut(&id) else {
            return Ok(());
        };
        let mut held = match std::mem::replace(&mut c.preface, Preface::Decided) {
            Preface::Undecided { mut held, .. } => held.take(),
            Preface::Decided => return Ok(()),
        };
        let protocol = c.protocol;
        self.handshake(id)?;
        let first_client = held.iter().position(
            |(_, ev)| matches!(ev, OwnedEvent::Data { dir, .. } if *dir == Dir::ToServer),
        );
        let real = first_client.filter(|&i| {
            matches!(&held[i].1, OwnedEvent::Data { offset: 0, bytes, .. } if bytes.starts_with(PREFACE))
        });
        if let Some(i) = real {
            // The preface in a segment of its own, before anything else:
            // Wireshark's HTTP dissector hands the connection to HTTP/2
            // when it sees it.
            let (ts, ev) = &mut held[i];
            if let OwnedEvent::Data {
                writer,
                offset,
                bytes,
                ..
            } = ev
            {
                self.data(id, *ts, Dir::ToServer, writer, 0, &bytes[..PREFACE.len()])?;
                bytes.drain(..PREFACE.len());
                *offset = PREFACE.len() as u64;
            }
        } else if protocol == Some(Protocol::Grpc) {
            let c = self.conns.get_mut(&id).expect("connection checked above");
            let ts = first_client
                .or((!held.is_empty()).then_some(0))
                .map_or(c.opened_ts, |i| held[i].0);
            let seq = c.seq(Dir::ToServer, 0);
            c.shift[Dir::ToServer.index()] = PREFACE.len() as u32;
            self.stats.synthetic_prefaces += 1;
            let flags = Flags {
                ack: true,
                psh: true,
                ..Default::default()
            };
            let note = comment::SYNTHETIC_PREFACE.to_string();
            self.segment(id, ts, seg(Dir::ToServer, seq, flags, PREFACE), Some(note))?;
        }
        for (ts, ev) in &held {
            if let OwnedEvent::Data {
                dir,
                writer,
                offset,
                bytes,
            } = ev
            {
                if !bytes.is_empty() {
                    self.data(id, *ts, *dir, writer, *offset, bytes)?;
                }
            }
        }
        Ok(())
    }

    /// What the connection speaks: ttrpc gets its own server port (the SYN
    /// is not written yet: it waits for the first writes).
    fn protocol(&mut self, id: ConnId, protocol: Option<Protocol>) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.protocol = protocol;
        match protocol {
            Some(Protocol::Grpc) => self.stats.grpc += 1,
            Some(Protocol::Ttrpc) => {
                self.stats.ttrpc += 1;
                c.ends[1].port = TTRPC_PORT;
            }
            Some(Protocol::Http1) => self.stats.http += 1,
            None => self.stats.other += 1,
        }
    }

    /// A synthetic frame carrying a recovered HPACK table or a stream's
    /// headers (`decode::h2::seed`), before stream offset `offset` of
    /// `dir`: a segment of its own, which shifts the direction's later
    /// sequence numbers.
    fn seed(
        &mut self,
        id: ConnId,
        ts: u64,
        dir: Dir,
        offset: u64,
        frame: &[u8],
        origin: &str,
    ) -> Result<()> {
        if matches!(
            self.conns.get(&id).map(|c| &c.preface),
            Some(Preface::Undecided { .. })
        ) {
            self.settle(id)?;
        }
        let Some(c) = self.conns.get_mut(&id) else {
            return Ok(());
        };
        if seed::literal_fields(frame).is_empty() {
            // A header block with no field trips Wireshark's HTTP/2
            // dissector (a table's frame always has one: its marker).
            return Ok(());
        }
        let seq = c.seq(dir, offset);
        let d = dir.index();
        c.shift[d] = c.shift[d].wrapping_add(frame.len() as u32);
        self.stats.seeds += 1;
        let flags = Flags {
            ack: true,
            psh: true,
            ..Default::default()
        };
        self.segment(
            id,
            ts,
            seg(dir, seq, flags, frame),
            Some(comment::seed(seed::frame_type_name(frame), origin)),
        )
    }

    fn close(&mut self, id: ConnId, ts: u64) -> Result<()> {
        self.settle(id)?;
        let fin = Flags {
            fin: true,
            ack: true,
            ..Default::default()
        };
        let ack = Flags {
            ack: true,
            ..Default::default()
        };
        for (dir, flags) in [
            (Dir::ToServer, fin),
            (Dir::ToClient, fin),
            (Dir::ToServer, ack),
        ] {
            let Some(c) = self.conns.get(&id) else {
                return Ok(());
            };
            let seq = c.next[dir.index()];
            self.segment(id, ts, seg(dir, seq, flags, &[]), None)?;
        }
        if let Some(c) = self.conns.remove(&id) {
            self.forget(&c);
        }
        Ok(())
    }

    /// What only a closed connection used: its client's address name (no
    /// other open connection has that address), and its socket path's
    /// interface and address when the socket no longer exists (a shim's,
    /// once it exited); a path that still exists keeps them.
    fn forget(&mut self, closed: &TcpConn) {
        let [client, server] = [closed.ends[0].ip, closed.ends[1].ip];
        if !self.conns.values().any(|c| c.ends[0].ip == client) {
            self.named.remove(&client);
        }
        let in_use = self.conns.values().any(|c| c.iface == closed.iface);
        let gone = closed.path.starts_with('/') && !std::path::Path::new(&closed.path).exists();
        if !in_use && gone {
            self.server_ips.remove(&closed.path);
            self.named.remove(&server);
            self.blocks.forget(&closed.path);
        }
    }
}

impl<W: Write> Sink for PcapngWriter<W> {
    fn event(&mut self, conn: &Conn, ts: u64, ev: FlowEvent<'_>) -> Result<()> {
        let id = conn.id;
        self.from_containers
            .note(conn, matches!(ev, FlowEvent::Close));
        if let Some((_, pending)) = self.conns.get_mut(&id).and_then(|c| c.handshake.as_mut()) {
            // What the connection's first records taught (the client's
            // name; the server's name and inode, from its first write).
            pending.as_mut().clone_from(conn);
        }
        match ev {
            FlowEvent::Open => self.open(conn, ts),
            FlowEvent::Protocol(p) => {
                self.protocol(id, p);
                Ok(())
            }
            FlowEvent::Close => self.close(id, ts),
            FlowEvent::Data {
                dir,
                writer,
                offset,
                bytes,
            } => {
                let Some(c) = self.conns.get_mut(&id) else {
                    return Ok(());
                };
                let Preface::Undecided {
                    held,
                    client,
                    server,
                    ..
                } = &mut c.preface
                else {
                    return self.data(id, ts, dir, writer, offset, bytes);
                };
                let fresh_server = dir == Dir::ToClient
                    && held.is_empty()
                    && offset == 0
                    && is_initial_settings(bytes);
                match dir {
                    Dir::ToServer => *client = true,
                    Dir::ToClient => *server = true,
                }
                held.push(ts, ev);
                // Held while one side is still to be heard from: the
                // client, after a fresh server's SETTINGS (a server that
                // is not fresh began before the capture); the server, after
                // the client's write. Settled with this write among the
                // held ones, so that it counts as evidence of HTTP/2.
                let waiting = match (*client, *server) {
                    (true, true) => false,
                    (true, false) => true,
                    (false, _) => fresh_server || held.len() > 1,
                };
                if waiting && held.bytes() <= HOLD_LIMIT {
                    return Ok(());
                }
                self.settle(id)
            }
            FlowEvent::Gap { dir, offset, len } => {
                self.settle(id)?;
                self.gap(id, ts, dir, offset, len)
            }
            FlowEvent::Seed {
                dir,
                offset,
                frame,
                origin,
            } => self.seed(id, ts, dir, offset, frame, origin),
        }
    }
}
