/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The sock hook (Linux 6.3+): tp_btf/sock_send_length copies each
 * completed send of a kept socket from the user buffers that the system
 * call's registers still describe; tp_btf/sock_recv_length counts what
 * each end read (the acks) and reports end of file. State lives in socket
 * local storage (sk_states), made for both ends of a connection at once:
 * the end seen first leaves its peer's in `handoff` for the peer to adopt.
 *
 * Included by snoop.bpf.c after syscall_hook.bpf.h.
 */
#ifndef __SNOOP_SOCK_HOOK_BPF_H
#define __SNOOP_SOCK_HOOK_BPF_H

#define MSG_PEEK 2
/* include/net/sock.h: the peer shut down its sending side or closed. */
#define RCV_SHUTDOWN 1
/* include/linux/sched.h: an io_uring io-wq worker thread. */
#define PF_IO_WORKER 0x00000010
#define UIO_MAXIOV 1024

/* unix_sock.inq_len: bytes in the receive queue, added in Linux 6.17 for
 * SO_INQ on stream sockets. Read through this flavour so that the program
 * still loads (with acks marked unknown) where it is missing. */
struct unix_sock___inq {
	int inq_len;
} __attribute__((preserve_access_index));

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

/*
 * The state of `sk`, made from `init` unless it exists already. Two
 * threads of one socket can each be the first its hooks see, on two CPUs
 * at once (a send and a read, or two sends): the kernel makes one state
 * and fails the other call (EEXIST, or EAGAIN while the socket's storage
 * itself was being made). The loser asks again and gets the state that
 * won, so that its send is recorded there: failing instead, it left that
 * send unrecorded and the offsets unmoved, a loss nothing reported.
 * `*raced` is set when the state was not made by this call's first try.
 */
static __always_inline struct sock_state *state_of(struct sock *sk, struct sock_state *init,
						   bool *raced)
{
	struct sock_state *st;

	st = bpf_sk_storage_get(&sk_states, sk, init, BPF_SK_STORAGE_GET_F_CREATE);
	*raced = !st;
	if (!st)
		st = bpf_sk_storage_get(&sk_states, sk, init, BPF_SK_STORAGE_GET_F_CREATE);
	return st;
}

/*
 * The state its peer left for `sk` (inode `ino`), made its own; NULL if
 * none. Adopted by this end's first send or read, whichever hooks first.
 *
 * This end's send offsets start where the creator's count of this end's
 * stream started (`peer_base`, the base: what was still queued for the
 * creator when it made the entry starts there). Before this end's state existed
 * only sends whose hook had not run yet can have been made, so its first
 * hooked send, or another thread's still in flight, starts there. Nothing
 * read since is taken into account: a read under way in the creator (its
 * bytes neither in its count nor in its queue) would place this end too
 * low and make the creator's acks wait for bytes that never come. The one
 * case this leaves inexact errs the harmless way: if the creator consumed
 * the first bytes of a send still in flight when it created the entry (a
 * write blocked on a full socket), its acks of this stream are low by
 * them, which only orders less.
 */
static __always_inline struct sock_state *adopt(struct sock *sk, __u64 ino)
{
	struct unix_sock *u = bpf_skc_to_unix_sock(sk);
	struct sock_state *left, init;
	__u64 key = (__u64)sk;
	bool raced;

	left = bpf_map_lookup_elem(&handoff, &key);
	if (!left)
		return NULL;
	init = *left;
	bpf_map_delete_elem(&handoff, &key);
	/* Left by our peer, not by an earlier sock at this address? */
	if (!u || !ino || sock_ino(u->peer) != init.peer_ino)
		return NULL;
	init.ino = ino;
	if (!(init.flags & SNOOP_F_ACK_UNKNOWN))
		init.next_off = init.peer_base;
	/* The verdict is the connection's (the creator's); the address
	 * flags and SO_PEERCRED pid are this end's own. */
	verdict(sk, &init);
	return state_of(sk, &init, &raced);
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
 * older bytes get offsets below BASE). C's count of S's stream starts at
 * BASE, the bytes still queued on C included (S's send in flight):
 * C.read = BASE;
 * S's own offsets start on that count when S adopts its state (see
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
	bool raced;
	__u64 key;

	init.keep = verdict(sk, &init);
	init.ino = ino;
	init.next_off = SNOOP_OFFSET_BASE;
	if (peer)
		init.peer_ino = sock_ino(peer);
	if (peer)
		init.handoff_key = (__u64)peer;
	unread = unread_bytes(sk);
	peer_unread = peer ? unread_bytes(peer) : -1;
	if (unread < 0 || peer_unread < 0 || !peer) {
		init.flags |= SNOOP_F_ACK_UNKNOWN;
		peer_init.flags |= SNOOP_F_ACK_UNKNOWN;
	} else {
		/* The peer's stream starts at the base for us both, what is
		 * queued here included: it is the peer's send in flight (its
		 * hook still to run), or from before the capture. Offsets below
		 * the base would let a later record of the peer be placed first
		 * and the first one, arriving after, be taken as stale. */
		init.read = SNOOP_OFFSET_BASE;
		if (unread > 0)
			init.flags |= SNOOP_F_PEER_PENDING;
		peer_init.read = SNOOP_OFFSET_BASE + ret - peer_unread;
		/* The adopter's offsets start where our count of them does (see adopt). */
		peer_init.peer_base = init.read;
	}
	st = state_of(sk, &init, &raced);
	if (!st) {
		/* No state (no memory): this send goes unrecorded and the
		 * offsets cannot show it, so it is counted as dropped. */
		if (init.keep) {
			stat_add(SNOOP_STAT_LOST_RECORDS, 1);
			stat_add(SNOOP_STAT_LOST_BYTES, ret);
		}
		return NULL;
	}
	/* After a race the state is most likely another thread's, which
	 * left the peer's handoff itself (if it was the creator): this
	 * one's counts are not the state's, so they are not left. */
	if (raced || !peer || !ino)
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
		st = adopt(sk, ino);
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

/* End of file: a peer that never sent or read leaves the state this end
 * made for it in `handoff`; the connection is over, so it goes now rather
 * than at eviction, for kept and other connections alike (checked to be
 * ours: the address may already be another sock's). */
static __always_inline void forget_handoff(struct sock_state *st)
{
	struct sock_state *left;
	__u64 key = st->handoff_key;

	if (!key)
		return;
	st->handoff_key = 0;
	left = bpf_map_lookup_elem(&handoff, &key);
	if (left && left->peer_ino == st->ino)
		bpf_map_delete_elem(&handoff, &key);
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
		st = adopt(sk, sk_ino(sk));
	if (!st)
		return 0;
	if (ret == 0 && (sk->sk_shutdown & RCV_SHUTDOWN))
		forget_handoff(st);
	if (!st->keep)
		return 0;
	if (ret > 0) {
		__sync_fetch_and_add(&st->read, ret);
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

#endif /* __SNOOP_SOCK_HOOK_BPF_H */
