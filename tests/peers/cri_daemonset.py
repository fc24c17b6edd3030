"""Runs one container as kubelet would run a DaemonSet's pod: through containerd's CRI plugin,
with the pod's namespaces, capabilities, seccomp profile, user, mounts, environment and
arguments, as kubelet translates a pod spec into CRI requests.

    /usr/bin/python3 cri_daemonset.py unix:///path/to/containerd.sock POD.json

POD.json (written by tests/deploy.rs from deploy/kubernetes/02-daemonset.yaml):
    {"name", "image", "log_dir", "host_pid", "host_network", "privileged", "readonly_rootfs",
     "run_as_user" (or null), "caps_add", "caps_drop", "seccomp" ("RuntimeDefault",
     "Unconfined" or "Localhost"), "localhost_profile", "envs": [[K, V]...],
     "mounts": [{"host", "container", "readonly"}...], "args": [...]}

Creates and starts the pod (its sandbox image must be imported already), asks its
ContainerStatus, prints
`{"sandbox_id": ..., "container_id": ...}`, and waits for a line on stdin. Then, on the same
connection (opened before the container started, as kubelet's is), asks ContainerStatus of the
container and ListContainers, prints `asked`, stops the container as kubelet does (SIGTERM, then
SIGKILL after 15 s), prints `{"exit_code": N}` from ContainerStatus, removes the pod and prints
`done`. A failed call prints `{"error": METHOD, "code": N, "details": ...}` and exits 1.

Requests are protobuf bytes written by hand (field numbers of runtime.v1's api.proto), with
cri_pods.py's helpers.
"""

import json
import os
import sys

import grpc

# Python's -I leaves the script's folder out of the module path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cri_pods import call, field, vfield  # noqa: E402  (protobuf by hand, as there)

# NamespaceMode (api.proto): POD 0, NODE 2.
POD, NODE = 0, 2
# SecurityProfile.ProfileType.
PROFILE = {"RuntimeDefault": 0, "Unconfined": 1, "Localhost": 2}
# The paths masked and made read-only in a container that is not privileged: the defaults
# kubelet sends (the OCI runtimes' usual set).
MASKED = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def repeated(number, values):
    return b"".join(field(number, v) for v in values)


def fields(message):
    """The top-level fields of a message: {number: [value...]} (varints as ints, the rest as
    bytes)."""
    out, i = {}, 0
    while i < len(message):
        key, i = read_varint(message, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(message, i)
        elif wire == 2:
            length, i = read_varint(message, i)
            value, i = message[i:i + length], i + length
        elif wire == 1:
            value, i = message[i:i + 8], i + 8
        elif wire == 5:
            value, i = message[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wire)
        out.setdefault(number, []).append(value)
    return out


def read_varint(data, i):
    n, shift = 0, 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return n, i


def namespaces(pod):
    return vfield(1, NODE if pod["host_network"] else POD) + vfield(2, NODE if pod["host_pid"] else POD)


def seccomp(pod):
    profile = vfield(1, PROFILE[pod["seccomp"]])
    if pod["seccomp"] == "Localhost":
        profile += field(2, pod["localhost_profile"])
    return profile


def run_as_user(pod, number):
    # An Int64Value message: present means set, uid 0 included.
    uid = pod["run_as_user"]
    return b"" if uid is None else field(number, vfield(1, uid))


def sandbox_config(pod):
    metadata = field(1, pod["name"]) + field(2, "uid-" + pod["name"]) + field(3, "containerdsnoop")
    security = (field(1, namespaces(pod)) + run_as_user(pod, 3) + vfield(6, pod["privileged"])
                + field(9, seccomp(pod)))
    linux = field(1, "/kubepods/burstable/poduid-" + pod["name"]) + field(2, security)
    return field(1, metadata) + field(3, pod["log_dir"]) + field(8, linux)


def container_config(pod):
    caps = repeated(1, pod["caps_add"]) + repeated(2, pod["caps_drop"])
    security = (field(1, caps) + vfield(2, pod["privileged"]) + field(3, namespaces(pod))
                + run_as_user(pod, 5) + vfield(7, pod["readonly_rootfs"]) + field(15, seccomp(pod)))
    if not pod["privileged"]:
        security += repeated(13, MASKED) + repeated(14, READONLY)
    envs = b"".join(field(6, field(1, k) + field(2, v)) for k, v in pod["envs"])
    mounts = b"".join(
        field(7, field(1, m["container"]) + field(2, m["host"]) + vfield(3, m["readonly"]))
        for m in pod["mounts"])
    return (field(1, field(1, pod["name"])) + field(2, field(1, pod["image"]))
            + repeated(4, pod["args"]) + envs + mounts + field(11, pod["name"] + ".log")
            + field(15, field(2, security)))


def main():
    if len(sys.argv) != 3 or not sys.argv[1].startswith("unix:"):
        sys.exit("usage: cri_daemonset.py unix:///path/to/containerd.sock POD.json")
    with open(sys.argv[2]) as f:
        pod = json.load(f)
    with grpc.insecure_channel(sys.argv[1]) as channel:
        config = sandbox_config(pod)
        sandbox = fields(call(channel, "RunPodSandbox", field(1, config)))[1][0].decode()
        request = field(1, sandbox) + field(2, container_config(pod)) + field(3, config)
        container = fields(call(channel, "CreateContainer", request))[1][0].decode()
        call(channel, "StartContainer", field(1, container))
        # As kubelet does: its :path is then in the connection's HPACK table, and the same
        # call after the agent started is named only from the table recovered from containerd.
        call(channel, "ContainerStatus", field(1, container))
        print(json.dumps({"sandbox_id": sandbox, "container_id": container}), flush=True)
        sys.stdin.readline()
        call(channel, "ContainerStatus", field(1, container))
        call(channel, "ListContainers", b"")
        print("asked", flush=True)
        call(channel, "StopContainer", field(1, container) + vfield(2, 15))
        status = fields(fields(call(channel, "ContainerStatus", field(1, container)))[1][0])
        # ContainerStatus.exit_code (7), an int32 left out when 0.
        print(json.dumps({"exit_code": status.get(7, [0])[0]}), flush=True)
        call(channel, "RemoveContainer", field(1, container))
        call(channel, "StopPodSandbox", field(1, sandbox))
        call(channel, "RemovePodSandbox", field(1, sandbox))
    print("done", flush=True)


if __name__ == "__main__":
    main()
