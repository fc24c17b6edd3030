"""A CRI client on gRPC's C core (Debian's python3-grpcio), for tests of captures that start
after the client has connected.

    /usr/bin/python3 cri_client.py unix:///path/to/containerd.sock

Makes one call (RuntimeService/Version) at once, so the connection is open, prints `ready`,
then waits for a line on stdin. On it, makes the calls in CALLS on the same channel (so on the
same connection), prints one JSON line per call, then `done`, and exits:

    {"method": "/runtime.v1.RuntimeService/Version", "code": 0, "details": "", "response": "0a05..."}

`code` is the gRPC status code (0 OK), `details` the status message, `response` the response
message in hex (empty unless OK). Requests are protobuf bytes written here by hand, so that no
generated stubs or grpcio-tools are needed.
"""

import json
import sys

import grpc

# How long one call may take (seconds).
TIMEOUT = 30

# A container id that does not exist: ContainerStatus answers NotFound (5). Most CRI "status"
# calls on an unknown image answer OK with an empty message instead (ImageStatus does).
MISSING_ID = b"snoop-no-such-container"


def field_bytes(number, value):
    """A protobuf length-delimited field (wire type 2) whose length fits in one byte."""
    assert len(value) < 128
    return bytes([number << 3 | 2, len(value)]) + value


# (method path, request bytes). Empty bytes are the encoding of a message with all fields unset.
CALLS = [
    ("/runtime.v1.RuntimeService/Version", b""),
    ("/runtime.v1.ImageService/ListImages", b""),
    ("/runtime.v1.RuntimeService/ListPodSandbox", b""),
    ("/runtime.v1.RuntimeService/ListContainers", b""),
    ("/runtime.v1.RuntimeService/Status", b""),
    # ContainerStatusRequest { container_id = 1 }
    ("/runtime.v1.RuntimeService/ContainerStatus", field_bytes(1, MISSING_ID)),
]


def call(channel, method, request):
    """Makes one unary call with raw bytes in and out; returns the JSON line's fields."""
    stub = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    try:
        response = stub(request, timeout=TIMEOUT)
        return {"method": method, "code": 0, "details": "", "response": response.hex()}
    except grpc.RpcError as e:
        return {
            "method": method,
            "code": e.code().value[0],
            "details": e.details() or "",
            "response": "",
        }


def main():
    if len(sys.argv) != 2 or not sys.argv[1].startswith("unix:"):
        sys.exit("usage: cri_client.py unix:///path/to/socket")
    with grpc.insecure_channel(sys.argv[1]) as channel:
        first = call(channel, *CALLS[0])
        if first["code"] != 0:
            sys.exit("first call failed: " + json.dumps(first))
        print("ready", flush=True)
        if not sys.stdin.readline():
            sys.exit("stdin closed before the go line")
        for method, request in CALLS:
            print(json.dumps(call(channel, method, request)), flush=True)
        print("done", flush=True)


if __name__ == "__main__":
    main()
