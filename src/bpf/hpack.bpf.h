/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HPACK table recovery: uprobes on a Go HTTP/2 server (grpc-go over
 * golang.org/x/net/http2) that copy, for a connection the capture keeps,
 * the dynamic table a header block is about to be decoded or encoded
 * against. A client that connected before the capture refers to entries it
 * inserted long ago; the server's decoder still holds them.
 *
 * Two probes, both at function entry (Go moves stacks, so no return
 * probes), reading Go's register ABI:
 *  - hpack_decoder on (*http2.Framer).readMetaFrame(hf): the framer's
 *    ReadMetaHeaders decoder, before the block of hf is decoded;
 *  - hpack_encoder on grpc's (*loopyWriter).writeHeader(streamID,
 *    endStream, ...): its hEnc encoder, before the block is encoded;
 *  - hpack_stream on grpc's (*http2Server).Write(s, ...): the method of a
 *    stream whose request came before the capture (a long-lived stream
 *    such as events' Subscribe), when the server sends on it.
 * The socket is found through the connection the framer reads from (or
 * the loopy writer writes to): its file descriptor, then the task's file
 * table, as the syscall hook does. Userspace marks connections whose
 * tables it knows in `hpack_done`; records stop for them.
 *
 * Included by snoop.bpf.c (one skeleton, one ring buffer).
 */

#if defined(__TARGET_ARCH_x86)
#define GO_ARG1(ctx) ((ctx)->ax)
#define GO_ARG2(ctx) ((ctx)->bx)
#define GO_ARG3(ctx) ((ctx)->cx)
#elif defined(__TARGET_ARCH_arm64)
#define GO_ARG1(ctx) ((ctx)->regs[0])
#define GO_ARG2(ctx) ((ctx)->regs[1])
#define GO_ARG3(ctx) ((ctx)->regs[2])
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SNOOP_HPACK_LAYOUTS);
	__type(key, __u32);
	__type(value, struct snoop_hpack_layout);
} hpack_layouts SEC(".maps");

/* Server socket inode -> what userspace knows already (see snoop.h). An
 * evicted entry only costs a few redundant records. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} hpack_done SEC(".maps");

struct hpack_record {
	struct snoop_event hdr;
	struct snoop_hpack t;
};

/* A record being filled, and the copy loop's state. Built in this per-CPU
 * value rather than in the ring: bpf_loop's callback finds it by lookup,
 * and the verifier sees one small loop body instead of 128 unrolled ones. */
struct hpack_scratch {
	struct hpack_record r;
	/* The table's entries ([]HeaderField data pointer), their size. */
	__u64 ents;
	__u32 field_size;
	/* Bytes of strings copied so far. */
	__u32 off;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hpack_scratch);
} hpack_scratch SEC(".maps");

struct snoop_hpack _snoop_hpack_abi = {};
struct snoop_hpack_layout _snoop_hpack_layout_abi = {};
enum snoop_hpack_abi _snoop_hpack_abi_enum = 0;
enum snoop_hpack_side _snoop_hpack_side_abi = 0;
enum snoop_hpack_status _snoop_hpack_status_abi = 0;

/* A Go string or slice header's first two words. */
struct go_str {
	__u64 ptr;
	__u64 len;
};

static __always_inline __u64 go_word(__u64 addr)
{
	__u64 v = 0;

	if (!addr || bpf_probe_read_user(&v, sizeof(v), (void *)addr))
		return 0;
	return v;
}

#ifdef GO_ARG1

static __always_inline const struct snoop_hpack_layout *hpack_layout(struct pt_regs *ctx)
{
	__u32 slot = (__u32)bpf_get_attach_cookie(ctx);
	const struct snoop_hpack_layout *l = bpf_map_lookup_elem(&hpack_layouts, &slot);

	return l && l->valid ? l : NULL;
}

/* The kept server socket behind a *net.UnixConn, if the connection is one
 * the filters keep and its `side` table is not known yet. Fills the
 * record's header. */
static __always_inline bool hpack_socket(struct hpack_record *r, const struct snoop_hpack_layout *l,
					 __u64 unix_conn, __u8 side, __u32 stream)
{
	__u64 netfd = go_word(unix_conn + l->conn_fd);
	__s64 fd = (__s64)go_word(netfd + l->netfd_sysfd);
	struct sock *sk = NULL;
	__u64 ino = 0;
	__u16 flags = 0;
	__u64 *done;
	__u32 n;

	if (!netfd || fd < 0 || fd > 0x7fffffff)
		return false;
	if (!unix_stream_file((int)fd, &sk, &ino) || !sk)
		return false;
	done = bpf_map_lookup_elem(&hpack_done, &ino);
	if (done && (*done & side))
		return false;
	/* A stream the capture saw the request of is named already. */
	if (done && side == SNOOP_HPACK_STREAM && (*done >> 32) && stream >= (*done >> 32))
		return false;
	/* The path goes through the strings area, which is filled later. */
	n = conn_path(sk, r->t.strings, &flags);
	if (!(flags & SNOOP_F_SERVER) || !path_matches(r->t.strings, n))
		return false;
	__builtin_memset(&r->hdr, 0, sizeof(r->hdr));
	r->hdr.ts_ns = bpf_ktime_get_ns();
	r->hdr.sock_ino = ino;
	r->hdr.pid = bpf_get_current_pid_tgid() >> 32;
	r->hdr.tid = (__u32)bpf_get_current_pid_tgid();
	r->hdr.kind = SNOOP_HPACK;
	r->hdr.flags = flags | SNOOP_F_ACK_UNKNOWN;
	current_process_comm(&r->hdr.comm);
	bpf_get_current_comm(r->hdr.thread_comm, sizeof(r->hdr.thread_comm));
	{
		struct sock *peer = BPF_CORE_READ((struct unix_sock *)sk, peer);

		if (peer)
			r->hdr.peer_ino = sock_ino(peer);
	}
	return true;
}

static __always_inline struct hpack_scratch *hpack_scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&hpack_scratch, &zero);
}

/* bpf_loop callback: copy entry i (ents[0] is the oldest). */
static long hpack_copy_entry(__u32 i, void *unused)
{
	struct hpack_scratch *s = hpack_scratch_get();
	struct go_str f[2];
	__u32 off, nl, vl;

	if (!s || i >= SNOOP_HPACK_MAX_ENTRIES)
		return 1;
	if (bpf_probe_read_user(f, sizeof(f), (void *)(s->ents + (__u64)i * s->field_size))) {
		s->r.t.status = SNOOP_HPACK_FAULT;
		return 1;
	}
	off = s->off;
	if (f[0].len > SNOOP_HPACK_STRINGS || f[1].len > SNOOP_HPACK_STRINGS ||
	    off + f[0].len + f[1].len > SNOOP_HPACK_STRINGS) {
		s->r.t.status = SNOOP_HPACK_TOO_BIG;
		return 1;
	}
	nl = f[0].len & (SNOOP_HPACK_STRINGS - 1);
	vl = f[1].len & (SNOOP_HPACK_STRINGS - 1);
	/* i < SNOOP_HPACK_MAX_ENTRIES (a power of two): the mask is for the
	 * verifier, which does not relate the check above to this use. */
	barrier_var(i);
	i &= SNOOP_HPACK_MAX_ENTRIES - 1;
	s->r.t.name_len[i] = nl;
	s->r.t.value_len[i] = vl;
	if (nl && bpf_probe_read_user(&s->r.t.strings[off & (SNOOP_HPACK_STRINGS - 1)], nl,
				      (void *)f[0].ptr)) {
		s->r.t.status = SNOOP_HPACK_FAULT;
		return 1;
	}
	off += nl;
	if (vl && bpf_probe_read_user(&s->r.t.strings[off & (SNOOP_HPACK_STRINGS - 1)], vl,
				      (void *)f[1].ptr)) {
		s->r.t.status = SNOOP_HPACK_FAULT;
		return 1;
	}
	s->off = off + vl;
	s->r.t.n_entries = i + 1;
	return 0;
}

/* Copy the dynamic table at `tab` (a *hpack.Decoder or *hpack.Encoder)
 * into the scratch record and send it. */
static __always_inline void hpack_send_table(struct hpack_scratch *s,
					     const struct snoop_hpack_layout *l, __u64 tab)
{
	__u64 n = go_word(tab + l->table_ents + 8);
	__u32 sizes[2] = {};
	__u32 len;

	s->ents = go_word(tab + l->table_ents);
	s->field_size = l->field_size;
	s->off = 0;
	s->r.t.n_entries = 0;
	s->r.t.status = SNOOP_HPACK_OK;
	s->r.t.total_entries = n > 0xffffffff ? 0xffffffff : (__u32)n;
	if ((!s->ents && n) ||
	    bpf_probe_read_user(sizes, sizeof(sizes), (void *)(tab + l->table_size)))
		s->r.t.status = SNOOP_HPACK_FAULT;
	else if (n > SNOOP_HPACK_MAX_ENTRIES)
		s->r.t.status = SNOOP_HPACK_TOO_BIG;
	s->r.t.table_size = sizes[0];
	s->r.t.max_size = sizes[1];
	if (s->r.t.status == SNOOP_HPACK_OK && n)
		bpf_loop((__u32)n, hpack_copy_entry, NULL, 0);
	if (s->r.t.status != SNOOP_HPACK_OK)
		s->off = 0;
	len = offsetof(struct snoop_hpack, strings) + (s->off & (2 * SNOOP_HPACK_STRINGS - 1));
	s->r.hdr.len = len;
	if (bpf_ringbuf_output(&events, &s->r, sizeof(s->r.hdr) + len, BPF_RB_FORCE_WAKEUP))
		stat_add(SNOOP_STAT_LOST_META, 1);
}

SEC("uprobe")
int hpack_decoder(struct pt_regs *ctx)
{
	const struct snoop_hpack_layout *l = hpack_layout(ctx);
	__u64 framer = GO_ARG1(ctx), hf = GO_ARG2(ctx);
	struct go_str frag = {};
	struct hpack_scratch *s;
	__u64 dec, reader, conn;

	if (!l)
		return 0;
	dec = go_word(framer + l->framer_decoder);
	reader = go_word(framer + l->framer_reader);
	conn = go_word(reader + l->bufio_rd);
	s = hpack_scratch_get();
	if (!dec || !conn || !s || !hpack_socket(&s->r, l, conn, SNOOP_HPACK_DECODER, 0))
		return 0;
	s->r.t.side = SNOOP_HPACK_DECODER;
	s->r.t.stream_id = (__u32)go_word(hf + l->headers_stream);
	s->r.t.end_stream = 0;
	s->r.t.block_len = 0;
	if (!bpf_probe_read_user(&frag, sizeof(frag), (void *)(hf + l->headers_frag)) && frag.ptr) {
		__u32 n = frag.len < SNOOP_HPACK_PREFIX ? frag.len : SNOOP_HPACK_PREFIX;

		if (n && !bpf_probe_read_user(s->r.t.block, n & (2 * SNOOP_HPACK_PREFIX - 1),
					      (void *)frag.ptr))
			s->r.t.block_len = n;
	}
	hpack_send_table(s, l, dec);
	return 0;
}

SEC("uprobe")
int hpack_encoder(struct pt_regs *ctx)
{
	const struct snoop_hpack_layout *l = hpack_layout(ctx);
	__u64 loopy = GO_ARG1(ctx);
	struct hpack_scratch *s;
	__u64 enc, framer, writer, conn;

	if (!l)
		return 0;
	enc = go_word(loopy + l->loopy_encoder);
	framer = go_word(loopy + l->loopy_framer);
	writer = go_word(framer + l->framer_writer);
	conn = go_word(writer + l->bufwriter_conn);
	s = hpack_scratch_get();
	if (!enc || !conn || !s || !hpack_socket(&s->r, l, conn, SNOOP_HPACK_ENCODER, 0))
		return 0;
	s->r.t.side = SNOOP_HPACK_ENCODER;
	s->r.t.stream_id = (__u32)GO_ARG2(ctx);
	s->r.t.end_stream = (__u8)GO_ARG3(ctx);
	s->r.t.block_len = 0;
	hpack_send_table(s, l, enc);
	return 0;
}

SEC("uprobe")
int hpack_stream(struct pt_regs *ctx)
{
	const struct snoop_hpack_layout *l = hpack_layout(ctx);
	__u64 t = GO_ARG1(ctx), st = GO_ARG2(ctx);
	struct hpack_scratch *s;
	struct go_str method = {};
	__u32 id, n, len;
	__u64 conn;

	if (!l)
		return 0;
	conn = go_word(t + l->server_conn);
	s = hpack_scratch_get();
	if (!conn || !st || !s)
		return 0;
	if (bpf_probe_read_user(&id, sizeof(id), (void *)(st + l->stream_id)) ||
	    !hpack_socket(&s->r, l, conn, SNOOP_HPACK_STREAM, id))
		return 0;
	if (bpf_probe_read_user(&method, sizeof(method), (void *)(st + l->stream_method)) ||
	    !method.ptr || !method.len || method.len > SNOOP_HPACK_STRINGS)
		return 0;
	n = method.len & (SNOOP_HPACK_STRINGS - 1);
	if (!n || bpf_probe_read_user(s->r.t.strings, n, (void *)method.ptr))
		return 0;
	s->r.t.side = SNOOP_HPACK_STREAM;
	s->r.t.stream_id = id;
	s->r.t.end_stream = 0;
	s->r.t.block_len = 0;
	s->r.t.status = SNOOP_HPACK_OK;
	s->r.t.n_entries = 1;
	s->r.t.total_entries = 1;
	s->r.t.name_len[0] = 0;
	s->r.t.value_len[0] = n;
	s->r.t.table_size = 0;
	s->r.t.max_size = 0;
	len = offsetof(struct snoop_hpack, strings) + n;
	s->r.hdr.len = len;
	if (bpf_ringbuf_output(&events, &s->r, sizeof(s->r.hdr) + len, BPF_RB_FORCE_WAKEUP))
		stat_add(SNOOP_STAT_LOST_META, 1);
	return 0;
}

#endif /* GO_ARG1 */
