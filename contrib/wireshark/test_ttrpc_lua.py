#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""End-to-end test of contrib/wireshark/ttrpc.lua with tshark.

Builds pcapng files of synthetic Ethernet/IPv4/TCP connections that carry
ttrpc (server port 7; 81 in files written before), the way containerdsnoop
writes them, then runs tshark with the Lua dissector and the repository's
protobuf schemas and checks what it shows, and without the dissector that
Wireshark flags nothing in them, whatever the bytes.  Standard library only.

    python3 contrib/wireshark/test_ttrpc_lua.py [--keep DIR] [--tshark PATH]

Exits non-zero when a check fails; the last line is "ttrpc.lua checks: N ok, M failed"
(worded apart from a test runner's summary: scripts/test.sh runs it before cargo test).
"""

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LUA = os.path.join(HERE, "ttrpc.lua")
PROTO = os.path.join(REPO, "proto")
WKT = os.path.join(HERE, "wkt")
# The ttrpc server port containerdsnoop writes, and the one it wrote before.
PORT = 7
LEGACY_PORT = 81

# --------------------------------------------------------------------------
# A tiny protobuf encoder.


def varint(n):
    if n < 0:
        n += 1 << 64  # int32/int64 negatives are ten-byte varints
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def f_varint(field, n):
    return key(field, 0) + varint(n)


def f_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return key(field, 2) + varint(len(data)) + data


def msg(*fields):
    return b"".join(fields)


# ttrpc envelope messages (ttrpc's request.proto).


def ttrpc_request(service, method, payload, timeout_nano=0, metadata=()):
    out = f_bytes(1, service) + f_bytes(2, method) + f_bytes(3, payload)
    if timeout_nano:
        out += f_varint(4, timeout_nano)
    for k, v in metadata:
        out += f_bytes(5, f_bytes(1, k) + f_bytes(2, v))
    return out


def ttrpc_response(code=0, message="", payload=b""):
    status = b""
    if code:
        status += f_varint(1, code)
    if message:
        status += f_bytes(2, message)
    out = f_bytes(1, status)
    if payload:
        out += f_bytes(2, payload)
    return out


REQUEST, RESPONSE, DATA = 1, 2, 3
REMOTE_CLOSED, REMOTE_OPEN, NO_DATA = 0x01, 0x02, 0x04


def frame(stream_id, ftype, payload, flags=0):
    return struct.pack(">IIBB", len(payload), stream_id, ftype, flags) + payload


# --------------------------------------------------------------------------
# pcapng with synthetic Ethernet/IPv4/TCP.


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def packet(src, dst, sport, dport, seq, ack, flags, payload):
    """One Ethernet frame: IPv4 + TCP with correct checksums."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
    c = csum(pseudo + tcp + payload)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    eth = b"\x02\x00" + dst + b"\x02\x00" + src + b"\x08\x00"
    return eth + ip + tcp + payload


FIN, SYN, PSH, ACK = 0x01, 0x02, 0x08, 0x10


class Capture:
    """Collects packets and writes them as one pcapng section."""

    def __init__(self):
        self.packets = []  # (timestamp in us, bytes)
        self.t = 1_700_000_000_000_000

    def add(self, data):
        self.t += 1000
        self.packets.append((self.t, data))
        return len(self.packets)  # Wireshark's frame number

    def write(self, path):
        def block(btype, body):
            body += b"\0" * (-len(body) % 4)
            n = 12 + len(body)
            return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

        out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
        out += block(1, struct.pack("<HHI", 1, 0, 262144))  # Ethernet
        for ts, data in self.packets:
            body = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data))
            out += block(6, body + data)
        with open(path, "wb") as f:
            f.write(out)


class Conn:
    """One TCP connection: handshake on creation, then data segments."""

    def __init__(self, cap, client, cport, server, sport=PORT, isn=0):
        self.cap = cap
        self.ends = [(ip4(client), cport), (ip4(server), sport)]
        self.next = [isn + 1000 * cport, isn + 7000 * cport]
        c, s = 0, 1
        self._seg(c, SYN, b"", ack=False)
        self._seg(s, SYN | ACK, b"")
        self._seg(c, ACK, b"")

    def _seg(self, side, flags, payload, ack=True):
        (src, sp), (dst, dp) = self.ends[side], self.ends[1 - side]
        seq, peer = self.next[side], self.next[1 - side]
        n = self.cap.add(packet(src, dst, sp, dp, seq, peer if ack else 0, flags, payload))
        self.next[side] = (seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        return n

    def client(self, payload):
        """A client-to-server data segment; returns its frame number."""
        return self._seg(0, PSH | ACK, payload)

    def server(self, payload):
        return self._seg(1, PSH | ACK, payload)

    def close(self):
        self._seg(0, FIN | ACK, b"")
        self._seg(1, FIN | ACK, b"")
        self._seg(0, ACK, b"")


# --------------------------------------------------------------------------
# The traffic.

TASK = "containerd.task.v2.Task"
EVENTS = "containerd.services.events.ttrpc.v1.Events"
NS = [("containerd-namespace-ttrpc", "k8s.io")]
SECOND = 1_000_000_000


def create_req(cid, bundle):
    return msg(f_bytes(1, cid), f_bytes(2, bundle))


def build_clean(cap):
    """Returns what the checks need to know about the frames written."""
    info = {}
    # containerd -> shim
    a = Conn(cap, "10.0.4.210", 1024, "172.16.0.1")
    info["create_req"] = a.client(
        frame(1, REQUEST, ttrpc_request(TASK, "Create", create_req("abc", "/run/x"), 10 * SECOND, NS),
              REMOTE_CLOSED))
    info["create_resp"] = a.server(frame(1, RESPONSE, ttrpc_response(payload=f_varint(1, 42))))
    info["kill_req"] = a.client(
        frame(3, REQUEST, ttrpc_request(TASK, "Kill", msg(f_bytes(1, "abc"), f_varint(3, 9)), 0, NS),
              REMOTE_CLOSED))
    info["kill_resp"] = a.server(
        frame(3, RESPONSE, ttrpc_response(5, "task abc not found: not found")))

    # A frame split across two segments: the header and part of the payload,
    # then the rest.
    big = create_req("split-" + "x" * 300, "/run/containerd/io.containerd.runtime.v2.task/k8s.io/split")
    f = frame(5, REQUEST, ttrpc_request(TASK, "Create", big, 0, NS), REMOTE_CLOSED)
    info["split_first"] = a.client(f[:7])
    info["split_second"] = a.client(f[7:])
    info["split_resp"] = a.server(frame(5, RESPONSE, ttrpc_response(payload=f_varint(1, 4242))))

    # Three frames in one segment each way.
    three = b"".join([
        frame(7, REQUEST, ttrpc_request(TASK, "State", msg(f_bytes(1, "abc")), 0, NS), REMOTE_CLOSED),
        frame(9, REQUEST, ttrpc_request(TASK, "Pids", msg(f_bytes(1, "abc")), 0, NS), REMOTE_CLOSED),
        frame(11, REQUEST, ttrpc_request(TASK, "Connect", msg(f_bytes(1, "abc")), 0, NS), REMOTE_CLOSED),
    ])
    info["three_req"] = a.client(three)
    info["three_resp"] = a.server(b"".join([
        frame(7, RESPONSE, ttrpc_response(payload=msg(f_bytes(1, "abc"), f_varint(3, 42)))),
        frame(9, RESPONSE, ttrpc_response(payload=f_bytes(1, f_varint(1, 42)))),
        frame(11, RESPONSE, ttrpc_response(payload=msg(f_varint(1, 41), f_varint(2, 42)))),
    ]))

    # A client-streaming call of a method no schema knows, with data frames:
    # one frame ending in the middle of a segment whose rest starts the next.
    up = frame(13, REQUEST, ttrpc_request("example.Uploader", "Upload", b"", 0, NS), REMOTE_OPEN)
    d1 = frame(13, DATA, msg(f_bytes(1, "chunk-1"), f_varint(2, 1)))
    d2 = frame(13, DATA, b"", REMOTE_CLOSED | NO_DATA)
    info["upload_req"] = a.client(up + d1[:5])
    info["upload_data"] = a.client(d1[5:] + d2)
    info["upload_server_data"] = a.server(frame(13, DATA, msg(f_bytes(1, "ack"))))
    info["upload_resp"] = a.server(frame(13, RESPONSE, ttrpc_response(payload=f_varint(1, 2))))
    a.close()

    # shim -> containerd: an event.
    b = Conn(cap, "10.0.4.211", 1025, "172.16.0.2")
    task_create = msg(f_bytes(1, "abc"), f_bytes(2, "/run/x"), f_varint(6, 42))
    envelope = msg(
        f_bytes(1, msg(f_varint(1, 1_700_000_000), f_varint(2, 5))),
        f_bytes(2, "k8s.io"),
        f_bytes(3, "/tasks/create"),
        f_bytes(4, msg(f_bytes(1, "containerd.events.TaskCreate"), f_bytes(2, task_create))),
    )
    info["forward_req"] = b.client(
        frame(1, REQUEST, ttrpc_request(EVENTS, "Forward", f_bytes(1, envelope), 5 * SECOND, NS),
              REMOTE_CLOSED))
    info["forward_resp"] = b.server(frame(1, RESPONSE, ttrpc_response()))
    b.close()
    return info


def build_garbage(cap):
    """The clean traffic plus one connection that turns to garbage."""
    info = build_clean(cap)
    c = Conn(cap, "10.0.4.212", 1026, "172.16.0.1")
    info["g_req"] = c.client(
        frame(1, REQUEST, ttrpc_request(TASK, "Pids", msg(f_bytes(1, "g")), 0, NS), REMOTE_CLOSED))
    info["g_resp"] = c.server(frame(1, RESPONSE, ttrpc_response(payload=b"")))
    info["garbage"] = c.client(bytes((i * 97 + 0xC3) & 0xFF for i in range(64)))
    c.close()
    return info



def build_on_port(cap, port):
    """One Create call on another server port (preference and Decode As)."""
    info = {}
    c = Conn(cap, "10.0.4.213", 1027, "172.16.0.3", sport=port)
    info["req"] = c.client(
        frame(1, REQUEST, ttrpc_request(TASK, "Create", create_req("p", "/run/p"), 0, NS), REMOTE_CLOSED))
    info["resp"] = c.server(frame(1, RESPONSE, ttrpc_response(payload=f_varint(1, 7))))
    c.close()
    return info


def build_lookalikes(cap, port):
    """Segments that Wireshark's heuristic dissectors claim on a port with no
    dissector of its own, one connection each (a heuristic that claims a
    segment takes its whole conversation): an HTTP request, a SIP request,
    and a ttrpc request and response whose headers read as SMPP ones
    (command_length, command_id and command_status from the length, stream
    id, type, flags and first payload bytes), as the SMPP heuristic took
    them on port 81."""
    lookalikes = [
        [(0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")],
        [(0, b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
             b"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n"
             b"Content-Length: 0\r\n\r\n")],
        [(0, frame(1, REQUEST, ttrpc_request(TASK, "Create", create_req("s", "/run/s"))))],
        [(1, frame(9, RESPONSE, f_bytes(2, f_bytes(1, "shim-fixture"))))],
    ]
    for i, segments in enumerate(lookalikes):
        c = Conn(cap, "10.0.4.215", 1029 + i, "172.16.0.5", sport=port)
        for side, payload in segments:
            (c.client if side == 0 else c.server)(payload)
        c.close()


def build_statusless(cap):
    """An OK response with no status at all, as containerd 1.6's shims send
    them, and an empty one (a Forward's answer: zero bytes of data)."""
    info = {}
    c = Conn(cap, "10.0.4.214", 1028, "172.16.0.4")
    c.client(frame(1, REQUEST, ttrpc_request(TASK, "Start", msg(f_bytes(1, "s")), 0, NS)))
    info["start_resp"] = c.server(frame(1, RESPONSE, f_bytes(2, f_varint(1, 42))))
    c.client(frame(3, REQUEST, ttrpc_request(EVENTS, "Forward", b"", 0, NS)))
    info["empty_resp"] = c.server(frame(3, RESPONSE, b""))
    c.close()
    return info


def build_fuzz(cap, rounds=300):
    """Frames with valid headers and random bodies, random flags, unknown
    types, and a new connection on the same endpoints (stream IDs restart)."""
    import random

    rnd = random.Random(1234)
    c = Conn(cap, "10.0.4.214", 1028, "172.16.0.4")
    sid = 1
    for i in range(rounds):
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 40)))
        if rnd.random() < 0.5:
            # A plausible envelope with a random tail, to reach deeper.
            body = f_bytes(1, TASK) + f_bytes(2, "Create") + body
        ftype = rnd.choice([REQUEST, RESPONSE, DATA, REQUEST, RESPONSE, 9])
        seg = frame(sid, ftype, body, rnd.randrange(256))
        (c.client if ftype != RESPONSE else c.server)(seg)
        if ftype == REQUEST:
            sid += 2
    c.close()
    # Same endpoints again, stream IDs start over at 1.
    d = Conn(cap, "10.0.4.214", 1028, "172.16.0.4", isn=1 << 30)
    d.client(frame(1, REQUEST, ttrpc_request(TASK, "Delete", msg(f_bytes(1, "abc"))), REMOTE_CLOSED))
    d.server(frame(1, RESPONSE, ttrpc_response(payload=msg(f_varint(1, 42)))))
    d.close()


# --------------------------------------------------------------------------
# Running tshark.


class Runner:
    def __init__(self, tshark, tmp):
        self.tshark = tshark
        self.env = dict(os.environ)
        self.conf = os.path.join(tmp, "config")
        os.makedirs(self.conf, exist_ok=True)
        # A fresh, empty configuration: no personal plugins or preferences.
        self.env["WIRESHARK_CONFIG_DIR"] = self.conf
        self.env["HOME"] = self.conf
        self.env.pop("XDG_CONFIG_HOME", None)
        self.base = [
            "-X", "lua_script:" + LUA,
            "-o", 'uat:protobuf_search_paths:"%s","TRUE"' % PROTO,
            "-o", 'uat:protobuf_search_paths:"%s","TRUE"' % WKT,
            "-o", "protobuf.preload_protos:TRUE",
            "-o", "protobuf.pbf_as_hf:TRUE",
        ]

    def run(self, args, protos=True):
        cmd = [self.tshark] + (self.base if protos else self.base[:2]) + args
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True, errors="replace")
        errs = [l for l in p.stderr.splitlines()
                if l.strip() and "Running as user" not in l and "could be dangerous" not in l]
        if p.returncode != 0 or errs:
            raise RuntimeError("tshark failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), "\n".join(errs)))
        return p.stdout

    def fields(self, pcap, fields, filt="ttrpc", extra=()):
        """{frame number: {field: [values]}} for the packets that match."""
        args = ["-r", pcap, "-Y", filt, "-T", "fields", "-E", "aggregator=|", "-e", "frame.number"]
        for f in fields:
            args += ["-e", f]
        out = self.run(list(extra) + args)
        rows = {}
        for line in out.splitlines():
            cols = line.split("\t")
            cols += [""] * (len(fields) + 1 - len(cols))
            rows[int(cols[0])] = {f: (v.split("|") if v else []) for f, v in zip(fields, cols[1:])}
        return rows

    def frames(self, pcap, filt, extra=(), protos=True):
        out = self.run(list(extra) + ["-r", pcap, "-Y", filt, "-T", "fields", "-e", "frame.number"], protos)
        return [int(x) for x in out.split()]

    def bare_frames(self, pcap, filt):
        """frames() of a tshark with no plugin and no preference at all."""
        cmd = [self.tshark, "-r", pcap, "-Y", filt, "-T", "fields", "-e", "frame.number"]
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True, errors="replace")
        if p.returncode != 0:
            raise RuntimeError("tshark failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr))
        return [int(x) for x in p.stdout.split()]


# --------------------------------------------------------------------------
# Checks.


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print("ok   - " + name)
        else:
            self.failed += 1
            print("FAIL - %s%s" % (name, (": " + str(detail)) if detail != "" else ""))

    def equal(self, name, got, want):
        self.check(name, got == want, "got %r, want %r" % (got, want))

    def guarded(self, name, fn):
        """Runs fn(); an exception counts as one failure."""
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - report and go on
            self.check(name, False, e)


TYPE_NAMES = {"1": "request", "2": "response", "3": "data"}

EXPECTED_CALLS = {
    "/%s/Create" % TASK: 2,
    "/%s/Kill" % TASK: 1,
    "/%s/State" % TASK: 1,
    "/%s/Pids" % TASK: 1,
    "/%s/Connect" % TASK: 1,
    "/example.Uploader/Upload": 1,
    "/%s/Forward" % EVENTS: 1,
}


def frame_table(rows):
    """[(frame, type, method path, status or None)] in order, one per ttrpc frame."""
    out = []
    for num in sorted(rows):
        r = rows[num]
        types, paths = r["ttrpc.type"], r["ttrpc.method_path"]
        codes = list(r["ttrpc.status_code"])
        if len(types) != len(paths):
            raise ValueError("frame %d: %d types but %d method paths" % (num, len(types), len(paths)))
        for t, p in zip(types, paths):
            code = codes.pop(0) if t == "2" else None
            out.append((num, TYPE_NAMES.get(t, t), p, code))
    return out


def test_calls(c, run, clean, info, mode, extra):
    fields = ["ttrpc.type", "ttrpc.method_path", "ttrpc.status_code", "ttrpc.stream_id",
              "ttrpc.namespace", "ttrpc.request_in", "ttrpc.response_in", "ttrpc.from_client",
              "_ws.col.Info"]
    rows = run.fields(clean, fields, extra=extra)
    table = frame_table(rows)

    for kind in ("request", "response"):
        counts = {}
        for _, t, p, _ in table:
            if t == kind:
                counts[p] = counts.get(p, 0) + 1
        c.equal("%s: %ss per method" % (mode, kind), counts, EXPECTED_CALLS)
    data = [(n, p) for n, t, p, _ in table if t == "data"]
    c.equal("%s: data frames" % mode, data,
            [(info["upload_data"], "/example.Uploader/Upload")] * 2
            + [(info["upload_server_data"], "/example.Uploader/Upload")])
    c.equal("%s: who sent the data frames" % mode,
            (rows[info["upload_data"]]["ttrpc.from_client"], rows[info["upload_server_data"]]["ttrpc.from_client"]),
            (["1", "1"], ["0"]))

    codes = {(n, p): code for n, t, p, code in table if t == "response"}
    c.equal("%s: Kill fails with NOT_FOUND (5)" % mode,
            codes.get((info["kill_resp"], "/%s/Kill" % TASK)), "5")
    c.equal("%s: other responses are OK (0)" % mode,
            sorted(set(v for k, v in codes.items() if k[0] != info["kill_resp"])), ["0"])

    info_col = {n: rows[n]["_ws.col.Info"] for n in rows}
    c.equal("%s: Info of a request" % mode, info_col.get(info["create_req"]),
            ["Request /%s/Create" % TASK])
    c.equal("%s: Info of a response" % mode, info_col.get(info["create_resp"]),
            ["Response /%s/Create OK" % TASK])
    c.equal("%s: Info of a failed response" % mode, info_col.get(info["kill_resp"]),
            ["Response /%s/Kill NOT_FOUND: task abc not found: not found" % TASK])
    c.equal("%s: Info of three frames in one segment" % mode, info_col.get(info["three_resp"]),
            ["Response /%s/State OK, Response /%s/Pids OK, Response /%s/Connect OK" % (TASK, TASK, TASK)])

    c.check("%s: split frame dissected once, where it completes" % mode,
            info["split_first"] not in rows
            and rows.get(info["split_second"], {}).get("ttrpc.stream_id") == ["5"],
            {k: rows.get(info[k]) for k in ("split_first", "split_second")})
    c.equal("%s: three requests in one segment" % mode,
            rows[info["three_req"]]["ttrpc.stream_id"], ["7", "9", "11"])
    c.equal("%s: frame ending mid-segment, the next one after it" % mode,
            (rows[info["upload_req"]]["ttrpc.stream_id"], rows[info["upload_data"]]["ttrpc.type"]),
            (["13"], ["3", "3"]))
    c.equal("%s: namespace on requests and responses" % mode,
            sorted(set(v for r in rows.values() for v in r["ttrpc.namespace"])), ["k8s.io"])
    c.equal("%s: response points at its request" % mode,
            rows[info["create_resp"]]["ttrpc.request_in"], [str(info["create_req"])])
    return rows


def run_all(tshark, keep):
    c = Checks()
    tmp = keep or tempfile.mkdtemp(prefix="ttrpc-lua-test-")
    os.makedirs(tmp, exist_ok=True)
    try:
        run = Runner(tshark, tmp)
        clean, garbage = os.path.join(tmp, "clean.pcapng"), os.path.join(tmp, "garbage.pcapng")
        cap = Capture()
        info = build_clean(cap)
        cap.write(clean)
        cap = Capture()
        ginfo = build_garbage(cap)
        cap.write(garbage)

        c.guarded("load", lambda: run.run(["-r", clean, "-c", "1"]))

        rows = {}

        def calls(mode, extra):
            rows[mode] = test_calls(c, run, clean, info, mode, extra)

        c.guarded("one-pass calls", lambda: calls("one-pass", []))
        c.guarded("two-pass calls", lambda: calls("two-pass", ["-2"]))
        if "one-pass" in rows and "two-pass" in rows:
            strip = lambda rs: {n: {k: v for k, v in r.items() if k != "ttrpc.response_in"}
                                for n, r in rs.items()}
            c.check("one-pass and two-pass agree", strip(rows["one-pass"]) == strip(rows["two-pass"]))
            c.equal("two-pass: request points at its response",
                    rows["two-pass"][info["create_req"]]["ttrpc.response_in"], [str(info["create_resp"])])

        def protobuf_fields():
            pb = {
                "pbf.containerd.task.v2.CreateTaskRequest.id": ("create_req", ["abc"]),
                "pbf.containerd.task.v2.CreateTaskRequest.bundle": ("create_req", ["/run/x"]),
                "pbf.containerd.task.v2.CreateTaskResponse.pid": ("create_resp", ["42"]),
                "pbf.containerd.task.v2.KillRequest.signal": ("kill_req", ["9"]),
                "pbf.containerd.task.v2.ConnectResponse.task_pid": ("three_resp", ["42"]),
                "pbf.containerd.services.events.ttrpc.v1.Envelope.topic": ("forward_req", ["/tasks/create"]),
                "pbf.containerd.events.TaskCreate.container_id": ("forward_req", ["abc"]),
            }
            got = run.fields(clean, list(pb))
            for f, (where, want) in pb.items():
                c.equal("typed protobuf field %s" % f, got.get(info[where], {}).get(f), want)

        c.guarded("typed protobuf fields", protobuf_fields)

        def more_fields():
            got = run.fields(clean, ["ttrpc.timeout_nano", "ttrpc.service", "ttrpc.method",
                                     "ttrpc.metadata.key", "ttrpc.status_message",
                                     "ttrpc.flags", "ttrpc.length", "ttrpc.event.topic",
                                     "ttrpc.event.type"])
            r = got[info["create_req"]]
            c.equal("timeout", r["ttrpc.timeout_nano"], [str(10 * SECOND)])
            c.equal("service and method", (r["ttrpc.service"], r["ttrpc.method"]), ([TASK], ["Create"]))
            c.equal("metadata key", r["ttrpc.metadata.key"], ["containerd-namespace-ttrpc"])
            c.equal("flags", r["ttrpc.flags"], ["0x01"])
            c.equal("status message", got[info["kill_resp"]]["ttrpc.status_message"],
                    ["task abc not found: not found"])
            c.equal("forwarded event", (got[info["forward_req"]]["ttrpc.event.topic"],
                                        got[info["forward_req"]]["ttrpc.event.type"]),
                    (["/tasks/create"], ["containerd.events.TaskCreate"]))
            c.equal("untyped payload of an unknown method still goes to protobuf",
                    run.frames(clean, "ttrpc.type == 3 && protobuf"),
                    [info["upload_data"], info["upload_server_data"]])

        c.guarded("more fields", more_fields)

        def filters():
            kill = "/%s/Kill" % TASK
            c.equal("filter on method path", run.frames(clean, 'ttrpc.method_path == "%s"' % kill),
                    [info["kill_req"], info["kill_resp"]])
            c.equal("filter on status code", run.frames(clean, "ttrpc.status_code == 5"), [info["kill_resp"]])
            c.equal("filter on failed calls", run.frames(clean, "ttrpc.status_code != 0"), [info["kill_resp"]])
            c.equal("filter on namespace and method",
                    run.frames(clean, 'ttrpc.namespace == "k8s.io" && ttrpc.method == "Forward"'),
                    [info["forward_req"], info["forward_resp"]])
            c.equal("filter on flags", run.frames(clean, "ttrpc.flags.no_data == 1"), [info["upload_data"]])
            c.equal("filter on stream id", run.frames(clean, "ttrpc.stream_id == 9"),
                    [info["three_req"], info["three_resp"]])

        c.guarded("filters", filters)

        bad = "_ws.malformed || _ws.expert.severity >= error"
        for mode, extra in (("one-pass", []), ("two-pass", ["-2"])):
            c.guarded("malformed " + mode, lambda: (
                c.equal("%s: nothing malformed in the clean file" % mode, run.frames(clean, bad, extra), []),
                c.equal("%s: only the garbage segment is malformed" % mode,
                        run.frames(garbage, bad, extra), [ginfo["garbage"]]),
                c.equal("%s: traffic around the garbage still decodes" % mode,
                        run.frames(garbage, 'ttrpc.method_path == "/%s/Pids"' % TASK, extra),
                        [info["three_req"], info["three_resp"], ginfo["g_req"], ginfo["g_resp"]]),
            ))

        def no_reassembly():
            extra = ["-o", "tcp.desegment_tcp_streams:FALSE"]
            c.equal("reassembly off: frames cut by segments are flagged, nothing else",
                    run.frames(clean, bad, extra),
                    [info["split_first"], info["split_second"], info["upload_req"], info["upload_data"]])
            c.equal("reassembly off: no dissector errors", run.frames(clean, "ttrpc.internal_error", extra), [])

        c.guarded("reassembly off", no_reassembly)

        def ports():
            p82, p83 = os.path.join(tmp, "port82.pcapng"), os.path.join(tmp, "port83.pcapng")
            cap = Capture()
            i82 = build_on_port(cap, 82)
            cap.write(p82)
            cap = Capture()
            i83 = build_on_port(cap, 83)
            cap.write(p83)
            both = [i82["req"], i82["resp"]]
            c.equal("port 82 is not ttrpc by default", run.frames(p82, "ttrpc"), [])
            p81 = os.path.join(tmp, "port81.pcapng")
            cap = Capture()
            i81 = build_on_port(cap, LEGACY_PORT)
            cap.write(p81)
            c.equal("port 81 (files written before port 7) is still ttrpc",
                    run.frames(p81, "ttrpc"), [i81["req"], i81["resp"]])
            c.equal("port 81 is still ttrpc with the port preference changed",
                    run.frames(p81, "ttrpc", ["-o", "ttrpc.port:82"]), [i81["req"], i81["resp"]])
            c.equal("preference ttrpc.port:82", run.frames(p82, "ttrpc", ["-o", "ttrpc.port:82"]), both)
            c.equal("Decode As tcp.port==83,ttrpc",
                    run.frames(p83, 'ttrpc.method_path == "/%s/Create" && pbf.containerd.task.v2.CreateTaskRequest.id == "p"' % TASK,
                               ["-d", "tcp.port==83,ttrpc"]),
                    [i83["req"]])

        c.guarded("ports", ports)

        def statusless():
            path = os.path.join(tmp, "statusless.pcapng")
            cap = Capture()
            si = build_statusless(cap)
            cap.write(path)
            got = run.fields(path, ["ttrpc.status_code"], "ttrpc.type == 2")
            c.equal("a response without a status is OK (generated code 0)",
                    [got[n]["ttrpc.status_code"] for n in (si["start_resp"], si["empty_resp"])],
                    [["0"], ["0"]])
            c.equal("a response without a status is no warning",
                    run.frames(path, "_ws.malformed || _ws.expert.severity >= warning"), [])
            c.equal("its payload is typed",
                    run.frames(path, "pbf.containerd.task.v2.StartResponse.pid == 42"), [si["start_resp"]])

        c.guarded("statusless responses", statusless)

        def without_protos():
            c.equal("without schemas: payloads still go to protobuf, untyped",
                    run.frames(clean, 'ttrpc.method == "Create" && protobuf', protos=False),
                    [info["create_req"], info["create_resp"], info["split_second"], info["split_resp"]])

        c.guarded("without schemas", without_protos)

        def fuzz():
            fz = os.path.join(tmp, "fuzz.pcapng")
            cap = Capture()
            build_fuzz(cap)
            cap.write(fz)
            for mode, extra in (("one-pass", []), ("two-pass", ["-2"])):
                c.equal("fuzz %s: no dissector or Lua errors" % mode,
                        run.frames(fz, 'ttrpc.internal_error || _ws.expert.message contains "Lua"', extra), [])
            out = run.run(["-r", fz, "-V"])
            c.check("fuzz: no Lua error in the tree", "Lua Error" not in out)
            last = run.fields(fz, ["ttrpc.method_path", "ttrpc.status_code"], 'ttrpc.method == "Delete"')
            c.equal("fuzz: endpoints reused by a new connection pair up anew",
                    [r["ttrpc.status_code"] for r in last.values()], [[], ["0"]])

        c.guarded("fuzz", fuzz)

        def without_plugin():
            # What a Wireshark without ttrpc.lua shows: the Echo dissector
            # owns port 7 and takes every segment whole, so no heuristic
            # dissector runs, whatever the bytes; on port 81 they did.
            fz = os.path.join(tmp, "fuzz.pcapng")
            looks, looks81 = os.path.join(tmp, "lookalikes.pcapng"), os.path.join(tmp, "lookalikes81.pcapng")
            for path, port in ((looks, PORT), (looks81, LEGACY_PORT)):
                cap = Capture()
                build_lookalikes(cap, port)
                cap.write(path)
            bad = "_ws.malformed || _ws.expert.severity >= warning"
            for name, path in (("clean", clean), ("garbage", garbage), ("fuzz", fz), ("lookalikes", looks)):
                c.equal("without the plugin: nothing malformed or warned in the %s file" % name,
                        run.bare_frames(path, bad), [])
                c.equal("without the plugin: every segment of the %s file is Echo data" % name,
                        run.bare_frames(path, "tcp.len > 0 && !echo"), [])
            c.equal("on port 81 heuristics claim the lookalikes: HTTP, SIP, SMPP (malformed)",
                    [len(run.bare_frames(looks81, p)) for p in ("http", "sip", "smpp", "_ws.malformed")],
                    [1, 1, 2, 2])
            c.equal("with the plugin the lookalikes are ttrpc's (garbage to it), not a heuristic's",
                    run.frames(looks, "http || sip || smpp"), [])

        c.guarded("without the plugin", without_plugin)
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("ttrpc.lua checks: %d ok, %d failed" % (c.passed, c.failed))
    return c.failed == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", metavar="DIR", help="write the captures to DIR and keep them")
    ap.add_argument("--tshark", default=shutil.which("tshark") or "/usr/bin/tshark")
    args = ap.parse_args()
    if not os.path.exists(args.tshark):
        print("tshark not found (apt-get install tshark)")
        print("ttrpc.lua checks: 0 ok, 1 failed")
        return 1
    return 0 if run_all(args.tshark, args.keep) else 1


if __name__ == "__main__":
    sys.exit(main())
