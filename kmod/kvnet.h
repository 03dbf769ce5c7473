/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvnet private interfaces: the worker, the memory table, the virtqueue
 * engine and the device core. net.c builds the virtio-net device on top.
 */
#ifndef KVNET_H
#define KVNET_H

#include <linux/atomic.h>
#include <linux/hrtimer.h>
#include <linux/kvnet.h>
#include <linux/llist.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/skbuff.h>
#include <linux/types.h>
#include <linux/uio.h>
#include <linux/vhost_types.h>
#include <linux/virtio_byteorder.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/wait.h>

struct kvnet_dev;
struct kvnet_work;

typedef void (*kvnet_work_fn_t)(struct kvnet_work *work);

/* A unit of work for the device's worker thread; queued at most once. */
struct kvnet_work {
	struct llist_node node;
	kvnet_work_fn_t fn;
	unsigned long flags;
#define KVNET_WORK_QUEUED 0
};

/*
 * A wait-queue entry on a file (the kick eventfd, later the backend
 * socket) that queues @work whenever the file signals one of @mask.
 */
struct kvnet_poll {
	poll_table table;
	wait_queue_head_t *wqh;
	wait_queue_entry_t wait;
	struct kvnet_work work;
	__poll_t mask;
	struct kvnet_dev *dev;
	atomic64_t wakeups;
};

void kvnet_work_init(struct kvnet_work *work, kvnet_work_fn_t fn);
void kvnet_work_queue(struct kvnet_dev *dev, struct kvnet_work *work);
void kvnet_poll_init(struct kvnet_poll *poll, kvnet_work_fn_t fn,
		     __poll_t mask, struct kvnet_dev *dev);
int kvnet_poll_start(struct kvnet_poll *poll, struct file *file);
void kvnet_poll_stop(struct kvnet_poll *poll);
int kvnet_worker_start(struct kvnet_dev *dev);
void kvnet_worker_stop(struct kvnet_dev *dev);
void kvnet_dev_flush(struct kvnet_dev *dev);

/* Segments of one chain: as many as an skb or a sendmsg can take. */
#define KVNET_IOV_MAX UIO_MAXIOV
/* Guest memory regions one indirect table may span. */
#define KVNET_INDIRECT_SEGS 8

struct kvnet_mem_region {
	u64 gpa;
	u64 size;
	u64 uaddr;
};

/* Guest memory table, sorted by guest address; never changed once built. */
struct kvnet_mem {
	u32 nregions;
	struct kvnet_mem_region regions[];
};

struct kvnet_mem *kvnet_mem_from_user(struct vhost_memory __user *m);
void kvnet_mem_free(struct kvnet_mem *mem);
int kvnet_mem_translate(const struct kvnet_mem *mem, u64 gpa, u32 len,
			struct iovec *iov, unsigned int iov_max);

/**
 * struct kvnet_vq - one virtqueue
 *
 * Everything below @mutex is protected by it; the worker holds it while a
 * handler runs. Ioctls that change the configuration hold the device mutex
 * too, taken first.
 */
struct kvnet_vq {
	struct kvnet_dev *dev;
	unsigned int index;
	kvnet_work_fn_t handle_kick;
	/* Called under the mutex before GET_VRING_BASE stops the queue. */
	void (*quiesce)(struct kvnet_vq *vq);

	struct mutex mutex; /* see above */
	unsigned int num;
	vring_desc_t __user *desc;
	vring_avail_t __user *avail;
	vring_used_t __user *used;
	u16 last_avail_idx;
	u16 avail_idx;
	u16 last_used_idx;
	u16 used_flags;
	/* The used index the guest was last told about, for EVENT_IDX. */
	u16 signalled_used;
	bool signalled_used_valid;
	/* A buffer was taken since the base was last set: format is fixed. */
	bool consumed;
	/* GET_VRING_BASE stopped the queue; a restart clears this. */
	bool stopped;
	/* The guest broke the ring; the VMM must reset the queue. */
	bool broken;
	u32 endian;
	u32 busyloop_timeout;
	u64 features;
	struct kvnet_mem *mem;
	struct file *kick;
	struct eventfd_ctx *call_ctx;
	struct eventfd_ctx *err_ctx;
	struct kvnet_poll poll;
	/* The backend; NULL when detached. */
	void *private;
	struct kvnet_vring_stats stats;
	/* Scratch copy of the indirect table being walked. */
	struct vring_desc indirect[KVNET_IOV_MAX];
};

/**
 * struct kvnet_chain - one descriptor chain taken from the avail ring
 * @head: its head index, for the used ring
 * @out: device-readable entries at the start of @iov
 * @in: device-writable entries after them
 * @out_len: bytes readable
 * @in_len: bytes writable
 * @iov: the caller's array
 * @iov_max: its size
 */
struct kvnet_chain {
	u16 head;
	unsigned int out;
	unsigned int in;
	size_t out_len;
	size_t in_len;
	struct iovec *iov;
	unsigned int iov_max;
};

void kvnet_vq_init(struct kvnet_vq *vq, struct kvnet_dev *dev,
		   unsigned int index, kvnet_work_fn_t handle_kick);
void kvnet_vq_reset(struct kvnet_vq *vq);
void kvnet_vq_put_files(struct kvnet_vq *vq);
bool kvnet_vq_running(const struct kvnet_vq *vq);
bool kvnet_vq_ring_ok(const struct kvnet_vq *vq);
void kvnet_vq_restart(struct kvnet_vq *vq);
void kvnet_vq_signal(struct kvnet_vq *vq);
long kvnet_vq_ioctl(struct kvnet_dev *dev, unsigned int ioctl,
		    void __user *argp);
long kvnet_vq_get_stats(struct kvnet_dev *dev, void __user *argp);
void kvnet_vq_read_stats(struct kvnet_vq *vq, struct kvnet_vring_stats *st);

/* Version 1 rings are little endian; legacy ones in the guest's order. */
static inline bool kvnet_vq_is_le(const struct kvnet_vq *vq)
{
	return (vq->features & BIT_ULL(VIRTIO_F_VERSION_1)) ||
	       virtio_legacy_is_little_endian();
}

static inline bool kvnet_vq_has(const struct kvnet_vq *vq,
				unsigned int feature)
{
	return vq->features & BIT_ULL(feature);
}

void kvnet_vq_fail(struct kvnet_vq *vq, const char *reason);
int kvnet_vq_start_access(struct kvnet_vq *vq);
int kvnet_vq_get_chain(struct kvnet_vq *vq, struct kvnet_chain *c);
void kvnet_vq_unget_chains(struct kvnet_vq *vq, unsigned int n);
void kvnet_vq_used_elem(const struct kvnet_vq *vq, struct vring_used_elem *e,
			u16 head, u32 len);
int kvnet_vq_add_used(struct kvnet_vq *vq, const struct vring_used_elem *elems,
		      unsigned int count);
void kvnet_vq_notify(struct kvnet_vq *vq);
void kvnet_vq_disable_notify(struct kvnet_vq *vq);
bool kvnet_vq_enable_notify(struct kvnet_vq *vq);
bool kvnet_vq_avail_empty(struct kvnet_vq *vq);

/* busy_poll.c */
bool kvnet_busy_poll(struct kvnet_vq *vq, u32 timeout_us);
void kvnet_busy_poll_wait_begin(struct kvnet_dev *dev);
void kvnet_busy_poll_wait_end(struct kvnet_dev *dev);

/**
 * struct kvnet_dev - the device core shared by every kvnet device type
 * @mutex: serialises configuration; taken before any vq mutex
 * @id: a number naming the device in log messages
 * @mm: the owner's address space, pinned from SET_OWNER to reset/close
 * @worker: the kernel thread that runs all work, in @mm
 * @work_list: work queued for @worker
 * @features: acked virtio features
 * @mem: current memory table; each vq holds a copy of the pointer
 * @vqs: the device's virtqueues
 * @nvqs: number of @vqs
 * @owner_tgid: the owner's process in the initial pid namespace, 0 if none
 * @debugfs: the device's debugfs directory
 */
struct kvnet_dev {
	struct mutex mutex; /* see above */
	unsigned int id;
	struct mm_struct *mm;
	struct task_struct *worker;
	struct llist_head work_list;
	u64 features;
	struct kvnet_mem *mem;
	struct kvnet_vq **vqs;
	unsigned int nvqs;
	pid_t owner_tgid;
	struct dentry *debugfs;
	/* Callers about to wait for a queue mutex: busy polls give way. */
	atomic_t busy_poll_waiters;
};

void kvnet_dev_init(struct kvnet_dev *dev, struct kvnet_vq **vqs,
		    unsigned int nvqs);
long kvnet_dev_check_owner(struct kvnet_dev *dev, unsigned int ioctl);
long kvnet_dev_ioctl(struct kvnet_dev *dev, unsigned int ioctl,
		     void __user *argp);
void kvnet_dev_stop_polls(struct kvnet_dev *dev);
void kvnet_dev_cleanup(struct kvnet_dev *dev);
long kvnet_dev_set_features(struct kvnet_dev *dev, u64 features,
			    u64 format_features);

void kvnet_debugfs_init(void);
void kvnet_debugfs_exit(void);
void kvnet_debugfs_add_dev(struct kvnet_dev *dev);
void kvnet_debugfs_add_vq(struct kvnet_dev *dev, struct kvnet_vq *vq,
			  const char *name);
void kvnet_debugfs_remove_dev(struct kvnet_dev *dev);

/**
 * struct kvnet_irq_defer - a TX queue's deferred completion interrupt
 * @vq: the queue
 * @pending: an interrupt waits for @timer; written under the vq mutex
 * @deadline: when the wait must end at the latest
 * @rx_active_until: jiffies until which RX counts as active
 * @timer: ends the wait
 * @work: runs the end of the wait in the worker, which can read the ring
 */
struct kvnet_irq_defer {
	struct kvnet_vq *vq;
	bool pending;
	ktime_t deadline;
	unsigned long rx_active_until;
	struct hrtimer timer;
	struct kvnet_work work;
};

void kvnet_irq_defer_init(struct kvnet_irq_defer *d, struct kvnet_vq *vq);
void kvnet_irq_defer_rx_active(struct kvnet_irq_defer *d);
void kvnet_irq_defer_notify(struct kvnet_irq_defer *d);
void kvnet_irq_defer_flush(struct kvnet_irq_defer *d);
void kvnet_irq_defer_cancel(struct kvnet_irq_defer *d);

/* Packets taken from the backend's ring but not yet received. */
#define KVNET_RX_BATCH 64

/**
 * struct kvnet_rx_batch - packets taken in bulk from a backend's ring
 * @ring: the backend's ptr_ring, or NULL to receive one by one
 * @queue: packets taken, @head the next, @tail one past the last
 * @head: index of the next packet in @queue
 * @tail: end of the packets in @queue
 *
 * Protected by the RX vq mutex.
 */
struct kvnet_rx_batch {
	struct ptr_ring *ring;
	void *queue[KVNET_RX_BATCH];
	unsigned int head;
	unsigned int tail;
};

struct socket;
void kvnet_rx_batch_attach(struct kvnet_rx_batch *b, struct socket *sock);
void kvnet_rx_batch_detach(struct kvnet_rx_batch *b);
int kvnet_rx_batch_peek_len(struct kvnet_rx_batch *b, struct socket *sock);
void *kvnet_rx_batch_take(struct kvnet_rx_batch *b);

/* Packets in flight without copying, per TX queue. */
#define KVNET_ZC_SLOTS 128
/* Zero-copy pauses while more than 1 in this many came back copied... */
#define KVNET_ZC_COPIED_RATIO 64
/* ...and is tried again after this many packets. */
#define KVNET_ZC_WINDOW 4096

struct kvnet_zc;

struct kvnet_zc_slot {
	struct ubuf_info ubuf;
	struct kvnet_zc *zc;
	struct llist_node node;
	u16 head;
	bool success;
	bool released;
};

/**
 * struct kvnet_zc - zero-copy TX state of a queue
 * @vq: the queue
 * @slots: one per packet in flight
 * @free: indexes of free @slots; with @nfree, protected by the vq mutex
 * @nfree: how many
 * @done: slots the host has released, not yet on the used ring
 * @window_packets: large packets seen in the current window
 * @window_sent: of those, sent without copying
 * @window_copied: of those, copied by the host after all
 * @inflight: slots handed to the backend and not yet released
 * @callbacks: a callback ran since kvnet_zc_wait_idle() last waited for
 *	them to finish
 * @idle: woken when @inflight drops to zero
 */
struct kvnet_zc {
	struct kvnet_vq *vq;
	struct kvnet_zc_slot slots[KVNET_ZC_SLOTS];
	u16 free[KVNET_ZC_SLOTS];
	unsigned int nfree;
	struct llist_head done;
	unsigned int window_packets;
	unsigned int window_sent;
	unsigned int window_copied;
	atomic_t inflight;
	bool callbacks;
	wait_queue_head_t idle;
};

void kvnet_zc_init(struct kvnet_zc *zc, struct kvnet_vq *vq);
struct ubuf_info *kvnet_zc_get(struct kvnet_zc *zc, u16 head, size_t len);
bool kvnet_zc_taken(struct kvnet_zc *zc, struct ubuf_info *ubuf, int sent);
unsigned int kvnet_zc_reap(struct kvnet_zc *zc, u16 *heads, unsigned int max);
bool kvnet_zc_full(struct kvnet_zc *zc);
void kvnet_zc_wait_idle(struct kvnet_zc *zc);

#endif /* KVNET_H */
