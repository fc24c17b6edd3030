/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The object's globals, in one place: the configuration userspace sets
 * before load, the per-socket state, every map with the types it holds
 * ("sock hook:" or "syscall hook:" where one hook alone uses it) and the
 * ABI anchors; then the accessors that every part uses (scratch record,
 * ring buffer wakeup, counters). The order of these definitions is the
 * layout of .rodata (which userspace writes through the skeleton) and in
 * part of .maps: keep it when adding one. hpack.bpf.h has its own.
 *
 * Included by snoop.bpf.c first, after vmlinux.h, libbpf and snoop.h.
 */
#ifndef __SNOOP_STATE_BPF_H
#define __SNOOP_STATE_BPF_H

#define AF_UNIX 1
#define SOCK_STREAM 1

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
/* The cgroup v1 hierarchy whose cgroup names a writer that sits in the
 * root of the default (v2) hierarchy: the index in css_set.subsys of a
 * controller mounted as v1 (the order of /proc/cgroups, which is the
 * kernel's enum cgroup_subsys_id). -1: none, such a writer is in the
 * root cgroup (the host). See cgroup.bpf.h. */
const volatile int cgroup_v1_subsys = -1;

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
	/* handoff entries only: the creator's `read` when it made the entry:
	 * where the adopter's send offsets start (see adopt). */
	__u64 peer_base;
	/* sock hook: the key of the entry this end left in `handoff` for its
	 * peer (the peer's struct sock address), 0 if none: removed at end
	 * of file if the peer never adopted it. */
	__u64 handoff_key;
	/* The last writer's cgroup key (cgroup.bpf.h: cgroup_key), whose
	 * SNOOP_CGROUP record is known to be sent: most sockets are written
	 * by one process, which then costs no `cgroups_seen` lookup. */
	__u64 cgroup_seen;
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

/* So the skeleton generates the Rust type of the record header. */
struct snoop_event _snoop_event_abi = {};
/* So the skeleton generates the ABI's enums (kinds, flags, gap reasons,
 * counters, limits) for Rust, which takes their values from there. */
enum snoop_abi _snoop_abi = 0;
enum snoop_kind _snoop_kind_abi = 0;
enum snoop_flags _snoop_flags_abi = 0;
enum snoop_gap_reason _snoop_gap_reason_abi = 0;
enum snoop_stat _snoop_stat_abi = 0;
struct snoop_cgroup _snoop_cgroup_abi = {};

/* Notify the reader only when enough data waits (BPF_RB_NO_WAKEUP otherwise). */
static __always_inline __u64 wakeup_flag(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									     : BPF_RB_NO_WAKEUP;
}

/* The current task's process name into `dst`: its thread group leader's
 * comm (what /proc/PID/comm says and the comm filter compares), where
 * bpf_get_current_comm gives the thread's own. NUL-terminated and
 * zero-padded, as bpf_get_current_comm leaves its buffer. */
static __always_inline void current_process_comm(char (*dst)[SNOOP_COMM_LEN])
{
	struct task_struct *task = bpf_get_current_task_btf();

	__builtin_memset(dst, 0, sizeof(*dst));
	BPF_CORE_READ_STR_INTO(dst, task, group_leader, comm);
}

static __always_inline void stat_add(__u32 which, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);

	if (v)
		*v += n;
}

#endif /* __SNOOP_STATE_BPF_H */
