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

/*
 * The parts, in dependency order: each uses only what the ones before it
 * define (the skeleton is generated from this one translation unit).
 */
#include "state.bpf.h"		/* config, per-socket state, maps, ABI anchors */
#include "cgroup.bpf.h"		/* the writer's cgroup: key per record, path once */
#include "filter.bpf.h"		/* the verdict: path, pid, comm, is_self */
#include "copy.bpf.h"		/* record headers, SOCK_INFO, the copy engine */
#include "syscall_hook.bpf.h"	/* fallback: sys_enter/exit of the sends, close */
#include "sock_hook.bpf.h"	/* tp_btf sock_send_length / sock_recv_length */

#include "hpack.bpf.h"

char LICENSE[] SEC("license") = "GPL";
