// SPDX-License-Identifier: GPL-2.0
/*
 * containerdsnoop: copy the bytes written on AF_UNIX stream sockets.
 *
 * Two sets of programs share one copy engine; userspace loads one set.
 *
 * The sock hook (tp_btf/sock_send_length and tp_btf/sock_recv_length,
 * Linux 6.3+): the tracepoints sit in sock_sendmsg_nosec() and
 * sock_recvmsg_nosec() behind a static key, so they cost nothing while
 * detached and file or pipe I/O never reaches them. The send tracepoint
 * fires once per completed send with the byte count; the bytes are read
 * back from the user buffers that the system call's registers
 * (bpf_task_pt_regs) still describe. Per-socket state lives in socket
 * local storage, created for both ends of a connection at once and freed
 * with the socket: nothing is ever evicted.
 *
 * The syscall hook (fallback, Linux 5.17+): sys_enter/sys_exit of write,
 * writev, sendto and sendmsg, and sys_enter_close. Enabling any syscall
 * tracepoint sends every system call of every task through the slow
 * syscall path, which is why the sock hook is preferred.
 *
 * Every byte of a send is accounted for: copied in a SNOOP_DATA record, or
 * reported in a SNOOP_GAP record of exactly the missing size with a
 * reason. Offsets always advance by the number of bytes sent.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "snoop.h"

#define AF_UNIX 1
#define SOCK_STREAM 1
#define MSG_PEEK 2
/* include/net/sock.h: the peer shut down its sending side or closed. */
#define RCV_SHUTDOWN 1
/* include/linux/sched.h: an io_uring io-wq worker thread. */
#define PF_IO_WORKER 0x00000010
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define UIO_MAXIOV 1024

/* Configuration, set by userspace before load. */
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
/* The tracer itself, as its own pid namespace sees it: a pid compared with
 * bpf_get_current_pid_tgid() (initial namespace) would miss it when the
 * tracer runs in a container. 0 when unknown. */
const volatile __u64 self_pidns_dev = 0;
const volatile __u64 self_pidns_ino = 0;
const volatile __u32 self_pid = 0;
/* The tracer's network namespace (inode number): sockets of other
 * namespaces are flagged, since userspace's sock_diag queries cannot see
 * them. */
const volatile __u32 self_netns_ino = 0;
/* System call numbers of this architecture, from libc::SYS_* in userspace
 * (never hard-coded here). -1 when the architecture lacks the call. */
const volatile long nr_write = -1;
const volatile long nr_writev = -1;
const volatile long nr_pwritev2 = -1;
const volatile long nr_sendto = -1;
const volatile long nr_sendmsg = -1;
const volatile long nr_sendmmsg = -1;
const volatile long nr_io_uring_enter = -1;
const volatile long nr_sendfile = -1;
const volatile long nr_splice = -1;

/* Per-socket state. */
struct sock_state {
	/* Offset of the next byte this socket sends (SNOOP_OFFSET_BASE first). */
	__u64 next_off;
	/* How much of the peer's send stream this socket has read, in the
	 * peer's offset space (sock hook only). */
	__u64 read;
	/* This socket's inode: kept because sk->sk_socket is gone once the
	 * socket is closed, and the close record is made after that. */
	__u64 ino;
	__u64 peer_ino;
	/* SO_PEERCRED's process id. */
	__u32 peer_pid;
	/* SNOOP_F_SERVER, _ABSTRACT, _PEER_BOUND, _ACK_UNKNOWN, _FOREIGN_NETNS,
	 * _PEER_PENDING. */
	__u16 flags;
	/* 1 when the filters keep this socket's connection. */
	__u8 keep;
	/* 1 once a SNOOP_SOCK_INFO record reached the ring buffer. */
	__u8 info_sent;
	/* 1 once a SNOOP_CLOSE record was emitted for it. */
	__u8 closed;
	/* sock hook: 1 while the peer has not adopted the state this end
	 * left for it in `handoff`; this end's reads are mirrored there. */
	__u8 peer_unadopted;
	/* handoff entries only: the creator's `read` (how much of the
	 * adopter's stream it consumed), kept current until adoption. */
	__u64 peer_read;
};

/* sock hook: state per socket, freed with the socket (sk_destruct). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_state);
} sk_states SEC(".maps");

/* syscall hook: state of kept sockets only, keyed by inode. An LRU of its
 * own, so that churn of unrelated sockets never evicts a kept one; a kept
 * socket whose state is lost anyway (more than max_entries kept sockets)
 * gets a new one whose SOCK_INFO record says SNOOP_F_FRESH. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* shrunk by userspace on the sock hook */
	__type(key, __u64);
	__type(value, struct sock_state);
} kept_socks SEC(".maps");

/* syscall hook: sockets the filters rejected (the verdict is not made
 * again on every write). Evicting one only costs a new verdict. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* shrunk by userspace on the sock hook */
	__type(key, __u64);
	__type(value, __u8);
} rejected_socks SEC(".maps");

/* A send syscall between enter and exit (syscall hook), keyed by thread id. */
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

/* Per-CPU LRU lists: every traced write inserts and deletes here, and the
 * common list's lock was contended across CPUs. LRU still bounds entries
 * of threads that died inside a call. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, 16384); /* shrunk by userspace on the sock hook */
	__type(key, __u32);
	__type(value, struct pending_send);
} pending SEC(".maps");

/* sock hook: which message of a sendmmsg(2) vector the thread is at. The
 * tracepoint fires once per message with the call's registers, so the
 * index is counted here; it restarts when the vector pointer changes or
 * the count reaches vlen. */
struct mmsg_pos {
	__u64 vec;
	__u32 idx;
	/* Bytes the previous message sent: the kernel stores them in that
	 * message's msg_len before it sends the next one (___sys_sendmmsg),
	 * so a mismatch means a new call reusing the same vector. */
	__u32 prev_len;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct mmsg_pos);
} mmsg_at SEC(".maps");

/* The copy engine's per-CPU scratch record. Twice SNOOP_CHUNK of data so
 * that a store at `data + (pos & (SNOOP_CHUNK - 1))` of at most SNOOP_CHUNK
 * bytes is provably inside it: the verifier cannot relate pos and n. */
/* One call's copy: a state machine stepped by bpf_loop. Each step reads one
 * piece of the current iovec into the scratch record, or emits a record
 * once it holds SNOOP_CHUNK bytes (or the rest of the call), so that a call
 * of many small iovecs becomes one record, not one per iovec.
 *
 * It lives in the per-CPU scratch map value, not on the stack: values the
 * verifier loads from a map are unknown scalars, bounded again by the masks
 * below, so the states of successive steps converge. On the stack their
 * ranges grew with every step, and the verifier gave up ("The sequence of
 * 8193 jumps is too complex"). */
struct copy_ctx {
	/* Header of every record of this call (offset, len, kind set per record). */
	struct snoop_event h;
	/* Offset of the next byte not yet emitted. */
	__u64 off;
	/* Bytes of the call not yet emitted (in data or gap records). */
	__u64 remaining;
	__u64 iov_array;
	__u64 iovcnt;
	__u64 iov_idx;
	/* Where the current iovec (or the flat buffer) continues, and how much of it is left. */
	__u64 cur_base;
	__u64 cur_left;
	/* Bytes already in the scratch record, and the size it is being filled to. */
	__u32 pos;
	__u32 rec_len;
	/* Why the loop stopped early (enum snoop_gap_reason), 0 if it did not. */
	__u16 stop_reason;
	__u8 vectored;
};

struct scratch {
	struct copy_ctx c;
	struct snoop_event hdr;
	__u8 data[2 * SNOOP_CHUNK];
};

/* A full chunk reserved directly in the ring (no scratch copy). */
struct chunk_record {
	struct snoop_event hdr;
	__u8 data[SNOOP_CHUNK];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24); /* resized by userspace */
} events SEC(".maps");

/* One scratch record per CPU. Not a per-CPU array: those cap values at
 * 32 KiB (PCPU_MIN_UNIT_SIZE). Userspace sets max_entries to the number of
 * possible CPUs; both kinds of tracepoint run their programs with
 * preemption disabled, so one CPU's entry has one user at a time. */
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
/* So the skeleton generates the ABI's enums (kinds, flags, gap reasons,
 * counters, limits) for Rust, which takes their values from there. */
enum snoop_abi _snoop_abi = 0;
enum snoop_kind _snoop_kind_abi = 0;
enum snoop_flags _snoop_flags_abi = 0;
enum snoop_gap_reason _snoop_gap_reason_abi = 0;
enum snoop_stat _snoop_stat_abi = 0;

/* Kernels before 6.13 ("fs: add file_ref") count file references in f_count. */
struct file___pre_file_ref {
	atomic_long_t f_count;
} __attribute__((preserve_access_index));

/* unix_sock.inq_len: bytes in the receive queue, added in Linux 6.17 for
 * SO_INQ on stream sockets. Read through this flavour so that the program
 * still loads (with acks marked unknown) where it is missing. */
struct unix_sock___inq {
	int inq_len;
} __attribute__((preserve_access_index));

/* The registers a system call was entered with, per architecture. The
 * struct flavours let CO-RE place the fields on the running kernel. */
#if defined(__TARGET_ARCH_x86)
struct pt_regs___snoop {
	unsigned long di, si, dx, orig_ax;
} __attribute__((preserve_access_index));
#define SYSCALL_NR(r) ((long)((struct pt_regs___snoop *)(r))->orig_ax)
#define SYSCALL_ARG1(r) (((struct pt_regs___snoop *)(r))->di)
#define SYSCALL_ARG2(r) (((struct pt_regs___snoop *)(r))->si)
#define SYSCALL_ARG3(r) (((struct pt_regs___snoop *)(r))->dx)
#elif defined(__TARGET_ARCH_arm64)
struct pt_regs___snoop {
	__u64 regs[31];
	__u64 orig_x0;
	__s32 syscallno;
} __attribute__((preserve_access_index));
/* x0 is overwritten by the return value; orig_x0 keeps the first argument. */
#define SYSCALL_NR(r) ((long)((struct pt_regs___snoop *)(r))->syscallno)
#define SYSCALL_ARG1(r) (((struct pt_regs___snoop *)(r))->orig_x0)
#define SYSCALL_ARG2(r) (((struct pt_regs___snoop *)(r))->regs[1])
#define SYSCALL_ARG3(r) (((struct pt_regs___snoop *)(r))->regs[2])
#else
#error "containerdsnoop: no syscall register layout for this architecture"
#endif

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
 * syscall hook: the file behind `fd` of the current task, if it is an
 * AF_UNIX stream socket; then also its sock and inode number. Each pointer
 * is read once: these reads are most of the cost of a traced write.
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

/* The header every record of one call shares. */
static __always_inline void fill_header(struct snoop_event *h, __u16 kind, struct sock_state *st,
					__u64 ts)
{
	__u64 id = bpf_get_current_pid_tgid();

	h->ts_ns = ts;
	h->sock_ino = st->ino;
	h->peer_ino = st->peer_ino;
	h->peer_pid = st->peer_pid;
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->kind = kind;
	h->flags = st->flags;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* Emit the socket's address; 0 on success. */
static __always_inline int send_info(struct sock *sk, struct sock_state *st)
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
	st->flags = flags | (st->flags & (SNOOP_F_ACK_UNKNOWN | SNOOP_F_FOREIGN_NETNS |
					  SNOOP_F_PEER_PENDING));
	fill_header(&s->hdr, SNOOP_SOCK_INFO, st, bpf_ktime_get_ns());
	/* Nothing was sent through this state yet: its offsets start at the
	 * base (a new state, perhaps after an eviction on the syscall hook). */
	if (st->next_off == SNOOP_OFFSET_BASE)
		s->hdr.flags |= SNOOP_F_FRESH;
	s->hdr.offset = st->next_off;
	s->hdr.len = n;
	wake = wakeup_flag();
	/* Bound n again right before the helper, in a way clang cannot fold
	 * away: the verifier needs it on that register (n <= 108 < 128). */
	barrier_var(n);
	return bpf_ringbuf_output(&events, &s->hdr, sizeof(s->hdr) + (n & 0x7f), wake);
}

/* ---- The copy engine, shared by both hooks ---- */

/* Emit the `pos` bytes in the scratch record as a data record at c->off. */
static __always_inline int emit_scratch(struct copy_ctx *c, struct scratch *s, bool more)
{
	__u32 n = c->pos;
	__u64 wake;

	s->hdr = c->h;
	s->hdr.kind = SNOOP_DATA;
	s->hdr.offset = c->off;
	s->hdr.len = n;
	if (more)
		s->hdr.flags |= SNOOP_F_MORE;
	wake = wakeup_flag();
	/* n <= SNOOP_CHUNK; the mask (which keeps that) is what the verifier
	 * can follow: a compare is easily applied to another copy of n. */
	if (bpf_ringbuf_output(&events, &s->hdr, sizeof(s->hdr) + (n & (2 * SNOOP_CHUNK - 1)),
			       wake))
		return -1;
	c->off += n;
	c->remaining -= n;
	c->pos = 0;
	return 0;
}

static long copy_step(__u32 i, void *unused)
{
	struct scratch *s = scratch();
	struct chunk_record *r;
	struct copy_ctx *c;
	__u32 room, at, n;
	__u64 wake;

	if (!s)
		return 1;
	c = &s->c;

	if (c->pos == 0) {
		if (c->remaining == 0)
			return 1;
		c->rec_len = c->remaining < SNOOP_CHUNK ? c->remaining : SNOOP_CHUNK;
	}
	if (c->cur_left == 0) {
		struct iovec iov;

		/* The buffers describe fewer bytes than the kernel says were sent. */
		if (!c->vectored || c->iov_idx >= c->iovcnt) {
			c->stop_reason = SNOOP_GAP_FAULT;
			return 1;
		}
		if (bpf_probe_read_user(&iov, sizeof(iov),
					(void *)(c->iov_array + c->iov_idx * sizeof(iov)))) {
			c->stop_reason = SNOOP_GAP_FAULT;
			return 1;
		}
		c->iov_idx++;
		c->cur_base = (__u64)iov.iov_base;
		c->cur_left = iov.iov_len;
		return 0;
	}
	if (c->pos == 0 && c->rec_len == SNOOP_CHUNK && c->cur_left >= SNOOP_CHUNK) {
		/* A whole chunk from one buffer goes straight into the ring: one copy fewer. */
		wake = wakeup_flag();
		r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
		if (!r) {
			c->stop_reason = SNOOP_GAP_RING_FULL;
			return 1;
		}
		r->hdr = c->h;
		r->hdr.kind = SNOOP_DATA;
		r->hdr.offset = c->off;
		r->hdr.len = SNOOP_CHUNK;
		if (c->remaining > SNOOP_CHUNK)
			r->hdr.flags |= SNOOP_F_MORE;
		if (bpf_probe_read_user(r->data, SNOOP_CHUNK, (void *)c->cur_base)) {
			bpf_ringbuf_discard(r, BPF_RB_NO_WAKEUP);
			c->stop_reason = SNOOP_GAP_FAULT;
			return 1;
		}
		bpf_ringbuf_submit(r, wake);
		c->off += SNOOP_CHUNK;
		c->remaining -= SNOOP_CHUNK;
		c->cur_base += SNOOP_CHUNK;
		c->cur_left -= SNOOP_CHUNK;
		return 0;
	}
	room = c->rec_len - c->pos;
	n = c->cur_left < room ? c->cur_left : room;
	/* n < SNOOP_CHUNK here: a whole chunk from one buffer took the path
	 * above, and otherwise the buffer or the room left is shorter. The
	 * masks (exact, then) are what the verifier follows to bound the
	 * store: at + n < 2 * SNOOP_CHUNK. A compare would be applied by clang
	 * to another copy of n. */
	n &= SNOOP_CHUNK - 1;
	at = c->pos & (SNOOP_CHUNK - 1);
	if (bpf_probe_read_user(s->data + at, n, (void *)c->cur_base)) {
		c->stop_reason = SNOOP_GAP_FAULT;
		return 1;
	}
	c->pos += n;
	c->cur_base += n;
	c->cur_left -= n;
	if (c->pos < c->rec_len)
		return 0;
	if (emit_scratch(c, s, c->remaining > c->rec_len)) {
		/* Those bytes are part of the gap reported after the loop. */
		c->pos = 0;
		c->stop_reason = SNOOP_GAP_RING_FULL;
		return 1;
	}
	return 0;
}

/* Report the rest of the call (c->remaining bytes at c->off) as missing. */
static __always_inline void emit_gap(struct copy_ctx *c, __u16 reason)
{
	struct snoop_event h = c->h;

	if (!c->remaining)
		return;
	h.kind = SNOOP_GAP;
	h.offset = c->off;
	h.len = 0;
	h.gap_len = c->remaining;
	h.reason = reason;
	stat_add(SNOOP_STAT_GAP_BYTES, c->remaining);
	if (reason == SNOOP_GAP_FAULT)
		stat_add(SNOOP_STAT_FAULT_BYTES, c->remaining);
	if (bpf_ringbuf_output(&events, &h, sizeof(h), wakeup_flag())) {
		/* Not even the header fitted: the offset jump still tells
		 * userspace, and the counters say how much. */
		stat_add(SNOOP_STAT_LOST_RECORDS, 1);
		stat_add(SNOOP_STAT_LOST_BYTES, c->remaining);
	}
	c->off += c->remaining;
	c->remaining = 0;
}

/* This CPU's copy context, cleared. */
static __always_inline struct copy_ctx *copy_begin(void)
{
	struct scratch *s = scratch();

	if (!s)
		return NULL;
	__builtin_memset(&s->c, 0, sizeof(s->c));
	return &s->c;
}

/* Copy the call described by this CPU's copy context (source fields set),
 * then report what could not be copied. */
static __always_inline void copy_call(void)
{
	struct scratch *s;
	struct copy_ctx *c;

	bpf_loop(SNOOP_MAX_RECORDS, copy_step, NULL, 0);
	s = scratch();
	if (!s)
		return;
	c = &s->c;
	if (!c->remaining)
		return;
	/* Bytes read before a fault are still worth a record. */
	if (c->pos && emit_scratch(c, s, true))
		c->pos = 0;
	emit_gap(c, c->stop_reason ? c->stop_reason : SNOOP_GAP_TOO_LONG);
}

/* ---- syscall hook (fallback) ---- */

/* The state of a socket on the syscall hook, created (with the filter
 * verdict) at first sight; NULL for rejected sockets. */
static __always_inline struct sock_state *sys_state_of(struct sock *sk, __u64 ino)
{
	struct sock_state *st = bpf_map_lookup_elem(&kept_socks, &ino);
	struct sock_state fresh = {};
	__u8 one = 1;

	if (st)
		return st;
	if (bpf_map_lookup_elem(&rejected_socks, &ino))
		return NULL;
	fresh.keep = verdict(sk, &fresh);
	fresh.ino = ino;
	fresh.peer_ino = sock_ino(BPF_CORE_READ((struct unix_sock *)sk, peer));
	/* The verdict is the connection's: a kept peer keeps this side too
	 * (the comm filter sees only each side's own writer), and a kept side
	 * has its peer's rejection made again. */
	if (fresh.peer_ino) {
		if (bpf_map_lookup_elem(&kept_socks, &fresh.peer_ino))
			fresh.keep = 1;
		else if (fresh.keep)
			bpf_map_delete_elem(&rejected_socks, &fresh.peer_ino);
	}
	if (!fresh.keep) {
		bpf_map_update_elem(&rejected_socks, &ino, &one, BPF_ANY);
		return NULL;
	}
	fresh.next_off = SNOOP_OFFSET_BASE;
	/* Reads are not seen on this hook: records carry no ack. */
	fresh.flags |= SNOOP_F_ACK_UNKNOWN;
	bpf_map_update_elem(&kept_socks, &ino, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&kept_socks, &ino);
}

static __always_inline int on_send_enter(int fd, __u64 buf, __u64 iovcnt, bool vectored)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_send p = {};
	struct sock_state *st;
	struct file *file;
	struct sock *sk;
	__u64 ino;

	file = unix_stream_file(fd, &sk, &ino);
	if (!file)
		return 0;
	st = sys_state_of(sk, ino);
	if (!st)
		return 0;
	if (!st->peer_ino)
		st->peer_ino = sock_ino(BPF_CORE_READ((struct unix_sock *)sk, peer));
	if (!st->info_sent && send_info(sk, st) == 0)
		st->info_sent = 1;
	p.sock_ino = ino;
	p.buf = buf;
	p.iovcnt = iovcnt;
	p.vectored = vectored;
	p.ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
	return 0;
}

static __always_inline int on_send_exit(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_send *p = bpf_map_lookup_elem(&pending, &tid);
	struct pending_send call;
	struct sock_state *st;
	struct copy_ctx *c;

	if (!p)
		return 0;
	call = *p;
	bpf_map_delete_elem(&pending, &tid);
	if (ret <= 0)
		return 0;
	st = bpf_map_lookup_elem(&kept_socks, &call.sock_ino);
	c = copy_begin();
	if (!st || !c)
		return 0;
	c->vectored = call.vectored;
	if (call.vectored) {
		c->iov_array = call.buf;
		c->iovcnt = call.iovcnt;
	} else {
		c->cur_base = call.buf;
		c->cur_left = ret;
	}
	fill_header(&c->h, SNOOP_DATA, st, call.ts);
	/* Reserve the byte range first: whatever is not copied below is a
	 * gap of known size at a known offset. */
	c->off = __sync_fetch_and_add(&st->next_off, ret);
	c->remaining = ret;
	copy_call();
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

static __always_inline void emit_close(struct sock_state *st)
{
	struct snoop_event h = {};

	fill_header(&h, SNOOP_CLOSE, st, bpf_ktime_get_ns());
	h.offset = st->next_off;
	if (bpf_ringbuf_output(&events, &h, sizeof(h), wakeup_flag()))
		stat_add(SNOOP_STAT_LOST_META, 1);
}

/* sock hook: the peer of `st`'s socket ended its stream (end of file).
 * The record is about the peer (its inode). Its offset is 0, which
 * userspace takes as "final offset unknown" (no trailing gap is inferred):
 * st->read would be the peer's final offset, but the start-up races
 * described at sock_state_create can make it too high by one read. */
static __always_inline void emit_peer_close(struct sock_state *st)
{
	struct snoop_event h = {};

	fill_header(&h, SNOOP_CLOSE, st, bpf_ktime_get_ns());
	h.sock_ino = st->peer_ino;
	h.peer_ino = st->ino;
	/* Roles as the peer sees them. */
	h.flags &= ~(SNOOP_F_SERVER | SNOOP_F_PEER_BOUND);
	if (st->flags & SNOOP_F_SERVER)
		h.flags |= SNOOP_F_PEER_BOUND;
	if (st->flags & SNOOP_F_PEER_BOUND)
		h.flags |= SNOOP_F_SERVER;
	h.offset = 0;
	if (bpf_ringbuf_output(&events, &h, sizeof(h), wakeup_flag()))
		stat_add(SNOOP_STAT_LOST_META, 1);
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	struct sock_state *st;
	struct file *file;
	struct sock *sk;
	__u64 ino;

	file = unix_stream_file(ctx->args[0], &sk, &ino);
	if (!file)
		return 0;
	bpf_map_delete_elem(&rejected_socks, &ino);
	st = bpf_map_lookup_elem(&kept_socks, &ino);
	if (!st || !last_reference(file))
		return 0;
	emit_close(st);
	bpf_map_delete_elem(&kept_socks, &ino);
	return 0;
}

/* ---- sock hook ---- */

/* Bytes waiting in the receive queue of `sk`, or -1 where the kernel does
 * not keep the count (before 6.17). `sk` need not be a trusted pointer (the
 * peer, read from unix_sock.peer, is not): probe reads. */
static __always_inline long unread_bytes(struct sock *sk)
{
	struct unix_sock___inq *u = (void *)sk;

	if (!bpf_core_field_exists(u->inq_len))
		return -1;
	return BPF_CORE_READ(u, inq_len);
}

/* The inode of a socket the hook was called with (0 once it is closed):
 * direct loads through the trusted pointer, no helper call. */
static __always_inline __u64 sk_ino(struct sock *sk)
{
	return sk->sk_socket->file->f_inode->i_ino;
}

/* sock hook: the state one end of a connection made for the other end at
 * its creation, keyed by the other end's struct sock address, until that
 * end's own hook adopts it. Socket local storage can only be created
 * through a trusted pointer, which the peer (read from unix_sock.peer) is
 * not ("R2 type=untrusted_ptr_ expected=ptr_, trusted_ptr_, rcu_ptr_" from
 * the verifier), so the peer's state waits here. Not keyed by inode: a
 * client may send before the server accepted, when the server's sock has
 * no socket or inode yet. An address can be reused once its sock is freed,
 * so adoption checks that the adopter's peer is the creator. LRU: an end
 * that never sends or reads leaves its entry to eviction; an evicted entry
 * only costs that end a state of its own (its acks then start unaligned). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* shrunk by userspace on the syscall hook */
	__type(key, __u64);
	__type(value, struct sock_state);
} handoff SEC(".maps");

/*
 * The state its peer left for `sk` (inode `ino`), made its own; NULL if
 * none. `in_flight` is the size of the send being hooked (0 in a receive).
 *
 * This end's send offsets are placed where its peer's reads put them: the
 * creator counted this end's stream from its own reads (`peer_read`,
 * mirrored until now), so everything this end queued so far ends at
 * peer_read + inq_len(peer), and the send being hooked ends there too. A
 * send in flight when the creator started (a write blocked on a full
 * socket, whose first bytes the creator already read and answered) thus
 * gets offsets below the base, as the creator's acks expect.
 */
static __always_inline struct sock_state *adopt(struct sock *sk, __u64 ino, int in_flight)
{
	struct unix_sock *u = bpf_skc_to_unix_sock(sk);
	struct sock_state *left, init;
	__u64 key = (__u64)sk;
	long unread;

	left = bpf_map_lookup_elem(&handoff, &key);
	if (!left)
		return NULL;
	init = *left;
	bpf_map_delete_elem(&handoff, &key);
	/* Left by our peer, not by an earlier sock at this address? */
	if (!u || !ino || sock_ino(u->peer) != init.peer_ino)
		return NULL;
	init.ino = ino;
	if (!(init.flags & SNOOP_F_ACK_UNKNOWN)) {
		unread = unread_bytes(u->peer);
		if (unread >= 0)
			init.next_off = init.peer_read + unread - in_flight;
		else
			init.flags |= SNOOP_F_ACK_UNKNOWN;
	}
	init.peer_read = 0;
	/* The verdict is the connection's (the creator's); the address
	 * flags and SO_PEERCRED pid are this end's own. */
	verdict(sk, &init);
	return bpf_sk_storage_get(&sk_states, sk, &init, BPF_SK_STORAGE_GET_F_CREATE);
}

/*
 * The state of a sending socket `sk` (inode `ino`) seen for the first time,
 * created together with its peer's (left in `handoff`): the two ends of one
 * byte stream each way.
 *
 * Alignment of the acks: this runs inside the send hook of a write W of
 * `ret` bytes on sk (C) whose peer is S, after W's bytes were queued on S.
 * C starts sending at SNOOP_OFFSET_BASE, so W occupies [BASE, BASE + ret)
 * of C's stream. S has read everything of C's stream up to what is still
 * queued on S: S.read = BASE + ret - inq_len(S) (W's unread part included;
 * older bytes get offsets below BASE). C's count of S's stream starts so
 * that the bytes still queued on C end at BASE: C.read = BASE - inq_len(C);
 * S's own offsets are placed on that count when S adopts its state (see
 * adopt), which also covers a send of S still in flight now.
 *
 * Remaining races, at connection start only: a read on S whose hook has not
 * run yet is counted both in the inq_len(S) difference and by that hook
 * (S's acks are high by that read: S's records wait for bytes C never
 * sends, until userspace's time bound); two threads of one end sending at
 * once around the adoption; and if S already had a state (its handoff entry
 * was evicted, or both ends created theirs at once), the two counts do not
 * start together.
 */
static __always_inline struct sock_state *sock_state_create(struct sock *sk, __u64 ino, int ret)
{
	struct unix_sock *u = bpf_skc_to_unix_sock(sk);
	struct sock *peer = u ? u->peer : NULL;
	struct sock_state init = {}, peer_init = {};
	struct sock_state *st;
	long unread, peer_unread;
	__u64 key;

	init.keep = verdict(sk, &init);
	init.ino = ino;
	init.next_off = SNOOP_OFFSET_BASE;
	if (peer)
		init.peer_ino = sock_ino(peer);
	unread = unread_bytes(sk);
	peer_unread = peer ? unread_bytes(peer) : -1;
	if (unread < 0 || peer_unread < 0 || !peer) {
		init.flags |= SNOOP_F_ACK_UNKNOWN;
		peer_init.flags |= SNOOP_F_ACK_UNKNOWN;
	} else {
		init.read = SNOOP_OFFSET_BASE - unread;
		if (unread > 0)
			init.flags |= SNOOP_F_PEER_PENDING;
		peer_init.read = SNOOP_OFFSET_BASE + ret - peer_unread;
		/* The adopter places its own offsets after what we read (see adopt). */
		peer_init.peer_read = init.read;
		init.peer_unadopted = 1;
	}
	st = bpf_sk_storage_get(&sk_states, sk, &init, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st || !peer || !ino)
		return st;
	peer_init.keep = init.keep;
	/* The peer's inode, if it has one yet, is set when it adopts this. */
	peer_init.peer_ino = ino;
	peer_init.next_off = SNOOP_OFFSET_BASE;
	key = (__u64)peer;
	bpf_map_update_elem(&handoff, &key, &peer_init, BPF_ANY);
	return st;
}

/* Whether fd `fd` of `task` is the socket `sk` (the registers may belong
 * to a call on another file, e.g. a kernel-internal send). */
static __always_inline bool fd_is_sock(struct task_struct *task, __u64 fd, struct sock *sk)
{
	struct fdtable *fdt = task->files->fdt;
	struct socket *sock = sk->sk_socket;
	struct file *f = NULL;
	struct file **fds;

	if (!fdt || !sock || fd >= fdt->max_fds)
		return false;
	/* Read the array pointer as a plain value: indexing a BTF pointer by
	 * a variable is not allowed. */
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]))
		return false;
	return f && (__u64)f == (__u64)sock->file;
}

struct iov_sum_ctx {
	__u64 iov_array;
	__u64 iovcnt;
	__u64 total;
	__u8 fault;
};

static long iov_sum_step(__u32 i, struct iov_sum_ctx *c)
{
	struct iovec iov;

	if (i >= c->iovcnt)
		return 1;
	if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(c->iov_array + i * sizeof(iov)))) {
		c->fault = 1;
		return 1;
	}
	c->total += iov.iov_len;
	return 0;
}

/* Point `c` at message i of a sendmmsg vector; the gap reason if that
 * message cannot be the one that sent `ret` bytes, else 0. */
static __always_inline __u16 sendmmsg_source(struct task_struct *task, struct copy_ctx *c,
					     __u64 vec, __u64 vlen, int ret)
{
	struct mmsg_pos *p = bpf_task_storage_get(&mmsg_at, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	struct iov_sum_ctx sum = {};
	struct mmsghdr *m;
	__u32 prev_len = 0;

	if (!p)
		return SNOOP_GAP_SENDMMSG;
	if (p->vec != vec || p->idx >= vlen) {
		p->vec = vec;
		p->idx = 0;
	} else if (p->idx > 0) {
		m = (struct mmsghdr *)vec + (p->idx - 1);
		if (bpf_probe_read_user(&prev_len, sizeof(prev_len), &m->msg_len) ||
		    prev_len != p->prev_len)
			p->idx = 0;
	}
	m = (struct mmsghdr *)vec + p->idx;
	p->idx++;
	p->prev_len = ret;
	if (bpf_probe_read_user(&c->iov_array, sizeof(c->iov_array), &m->msg_hdr.msg_iov) ||
	    bpf_probe_read_user(&c->iovcnt, sizeof(c->iovcnt), &m->msg_hdr.msg_iovlen))
		return SNOOP_GAP_SENDMMSG;
	if (c->iovcnt > UIO_MAXIOV)
		return SNOOP_GAP_SENDMMSG;
	sum.iov_array = c->iov_array;
	sum.iovcnt = c->iovcnt;
	bpf_loop(UIO_MAXIOV, iov_sum_step, &sum, 0);
	if (sum.fault || sum.total < (__u64)ret)
		return SNOOP_GAP_SENDMMSG;
	c->vectored = 1;
	return 0;
}

/* Copy the `ret` bytes that `sk` just sent, from the buffers the system
 * call's registers describe; a gap of exactly `ret` where they cannot be read. */
static __always_inline void sock_capture(struct sock *sk, struct sock_state *st, int ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct copy_ctx *c = copy_begin();
	struct pt_regs *regs;
	__u16 reason = 0;
	__u64 a1, a2, a3;
	long nr;

	if (!c) {
		/* Cannot happen (the scratch map has an entry per CPU); the
		 * offset still moves so that userspace sees the hole. */
		__sync_fetch_and_add(&st->next_off, ret);
		return;
	}
	fill_header(&c->h, SNOOP_DATA, st, bpf_ktime_get_ns());
	c->h.ack = st->read;
	c->off = __sync_fetch_and_add(&st->next_off, ret);
	c->remaining = ret;
	/* io-wq workers run io_uring sends with no user registers of their own. */
	if (task->flags & PF_IO_WORKER) {
		emit_gap(c, SNOOP_GAP_IO_URING);
		return;
	}
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	nr = SYSCALL_NR(regs);
	a1 = SYSCALL_ARG1(regs);
	a2 = SYSCALL_ARG2(regs);
	a3 = SYSCALL_ARG3(regs);
	if (nr == nr_write || nr == nr_sendto) {
		c->cur_base = a2;
		c->cur_left = ret;
	} else if (nr == nr_writev || nr == nr_pwritev2) {
		c->vectored = 1;
		c->iov_array = a2;
		c->iovcnt = a3;
	} else if (nr == nr_sendmsg) {
		struct user_msghdr *msg = (struct user_msghdr *)a2;

		c->vectored = 1;
		if (bpf_probe_read_user(&c->iov_array, sizeof(c->iov_array), &msg->msg_iov) ||
		    bpf_probe_read_user(&c->iovcnt, sizeof(c->iovcnt), &msg->msg_iovlen))
			reason = SNOOP_GAP_FAULT;
	} else if (nr == nr_sendmmsg) {
		reason = sendmmsg_source(task, c, a2, a3, ret);
	} else if (nr == nr_io_uring_enter) {
		reason = SNOOP_GAP_IO_URING;
	} else if (nr == nr_sendfile || nr == nr_splice) {
		reason = SNOOP_GAP_SPLICE;
	} else {
		reason = SNOOP_GAP_UNKNOWN_CALLER;
	}
	if (!reason && !fd_is_sock(task, a1, sk))
		reason = SNOOP_GAP_UNKNOWN_CALLER;
	if (reason) {
		emit_gap(c, reason);
		return;
	}
	copy_call();
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send, struct sock *sk, int ret, int flags)
{
	struct sock_state *st;

	/* Unix datagram, TCP and UDP sends run this program too. */
	if (ret <= 0 || sk->__sk_common.skc_family != AF_UNIX || sk->sk_type != SOCK_STREAM)
		return 0;
	st = bpf_sk_storage_get(&sk_states, sk, 0, 0);
	if (!st) {
		__u64 ino = sk_ino(sk);

		/* No file, no inode: a kernel-internal socket, or one being
		 * closed. Nothing that userspace could name. */
		if (!ino)
			return 0;
		st = adopt(sk, ino, ret);
		if (!st)
			st = sock_state_create(sk, ino, ret);
	}
	if (!st || !st->keep)
		return 0;
	if (!st->peer_ino) {
		/* A client that sent before its server accepted: the server's
		 * inode exists now, perhaps. */
		struct unix_sock *u = bpf_skc_to_unix_sock(sk);

		if (u)
			st->peer_ino = sock_ino(u->peer);
	}
	if (!st->info_sent && send_info(sk, st) == 0)
		st->info_sent = 1;
	sock_capture(sk, st, ret);
	return 0;
}

/* Until the peer adopts its state, keep our read count there current: the
 * peer places its send offsets on it (see adopt). */
static __always_inline void mirror_read(struct sock *sk, struct sock_state *st)
{
	struct unix_sock *u = bpf_skc_to_unix_sock(sk);
	struct sock_state *left;
	__u64 key;

	if (!u)
		return;
	key = (__u64)u->peer;
	left = bpf_map_lookup_elem(&handoff, &key);
	if (left && left->peer_ino == st->ino)
		left->peer_read = st->read;
	else
		st->peer_unadopted = 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv, struct sock *sk, int ret, int flags)
{
	struct sock_state *st;

	/* MSG_PEEK leaves the bytes queued: nothing was consumed. */
	if (ret < 0 || (flags & MSG_PEEK) || sk->__sk_common.skc_family != AF_UNIX ||
	    sk->sk_type != SOCK_STREAM)
		return 0;
	/* Unrelated sockets cost this lookup (and, until they send, the
	 * handoff lookup). */
	st = bpf_sk_storage_get(&sk_states, sk, 0, 0);
	if (!st)
		st = adopt(sk, sk_ino(sk), 0);
	if (!st || !st->keep)
		return 0;
	if (ret > 0) {
		__sync_fetch_and_add(&st->read, ret);
		if (st->peer_unadopted)
			mirror_read(sk, st);
		return 0;
	}
	/* 0 bytes: end of file only if the peer shut down its sending side
	 * or closed (unix_release_sock sets our sk_shutdown); that replaces
	 * sys_enter_close on this hook. */
	if (!(sk->sk_shutdown & RCV_SHUTDOWN) || !st->peer_ino)
		return 0;
	/* The peer's storage cannot be looked up through an untrusted
	 * pointer, so its final offset is not known here; this end's state
	 * knows the peer's inode. Every send of the peer completed (and was
	 * recorded) before its shutdown or close. */
	if (st->closed)
		return 0;
	st->closed = 1;
	emit_peer_close(st);
	return 0;
}

#include "hpack.bpf.h"

char LICENSE[] SEC("license") = "GPL";
