// SPDX-License-Identifier: GPL-2.0
/*
 * containerdsnoop: copy the bytes written on AF_UNIX stream sockets.
 *
 * Syscall tracepoints only (kprobes and fentry are not available on every
 * kernel we run on): at sys_enter_{write,writev,sendto,sendmsg} the fd is
 * resolved to its socket and checked against the filters, before any payload
 * is touched; at sys_exit exactly `ret` bytes are copied, in SNOOP_CHUNK
 * pieces, each tagged with its offset in the socket's send stream so that
 * userspace can tell a lost record from a short write.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "snoop.h"

#define AF_UNIX 1
#define SOCK_STREAM 1
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* Configuration, set by userspace before load. */
const volatile __u32 self_tgid = 0;
const volatile bool capture_all = false;
const volatile __u32 n_paths = 0;
const volatile __u64 path_filters[SNOOP_MAX_PATH_FILTERS][SNOOP_PATH_SLOT / 8] = {};
const volatile __u32 path_filter_len[SNOOP_MAX_PATH_FILTERS] = {};
const volatile bool path_filter_prefix[SNOOP_MAX_PATH_FILTERS] = {};
const volatile __u32 n_pids = 0;
const volatile __u32 pid_filters[SNOOP_MAX_PID_FILTERS] = {};
const volatile __u32 n_comms = 0;
/* Wake the reader only when this much is waiting; it polls every few ms
 * anyway. Saves a wakeup per record on chatty connections. */
const volatile __u64 wakeup_bytes = 1 << 20;
const volatile char comm_filters[SNOOP_MAX_COMM_FILTERS][SNOOP_COMM_LEN] = {};

/* Per-socket state, keyed by the socket's inode. */
struct sock_state {
	/* Offset of the next byte this socket sends. */
	__u64 next_off;
	__u64 peer_ino;
	/* SO_PEERCRED's process id. */
	__u32 peer_pid;
	/* 1 when the filters keep this socket's connection. */
	__u8 keep;
	/* 1 once a SNOOP_SOCK_INFO record reached the ring buffer. */
	__u8 info_sent;
	__u16 flags;
};

/* A send syscall between enter and exit, keyed by thread id. */
struct pending_send {
	__u64 sock_ino;
	/* Buffer, or the iovec array when vectored. */
	__u64 buf;
	/* Number of iovecs when vectored. */
	__u64 iovcnt;
	/* When the call began: the peer cannot have read these bytes (and
	 * answered) before then, so records ordered by it are causal. */
	__u64 ts;
	__u8 vectored;
};

/* State of one copy loop (bpf_loop callback context). */
struct copy_ctx {
	/* Snapshot of the socket's state for the record headers. */
	struct sock_state st;
	__u64 sock_ino;
	__u64 off;
	__u64 ts;
	__u64 pid_tgid;
	__u64 iov_array;
	__u64 iovcnt;
	__u64 iov_idx;
	__u64 cur_base;
	__u64 cur_left;
	__u64 remaining;
	__u8 vectored;
};

struct scratch {
	struct snoop_event hdr;
	__u8 data[SNOOP_CHUNK];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24); /* resized by userspace */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct sock_state);
} socks SEC(".maps");

/* Per-CPU LRU lists: every traced write inserts and deletes here, and the
 * common list's lock was contended across CPUs. LRU still bounds entries
 * of threads that died inside a call. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct pending_send);
} pending SEC(".maps");

/* One scratch record per CPU. Not a per-CPU array: those cap values at
 * 32 KiB (PCPU_MIN_UNIT_SIZE). Userspace sets max_entries to the number of
 * possible CPUs; tracepoint programs run with migration disabled. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_buf SEC(".maps");

static __always_inline struct scratch *scratch(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&scratch_buf, &cpu);
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SNOOP_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* So the skeleton generates the Rust type of the record header. */
struct snoop_event _snoop_event_abi = {};

/* Kernels before 6.13 ("fs: add file_ref") count file references in f_count. */
struct file___pre_file_ref {
	atomic_long_t f_count;
} __attribute__((preserve_access_index));

/* Notify the reader only when enough data waits (BPF_RB_NO_WAKEUP otherwise). */
static __always_inline __u64 wakeup_flag(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									     : BPF_RB_NO_WAKEUP;
}

static __always_inline void stat_add(__u32 which, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);

	if (v)
		*v += n;
}

/*
 * The file behind `fd` of the current task, if it is an AF_UNIX stream
 * socket; then also its sock and inode number. Each pointer is read once:
 * these reads are most of the cost of a traced write.
 */
static __always_inline struct file *unix_stream_file(int fd, struct sock **skp, __u64 *inop)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;
	struct inode *inode;
	struct socket *sock;
	struct sock *sk;

	if (!fdt || fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	inode = BPF_CORE_READ(file, f_inode);
	if (!inode || (BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock || BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return NULL;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, __sk_common.skc_family) != AF_UNIX)
		return NULL;
	*skp = sk;
	*inop = BPF_CORE_READ(inode, i_ino);
	return file;
}

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
	bpf_get_current_comm(comm, sizeof(comm));
	if (comm_matches(comm))
		return true;
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

static __always_inline void fill_header(struct snoop_event *h, __u16 kind, __u64 ino,
					struct sock_state *st, __u64 ts)
{
	__u64 id = bpf_get_current_pid_tgid();

	h->ts_ns = ts;
	h->sock_ino = ino;
	h->peer_ino = st->peer_ino;
	h->peer_pid = st->peer_pid;
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->kind = kind;
	h->flags = st->flags;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* Emit the socket's address; 0 on success. */
static __always_inline int send_info(struct sock *sk, __u64 ino, struct sock_state *st)
{
	struct scratch *s = scratch();
	__u16 flags = 0;
	__u64 wake;
	__u32 n;

	if (!s)
		return -1;
	n = conn_path(sk, (char *)s->data, &flags);
	barrier_var(n);
	if (n > SNOOP_PATH_MAX)
		return -1;
	/* Roles can only be told once connected; refresh them with the path. */
	st->flags = flags;
	fill_header(&s->hdr, SNOOP_SOCK_INFO, ino, st, bpf_ktime_get_ns());
	s->hdr.offset = st->next_off;
	s->hdr.len = n;
	wake = wakeup_flag();
	/* Bound n again right before the helper, in a way clang cannot fold
	 * away: the verifier needs it on that register (n <= 108 < 128). */
	barrier_var(n);
	return bpf_ringbuf_output(&events, s, sizeof(s->hdr) + (n & 0x7f), wake);
}

/* The state of a socket, created (with the filter verdict) at first sight. */
static __always_inline struct sock_state *state_of(struct sock *sk, __u64 ino)
{
	struct sock_state *st = bpf_map_lookup_elem(&socks, &ino);
	struct sock_state fresh = {};
	struct scratch *s;
	__u32 n;

	if (st)
		return st;
	s = scratch();
	if (!s)
		return NULL;
	n = conn_path(sk, (char *)s->data, &fresh.flags);
	fresh.peer_ino = sock_ino(BPF_CORE_READ((struct unix_sock *)sk, peer));
	fresh.keep = path_matches((char *)s->data, n) && process_matches(sk);
	/* The verdict is the connection's: a kept peer keeps this side too
	 * (the comm filter sees only each side's own writer). */
	if (fresh.peer_ino) {
		struct sock_state *peer = bpf_map_lookup_elem(&socks, &fresh.peer_ino);

		if (peer) {
			if (peer->keep)
				fresh.keep = 1;
			else if (fresh.keep)
				peer->keep = 1;
		}
	}
	fresh.peer_pid = peer_tgid(sk);
	bpf_map_update_elem(&socks, &ino, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&socks, &ino);
}

static __always_inline int on_send_enter(int fd, __u64 buf, __u64 iovcnt, bool vectored)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct pending_send p = {};
	struct sock_state *st;
	struct file *file;
	struct sock *sk;
	__u64 ino;

	if ((id >> 32) == self_tgid)
		return 0;
	file = unix_stream_file(fd, &sk, &ino);
	if (!file)
		return 0;
	st = state_of(sk, ino);
	if (!st || !st->keep)
		return 0;
	if (!st->peer_ino)
		st->peer_ino = sock_ino(BPF_CORE_READ((struct unix_sock *)sk, peer));
	if (!st->info_sent && send_info(sk, ino, st) == 0)
		st->info_sent = 1;
	p.sock_ino = ino;
	p.buf = buf;
	p.iovcnt = iovcnt;
	p.vectored = vectored;
	p.ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
	return 0;
}

/* One record per call: the next piece of at most SNOOP_CHUNK bytes. */
static long copy_piece(__u32 i, struct copy_ctx *c)
{
	struct scratch *s;
	__u64 wake;
	__u64 want;
	__u32 n;

	if (c->remaining == 0)
		return 1;
	if (c->cur_left == 0) {
		struct iovec iov;

		if (!c->vectored || c->iov_idx >= c->iovcnt)
			return 1;
		if (bpf_probe_read_user(&iov, sizeof(iov),
					(void *)(c->iov_array + c->iov_idx * sizeof(iov))))
			return 1;
		c->iov_idx++;
		c->cur_base = (__u64)iov.iov_base;
		c->cur_left = iov.iov_len;
		return 0;
	}
	want = c->cur_left < c->remaining ? c->cur_left : c->remaining;
	n = want < SNOOP_CHUNK ? want : SNOOP_CHUNK;
	if (n == SNOOP_CHUNK) {
		/* A full chunk goes straight into the ring: one copy fewer. */
		wake = wakeup_flag();
		s = bpf_ringbuf_reserve(&events, sizeof(*s), 0);
		if (!s) {
			stat_add(SNOOP_STAT_LOST_RECORDS, 1);
			stat_add(SNOOP_STAT_LOST_BYTES, n);
		} else {
			fill_header(&s->hdr, SNOOP_DATA, c->sock_ino, &c->st, c->ts);
			s->hdr.offset = c->off;
			s->hdr.len = SNOOP_CHUNK;
			if (bpf_probe_read_user(s->data, SNOOP_CHUNK, (void *)c->cur_base)) {
				stat_add(SNOOP_STAT_FAULT_BYTES, n);
				bpf_ringbuf_discard(s, BPF_RB_NO_WAKEUP);
			} else {
				bpf_ringbuf_submit(s, wake);
			}
		}
		goto advance;
	}
	s = scratch();
	if (!s)
		return 1;
	/* Keep clang from folding this check into the min() above: the
	 * verifier needs it on the register passed to the helpers. */
	barrier_var(n);
	if (n > SNOOP_CHUNK)
		return 1;
	fill_header(&s->hdr, SNOOP_DATA, c->sock_ino, &c->st, c->ts);
	s->hdr.offset = c->off;
	s->hdr.len = n;
	wake = wakeup_flag();
	barrier_var(n);
	if (n > SNOOP_CHUNK)
		return 1;
	if (bpf_probe_read_user(s->data, n, (void *)c->cur_base)) {
		stat_add(SNOOP_STAT_FAULT_BYTES, n);
	} else if (bpf_ringbuf_output(&events, s, sizeof(s->hdr) + n, wake)) {
		stat_add(SNOOP_STAT_LOST_RECORDS, 1);
		stat_add(SNOOP_STAT_LOST_BYTES, n);
	}
advance:
	c->off += n;
	c->cur_base += n;
	c->cur_left -= n;
	c->remaining -= n;
	return 0;
}

static __always_inline int on_send_exit(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_send *p = bpf_map_lookup_elem(&pending, &tid);
	struct copy_ctx c = {};
	struct sock_state *st;

	if (!p)
		return 0;
	c.sock_ino = p->sock_ino;
	c.vectored = p->vectored;
	c.ts = p->ts;
	if (c.vectored) {
		c.iov_array = p->buf;
		c.iovcnt = p->iovcnt;
	} else {
		c.cur_base = p->buf;
		c.cur_left = ret > 0 ? ret : 0;
	}
	bpf_map_delete_elem(&pending, &tid);
	if (ret <= 0)
		return 0;
	st = bpf_map_lookup_elem(&socks, &c.sock_ino);
	if (!st)
		return 0;
	/* Reserve the byte range first: whatever is not copied below is a
	 * gap of known size at a known offset. */
	c.off = __sync_fetch_and_add(&st->next_off, ret);
	c.st = *st;
	c.remaining = ret;
	bpf_loop(SNOOP_MAX_RECORDS, copy_piece, &c, 0);
	if (c.remaining)
		stat_add(SNOOP_STAT_LOST_BYTES, c.remaining);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return on_send_enter(ctx->args[0], ctx->args[1], 0, false);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return on_send_enter(ctx->args[0], ctx->args[1], 0, false);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	return on_send_enter(ctx->args[0], ctx->args[1], ctx->args[2], true);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	struct user_msghdr *msg = (struct user_msghdr *)ctx->args[1];
	struct iovec *iov = NULL;
	__u64 iovlen = 0;

	bpf_probe_read_user(&iov, sizeof(iov), &msg->msg_iov);
	bpf_probe_read_user(&iovlen, sizeof(iovlen), &msg->msg_iovlen);
	return on_send_enter(ctx->args[0], (__u64)iov, iovlen, true);
}

SEC("tracepoint/syscalls/sys_exit_write")
int exit_write(struct trace_event_raw_sys_exit *ctx)
{
	return on_send_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	return on_send_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_writev")
int exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	return on_send_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	return on_send_exit(ctx->ret);
}

/* Only the last reference's close ends the socket (dup, fork and fd passing
 * keep others alive). Since 6.13 f_ref counts from 0 for one reference. */
static __always_inline bool last_reference(struct file *file)
{
	if (bpf_core_field_exists(file->f_ref))
		return BPF_CORE_READ(file, f_ref.refcnt.counter) == 0;
	return BPF_CORE_READ((struct file___pre_file_ref *)file, f_count.counter) == 1;
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sock_state *st;
	struct file *file;
	struct scratch *s;
	struct sock *sk;
	__u64 ino;

	if ((id >> 32) == self_tgid)
		return 0;
	file = unix_stream_file(ctx->args[0], &sk, &ino);
	if (!file)
		return 0;
	st = bpf_map_lookup_elem(&socks, &ino);
	if (!st || !last_reference(file))
		return 0;
	if (st->keep) {
		s = scratch();
		if (s) {
			fill_header(&s->hdr, SNOOP_CLOSE, ino, st, bpf_ktime_get_ns());
			s->hdr.offset = st->next_off;
			s->hdr.len = 0;
			if (bpf_ringbuf_output(&events, s, sizeof(s->hdr), wakeup_flag()))
				stat_add(SNOOP_STAT_LOST_META, 1);
		}
	}
	bpf_map_delete_elem(&socks, &ino);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
