/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest sessions: the tests and benchmarks that boot a Linux guest (with
 * kvnet-vmm or QEMU) and the image of userspace-vmm/guest/.
 *
 * A session starts the VMM with its console on pipes, keeps everything the
 * console printed in a log file, waits for the guest's "kvnet-guest: ready"
 * line and runs shell commands in the guest, each with a timeout, getting
 * back its exit status and output. Stopping it (poweroff, or SIGKILL) and
 * every wait in between are bounded: nothing here hangs a test.
 *
 * The host side: a peer, this process in a network namespace of its own
 * that holds the tap the VMM attaches to, with 10.0.0.1/24 on it (the
 * guest is 10.0.0.2/24), and host commands run in the background there.
 *
 * As in kvnet_util.h, __kvnet_x() returns a raw result and kvnet_x()
 * asserts (harness tests only).
 */
#ifndef KVNET_GUEST_H
#define KVNET_GUEST_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "kvnet_util.h"

#define KVNET_PEER_ADDR		"10.0.0.1"
#define KVNET_PEER_CIDR		"10.0.0.1/24"
#define KVNET_GUEST_ADDR	"10.0.0.2"

/* Longest guest command line: the guest's tty takes 4095 bytes a line. */
#define KVNET_GUEST_CMD_MAX	2048
/* Longest console line kept whole; a longer one is cut into pieces. */
#define KVNET_GUEST_LINE_MAX	4096

/*
 * @path gets <repository>/@rel: under KVNET_REPO (the VM runner sets it),
 * else two levels above this binary (selftests/out/). 0 or -errno.
 */
int __kvnet_repo_path(char path[PATH_MAX], const char *rel);

/*
 * The guest image that `make` builds: @kernel and @initrd get the paths of
 * userspace-vmm/out/guest/{bzImage,initramfs.cpio.gz} in the repository
 * (KVNET_REPO, else two levels above this binary). 0, or -ENOENT when one
 * is missing (not built).
 */
int __kvnet_guest_image(char kernel[PATH_MAX], char initrd[PATH_MAX]);

struct kvnet_guest {
	/* The VMM; 0 once reaped, then @status holds its wait status. */
	pid_t pid;
	int status;
	/* The console: the VMM's stdin, and its stdout and stderr. */
	int in_fd;
	int out_fd;
	/* A copy of every byte read from @out_fd, as it came. */
	int log_fd;
	char log_path[PATH_MAX];
	/* A console line read in part; @carry, the start of a line a kernel
	 * message cut in two. */
	char line[KVNET_GUEST_LINE_MAX];
	size_t line_len;
	char carry[KVNET_GUEST_LINE_MAX];
	size_t carry_len;
	/* Marker number of the last command. */
	unsigned int seq;
	/* From the ready line: CPUs the guest saw, eth0's address or "none". */
	int cpus;
	char ip[32];
};

/*
 * Run @argv[0] (looked up in PATH) with @argv, its stdin and stdout+stderr
 * on pipes, every byte of output logged to @log_path (truncated first).
 * The fds in @pass_fds stay open in the VMM (their close-on-exec flag is
 * cleared there); all others opened with O_CLOEXEC do not. The VMM dies
 * with the calling thread (PR_SET_PDEATHSIG) and shares its process group,
 * so the harness's timeout kills it too. SIGPIPE is ignored from now on:
 * writing to a VMM that died gives EPIPE. 0 or -errno.
 */
int __kvnet_guest_start(struct kvnet_guest *g, const char *log_path,
			char *const argv[], const int *pass_fds,
			unsigned int npass);

/*
 * Wait up to @timeout_ms for the guest's ready line, then for its shell to
 * answer a command. The number of CPUs it reported (g->cpus, g->ip set),
 * -ETIMEDOUT, or -EPIPE when the VMM closed its console (exited) first.
 */
int __kvnet_guest_wait_ready(struct kvnet_guest *g, unsigned int timeout_ms);

/*
 * Run the shell command @fmt in the guest, with stdin from /dev/null and
 * stderr with stdout; up to @outlen - 1 bytes of its output go to @out
 * (may be NULL), NUL-terminated, without \r and without the kernel's
 * console messages (lines starting "[ seconds.micros]", which the guest's
 * console interleaves at any point, even mid-line). One line, no control
 * characters, at most KVNET_GUEST_CMD_MAX bytes.
 *
 * The command's exit status (0..255), or: -ETIMEDOUT after @timeout_ms
 * (the command got a ^C, and the shell is usable again if it answered
 * within 2 s more), -EPIPE if the VMM closed its console, -EINVAL for a
 * command that cannot be sent.
 */
int __kvnet_guest_run(struct kvnet_guest *g, unsigned int timeout_ms,
		      char *out, size_t outlen, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/*
 * Wait up to @timeout_ms for the VMM to exit, logging what it still
 * prints: its exit status (0..255), 128 + the signal that killed it, or
 * -ETIMEDOUT (it still runs).
 */
int __kvnet_guest_wait_exit(struct kvnet_guest *g, unsigned int timeout_ms);

/*
 * Run poweroff in the guest and wait up to @timeout_ms for the VMM to
 * exit: as __kvnet_guest_wait_exit().
 */
int __kvnet_guest_poweroff(struct kvnet_guest *g, unsigned int timeout_ms);

/*
 * SIGKILL the VMM and reap it (a killed process can take a while to let go
 * of its memory: up to 10 s). As __kvnet_guest_wait_exit(); 128 + SIGKILL
 * when this killed it.
 */
int kvnet_guest_kill(struct kvnet_guest *g);

/* Kill the VMM if it still runs, close the pipes and the log. Idempotent. */
void kvnet_guest_close(struct kvnet_guest *g);

/*
 * Print the last @lines lines of the console log to stderr, each prefixed
 * "# " (TAP comments), under a line naming the log.
 */
void kvnet_guest_log_tail(const struct kvnet_guest *g, unsigned int lines);

/* ---- the host side ------------------------------------------------------ */

/*
 * The guest's network peer: this process, moved to a private network and
 * mount namespace (__kvnet_enter_netns(), kvnet's debugfs still visible),
 * with a persistent tap @tap that has KVNET_PEER_CIDR and is
 * up: the VMM attaches to it by name (the VMM's children inherit the
 * namespace). Everything vanishes with the namespace, that is with the
 * process.
 */
struct kvnet_peer {
	char tap[IFNAMSIZ];
};

/* 0 or -errno; @err (if given) says what failed. */
int __kvnet_peer_setup(struct kvnet_peer *p, char *err, size_t errlen);

/*
 * A host command running in the background (in this process's network
 * namespace, so the peer's): `sh -c CMD`, stdin /dev/null, stdout and
 * stderr to a temporary file, in a process group of its own that dies
 * with the calling thread.
 */
struct kvnet_host_cmd {
	pid_t pid;
	int out_fd;
	char cmd[512];
};

/* Start @fmt: 0 or -errno. */
int __kvnet_host_spawn(struct kvnet_host_cmd *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Wait up to @timeout_ms for the command to end, then SIGKILL its process
 * group (on timeout too); its output (up to @outlen - 1 bytes, may be
 * NULL) in @out. Its exit status (0..255), 128 + signal, or -ETIMEDOUT
 * (killed).
 */
int __kvnet_host_collect(struct kvnet_host_cmd *c, unsigned int timeout_ms,
			 char *out, size_t outlen);

/* What both ends of __kvnet_guest_stream() said. */
struct kvnet_guest_stream {
	/* The guest's client: as __kvnet_guest_run(). */
	int guest_status;
	/* The peer's server: as __kvnet_host_collect(). */
	int host_status;
	char guest_out[1024];
	char host_out[1024];
};

/*
 * tcp_stream -V of @bytes between a server in this process's network
 * namespace (the peer) on @port and the guest as its client: the guest
 * sends, or with @to_guest receives; the receiver checks every byte.
 * Waits up to 20 s for the server to listen, @timeout_ms for the client.
 * 0 with both ends' statuses and output in @r (the caller judges them),
 * or -errno when the server did not start or listen (its output in
 * @r->host_out).
 */
int __kvnet_guest_stream(struct kvnet_guest *g, unsigned int port,
			 unsigned long long bytes, bool to_guest,
			 unsigned int timeout_ms, struct kvnet_guest_stream *r);

/* ---- asserting forms, inside harness tests only ------------------------- */
#ifdef __KSELFTEST_HARNESS_H

/* Paths of the guest image; fail if it was not built. */
#define kvnet_guest_image(kernel, initrd) do {				\
	int __r = __kvnet_guest_image(kernel, initrd);			\
	ASSERT_EQ(0, __r) TH_LOG("no guest image %s, %s: run make",	\
				 kernel, initrd);			\
} while (0)

#define kvnet_guest_start(g, log_path, argv, pass_fds, npass) do {	\
	int __r = __kvnet_guest_start(g, log_path, argv, pass_fds, npass); \
	ASSERT_EQ(0, __r) TH_LOG("starting %s: %s", (argv)[0],		\
				 kvnet_errname(-__r));			\
} while (0)

/* The guest's CPU count. */
#define kvnet_guest_wait_ready(g, timeout_ms) ({			\
	int __r = __kvnet_guest_wait_ready(g, timeout_ms);		\
	ASSERT_LT(0, __r) TH_LOG("guest not ready within %u ms: %s (%s)", \
				 (unsigned int)(timeout_ms),		\
				 kvnet_errname(-__r), (g)->log_path);	\
	__r;								\
})

/* Run a command in the guest; assert that it exits with status 0. */
#define kvnet_guest_run(g, timeout_ms, out, outlen, fmt, ...) do {	\
	char *__out = (out);						\
	int __r = __kvnet_guest_run(g, timeout_ms, __out, outlen, fmt,	\
				    ##__VA_ARGS__);			\
	ASSERT_EQ(0, __r) TH_LOG("guest: '%s': %s%s%s",			\
		kvnet_fmt(fmt, ##__VA_ARGS__),				\
		__r > 0 ? kvnet_fmt("exit status %d", __r) :		\
			  kvnet_errname(-__r),				\
		__out ? ", output: " : "", __out ? __out : "");		\
} while (0)

#define kvnet_peer_setup(p) do {					\
	char __err[256] = "";						\
	int __r = __kvnet_peer_setup(p, __err, sizeof(__err));		\
	ASSERT_EQ(0, __r) TH_LOG("peer: %s: %s", __err, kvnet_errname(-__r)); \
} while (0)

#define kvnet_host_spawn(c, fmt, ...) do {				\
	int __r = __kvnet_host_spawn(c, fmt, ##__VA_ARGS__);		\
	ASSERT_EQ(0, __r) TH_LOG("host: '%s': %s", (c)->cmd,		\
				 kvnet_errname(-__r));			\
} while (0)

#endif /* __KSELFTEST_HARNESS_H */

#endif /* KVNET_GUEST_H */
