# Sourced by the benchmark scripts: a throwaway containerd of their own.
#
#   start_containerd DIR [cri]
#                          config, root and state under DIR; its gRPC socket
#                          is DIR/c.sock (ttrpc: DIR/c.sock.ttrpc), its log
#                          DIR/log; sets cd_pid and returns once the socket
#                          exists. The caller kills cd_pid when done. With
#                          `cri`, the CRI plugin runs on the same socket
#                          (host-network pods only: no CNI plugin).
start_containerd() {
    local dir=$1 top='disabled_plugins = ["io.containerd.grpc.v1.cri"]' plugins=''
    if [[ ${2:-} == cri ]]; then
        mkdir -p "$dir/cni/bin" "$dir/cni/net.d"
        top=''
        plugins="[plugins.\"io.containerd.grpc.v1.cri\"]
  restrict_oom_score_adj = true
  disable_apparmor = true
[plugins.\"io.containerd.grpc.v1.cri\".cni]
  bin_dir = \"$dir/cni/bin\"
  conf_dir = \"$dir/cni/net.d\""
    fi
    cat > "$dir/config.toml" <<EOT
version = 2
root = "$dir/root"
state = "$dir/state"
$top
[grpc]
  address = "$dir/c.sock"
[ttrpc]
  address = "$dir/c.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"
$plugins
EOT
    containerd --config "$dir/config.toml" >"$dir/log" 2>&1 &
    cd_pid=$!
    for _ in $(seq 200); do [[ -S $dir/c.sock ]] && return 0; sleep 0.05; done
    echo "containerd did not create $dir/c.sock: $(tail -3 "$dir/log")" >&2
    return 1
}
