"""A gRPC client whose writing thread has a name of its own, as grpcio's `event_engine` threads
do, for tests of what the capture calls the process and the thread.

    /usr/bin/python3 named_thread_client.py /path/to/containerd.sock THREAD_NAME

From a thread that names itself THREAD_NAME (prctl PR_SET_NAME; at most 15 bytes), connects to
the socket and makes one unary call, /containerd.services.version.v1.Version/Version with an
empty request, written here by hand (HTTP/2 frames, HPACK literals without indexing: no gRPC
library, so every write is this thread's). Reads until the call's trailers, then prints `done`
with the process id and the thread's id, and exits: `done 4467 4470`. The process keeps its own
name (`python3`).
"""

import ctypes
import socket
import struct
import sys
import threading

PR_SET_NAME = 15
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
METHOD = b"/containerd.services.version.v1.Version/Version"
# Frame types and flags (RFC 9113 section 6).
DATA, HEADERS, SETTINGS, GOAWAY = 0, 1, 4, 7
END_STREAM, ACK, END_HEADERS = 1, 1, 4
# How long a read may wait (seconds).
TIMEOUT = 30


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(name, value):
    """A header field as a literal without indexing, new name (RFC 7541 section 6.2.2)."""
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def recv_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise EOFError("the server closed the connection")
        out += chunk
    return out


def call(path, name, result):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NAME, name.encode(), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(TIMEOUT)
        s.connect(path)
        headers = b"".join(
            literal(n, v)
            for n, v in [
                (b":method", b"POST"),
                (b":scheme", b"http"),
                (b":path", METHOD),
                (b":authority", b"localhost"),
                (b"content-type", b"application/grpc"),
                (b"te", b"trailers"),
            ]
        )
        # An empty message: not compressed, length 0.
        s.sendall(
            PREFACE
            + frame(SETTINGS, 0, 0, b"")
            + frame(HEADERS, END_HEADERS, 1, headers)
            + frame(DATA, END_STREAM, 1, b"\x00\x00\x00\x00\x00")
        )
        while True:
            head = recv_exact(s, 9)
            length = int.from_bytes(head[:3], "big")
            kind, flags = head[3], head[4]
            stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
            recv_exact(s, length)
            if kind == SETTINGS and not flags & ACK:
                s.sendall(frame(SETTINGS, ACK, 0, b""))
            elif kind == GOAWAY:
                raise RuntimeError("the server sent GOAWAY")
            elif kind == HEADERS and stream == 1 and flags & END_STREAM:
                break
    result.append(threading.get_native_id())


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: named_thread_client.py SOCKET THREAD_NAME")
    result = []
    t = threading.Thread(target=call, args=(sys.argv[1], sys.argv[2], result))
    t.start()
    t.join()
    if not result:
        sys.exit("the call failed")
    print("done", threading.get_native_id(), result[0], flush=True)


if __name__ == "__main__":
    main()
