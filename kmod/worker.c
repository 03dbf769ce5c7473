// SPDX-License-Identifier: GPL-2.0
/*
 * The per-device worker: one kernel thread that adopts the owner's address
 * space and cgroups and runs every queue handler, plus the wait-queue hooks
 * that feed it work.
 */
#include <linux/cgroup.h>
#include <linux/completion.h>
#include <linux/kthread.h>
#include <linux/sched/mm.h>

#include "kvnet.h"

void kvnet_work_init(struct kvnet_work *work, kvnet_work_fn_t fn)
{
	clear_bit(KVNET_WORK_QUEUED, &work->flags);
	work->fn = fn;
}

/* Context: any, including a wait-queue wakeup with its lock held. */
void kvnet_work_queue(struct kvnet_dev *dev, struct kvnet_work *work)
{
	struct task_struct *worker = READ_ONCE(dev->worker);

	if (!worker)
		return;

	/* test_and_set_bit() is a full barrier: add only once. */
	if (!test_and_set_bit(KVNET_WORK_QUEUED, &work->flags)) {
		llist_add(&work->node, &dev->work_list);
		wake_up_process(worker);
	}
}

static int kvnet_worker_fn(void *data)
{
	struct kvnet_dev *dev = data;
	struct kvnet_work *work, *next;
	struct llist_node *node;

	kthread_use_mm(dev->mm);

	for (;;) {
		/* The state is set before the checks: pairs with kthread_stop. */
		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop()) {
			__set_current_state(TASK_RUNNING);
			break;
		}

		node = llist_del_all(&dev->work_list);
		if (!node) {
			schedule();
			continue;
		}
		__set_current_state(TASK_RUNNING);

		node = llist_reverse_order(node);
		/* The flag must be seen clear only after the entry left the list. */
		smp_wmb();
		llist_for_each_entry_safe(work, next, node, node) {
			clear_bit(KVNET_WORK_QUEUED, &work->flags);
			work->fn(work);
			cond_resched();
		}
	}

	kthread_unuse_mm(dev->mm);
	return 0;
}

struct kvnet_flush {
	struct kvnet_work work;
	struct completion done;
};

static void kvnet_flush_fn(struct kvnet_work *work)
{
	struct kvnet_flush *flush = container_of(work, struct kvnet_flush, work);

	complete(&flush->done);
}

/* Wait until everything queued before the call has run. */
void kvnet_dev_flush(struct kvnet_dev *dev)
{
	struct kvnet_flush flush;

	if (!dev->worker)
		return;

	init_completion(&flush.done);
	kvnet_work_init(&flush.work, kvnet_flush_fn);
	kvnet_work_queue(dev, &flush.work);
	wait_for_completion(&flush.done);
}

struct kvnet_attach_cgroups {
	struct kvnet_work work;
	struct task_struct *owner;
	int ret;
};

static void kvnet_attach_cgroups_fn(struct kvnet_work *work)
{
	struct kvnet_attach_cgroups *attach;

	attach = container_of(work, struct kvnet_attach_cgroups, work);
	attach->ret = cgroup_attach_task_all(attach->owner, current);
}

/* Move the worker into the cgroups of the caller, who owns the device. */
static int kvnet_worker_attach_cgroups(struct kvnet_dev *dev)
{
	struct kvnet_attach_cgroups attach = { .owner = current };

	kvnet_work_init(&attach.work, kvnet_attach_cgroups_fn);
	kvnet_work_queue(dev, &attach.work);
	kvnet_dev_flush(dev);
	return attach.ret;
}

/**
 * kvnet_worker_start() - make the caller the owner and start the worker
 * @dev: the device, not yet owned
 *
 * Context: process context, device mutex held.
 * Return: 0, or a negative errno with the device left without an owner.
 */
int kvnet_worker_start(struct kvnet_dev *dev)
{
	struct task_struct *worker;
	int ret;

	lockdep_assert_held(&dev->mutex);

	dev->mm = get_task_mm(current);
	if (!dev->mm)
		return -EINVAL;

	worker = kthread_create(kvnet_worker_fn, dev, "kvnet-%d",
				current->tgid);
	if (IS_ERR(worker)) {
		ret = PTR_ERR(worker);
		goto err_put_mm;
	}
	WRITE_ONCE(dev->worker, worker);
	WRITE_ONCE(dev->owner_tgid, current->tgid);
	wake_up_process(worker);

	ret = kvnet_worker_attach_cgroups(dev);
	if (ret)
		goto err_stop_worker;

	return 0;

err_stop_worker:
	kvnet_worker_stop(dev);
	return ret;
err_put_mm:
	mmput(dev->mm);
	dev->mm = NULL;
	return ret;
}

/*
 * Stop the worker and drop the owner's mm. Work still queued is discarded:
 * callers stop every poll and flush first.
 */
void kvnet_worker_stop(struct kvnet_dev *dev)
{
	if (dev->worker) {
		kthread_stop(dev->worker);
		WRITE_ONCE(dev->worker, NULL);
		WRITE_ONCE(dev->owner_tgid, 0);
		/* Nothing runs the discarded entries; forget them. */
		llist_del_all(&dev->work_list);
	}
	if (dev->mm) {
		mmput(dev->mm);
		dev->mm = NULL;
	}
}

static void kvnet_poll_queue_proc(struct file *file, wait_queue_head_t *wqh,
				  poll_table *pt)
{
	struct kvnet_poll *poll = container_of(pt, struct kvnet_poll, table);

	poll->wqh = wqh;
	add_wait_queue(wqh, &poll->wait);
}

static int kvnet_poll_wakeup(wait_queue_entry_t *wait, unsigned int mode,
			     int sync, void *key)
{
	struct kvnet_poll *poll = container_of(wait, struct kvnet_poll, wait);

	if (!(key_to_poll(key) & poll->mask))
		return 0;

	atomic64_inc(&poll->wakeups);
	kvnet_work_queue(poll->dev, &poll->work);
	return 0;
}

void kvnet_poll_init(struct kvnet_poll *poll, kvnet_work_fn_t fn,
		     __poll_t mask, struct kvnet_dev *dev)
{
	init_waitqueue_func_entry(&poll->wait, kvnet_poll_wakeup);
	init_poll_funcptr(&poll->table, kvnet_poll_queue_proc);
	poll->mask = mask;
	poll->dev = dev;
	poll->wqh = NULL;
	atomic64_set(&poll->wakeups, 0);
	kvnet_work_init(&poll->work, fn);
}

/*
 * Hook @poll onto @file. The caller keeps a reference to @file until after
 * kvnet_poll_stop().
 */
int kvnet_poll_start(struct kvnet_poll *poll, struct file *file)
{
	__poll_t mask;

	if (poll->wqh)
		return 0;

	mask = vfs_poll(file, &poll->table);
	if (mask & EPOLLERR) {
		kvnet_poll_stop(poll);
		return -EINVAL;
	}
	if (mask & poll->mask)
		kvnet_work_queue(poll->dev, &poll->work);
	return 0;
}

/* After this returns no new work is queued by @poll; flush for the rest. */
void kvnet_poll_stop(struct kvnet_poll *poll)
{
	if (poll->wqh) {
		remove_wait_queue(poll->wqh, &poll->wait);
		poll->wqh = NULL;
	}
}
