/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The event ABI shared by the BPF program (snoop.bpf.c) and userspace
 * (src/capture). Userspace reads these through the skeleton's generated
 * types, so this header is the only definition.
 */
#ifndef CONTAINERDSNOOP_SNOOP_H
#define CONTAINERDSNOOP_SNOOP_H

/* Payload bytes carried by one ringbuf record at most. A write larger than
 * this becomes several records with consecutive offsets. */
#define SNOOP_CHUNK 32768
/* Bound on records one syscall may emit (iovec pieces plus chunks): 16 MiB
 * in 32 KiB chunks is 512, plus up to 1024 iovecs (UIO_MAXIOV). Bytes past
 * the bound are not copied; the offset still advances, so userspace sees a
 * gap of exactly that size. */
#define SNOOP_MAX_RECORDS 4096
#define SNOOP_PATH_MAX 108
/* Path filter slots are padded to whole 8-byte words, compared a word at a time. */
#define SNOOP_PATH_SLOT 112
#define SNOOP_COMM_LEN 16
#define SNOOP_MAX_PATH_FILTERS 8
#define SNOOP_MAX_PID_FILTERS 8
#define SNOOP_MAX_COMM_FILTERS 8

/* What a record is. */
enum snoop_kind {
	/* `len` payload bytes of the socket's send stream at `offset`. */
	SNOOP_DATA = 1,
	/* The socket's address: `len` bytes of path follow (abstract names
	 * start with '@'); zero bytes when neither side is bound. */
	SNOOP_SOCK_INFO = 2,
	/* The last file reference to the socket is being closed; `offset`
	 * is the socket's final send offset. */
	SNOOP_CLOSE = 3,
};

/* Flags on every record. */
enum snoop_flags {
	/* The socket is the bound (server) side of its connection. */
	SNOOP_F_SERVER = 1,
	/* The path is abstract (shown as @name). */
	SNOOP_F_ABSTRACT = 2,
	/* The peer socket is bound too (both bound, or neither: userspace
	 * picks the roles by inode order). */
	SNOOP_F_PEER_BOUND = 4,
};

/* Counters in the `stats` per-CPU array. */
enum snoop_stat {
	/* Records that did not fit in the ring buffer. */
	SNOOP_STAT_LOST_RECORDS = 0,
	/* Payload bytes in those records and bytes past SNOOP_MAX_RECORDS. */
	SNOOP_STAT_LOST_BYTES = 1,
	/* Payload bytes bpf_probe_read_user could not read. */
	SNOOP_STAT_FAULT_BYTES = 2,
	/* Info/close records lost (their data is resent or implied). */
	SNOOP_STAT_LOST_META = 3,
	SNOOP_STAT_MAX = 4,
};

/* The header of every ringbuf record; `len` payload bytes follow it. */
struct snoop_event {
	/* CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns): for data, when the
	 * write call began (records are reordered by it); else when emitted. */
	__u64 ts_ns;
	/* Inode of the writing socket (what `ss -x` shows). */
	__u64 sock_ino;
	/* Inode of its peer socket, 0 if unknown. */
	__u64 peer_ino;
	/* Offset of the first payload byte in this socket's send stream,
	 * counted from the first write the tracer saw on it. */
	__u64 offset;
	/* Thread group id (process id) and thread id of the writer. */
	__u32 pid;
	__u32 tid;
	/* Process id of the peer at connect time (SO_PEERCRED), 0 if unknown. */
	__u32 peer_pid;
	/* Payload bytes that follow this header. */
	__u32 len;
	/* enum snoop_kind */
	__u16 kind;
	/* enum snoop_flags */
	__u16 flags;
	char comm[SNOOP_COMM_LEN];
};

#endif
