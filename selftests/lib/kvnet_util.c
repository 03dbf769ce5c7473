// SPDX-License-Identifier: GPL-2.0
/*
 * kvnet selftest library: devices, guest memory, rings, eventfds, taps and
 * the /proc and /sys counters the lifecycle tests compare.
 */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>

#include "kvnet_util.h"

#define KVNET_ROTATING_BUFS 8

const char *kvnet_errname(int err)
{
	static char bufs[KVNET_ROTATING_BUFS][80];
	static unsigned int next;
	char *buf = bufs[next++ % KVNET_ROTATING_BUFS];
	const char *name;

	if (!err)
		return "success";
	name = strerrorname_np(err);
	snprintf(buf, sizeof(bufs[0]), "%s (%s)", name ?: "E?", strerror(err));
	return buf;
}

const char *kvnet_fmt(const char *fmt, ...)
{
	static char bufs[KVNET_ROTATING_BUFS][256];
	static unsigned int next;
	char *buf = bufs[next++ % KVNET_ROTATING_BUFS];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(bufs[0]), fmt, ap);
	va_end(ap);
	return buf;
}

uint64_t kvnet_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kvnet_sleep_ms(unsigned int ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (ms % 1000) * 1000000L,
	};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

long long kvnet_read_ll(const char *path)
{
	char buf[64];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	return strtoll(buf, NULL, 0);
}

int kvnet_write_file(const char *path, const char *val)
{
	ssize_t len = strlen(val);
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, len) != len)
		ret = -errno;
	close(fd);
	return ret;
}

int kvnet_write_ll(const char *path, long long val)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", val);
	return kvnet_write_file(path, buf);
}

long long kvnet_meminfo_kb(const char *field)
{
	size_t len = strlen(field);
	long long val = -1;
	char line[256];
	FILE *f;

	f = fopen("/proc/meminfo", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, len) && line[len] == ':') {
			val = strtoll(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

long long kvnet_file_nr(void)
{
	return kvnet_read_ll("/proc/sys/fs/file-nr");
}

long long kvnet_module_refcnt(const char *module)
{
	char path[128];
	long long val;

	snprintf(path, sizeof(path), "/sys/module/%s/refcnt", module);
	val = kvnet_read_ll(path);
	return val < 0 ? -1 : val;
}

/*
 * Tasks whose comm equals @comm, or starts with it unless @exact; the pid
 * of the last one found in *@pid, if not NULL.
 */
static int kvnet_count_tasks(const char *comm, bool exact, pid_t *pid)
{
	size_t len = strlen(comm);
	struct dirent *de;
	int count = 0;
	DIR *proc;

	proc = opendir("/proc");
	if (!proc)
		return -errno;
	while ((de = readdir(proc))) {
		char path[sizeof(de->d_name) + 16], buf[32];
		ssize_t n;
		int fd;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;	/* exited meanwhile */
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		if (exact ? strcmp(buf, comm) : strncmp(buf, comm, len))
			continue;
		count++;
		if (pid)
			*pid = atoi(de->d_name);
	}
	closedir(proc);
	return count;
}

int kvnet_count_threads(const char *prefix)
{
	return kvnet_count_tasks(prefix, false, NULL);
}

int kvnet_count_comm(const char *comm)
{
	return kvnet_count_tasks(comm, true, NULL);
}

pid_t kvnet_task_named(const char *comm)
{
	pid_t pid = 0;
	int n;

	n = kvnet_count_tasks(comm, true, &pid);
	if (n < 0)
		return n;
	return n == 1 ? pid : n ? -EEXIST : -ENOENT;
}

uint64_t kvnet_user_addr_limit(void)
{
	bool la57 = false;
	char line[4096];
	FILE *f;

	/* The flag shows only when the kernel runs with 5-level paging. */
	f = fopen("/proc/cpuinfo", "re");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "flags", 5))
				continue;
			la57 = strstr(line, " la57") != NULL;
			break;
		}
		fclose(f);
	}
	return (1ULL << (la57 ? 56 : 47)) - KVNET_PAGE_SIZE;
}

int __kvnet_open_dev(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int __kvnet_guest_mem_alloc(struct kvnet_guest_mem *mem, uint64_t gpa,
			    size_t size, bool touch)
{
	size_t off;
	void *p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | (touch ? MAP_POPULATE : 0),
		 -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (touch) {
		/* A private page of our own in every slot, not the zero page. */
		for (off = 0; off < size; off += KVNET_PAGE_SIZE)
			((volatile char *)p)[off] = 1;
	}
	mem->hva = p;
	mem->gpa = gpa;
	mem->size = size;
	return 0;
}

void kvnet_guest_mem_free(struct kvnet_guest_mem *mem)
{
	if (mem->hva)
		munmap(mem->hva, mem->size);
	mem->hva = NULL;
}

void *kvnet_gpa_to_hva(const struct kvnet_guest_mem *mem, uint64_t gpa)
{
	if (gpa < mem->gpa || gpa - mem->gpa >= mem->size)
		return NULL;
	return (char *)mem->hva + (gpa - mem->gpa);
}

struct vhost_memory *kvnet_mem_table_alloc(unsigned int nregions)
{
	struct vhost_memory *table;

	table = calloc(1, sizeof(*table) +
			  nregions * sizeof(table->regions[0]));
	if (table)
		table->nregions = nregions;
	return table;
}

void kvnet_mem_table_set(struct vhost_memory *table, unsigned int i,
			 uint64_t gpa, uint64_t size, uint64_t uaddr)
{
	table->regions[i] = (struct vhost_memory_region) {
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = uaddr,
	};
}

struct vhost_memory *kvnet_mem_table_of(const struct kvnet_guest_mem *mem)
{
	struct vhost_memory *table = kvnet_mem_table_alloc(1);

	if (table)
		kvnet_mem_table_set(table, 0, mem->gpa, mem->size,
				    (uintptr_t)mem->hva);
	return table;
}

size_t kvnet_ring_size(unsigned int num)
{
	return vring_size(num, KVNET_VRING_ALIGN);
}

void kvnet_ring_init(struct kvnet_ring *ring, unsigned int index,
		     unsigned int num, void *mem)
{
	memset(mem, 0, kvnet_ring_size(num));
	ring->index = index;
	ring->num = num;
	ring->avail_idx = 0;
	vring_init(&ring->vring, num, mem, KVNET_VRING_ALIGN);
}

uint16_t kvnet_ring_add(struct kvnet_ring *ring, uint64_t gpa, uint32_t len,
			bool device_writes)
{
	uint16_t head = ring->avail_idx % ring->num;

	ring->vring.desc[head] = (struct vring_desc) {
		.addr = gpa,
		.len = len,
		.flags = device_writes ? VRING_DESC_F_WRITE : 0,
	};
	ring->vring.avail->ring[head] = head;
	ring->avail_idx++;
	/* The entry before the index: pairs with the device's read barrier. */
	__atomic_store_n(&ring->vring.avail->idx, ring->avail_idx,
			 __ATOMIC_RELEASE);
	return head;
}

uint16_t kvnet_ring_used_idx(const struct kvnet_ring *ring)
{
	return __atomic_load_n(&ring->vring.used->idx, __ATOMIC_ACQUIRE);
}

struct vhost_vring_addr kvnet_ring_addr(const struct kvnet_ring *ring)
{
	return (struct vhost_vring_addr) {
		.index = ring->index,
		.desc_user_addr = (uintptr_t)ring->vring.desc,
		.avail_user_addr = (uintptr_t)ring->vring.avail,
		.used_user_addr = (uintptr_t)ring->vring.used,
	};
}

#define KVNET_STEP(call, name) do {					\
	if ((call) < 0) {						\
		*failed = (name);					\
		return -errno;						\
	}								\
} while (0)

int __kvnet_dev_setup_ring(struct kvnet_dev *dev, unsigned int index,
			   const char **failed)
{
	struct kvnet_ring *ring = &dev->rings[index];
	size_t stride = (kvnet_ring_size(KVNET_DEV_RING_NUM) +
			 KVNET_PAGE_SIZE - 1) & ~(KVNET_PAGE_SIZE - 1);
	struct vhost_vring_state num = { index, KVNET_DEV_RING_NUM };
	struct vhost_vring_state base = { index, 0 };
	struct vhost_vring_addr addr;
	struct vhost_vring_file f;

	kvnet_ring_init(ring, index, KVNET_DEV_RING_NUM,
			(char *)dev->mem.hva + index * stride);
	addr = kvnet_ring_addr(ring);
	KVNET_STEP(__kvnet_ioctl(dev->fd, VHOST_SET_VRING_NUM, &num),
		   "VHOST_SET_VRING_NUM");
	KVNET_STEP(__kvnet_ioctl(dev->fd, VHOST_SET_VRING_BASE, &base),
		   "VHOST_SET_VRING_BASE");
	KVNET_STEP(__kvnet_ioctl(dev->fd, VHOST_SET_VRING_ADDR, &addr),
		   "VHOST_SET_VRING_ADDR");
	if (dev->kick[index] < 0)
		KVNET_STEP(dev->kick[index] = __kvnet_eventfd(), "eventfd");
	if (dev->call[index] < 0)
		KVNET_STEP(dev->call[index] = __kvnet_eventfd(), "eventfd");
	f = (struct vhost_vring_file) { index, dev->kick[index] };
	KVNET_STEP(__kvnet_ioctl(dev->fd, VHOST_SET_VRING_KICK, &f),
		   "VHOST_SET_VRING_KICK");
	f = (struct vhost_vring_file) { index, dev->call[index] };
	KVNET_STEP(__kvnet_ioctl(dev->fd, VHOST_SET_VRING_CALL, &f),
		   "VHOST_SET_VRING_CALL");
	return 0;
}

int __kvnet_dev_open(struct kvnet_dev *dev, const char *path)
{
	unsigned int i;
	int ret;

	memset(dev, 0, sizeof(*dev));
	for (i = 0; i < KVNET_NUM_VQS; i++)
		dev->kick[i] = dev->call[i] = -1;
	dev->fd = __kvnet_open_dev(path);
	if (dev->fd < 0)
		return dev->fd;
	ret = __kvnet_guest_mem_alloc(&dev->mem, 0, KVNET_DEV_MEM_SIZE, false);
	if (ret) {
		close(dev->fd);
		dev->fd = -1;
	}
	return ret;
}

int __kvnet_dev_own(struct kvnet_dev *dev, const char **failed)
{
	struct vhost_memory *table;
	int ret;

	KVNET_STEP(__kvnet_ioctl_noarg(dev->fd, VHOST_SET_OWNER),
		   "VHOST_SET_OWNER");
	table = kvnet_mem_table_of(&dev->mem);
	if (!table) {
		*failed = "malloc";
		return -ENOMEM;
	}
	ret = __kvnet_ioctl(dev->fd, VHOST_SET_MEM_TABLE, table) < 0 ?
		-errno : 0;
	free(table);
	if (ret)
		*failed = "VHOST_SET_MEM_TABLE";
	return ret;
}

int __kvnet_dev_setup(struct kvnet_dev *dev, const char *path,
		      const char **failed)
{
	unsigned int i;
	int ret;

	ret = __kvnet_dev_open(dev, path);
	if (ret) {
		*failed = "open";
		return ret;
	}
	ret = __kvnet_dev_own(dev, failed);
	for (i = 0; !ret && i < KVNET_NUM_VQS; i++)
		ret = __kvnet_dev_setup_ring(dev, i, failed);
	return ret;
}

void kvnet_dev_close(struct kvnet_dev *dev)
{
	unsigned int i;

	for (i = 0; i < KVNET_NUM_VQS; i++) {
		if (dev->kick[i] >= 0)
			close(dev->kick[i]);
		if (dev->call[i] >= 0)
			close(dev->call[i]);
		dev->kick[i] = dev->call[i] = -1;
	}
	if (dev->fd >= 0)
		close(dev->fd);
	dev->fd = -1;
	kvnet_guest_mem_free(&dev->mem);
}

int __kvnet_set_backend(int dev_fd, unsigned int index, int fd)
{
	struct vhost_vring_file f = { .index = index, .fd = fd };

	return __kvnet_ioctl(dev_fd, VHOST_NET_SET_BACKEND, &f) < 0 ? -errno : 0;
}

int __kvnet_get_stats(int dev_fd, unsigned int index,
		      struct kvnet_vring_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
	stats->index = index;
	return __kvnet_ioctl(dev_fd, KVNET_GET_VRING_STATS, stats) < 0 ?
		-errno : 0;
}

int __kvnet_debugfs_dir(pid_t owner, char *dir, size_t size)
{
	struct dirent *de;
	int found = 0;
	DIR *d;

	d = opendir(KVNET_DEBUGFS_PATH);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char path[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/owner", KVNET_DEBUGFS_PATH,
			 de->d_name);
		if (kvnet_read_ll(path) != owner)
			continue;
		snprintf(dir, size, "%s/%s", KVNET_DEBUGFS_PATH, de->d_name);
		found++;
	}
	closedir(d);
	return found == 1 ? 0 : found ? -EEXIST : -ENOENT;
}

int __kvnet_debugfs_stats(const char *dir, const char *queue,
			  struct kvnet_vring_stats *stats)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
#define KVNET_FIELD(f) { #f, offsetof(struct kvnet_vring_stats, f) }
		KVNET_FIELD(kicks), KVNET_FIELD(handler_runs),
		KVNET_FIELD(calls), KVNET_FIELD(packets), KVNET_FIELD(bytes),
		KVNET_FIELD(zerocopy_packets), KVNET_FIELD(errors),
		KVNET_FIELD(requeues), KVNET_FIELD(busy_polls),
		KVNET_FIELD(busy_poll_hits),
#undef KVNET_FIELD
	};
	char path[PATH_MAX], name[32];
	unsigned long long val;
	unsigned int i, seen = 0;
	FILE *f;

	memset(stats, 0, sizeof(*stats));
	snprintf(path, sizeof(path), "%s/%s", dir, queue);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fscanf(f, "%31s %llu", name, &val) == 2) {
		for (i = 0; i < ARRAY_SIZE(fields); i++) {
			if (strcmp(name, fields[i].name))
				continue;
			*(uint64_t *)((char *)stats + fields[i].off) = val;
			seen++;
		}
	}
	fclose(f);
	return seen == ARRAY_SIZE(fields) ? 0 : -EPROTO;
}

int __kvnet_kick_served(int dev_fd, unsigned int index, int kick)
{
	struct kvnet_vring_stats before, after;
	int ret;

	ret = __kvnet_get_stats(dev_fd, index, &before);
	if (!ret)
		ret = kvnet_eventfd_signal(kick);
	if (ret)
		return ret;
	if (!kvnet_wait_until(__kvnet_get_stats(dev_fd, index, &after) ||
			      after.handler_runs > before.handler_runs, 5000))
		return -ETIMEDOUT;
	/* The wait ended on the handler run or on an error: which one. */
	return __kvnet_get_stats(dev_fd, index, &after);
}

int __kvnet_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	return fd < 0 ? -errno : fd;
}

int kvnet_eventfd_signal(int efd)
{
	uint64_t one = 1;

	return write(efd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

int kvnet_closed_fd(void)
{
	struct rlimit rl;
	int fd = 4095;

	/* Near the top of the table, where nothing of ours is opened. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur > 64 &&
	    rl.rlim_cur != RLIM_INFINITY)
		fd = rl.rlim_cur - 7;
	while (fcntl(fd, F_GETFD) >= 0)
		fd--;
	return fd;
}

int __kvnet_regular_file(void)
{
	int fd = memfd_create("kvnet-selftest", MFD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int __kvnet_enter_netns(void)
{
	if (unshare(CLONE_NEWNET | CLONE_NEWNS))
		return -errno;
	/* Keep our mounts to ourselves, then see our netns in /sys. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -errno;
	umount2("/sys", MNT_DETACH);
	if (mount("sysfs", "/sys", "sysfs", 0, NULL))
		return -errno;
	/* Best effort: kvnet's counters live there, and KVM's. */
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	return 0;
}

pid_t kvnet_hold_netns(void)
{
	int pipefd[2];
	char ok = 0;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		ok = !unshare(CLONE_NEWNET);
		if (write(pipefd[1], &ok, 1) != 1 || !ok)
			_exit(1);
		for (;;)
			pause();
	}
	close(pipefd[1]);
	if (pid > 0 && (read(pipefd[0], &ok, 1) != 1 || !ok)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -EPERM;
	}
	close(pipefd[0]);
	return pid;
}

bool kvnet_tcp_listening(unsigned int port)
{
	static const char *const files[] = {
		"/proc/net/tcp", "/proc/net/tcp6",
	};
	unsigned int i, lport, state;
	bool found = false;
	char line[512];
	FILE *f;

	for (i = 0; i < ARRAY_SIZE(files) && !found; i++) {
		f = fopen(files[i], "re");
		if (!f)
			continue;
		/* "sl local_address rem_address st ...", hex; 0A: LISTEN. */
		while (!found && fgets(line, sizeof(line), f))
			found = sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*s %x",
				       &lport, &state) == 2 &&
				lport == port && state == 0x0a;
		fclose(f);
	}
	return found;
}

int __kvnet_tap_create(unsigned int flags, const char *name_fmt,
		       char name[IFNAMSIZ])
{
	struct ifreq ifr = { .ifr_flags = flags };
	int fd, err;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name_fmt);
	if (ioctl(fd, TUNSETIFF, &ifr)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (name)
		snprintf(name, IFNAMSIZ, "%s", ifr.ifr_name);
	return fd;
}

/* One SIOC* ioctl on interface @name, through @ifr: 0 or -errno. */
static int kvnet_ifreq_ioctl(const char *name, unsigned long cmd,
			     struct ifreq *ifr)
{
	int fd, ret = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
	if (ioctl(fd, cmd, ifr))
		ret = -errno;
	close(fd);
	return ret;
}

int __kvnet_link_up(const char *name)
{
	struct ifreq ifr = { 0 };
	int ret;

	ret = kvnet_ifreq_ioctl(name, SIOCGIFFLAGS, &ifr);
	if (ret)
		return ret;
	ifr.ifr_flags |= IFF_UP;
	return kvnet_ifreq_ioctl(name, SIOCSIFFLAGS, &ifr);
}

int __kvnet_link_feature(const char *name, uint32_t cmd, bool on)
{
	struct ethtool_value ev = { .cmd = cmd, .data = on };
	struct ifreq ifr = { .ifr_data = (void *)&ev };

	return kvnet_ifreq_ioctl(name, SIOCETHTOOL, &ifr);
}

int __kvnet_link_mac(const char *name, uint8_t mac[6])
{
	struct ifreq ifr = { 0 };
	int ret;

	ret = kvnet_ifreq_ioctl(name, SIOCGIFHWADDR, &ifr);
	if (!ret)
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return ret;
}

int __kvnet_packet_socket(const char *name, uint16_t ethertype)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ethertype),
		.sll_ifindex = if_nametoindex(name),
	};
	int fd, err;

	if (!sll.sll_ifindex)
		return -errno;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ethertype));
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int kvnet_run(char *out, size_t outlen, const char *fmt, ...)
{
	char cmd[512], sink[256];
	size_t len = 0, n;
	va_list ap;
	FILE *p;
	int status;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd) - 8, fmt, ap);
	va_end(ap);
	strcat(cmd, " 2>&1");
	if (!out || !outlen) {
		out = sink;
		outlen = sizeof(sink);
	}
	out[0] = '\0';
	p = popen(cmd, "re");
	if (!p)
		return -1;
	while (len + 1 < outlen &&
	       (n = fread(out + len, 1, outlen - 1 - len, p)) > 0)
		len += n;
	out[len] = '\0';
	while (fread(sink, 1, sizeof(sink), p) > 0)
		;
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Open the character device of macvtap @name through a private node. */
static int kvnet_macvtap_open(const char *name, char *err, size_t errlen)
{
	unsigned int maj, min, ifindex = if_nametoindex(name);
	char path[PATH_MAX];
	const char *tmp;
	FILE *f;
	int fd, n;

	snprintf(path, sizeof(path), "/sys/class/net/%s/macvtap/tap%u/dev",
		 name, ifindex);
	f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -ENOENT;
	}
	n = fscanf(f, "%u:%u", &maj, &min);
	fclose(f);
	if (n != 2) {
		snprintf(err, errlen, "%s: no major:minor", path);
		return -EINVAL;
	}
	tmp = getenv("TMPDIR") ?: "/tmp";
	snprintf(path, sizeof(path), "%s/kvnet-macvtap-%d-%u", tmp, getpid(),
		 ifindex);
	unlink(path);
	if (mknod(path, S_IFCHR | 0600, makedev(maj, min))) {
		snprintf(err, errlen, "mknod %s: %s", path, strerror(errno));
		return -errno;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	n = errno;
	unlink(path);
	if (fd < 0) {
		snprintf(err, errlen, "open %s: %s", path, strerror(n));
		return -n;
	}
	return fd;
}

int __kvnet_macvtap_create(struct kvnet_macvtap *m, char *err, size_t errlen)
{
	char out[256], sink[256];
	int ret;

	if (!err) {
		err = sink;
		errlen = sizeof(sink);
	}
	m->fd = -1;
	snprintf(m->lower, sizeof(m->lower), "kvv%d", getpid());
	snprintf(m->name, sizeof(m->name), "kvm%d", getpid());
	if (kvnet_run(out, sizeof(out), "ip link add %s type veth peer name kvp%d",
		      m->lower, getpid())) {
		snprintf(err, errlen, "ip link add type veth: %s", out);
		return -EOPNOTSUPP;
	}
	if (kvnet_run(out, sizeof(out),
		      "ip link add link %s name %s type macvtap mode bridge",
		      m->lower, m->name)) {
		snprintf(err, errlen, "ip link add type macvtap: %s", out);
		kvnet_run(NULL, 0, "ip link del %s", m->lower);
		return -EOPNOTSUPP;
	}
	ret = kvnet_macvtap_open(m->name, err, errlen);
	if (ret < 0) {
		kvnet_run(NULL, 0, "ip link del %s", m->lower);
		return ret;
	}
	m->fd = ret;
	return 0;
}

void kvnet_macvtap_destroy(struct kvnet_macvtap *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	/* The macvtap and the veth peer go with the lower link. */
	if (m->lower[0])
		kvnet_run(NULL, 0, "ip link del %s", m->lower);
	m->lower[0] = '\0';
}

int kvnet_call_errno(const struct kvnet_call *call, int fd)
{
	return ioctl(fd, call->cmd, call->arg) < 0 ? errno : 0;
}

unsigned int kvnet_valid_calls(struct kvnet_dev *dev, int efd,
			       struct kvnet_valid_args *a,
			       struct kvnet_call calls[KVNET_MAX_CALLS])
{
	struct kvnet_ring ring;
	unsigned int n = 0, i;

	memset(a, 0, sizeof(*a));
	a->table = kvnet_mem_table_of(&dev->mem);
	/* A ring of its own in the last pages: queue 0's may be in use. */
	kvnet_ring_init(&ring, 0, KVNET_DEV_RING_NUM,
			(char *)dev->mem.hva + dev->mem.size -
			4 * KVNET_PAGE_SIZE);
	a->num = (struct vhost_vring_state) { 0, KVNET_DEV_RING_NUM };
	a->addr = kvnet_ring_addr(&ring);
	a->efd = (struct vhost_vring_file) { 0, efd };
	a->unbind = (struct vhost_vring_file) { 0, -1 };
	a->log_fd = -1;

	struct kvnet_call all[] = {
		KVNET_CALL(VHOST_GET_FEATURES, &a->features, KVNET_CALL_NO_OWNER),
		KVNET_CALL(VHOST_SET_FEATURES, &a->zero, KVNET_CALL_NO_OWNER),
		KVNET_CALL(VHOST_GET_BACKEND_FEATURES, &a->features,
			   KVNET_CALL_NO_OWNER),
		KVNET_CALL(VHOST_SET_BACKEND_FEATURES, &a->zero,
			   KVNET_CALL_NO_OWNER),
		KVNET_CALL_NOARG(VHOST_SET_OWNER,
				 KVNET_CALL_NO_OWNER | KVNET_CALL_OWNERSHIP),
		KVNET_CALL_NOARG(VHOST_RESET_OWNER, KVNET_CALL_OWNERSHIP),
		KVNET_CALL(VHOST_SET_MEM_TABLE, a->table, 0),
		KVNET_CALL(VHOST_SET_LOG_BASE, &a->log_base, 0),
		KVNET_CALL(VHOST_SET_LOG_FD, &a->log_fd, 0),
		KVNET_CALL(VHOST_SET_VRING_NUM, &a->num, 0),
		KVNET_CALL(VHOST_SET_VRING_ADDR, &a->addr, 0),
		KVNET_CALL(VHOST_SET_VRING_BASE, &a->base, 0),
		KVNET_CALL(VHOST_GET_VRING_BASE, &a->out, 0),
		KVNET_CALL(VHOST_SET_VRING_KICK, &a->efd, 0),
		KVNET_CALL(VHOST_SET_VRING_CALL, &a->efd, 0),
		KVNET_CALL(VHOST_SET_VRING_ERR, &a->efd, 0),
		KVNET_CALL(VHOST_SET_VRING_ENDIAN, &a->endian, 0),
		KVNET_CALL(VHOST_GET_VRING_ENDIAN, &a->out, 0),
		KVNET_CALL(VHOST_SET_VRING_BUSYLOOP_TIMEOUT, &a->busyloop, 0),
		KVNET_CALL(VHOST_GET_VRING_BUSYLOOP_TIMEOUT, &a->out, 0),
		KVNET_CALL(VHOST_NET_SET_BACKEND, &a->unbind, 0),
		KVNET_CALL(KVNET_GET_VRING_STATS, &a->stats, KVNET_CALL_KVNET),
	};

	static_assert(ARRAY_SIZE(all) <= KVNET_MAX_CALLS, "KVNET_MAX_CALLS");
	for (i = 0; i < ARRAY_SIZE(all); i++)
		calls[n++] = all[i];
	return n;
}

void kvnet_valid_calls_free(struct kvnet_valid_args *args)
{
	free(args->table);
	args->table = NULL;
}
