/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The writer's cgroup, for kept sockets' records only: every record header
 * carries an 8-byte key (`cgroup_id`, SNOOP_F_CGROUP_V1), and the first
 * time a key is seen a SNOOP_CGROUP record gives its path, read from the
 * task's css_set (ptcpdump reads the leaf's name the same way). Userspace
 * turns the path into a container id at once, so a short-lived client
 * (`ctr run --rm`) is attributed even after its cgroup is gone. A path per
 * cgroup rather than a name per record keeps the header at 8 more bytes
 * and gives the whole path, which the layouts need (`/k8s.io/<id>` and
 * `/default/<id>` differ only above the leaf).
 *
 * Which cgroup: the default (v2) hierarchy's, unless the task sits in its
 * root and userspace named a v1 controller (`cgroup_v1_subsys`): on a
 * cgroup v1 host whose runtime does not populate the v2 hierarchy, that
 * is where the container's path is.
 *
 * Included by snoop.bpf.c after state.bpf.h, before copy.bpf.h.
 */
#ifndef __SNOOP_CGROUP_BPF_H
#define __SNOOP_CGROUP_BPF_H

/* Keys whose SNOOP_CGROUP record was sent (value unused). Forgetting one
 * only sends its path again; userspace also deletes the keys it evicted
 * from its own cache so that their paths come again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} cgroups_seen SEC(".maps");

/* kernfs_node.parent was renamed __parent in Linux 6.15 (commit 633488947ef6
 * "kernfs: Use RCU to access kernfs_node::parent"). */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

/* The current task's cgroup node; sets SNOOP_F_CGROUP_V1 in `flags` when
 * it is a v1 hierarchy's. */
static __always_inline struct kernfs_node *current_cgroup_kn(__u16 *flags)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct css_set *cset = BPF_CORE_READ(task, cgroups);
	struct cgroup *dfl = BPF_CORE_READ(cset, dfl_cgrp);
	struct cgroup_subsys_state *css;
	int idx = cgroup_v1_subsys;

	if (idx < 0 || idx >= 12 || BPF_CORE_READ(dfl, level) > 0)
		return BPF_CORE_READ(dfl, kn);
	/* Bounded for the verifier; the kernel's array has
	 * CGROUP_SUBSYS_COUNT entries, userspace checked the index. */
	idx &= 15;
	if (bpf_probe_read_kernel(&css, sizeof(css), &cset->subsys[idx]) || !css)
		return BPF_CORE_READ(dfl, kn);
	*flags |= SNOOP_F_CGROUP_V1;
	return BPF_CORE_READ(css, cgroup, kn);
}

/* The key userspace and `cgroups_seen` know a cgroup by. */
static __always_inline __u64 cgroup_key(__u64 id, __u16 flags)
{
	return id ^ ((__u64)!!(flags & SNOOP_F_CGROUP_V1) << 63);
}

/* Send the path of `kn` as a SNOOP_CGROUP record; 0 when it was sent. */
static __noinline int send_cgroup(struct kernfs_node *kn, __u64 id, __u16 flags)
{
	struct {
		struct snoop_event hdr;
		struct snoop_cgroup cg;
	} *r;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct kernfs_node *parent;
	__u32 i;

	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		stat_add(SNOOP_STAT_LOST_META, 1);
		return -1;
	}
	__builtin_memset(&r->hdr, 0, sizeof(r->hdr));
	r->hdr.ts_ns = bpf_ktime_get_ns();
	r->hdr.pid = pid_tgid >> 32;
	r->hdr.tid = (__u32)pid_tgid;
	r->hdr.kind = SNOOP_CGROUP;
	r->hdr.flags = flags & SNOOP_F_CGROUP_V1;
	r->hdr.len = sizeof(r->cg);
	r->hdr.cgroup_id = id;
	r->cg.depth = 0;
	r->cg.truncated = 0;
	for (i = 0; i < SNOOP_CGROUP_DEPTH; i++) {
		parent = kn ? kn_parent(kn) : NULL;
		/* The root's own name is not part of the path. */
		if (!parent)
			break;
		if (bpf_probe_read_kernel_str(&r->cg.names[i * SNOOP_CGROUP_NAME], SNOOP_CGROUP_NAME,
					      BPF_CORE_READ(kn, name)) < 0)
			r->cg.names[i * SNOOP_CGROUP_NAME] = 0;
		r->cg.depth = i + 1;
		kn = parent;
	}
	if (kn && kn_parent(kn))
		r->cg.truncated = 1;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

/* Set the header's cgroup, sending its path first when it is new. */
static __always_inline void note_cgroup(struct snoop_event *h, struct sock_state *st)
{
	__u16 flags = 0;
	struct kernfs_node *kn = current_cgroup_kn(&flags);
	__u64 id = BPF_CORE_READ(kn, id);
	__u64 key = cgroup_key(id, flags);
	__u8 one = 1;

	h->cgroup_id = id;
	h->flags |= flags;
	if (!id || st->cgroup_seen == key)
		return;
	/* Marked seen only once the record is in the ring: a record of this
	 * cgroup made after the mark comes after the path. */
	if (!bpf_map_lookup_elem(&cgroups_seen, &key)) {
		if (send_cgroup(kn, id, flags))
			return;
		bpf_map_update_elem(&cgroups_seen, &key, &one, BPF_ANY);
	}
	st->cgroup_seen = key;
}

#endif /* __SNOOP_CGROUP_BPF_H */
