"""A kubelet-like CRI client on gRPC's C core (Debian's python3-grpcio): the whole life of
pods, side by side, through containerd's CRI plugin.

    /usr/bin/python3 cri_pods.py unix:///path/to/containerd.sock IMAGE POD [POD ...]

For each POD (a name in namespace `default`, uid `uid-POD`): RunPodSandbox (host network,
cgroup parent /kubepods/besteffort/pod<uid> as kubelet's cgroupfs driver names it),
CreateContainer `app-POD` running IMAGE's `/bin/sleep 3600`, StartContainer,
ContainerStatus; then for each pod StopContainer, RemoveContainer, StopPodSandbox,
RemovePodSandbox. Prints one JSON line per pod once its container runs,
`{"pod": POD, "sandbox_id": ..., "container_id": ...}`, one per failed call
(`{"error": METHOD, "code": N, "details": ...}`, then exits 1), and `done` at the end.
Two more modes, for pods that run before a capture starts:

    cri_pods.py unix:///path IMAGE --keep POD [POD ...]
        the same creation, one JSON line per pod, `done`; the pods stay.
    cri_pods.py unix:///path - --relist SECONDS SANDBOX,CONTAINER SANDBOX,CONTAINER
        relists every second for SECONDS as kubelet does (ListPodSandbox and ListContainers,
        unfiltered); after the first relist asks ContainerStatus and PodSandboxStatus of the
        first pod, prints `asked`, and removes the second (StopContainer, RemoveContainer,
        StopPodSandbox, RemovePodSandbox), printing `removed`; `done` at the end.
    cri_pods.py unix:///path - --remove SANDBOX,CONTAINER [...]
        removes those pods as above; `done`.
    cri_pods.py unix:///path - --load SECONDS INTERVAL SANDBOX,CONTAINER [...]
        for a benchmark: relists every INTERVAL seconds for SECONDS, asking ContainerStatus of
        each container every round; prints the rounds, then `done`.

Requests are protobuf bytes written here by hand (field numbers of runtime.v1's api.proto),
so that no generated stubs are needed.
"""

import time

import json
import sys

import grpc

TIMEOUT = 60
RT = "/runtime.v1.RuntimeService/"


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(number, value):
    """A length-delimited field (string, bytes or message)."""
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


def vfield(number, value):
    """A varint field."""
    return varint(number << 3) + varint(value)


def sandbox_config(pod):
    uid = "uid-" + pod
    metadata = field(1, pod) + field(2, uid) + field(3, "default") + vfield(4, 0)
    # NamespaceOption.network = NODE (2): no CNI needed.
    namespaces = vfield(1, 2)
    security = field(1, namespaces)
    linux = field(1, "/kubepods/besteffort/pod" + uid) + field(2, security)
    labels = field(6, field(1, "app") + field(2, pod))
    # No hostname (2): a host-network pod has none of its own.
    return field(1, metadata) + labels + field(8, linux)


def call(channel, method, request):
    stub = channel.unary_unary(RT + method, request_serializer=None, response_deserializer=None)
    try:
        return stub(request, timeout=TIMEOUT)
    except grpc.RpcError as e:
        print(json.dumps({"error": method, "code": e.code().value[0], "details": e.details()}),
              flush=True)
        sys.exit(1)


def read_id(response):
    """Field 1 of a response, as text (an id)."""
    assert response[0] == 0x0A, response[:4]
    length, i, shift = 0, 1, 0
    while True:
        b = response[i]
        length |= (b & 0x7F) << shift
        i += 1
        shift += 7
        if b < 0x80:
            break
    return response[i:i + length].decode()


def remove(channel, sandbox, container):
    call(channel, "StopContainer", field(1, container) + vfield(2, 1))
    call(channel, "RemoveContainer", field(1, container))
    call(channel, "StopPodSandbox", field(1, sandbox))
    call(channel, "RemovePodSandbox", field(1, sandbox))


def relist(channel, seconds, pods):
    """Kubelet's relist, with calls about the first pod and the second removed."""
    (sandbox, container), gone = pods[0], pods[1]
    for i in range(seconds):
        call(channel, "ListPodSandbox", b"")
        call(channel, "ListContainers", b"")
        if i == 0:
            call(channel, "ContainerStatus", field(1, container))
            call(channel, "PodSandboxStatus", field(1, sandbox))
            print("asked", flush=True)
            remove(channel, *gone)
            print("removed", flush=True)
        time.sleep(1)
    print("done", flush=True)


def load(channel, seconds, interval, pods):
    """Relists and status calls, as many kubelets would make them."""
    end = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < end:
        call(channel, "ListPodSandbox", b"")
        call(channel, "ListContainers", b"")
        for _, container in pods:
            call(channel, "ContainerStatus", field(1, container))
        rounds += 1
        time.sleep(interval)
    print(json.dumps({"rounds": rounds}), flush=True)
    print("done", flush=True)


def main():
    if len(sys.argv) < 4 or not sys.argv[1].startswith("unix:"):
        sys.exit("usage: cri_pods.py unix:///path/to/socket IMAGE [--keep] POD [POD ...]\n"
                 "       cri_pods.py unix:///path/to/socket - --relist SECONDS SB,CTR SB,CTR\n"
                 "       cri_pods.py unix:///path/to/socket - --remove SB,CTR [...]\n"
                 "       cri_pods.py unix:///path/to/socket - --load SECONDS INTERVAL SB,CTR [...]")
    if sys.argv[3] == "--remove":
        with grpc.insecure_channel(sys.argv[1]) as channel:
            for pod in sys.argv[4:]:
                remove(channel, *pod.split(","))
        print("done", flush=True)
        return
    if sys.argv[3] == "--load":
        pods = [tuple(p.split(",")) for p in sys.argv[6:]]
        with grpc.insecure_channel(sys.argv[1]) as channel:
            load(channel, float(sys.argv[4]), float(sys.argv[5]), pods)
        return
    if sys.argv[3] == "--relist":
        pods = [tuple(p.split(",")) for p in sys.argv[5:7]]
        with grpc.insecure_channel(sys.argv[1]) as channel:
            relist(channel, int(sys.argv[4]), pods)
        return
    keep = sys.argv[3] == "--keep"
    image, pods = sys.argv[2], sys.argv[4 if keep else 3:]
    running = []
    with grpc.insecure_channel(sys.argv[1]) as channel:
        for pod in pods:
            config = sandbox_config(pod)
            sandbox = read_id(call(channel, "RunPodSandbox", field(1, config)))
            container_config = (
                field(1, field(1, "app-" + pod) + vfield(2, 0))
                + field(2, field(1, image))
                + field(3, "/bin/sleep")
                + field(4, "3600")
            )
            request = field(1, sandbox) + field(2, container_config) + field(3, config)
            container = read_id(call(channel, "CreateContainer", request))
            call(channel, "StartContainer", field(1, container))
            call(channel, "ContainerStatus", field(1, container))
            print(json.dumps({"pod": pod, "sandbox_id": sandbox, "container_id": container}),
                  flush=True)
            running.append((sandbox, container))
        if keep:
            running = []
        for sandbox, container in running:
            remove(channel, sandbox, container)
    print("done", flush=True)


if __name__ == "__main__":
    main()
