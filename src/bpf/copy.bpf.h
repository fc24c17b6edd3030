/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The records and the copy engine, shared by both hooks: the header every
 * record of a call shares, the SOCK_INFO record, and the bpf_loop state
 * machine that turns a send's user buffers into SNOOP_DATA records and
 * reports whatever it could not copy as one SNOOP_GAP of exactly the
 * missing size. A hook takes the context from copy_begin(), fills it
 * (header, offset, length, source buffers) and calls copy_call(), or
 * emit_gap() when the buffers cannot be read at all.
 *
 * Included by snoop.bpf.c after filter.bpf.h (conn_path, for SOCK_INFO).
 */
#ifndef __SNOOP_COPY_BPF_H
#define __SNOOP_COPY_BPF_H

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
	current_process_comm(&h->comm);
	bpf_get_current_comm(h->thread_comm, sizeof(h->thread_comm));
	note_cgroup(h, st);
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

/* A full chunk reserved directly in the ring (no scratch copy). */
struct chunk_record {
	struct snoop_event hdr;
	__u8 data[SNOOP_CHUNK];
};

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

#endif /* __SNOOP_COPY_BPF_H */
