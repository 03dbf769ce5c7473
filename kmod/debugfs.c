// SPDX-License-Identifier: GPL-2.0
/*
 * Per-device counters in debugfs: /sys/kernel/debug/kvnet/<id>/ holds
 * "owner" (the owning process, 0 before SET_OWNER) and one file per queue.
 * KVNET_GET_VRING_STATS answers the owner only; these let root watch a
 * device that another process, such as QEMU, owns.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "kvnet.h"

static struct dentry *kvnet_debugfs_root;

static int kvnet_debugfs_owner_show(struct seq_file *s, void *unused)
{
	struct kvnet_dev *dev = s->private;

	seq_printf(s, "%d\n", READ_ONCE(dev->owner_tgid));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kvnet_debugfs_owner);

static int kvnet_debugfs_vq_show(struct seq_file *s, void *unused)
{
	struct kvnet_vring_stats st;

	kvnet_vq_read_stats(s->private, &st);
	seq_printf(s, "kicks %llu\n", st.kicks);
	seq_printf(s, "handler_runs %llu\n", st.handler_runs);
	seq_printf(s, "calls %llu\n", st.calls);
	seq_printf(s, "packets %llu\n", st.packets);
	seq_printf(s, "bytes %llu\n", st.bytes);
	seq_printf(s, "zerocopy_packets %llu\n", st.zerocopy_packets);
	seq_printf(s, "errors %llu\n", st.errors);
	seq_printf(s, "requeues %llu\n", st.requeues);
	seq_printf(s, "busy_polls %llu\n", st.busy_polls);
	seq_printf(s, "busy_poll_hits %llu\n", st.busy_poll_hits);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kvnet_debugfs_vq);

void kvnet_debugfs_init(void)
{
	kvnet_debugfs_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
}

void kvnet_debugfs_exit(void)
{
	debugfs_remove(kvnet_debugfs_root);
}

/* The directory of @dev; an error pointer is harmless to the others. */
void kvnet_debugfs_add_dev(struct kvnet_dev *dev)
{
	char name[16];

	snprintf(name, sizeof(name), "%u", dev->id);
	dev->debugfs = debugfs_create_dir(name, kvnet_debugfs_root);
	debugfs_create_file("owner", 0444, dev->debugfs, dev,
			    &kvnet_debugfs_owner_fops);
}

void kvnet_debugfs_add_vq(struct kvnet_dev *dev, struct kvnet_vq *vq,
			  const char *name)
{
	debugfs_create_file(name, 0444, dev->debugfs, vq,
			    &kvnet_debugfs_vq_fops);
}

/* Waits for readers in progress: afterwards @dev may be freed. */
void kvnet_debugfs_remove_dev(struct kvnet_dev *dev)
{
	debugfs_remove(dev->debugfs);
	dev->debugfs = NULL;
}
