/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The event ABI shared by the BPF program (snoop.bpf.c) and userspace
 * (src/capture). Userspace reads these through the skeleton's generated
 * types, so this header is the only definition.
 */
#ifndef CONTAINERDSNOOP_SNOOP_H
#define CONTAINERDSNOOP_SNOOP_H

/* Limits shared with userspace. An enum rather than #defines so that they
 * are in the BTF and the skeleton gives Rust the same values (`snoop_abi`):
 * userspace never keeps a copy of its own. */
enum snoop_abi {
	/* Payload bytes carried by one ringbuf record at most. A write larger
	 * than this becomes several records with consecutive offsets, all but
	 * the last flagged SNOOP_F_MORE. Must be a power of two (the copy loop
	 * masks with SNOOP_CHUNK - 1 so that the verifier can bound its
	 * stores). */
	SNOOP_CHUNK = 32768,
	/* Bound on the steps of one call's copy loop (one step reads one iovec
	 * piece or emits one record): 16 MiB in 32 KiB chunks is 512 records,
	 * plus up to 1024 iovecs (UIO_MAXIOV). Bytes past the bound are
	 * reported as a gap (SNOOP_GAP_TOO_LONG); the offset still advances. */
	SNOOP_MAX_RECORDS = 4096,
	/* log2 of SNOOP_OFFSET_BASE (BTF enums hold 32 bits here). */
	SNOOP_OFFSET_BASE_SHIFT = 32,
	SNOOP_PATH_MAX = 108,
	/* Path filter slots are padded to whole 8-byte words, compared a word
	 * at a time. */
	SNOOP_PATH_SLOT = 112,
	SNOOP_COMM_LEN = 16,
	SNOOP_MAX_PATH_FILTERS = 8,
	SNOOP_MAX_PID_FILTERS = 8,
	SNOOP_MAX_COMM_FILTERS = 8,
	/* A SNOOP_CGROUP record holds this many path components at most
	 * (leaf first), each cut to SNOOP_CGROUP_NAME - 1 bytes: systemd's
	 * kubepods layout is 4 deep, its longest name
	 * `cri-containerd-<64 hex>.scope` 85 bytes. */
	SNOOP_CGROUP_DEPTH = 8,
	SNOOP_CGROUP_NAME = 128,
};

/* Every socket's send offsets start here, and `ack` values are in the same
 * space: bytes that were queued before the tracer first saw a connection
 * get offsets below it (see the alignment comment in sock_hook.bpf.h).
 * Userspace subtracts it. */
#define SNOOP_OFFSET_BASE (1ULL << SNOOP_OFFSET_BASE_SHIFT)

/* What a record is. */
enum snoop_kind {
	/* `len` payload bytes of the socket's send stream at `offset`. */
	SNOOP_DATA = 1,
	/* The socket's address: `len` bytes of path follow (abstract names
	 * start with '@'); zero bytes when neither side is bound. `offset`
	 * is the socket's send offset when the record was made. */
	SNOOP_SOCK_INFO = 2,
	/* The socket is gone (its last file reference closed, or its reader
	 * saw end of file); `offset` is the socket's final send offset, or 0
	 * when it is not known (sock hook). */
	SNOOP_CLOSE = 3,
	/* `gap_len` bytes of the send stream at `offset` were sent but could
	 * not be copied; `reason` (enum snoop_gap_reason) says why. No
	 * payload follows. */
	SNOOP_GAP = 4,
	/* A Go HTTP/2 server's HPACK table for one of its connections, read
	 * by a uprobe (struct snoop_hpack follows; see hpack.bpf.h). The
	 * header's sock_ino is the server's socket. */
	SNOOP_HPACK = 5,
	/* The path of a cgroup (struct snoop_cgroup follows), sent once per
	 * cgroup (per cgroup_id and SNOOP_F_CGROUP_V1) before the first
	 * record that names it in its header's `cgroup_id`; again only if
	 * the kernel's `cgroups_seen` map forgot it. */
	SNOOP_CGROUP = 6,
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
	/* More data or gap records of the same call follow this one (on the
	 * same thread, in order): userspace joins them into one payload. */
	SNOOP_F_MORE = 8,
	/* `ack` means nothing: the syscall hook, or a kernel without
	 * unix_sock.inq_len. Userspace orders such records by time. */
	SNOOP_F_ACK_UNKNOWN = 16,
	/* SOCK_INFO only: the socket's state was created just now, so its
	 * send offsets start again at SNOOP_OFFSET_BASE. On the syscall hook
	 * this can follow an eviction of an idle socket's state: userspace
	 * treats offsets that go backwards after it as a restart. */
	SNOOP_F_FRESH = 32,
	/* The socket belongs to another network namespace than the tracer's
	 * (userspace's sock_diag liveness queries cannot see it). */
	SNOOP_F_FOREIGN_NETNS = 64,
	/* sock hook: when this end's state was created, bytes of the peer's
	 * stream were queued on it with no record of the peer's yet (a peer
	 * write whose hook had not run, typically one blocked on a full
	 * socket). Its acks then refer to that write: userspace waits for the
	 * peer's first record even for acks below the base. */
	SNOOP_F_PEER_PENDING = 128,
	/* `cgroup_id` is the writer's cgroup in the cgroup v1 hierarchy
	 * userspace chose (`cgroup_v1_subsys`), because the task sits in the
	 * root of the default (v2) hierarchy: ids of different hierarchies
	 * are different id spaces. */
	SNOOP_F_CGROUP_V1 = 256,
};

/* Why a SNOOP_GAP record has no bytes. */
enum snoop_gap_reason {
	/* Sent through io_uring (inline or by an io-wq worker): the buffer's
	 * address is in the submission queue, not in the registers. */
	SNOOP_GAP_IO_URING = 1,
	/* splice(2) or sendfile(2): the bytes come from a pipe or a file,
	 * there is no user buffer to read. */
	SNOOP_GAP_SPLICE = 2,
	/* A sendmmsg(2) message whose iovecs could not be matched to the
	 * bytes the kernel reports for it. */
	SNOOP_GAP_SENDMMSG = 3,
	/* A system call the tracer does not know how to read, or the fd in
	 * the registers is not the socket that sent (e.g. a kernel-internal
	 * send on behalf of the task). */
	SNOOP_GAP_UNKNOWN_CALLER = 4,
	/* bpf_probe_read_user failed (the page was not resident, or the
	 * iovecs describe fewer bytes than were sent). */
	SNOOP_GAP_FAULT = 5,
	/* The ring buffer had no room for the data record. */
	SNOOP_GAP_RING_FULL = 6,
	/* The call was longer than SNOOP_MAX_RECORDS copy steps. */
	SNOOP_GAP_TOO_LONG = 7,
};

/* Counters in the `stats` per-CPU array. */
enum snoop_stat {
	/* Records that did not fit in the ring buffer. */
	SNOOP_STAT_LOST_RECORDS = 0,
	/* Payload bytes in those records (when not even their gap record
	 * fitted) and bytes past SNOOP_MAX_RECORDS. */
	SNOOP_STAT_LOST_BYTES = 1,
	/* Payload bytes bpf_probe_read_user could not read. */
	SNOOP_STAT_FAULT_BYTES = 2,
	/* Info/close records lost (their data is resent or implied). */
	SNOOP_STAT_LOST_META = 3,
	/* Bytes reported in gap records (all reasons). */
	SNOOP_STAT_GAP_BYTES = 4,
	SNOOP_STAT_MAX = 5,
};

/* The header of every ringbuf record; `len` payload bytes follow it. 112
 * bytes (a multiple of 8), so the payload is 8-byte aligned (the path
 * filter compares it a word at a time). Offsets in the comments below. */
struct snoop_event {
	/* 0: CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns): on the syscall
	 * hook, when the write call began (records without a known `ack` are
	 * reordered by it); on the sock hook, when the send completed. */
	__u64 ts_ns;
	/* 8: inode of the writing socket (what `ss -x` shows). */
	__u64 sock_ino;
	/* 16: inode of its peer socket, 0 if unknown. */
	__u64 peer_ino;
	/* 24: offset of the first payload byte in this socket's send stream:
	 * SNOOP_OFFSET_BASE for the first byte the tracer saw on the syscall
	 * hook; on the sock hook the first send of a connection's second end
	 * can start below it (see adopt in sock_hook.bpf.h). */
	__u64 offset;
	/* 32: data and gap: how far this socket had read its peer's send stream
	 * when it sent, in the peer's offset space (so a reply can be placed
	 * right after the request bytes it answered). Meaningless when
	 * SNOOP_F_ACK_UNKNOWN is set. */
	__u64 ack;
	/* 40: thread group id (process id) and thread id of the writer. */
	__u32 pid;
	__u32 tid;
	/* 48: process id of the peer at connect time (SO_PEERCRED), 0 if
	 * unknown. */
	__u32 peer_pid;
	/* 52: payload bytes that follow this header. */
	__u32 len;
	/* 56: SNOOP_GAP: bytes missing at `offset`. */
	__u32 gap_len;
	/* 60: enum snoop_kind */
	__u16 kind;
	/* 62: enum snoop_flags */
	__u16 flags;
	/* 64: SNOOP_GAP: enum snoop_gap_reason. */
	__u16 reason;
	/* 66: zero, so that the names start at an even offset. */
	__u16 _pad0;
	/* 68: the writer's process name: its thread group leader's comm, what
	 * /proc/PID/comm says and ps shows. NUL-terminated, zero-padded. */
	char comm[SNOOP_COMM_LEN];
	/* 84: the writing thread's own name (bpf_get_current_comm): the same
	 * as `comm` unless the thread was renamed (PR_SET_NAME,
	 * pthread_setname_np: grpcio's `event_engine`, a JVM's workers). */
	char thread_comm[SNOOP_COMM_LEN];
	/* 100: zero, so that cgroup_id is 8-byte aligned. */
	__u32 _pad1;
	/* 104: the writer's cgroup: the kernfs id of its default (v2)
	 * hierarchy cgroup (bpf_get_current_cgroup_id), or with
	 * SNOOP_F_CGROUP_V1 of its cgroup in a v1 hierarchy. A SNOOP_CGROUP
	 * record gave its path before. 0 when not read (HPACK records). */
	__u64 cgroup_id;
};
_Static_assert(sizeof(struct snoop_event) == 112, "snoop_event: keep the layout above");

/* The payload of a SNOOP_CGROUP record: the path of the header's cgroup,
 * as the kernel names its directories (kernfs), leaf first and without
 * the root: depth 0 is the root cgroup itself. */
struct snoop_cgroup {
	/* Components in `names`. */
	__u32 depth;
	/* 1 when the cgroup is deeper than SNOOP_CGROUP_DEPTH: the path's
	 * top is missing. */
	__u32 truncated;
	/* Component i at i * SNOOP_CGROUP_NAME, NUL-terminated, at most
	 * SNOOP_CGROUP_NAME - 1 bytes (one flat array: the skeleton's Rust
	 * type cannot derive Default for nested ones). */
	char names[SNOOP_CGROUP_DEPTH * SNOOP_CGROUP_NAME];
};

/* Bounds of a SNOOP_HPACK record. A table of the default 4096 bytes holds
 * at most 4096 / 32 = 128 entries and fewer than 4096 bytes of strings. */
enum snoop_hpack_abi {
	SNOOP_HPACK_MAX_ENTRIES = 128,
	SNOOP_HPACK_STRINGS = 4096,
	SNOOP_HPACK_PREFIX = 32,
	/* Layouts userspace can describe (the uprobe's attach cookie). */
	SNOOP_HPACK_LAYOUTS = 4,
};

/* Which table a SNOOP_HPACK record holds. */
enum snoop_hpack_side {
	/* The server's decoder: what its clients inserted (client to server). */
	SNOOP_HPACK_DECODER = 1,
	/* The server's encoder: what it inserted (server to client). */
	SNOOP_HPACK_ENCODER = 2,
	/* Not a table: the method of a stream the server writes a message
	 * on, for streams opened before the capture (one entry, its value). */
	SNOOP_HPACK_STREAM = 4,
};

/* The value of `hpack_done` (server socket inode -> what is known):
 * SNOOP_HPACK_DECODER and SNOOP_HPACK_ENCODER bits for tables known,
 * SNOOP_HPACK_STREAM when no stream can predate the capture, and above
 * bit 32 the first stream id the capture saw a request for (streams below
 * it are named by SNOOP_HPACK_STREAM records; 0: not known yet). */

/* Whether the table could be copied. */
enum snoop_hpack_status {
	SNOOP_HPACK_OK = 0,
	/* More entries or string bytes than the record holds. */
	SNOOP_HPACK_TOO_BIG = 1,
	/* Process memory could not be read. */
	SNOOP_HPACK_FAULT = 2,
};

/*
 * The payload of a SNOOP_HPACK record: the table a header block is about to
 * be decoded (or encoded) against, entries oldest first (HPACK index 62 is
 * the last one), their strings back to back in `strings`.
 */
struct snoop_hpack {
	/* The stream the header block belongs to. */
	__u32 stream_id;
	/* The table's size and limit as the Go code keeps them (RFC 7541
	 * sizes: name + value + 32 per entry). */
	__u32 table_size;
	__u32 max_size;
	/* Entries in the table, and how many were copied. */
	__u32 total_entries;
	__u16 n_entries;
	/* enum snoop_hpack_side */
	__u8 side;
	/* enum snoop_hpack_status */
	__u8 status;
	/* Encoder: the block ends the stream (trailers). */
	__u8 end_stream;
	/* Decoder: how many of the block's first bytes are in `block`. */
	__u8 block_len;
	__u16 _pad;
	__u8 block[SNOOP_HPACK_PREFIX];
	__u16 name_len[SNOOP_HPACK_MAX_ENTRIES];
	__u16 value_len[SNOOP_HPACK_MAX_ENTRIES];
	/* Twice the bound, so the verifier can see every copy fits. */
	char strings[2 * SNOOP_HPACK_STRINGS];
};

/*
 * Where the fields a uprobe follows sit in one build of a Go server (byte
 * offsets). Userspace fills one slot per supported layout; the uprobe's
 * attach cookie picks the slot.
 */
struct snoop_hpack_layout {
	/* golang.org/x/net/http2.Framer: ReadMetaHeaders (*hpack.Decoder),
	 * and the data word of r (io.Reader, a *bufio.Reader). */
	__u32 framer_decoder;
	__u32 framer_reader;
	/* bufio.Reader: the data word of rd (the connection). */
	__u32 bufio_rd;
	/* grpc's loopyWriter: framer (*framer) and hEnc (*hpack.Encoder). */
	__u32 loopy_framer;
	__u32 loopy_encoder;
	/* grpc's framer: writer (*bufWriter); bufWriter: the data word of conn. */
	__u32 framer_writer;
	__u32 bufwriter_conn;
	/* A *net.UnixConn points at its *netFD (offset conn_fd); netFD.pfd.Sysfd. */
	__u32 conn_fd;
	__u32 netfd_sysfd;
	/* http2.HeadersFrame: the stream id and headerFragBuf ([]byte). */
	__u32 headers_stream;
	__u32 headers_frag;
	/* grpc's http2Server: the data word of conn; grpc's Stream: id and
	 * method (string). */
	__u32 server_conn;
	__u32 stream_id;
	__u32 stream_method;
	/* hpack.Decoder and hpack.Encoder: dynTab.table.ents ([]HeaderField),
	 * dynTab.size and dynTab.maxSize; and the size of a HeaderField
	 * (Name string, Value string, Sensitive bool). */
	__u32 table_ents;
	__u32 table_size;
	__u32 table_max_size;
	__u32 field_size;
	/* Non-zero once the slot is filled. */
	__u32 valid;
};

#endif
