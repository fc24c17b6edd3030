/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The syscall hook (fallback, Linux 5.17+): sys_enter/sys_exit of write,
 * writev, sendto and sendmsg, and sys_enter_close. The enter programs note
 * the call's buffers when its fd is a kept AF_UNIX stream socket; the exit
 * programs hand the bytes actually sent to the copy engine. Per-socket
 * state lives in kept_socks, keyed by inode, until the last close. Reads
 * are not seen here: records carry no ack.
 *
 * Included by snoop.bpf.c after copy.bpf.h. The HPACK probes
 * (hpack.bpf.h) find their socket with unix_stream_file too.
 */
#ifndef __SNOOP_SYSCALL_HOOK_BPF_H
#define __SNOOP_SYSCALL_HOOK_BPF_H

#define S_IFMT 00170000
#define S_IFSOCK 0140000

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

/* Kernels before 6.13 ("fs: add file_ref") count file references in f_count. */
struct file___pre_file_ref {
	atomic_long_t f_count;
} __attribute__((preserve_access_index));

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

#endif /* __SNOOP_SYSCALL_HOOK_BPF_H */
