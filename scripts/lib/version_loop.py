"""A client looping on one connection, for the report benchmark (scripts/bench-report.sh):
N unary calls /containerd.services.version.v1.Version/Version on one connection to a
containerd socket, at most WINDOW of them in flight, written here by hand (HTTP/2 frames,
HPACK literals without indexing: no gRPC library needed).

    /usr/bin/python3 version_loop.py /path/to/containerd.sock N [WINDOW [RATE]]

With RATE (calls a second), calls start no faster than that (the live export benchmark,
scripts/bench-otel.sh). Prints `done N` when every call's trailers came.
"""

import socket
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
METHOD = b"/containerd.services.version.v1.Version/Version"
# Frame types and flags (RFC 9113 section 6).
DATA, HEADERS, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS = 1, 1, 4


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(name, value):
    """A header field as a literal without indexing, new name (RFC 7541 section 6.2.2)."""
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


HEADER_BLOCK = b"".join(
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
EMPTY_MESSAGE = b"\x00\x00\x00\x00\x00"


def request(stream):
    return frame(HEADERS, END_HEADERS, stream, HEADER_BLOCK) + frame(DATA, END_STREAM, stream, EMPTY_MESSAGE)


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def frames(self):
        """The complete frames read so far, after one recv."""
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buf += chunk
        out = []
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + length:
                break
            kind, flags = self.buf[3], self.buf[4]
            stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            out.append((kind, flags, stream, bytes(self.buf[9 : 9 + length])))
            del self.buf[: 9 + length]
        return out


def main():
    if len(sys.argv) not in (3, 4, 5):
        sys.exit("usage: version_loop.py SOCKET N [WINDOW [RATE]]")
    n = int(sys.argv[2])
    window = int(sys.argv[3]) if len(sys.argv) >= 4 else 32
    rate = float(sys.argv[4]) if len(sys.argv) == 5 else 0.0
    start = time.monotonic()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(sys.argv[1])
        # A large connection window, so that responses never wait for ours.
        s.sendall(PREFACE + frame(SETTINGS, 0, 0, b"") + frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 30)))
        reader = Reader(s)
        sent = done = 0
        received = 0
        while done < n:
            allowed = n if not rate else min(n, int((time.monotonic() - start) * rate) + 1)
            batch = []
            while sent < allowed and sent - done < window:
                batch.append(request(2 * sent + 1))
                sent += 1
            if batch:
                s.sendall(b"".join(batch))
            if sent == done:
                # Nothing in flight: wait for the next call's time.
                time.sleep(max(0.0, sent / rate - (time.monotonic() - start)))
                continue
            replies = []
            for kind, flags, stream, payload in reader.frames():
                if kind == SETTINGS and not flags & ACK:
                    replies.append(frame(SETTINGS, ACK, 0, b""))
                elif kind == PING and not flags & ACK:
                    replies.append(frame(PING, ACK, 0, payload))
                elif kind == GOAWAY:
                    raise RuntimeError("the server sent GOAWAY")
                elif kind == DATA:
                    received += len(payload)
                elif kind == HEADERS and flags & END_STREAM:
                    done += 1
            if received >= 1 << 20:
                replies.append(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", received)))
                received = 0
            if replies:
                s.sendall(b"".join(replies))
    print("done", n, flush=True)


if __name__ == "__main__":
    main()
