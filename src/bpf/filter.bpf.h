/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which connections are kept: the filter verdict, made once per socket
 * (never per write), from the connection's path, the processes on either
 * side (the writer, SO_PEERCRED's peer) and whether the writer is the
 * tracer itself. Also what names a socket in the records (inode, path,
 * peer pid), which both hooks and the HPACK probes read the same way.
 *
 * Included by snoop.bpf.c after state.bpf.h (configuration, scratch record).
 */
#ifndef __SNOOP_FILTER_BPF_H
#define __SNOOP_FILTER_BPF_H

static __always_inline __u64 sock_ino(struct sock *sk)
{
	struct socket *sock = BPF_CORE_READ(sk, sk_socket);
	struct socket_alloc *sa;

	if (!sock)
		return 0;
	sa = (void *)sock - bpf_core_field_offset(struct socket_alloc, socket);
	return BPF_CORE_READ(sa, vfs_inode.i_ino);
}

/*
 * The connection's path into buf (abstract names as "@name"), returning its
 * length; the side holding an address is the server (an accepted socket
 * carries its listener's address, a connecting client is usually unbound).
 */
static __always_inline __u32 conn_path(struct sock *sk, char *buf, __u16 *flags)
{
	struct unix_address *addr = BPF_CORE_READ((struct unix_sock *)sk, addr);
	struct sock *peer = BPF_CORE_READ((struct unix_sock *)sk, peer);
	struct unix_address *peer_addr = peer ? BPF_CORE_READ((struct unix_sock *)peer, addr) : NULL;
	void *src;
	__u32 n;
	long r;
	int len;

	if (addr)
		*flags |= SNOOP_F_SERVER;
	if (peer_addr)
		*flags |= SNOOP_F_PEER_BOUND;
	if (!addr)
		addr = peer_addr;
	if (!addr)
		return 0;
	len = BPF_CORE_READ(addr, len);
	/* len counts sun_family (2 bytes) and the path. */
	if (len <= 2)
		return 0;
	n = len - 2;
	if (n > SNOOP_PATH_MAX)
		n = SNOOP_PATH_MAX;
	src = (void *)addr + bpf_core_field_offset(struct unix_address, name) +
	      offsetof(struct sockaddr_un, sun_path);
	/* Constant sizes keep the verifier simple; bytes past n are ignored. */
	if (bpf_probe_read_kernel(buf, SNOOP_PATH_MAX, src))
		return 0;
	if (buf[0] == 0) {
		buf[0] = '@';
		*flags |= SNOOP_F_ABSTRACT;
		return n;
	}
	/* A filesystem path is NUL-terminated within len. */
	r = bpf_probe_read_kernel_str(buf, SNOOP_PATH_MAX, src);
	if (r <= 1)
		return 0;
	return (__u32)(r - 1) < n ? (__u32)(r - 1) : n;
}

static __always_inline bool path_matches(const char *path, __u32 len)
{
	if (capture_all)
		return true;
	for (__u32 f = 0; f < SNOOP_MAX_PATH_FILTERS; f++) {
		__u32 flen;
		bool same = true;

		if (f >= n_paths)
			break;
		flen = path_filter_len[f];
		if (path_filter_prefix[f] ? len < flen : len != flen)
			continue;
		/* Word by word (path is 8-byte aligned in the scratch record):
		 * 14 steps for the verifier instead of 108. */
		for (__u32 w = 0; w < SNOOP_PATH_SLOT / 8; w++) {
			__u64 diff, mask = ~0ULL;

			if (w * 8 >= flen)
				break;
			if (flen - w * 8 < 8)
				mask = (1ULL << ((flen - w * 8) * 8)) - 1;
			diff = ((const __u64 *)path)[w] ^ path_filters[f][w];
			if (diff & mask) {
				same = false;
				break;
			}
		}
		if (same)
			return true;
	}
	return false;
}

static __always_inline bool comm_matches(const char *comm)
{
	for (__u32 f = 0; f < SNOOP_MAX_COMM_FILTERS; f++) {
		bool same = true;

		if (f >= n_comms)
			break;
		for (__u32 i = 0; i < SNOOP_COMM_LEN; i++) {
			if (comm[i] != comm_filters[f][i]) {
				same = false;
				break;
			}
			if (comm[i] == 0)
				break;
		}
		if (same)
			return true;
	}
	return false;
}

static __always_inline bool pid_matches(__u32 tgid)
{
	for (__u32 f = 0; f < SNOOP_MAX_PID_FILTERS; f++) {
		if (f >= n_pids)
			break;
		if (pid_filters[f] == tgid)
			return true;
	}
	return false;
}

/*
 * Pid and comm filters keep a connection when either side matches: the
 * writer, or the peer process recorded at connect time (SO_PEERCRED's pid).
 * Comm filters compare process names (the thread group leader's comm, the
 * table's COMM), never a thread's own name: the verdict is made once per
 * socket, at the first write seen, and must not depend on which of the
 * process's threads made it.
 */
static __always_inline __u32 peer_tgid(struct sock *sk)
{
	struct pid *peer_pid = BPF_CORE_READ(sk, sk_peer_pid);

	/* numbers[0] is the pid in the initial namespace, as bpf_get_current_pid_tgid. */
	return peer_pid ? BPF_CORE_READ(peer_pid, numbers[0].nr) : 0;
}

static __always_inline bool process_matches(struct sock *sk)
{
	struct pid *peer_pid = BPF_CORE_READ(sk, sk_peer_pid);
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 peer = peer_tgid(sk);
	char comm[SNOOP_COMM_LEN] = {};

	if (n_pids && !pid_matches(tgid) && !(peer && pid_matches(peer)))
		return false;
	if (!n_comms)
		return true;
	current_process_comm(&comm);
	if (comm_matches(comm))
		return true;
	/* The task found by the peer's struct pid is the process's leader: the
	 * pid SO_PEERCRED keeps is a thread group id. */
	if (peer_pid) {
		struct hlist_node *first = BPF_CORE_READ(peer_pid, tasks[PIDTYPE_PID].first);
		struct task_struct *peer_task;

		if (!first)
			return false;
		peer_task = (void *)first - bpf_core_field_offset(struct task_struct, pid_links);
		__builtin_memset(comm, 0, sizeof(comm));
		BPF_CORE_READ_STR_INTO(&comm, peer_task, comm);
		return comm_matches(comm);
	}
	return false;
}

/* Whether the current task is the tracer itself (its own writes, e.g. a
 * pcapng stream to a unix socket, must not be captured). */
static __always_inline bool is_self(void)
{
	struct bpf_pidns_info ns = {};

	if (!self_pidns_ino)
		return false;
	/* Fails (-ENOENT) for tasks outside our pid namespace: not us. */
	if (bpf_get_ns_current_pid_tgid(self_pidns_dev, self_pidns_ino, &ns, sizeof(ns)))
		return false;
	return ns.tgid == self_pid;
}

/*
 * The filter verdict for a socket seen for the first time, made once per
 * socket (never per write). Fills the flags and SO_PEERCRED pid of `st`.
 */
static __always_inline __u8 verdict(struct sock *sk, struct sock_state *st)
{
	struct scratch *s = scratch();
	__u32 netns;
	__u32 n;

	if (!s)
		return 0;
	n = conn_path(sk, (char *)s->data, &st->flags);
	st->peer_pid = peer_tgid(sk);
	netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (self_netns_ino && netns != self_netns_ino)
		st->flags |= SNOOP_F_FOREIGN_NETNS;
	if (is_self())
		return 0;
	return path_matches((char *)s->data, n) && process_matches(sk);
}

#endif /* __SNOOP_FILTER_BPF_H */
