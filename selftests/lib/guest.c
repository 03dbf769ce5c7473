// SPDX-License-Identifier: GPL-2.0
/*
 * Guest sessions: a VMM with its console on pipes, a shell in the guest
 * driven through that console, and the guest's network peer on the host.
 *
 * Commands and the console: the guest's init (userspace-vmm/guest/init)
 * runs a shell on the console without echo or prompts. Each command goes
 * as one line that prints a begin marker, runs the command in a subshell
 * and prints an end marker with its exit status:
 *
 *   printf '\n%s%u:begin\n' KVNET@ 7; ( eval 'CMD' ) </dev/null 2>&1;
 *   printf '\n%s%u:end:%d\n' KVNET@ 7 $?
 *
 * The markers as printed ("KVNET@7:begin") never appear in the line as
 * sent ("KVNET@ 7"), so an echo of it cannot be taken for them; the
 * number tells a late marker of an earlier command from this one's; the
 * subshell keeps a syntax error in CMD from skipping the end marker. The
 * kernel prints its messages on the same console at any point, even in
 * the middle of a line of output: they are cut out before lines are
 * looked at.
 */
#include <ctype.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "guest.h"

#define KVNET_GUEST_MARK	"KVNET@"
/* After a ^C, how long the shell has to answer again. */
#define KVNET_GUEST_RESYNC_MS	2000
/* The guest image, in the repository. */
#define KVNET_GUEST_DIR		"userspace-vmm/out/guest"
/* How long a SIGKILLed process may take to be reaped. */
#define KVNET_REAP_MS		10000

/* Milliseconds from now to @deadline, 0 if it passed. */
static unsigned int kvnet_ms_left(uint64_t deadline)
{
	uint64_t now = kvnet_now_ms();

	return now < deadline ? deadline - now : 0;
}

int __kvnet_repo_path(char path[PATH_MAX], const char *rel)
{
	const char *repo = getenv("KVNET_REPO"), *up = "";
	char exe[PATH_MAX];
	ssize_t n;

	if (!repo || !*repo) {
		/* This binary is in <repo>/selftests/out/. */
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0)
			return -errno;
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';
		repo = exe;
		up = "/../..";
	}
	n = snprintf(path, PATH_MAX, "%s%s/%s", repo, up, rel);
	return n < PATH_MAX ? 0 : -ENAMETOOLONG;
}

int __kvnet_guest_image(char kernel[PATH_MAX], char initrd[PATH_MAX])
{
	int ret;

	ret = __kvnet_repo_path(kernel, KVNET_GUEST_DIR "/bzImage");
	if (!ret)
		ret = __kvnet_repo_path(initrd,
					KVNET_GUEST_DIR "/initramfs.cpio.gz");
	if (ret)
		return ret;
	if (access(kernel, R_OK) || access(initrd, R_OK))
		return -ENOENT;
	return 0;
}

/* ---- starting the VMM --------------------------------------------------- */

static void kvnet_guest_exec(char *const argv[], int in_fd, int out_fd,
			     const int *pass_fds, unsigned int npass,
			     pid_t parent)
{
	unsigned int i;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(127);
	/* dup2() leaves the new fds open across exec. */
	if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
	    dup2(out_fd, STDERR_FILENO) < 0)
		_exit(127);
	for (i = 0; i < npass; i++)
		if (fcntl(pass_fds[i], F_SETFD, 0)) {
			dprintf(STDERR_FILENO, "kvnet-guest: fd %d: %m\n",
				pass_fds[i]);
			_exit(127);
		}
	/* An ignored signal stays ignored across exec. */
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], argv);
	dprintf(STDERR_FILENO, "kvnet-guest: exec %s: %m\n", argv[0]);
	_exit(127);
}

static void kvnet_guest_log_argv(struct kvnet_guest *g, char *const argv[])
{
	unsigned int i;

	dprintf(g->log_fd, "# kvnet-guest: started");
	for (i = 0; argv[i]; i++)
		dprintf(g->log_fd, " %s", argv[i]);
	dprintf(g->log_fd, "\n");
}

int __kvnet_guest_start(struct kvnet_guest *g, const char *log_path,
			char *const argv[], const int *pass_fds,
			unsigned int npass)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err;
	pid_t parent = getpid();

	memset(g, 0, sizeof(*g));
	g->in_fd = g->out_fd = -1;
	snprintf(g->log_path, sizeof(g->log_path), "%s", log_path);
	g->log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			 0644);
	if (g->log_fd < 0)
		return -errno;
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		goto err_pipes;
	signal(SIGPIPE, SIG_IGN);
	kvnet_guest_log_argv(g, argv);

	g->pid = fork();
	if (g->pid < 0)
		goto err_pipes;
	if (!g->pid)
		kvnet_guest_exec(argv, in[0], out[1], pass_fds, npass, parent);
	close(in[0]);
	close(out[1]);
	g->in_fd = in[1];
	g->out_fd = out[0];
	/* Every wait is bounded by poll(): no blocking read or write. */
	fcntl(g->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(g->out_fd, F_SETFL, O_NONBLOCK);
	return 0;

err_pipes:
	err = -errno;
	g->pid = 0;
	if (in[0] >= 0) {
		close(in[0]);
		close(in[1]);
	}
	if (out[0] >= 0) {
		close(out[0]);
		close(out[1]);
	}
	close(g->log_fd);
	g->log_fd = -1;
	return err;
}

/* ---- reading the console ------------------------------------------------ */

/*
 * Called for each console line (no \n, no \r, kernel messages cut out)
 * until it returns true.
 */
typedef bool (*kvnet_guest_line_fn)(struct kvnet_guest *g, const char *line,
				    void *ctx);

/*
 * Where a kernel console message ("[   12.345678] ...") starts in @line,
 * or -1. It runs to the end of the line.
 */
static int kvnet_kmsg_start(const char *line)
{
	const char *p, *s;
	int digits;

	for (p = strchr(line, '['); p; p = strchr(p + 1, '[')) {
		for (s = p + 1; *s == ' '; s++)
			;
		if (!isdigit((unsigned char)*s))
			continue;
		while (isdigit((unsigned char)*s))
			s++;
		if (*s++ != '.')
			continue;
		for (digits = 0; isdigit((unsigned char)*s); s++)
			digits++;
		if (digits == 6 && s[0] == ']')
			return p - line;
	}
	return -1;
}

/* One raw line (NUL-terminated in g->line) goes to @fn, if any. */
static bool kvnet_guest_line(struct kvnet_guest *g, kvnet_guest_line_fn fn,
			     void *ctx)
{
	char *line = g->line, *dst;
	const char *src;
	size_t len, room;
	int kmsg;

	/* The console adds \r to every \n. */
	for (src = dst = line; *src; src++)
		if (*src != '\r')
			*dst++ = *src;
	*dst = '\0';

	/*
	 * A kernel message runs to the end of the line; what came before it
	 * is the start of the line it interrupted, which goes on after it.
	 */
	kmsg = kvnet_kmsg_start(line);
	if (kmsg >= 0) {
		room = sizeof(g->carry) - 1 - g->carry_len;
		len = (size_t)kmsg < room ? (size_t)kmsg : room;
		memcpy(g->carry + g->carry_len, line, len);
		g->carry_len += len;
		return false;
	}
	if (g->carry_len) {
		len = strlen(line);
		room = sizeof(g->carry) - 1 - g->carry_len;
		if (len > room)
			len = room;
		memcpy(g->carry + g->carry_len, line, len);
		g->carry[g->carry_len + len] = '\0';
		g->carry_len = 0;
		line = g->carry;
	}
	return fn && fn(g, line, ctx);
}

/*
 * Read the console until @fn is done with it, until @deadline (ms) or
 * until the VMM closes it: 0, -ETIMEDOUT or -EPIPE. Everything read is
 * logged; the lines after the one that ended it are seen by nobody.
 */
static int kvnet_guest_read(struct kvnet_guest *g, uint64_t deadline,
			    kvnet_guest_line_fn fn, void *ctx)
{
	struct pollfd pfd = { .fd = g->out_fd, .events = POLLIN };
	bool done = false;
	char buf[4096];
	uint64_t now;
	ssize_t n, i;
	int ret;

	if (g->out_fd < 0)
		return -EPIPE;
	while (!done) {
		now = kvnet_now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		ret = poll(&pfd, 1, deadline - now);
		if (ret < 0 && errno != EINTR)
			return -errno;
		if (ret <= 0)
			continue;
		n = read(g->out_fd, buf, sizeof(buf));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if (!n) {
			close(g->out_fd);
			g->out_fd = -1;
			return -EPIPE;
		}
		if (write(g->log_fd, buf, n) != n)
			return -EIO;
		for (i = 0; i < n; i++) {
			if (buf[i] != '\n' &&
			    g->line_len < sizeof(g->line) - 1) {
				g->line[g->line_len++] = buf[i];
				continue;
			}
			/* A line too long to keep goes on in the next one. */
			g->line[g->line_len] = '\0';
			g->line_len = 0;
			if (buf[i] != '\n')
				g->line[g->line_len++] = buf[i];
			if (kvnet_guest_line(g, done ? NULL : fn, ctx))
				done = true;
		}
	}
	return 0;
}

/* Write all of @buf to the console within @deadline: 0 or -errno. */
static int kvnet_guest_write(struct kvnet_guest *g, const char *buf,
			     size_t len, uint64_t deadline)
{
	struct pollfd pfd = { .fd = g->in_fd, .events = POLLOUT };
	uint64_t now;
	ssize_t n;

	if (g->in_fd < 0)
		return -EPIPE;
	while (len) {
		now = kvnet_now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, deadline - now) < 0 && errno != EINTR)
			return -errno;
		n = write(g->in_fd, buf, len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= n;
	}
	return 0;
}

/* ---- commands ----------------------------------------------------------- */

struct kvnet_guest_cmd {
	unsigned int seq;
	bool begun;
	int status;
	char *out;
	size_t outlen, len;
};

static bool kvnet_guest_cmd_line(struct kvnet_guest *g, const char *line,
				 void *ctx)
{
	struct kvnet_guest_cmd *c = ctx;
	char begin[32], end[32];
	size_t len;

	(void)g;
	snprintf(begin, sizeof(begin), KVNET_GUEST_MARK "%u:begin", c->seq);
	snprintf(end, sizeof(end), KVNET_GUEST_MARK "%u:end:", c->seq);
	if (!c->begun) {
		c->begun = !strcmp(line, begin);
		return false;
	}
	if (!strncmp(line, end, strlen(end))) {
		c->status = atoi(line + strlen(end));
		/* The end marker's own \n put one after the output. */
		if (c->len)
			c->out[--c->len] = '\0';
		return true;
	}
	if (!c->out)
		return false;
	len = strlen(line);
	if (len > c->outlen - 1 - c->len)
		len = c->outlen - 1 - c->len;
	memcpy(c->out + c->len, line, len);
	c->len += len;
	if (c->len < c->outlen - 1)
		c->out[c->len++] = '\n';
	c->out[c->len] = '\0';
	return false;
}

/* The shell command line that runs @cmd between markers numbered @seq. */
static int kvnet_guest_cmd_format(char *buf, size_t size, const char *cmd,
				  unsigned int seq)
{
	char quoted[KVNET_GUEST_CMD_MAX * 4 + 1], *q = quoted;
	const char *p;
	int n;

	for (p = cmd; *p; p++) {
		if (iscntrl((unsigned char)*p) && *p != '\t')
			return -EINVAL;
		if (*p == '\'') {
			memcpy(q, "'\\''", 4);
			q += 4;
		} else {
			*q++ = *p;
		}
	}
	*q = '\0';
	n = snprintf(buf, size,
		     "printf '\\n%%s%%u:begin\\n' " KVNET_GUEST_MARK " %u; "
		     "( eval '%s' ) </dev/null 2>&1; "
		     "printf '\\n%%s%%u:end:%%d\\n' " KVNET_GUEST_MARK
		     " %u $?\n",
		     seq, quoted, seq);
	return n > 0 && (size_t)n < size ? n : -EINVAL;
}

/* Run @cmd (already checked); its exit status or -errno, no recovery. */
static int kvnet_guest_cmd(struct kvnet_guest *g, unsigned int timeout_ms,
			   char *out, size_t outlen, const char *cmd)
{
	struct kvnet_guest_cmd c = {
		.seq = ++g->seq,
		.status = -1,
		.out = outlen ? out : NULL,
		.outlen = outlen,
	};
	uint64_t deadline = kvnet_now_ms() + timeout_ms;
	/* The guest's tty takes lines of up to 4095 bytes. */
	char line[4096];
	int n, ret;

	if (c.out)
		c.out[0] = '\0';
	n = kvnet_guest_cmd_format(line, sizeof(line), cmd, c.seq);
	if (n < 0)
		return n;
	ret = kvnet_guest_write(g, line, n, deadline);
	if (!ret)
		ret = kvnet_guest_read(g, deadline, kvnet_guest_cmd_line, &c);
	return ret ?: c.status;
}

int __kvnet_guest_run(struct kvnet_guest *g, unsigned int timeout_ms,
		      char *out, size_t outlen, const char *fmt, ...)
{
	char cmd[KVNET_GUEST_CMD_MAX + 1];
	va_list ap;
	int n, ret;

	if (out && outlen)
		out[0] = '\0';
	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(cmd))
		return -EINVAL;
	ret = kvnet_guest_cmd(g, timeout_ms, out, outlen, cmd);
	if (ret == -ETIMEDOUT) {
		/*
		 * ^C ends the command (the shell gave it the console as
		 * controlling tty) and the rest of its line: the end marker
		 * will not come. Another command shows the shell listens.
		 */
		dprintf(g->log_fd,
			"\n# kvnet-guest: timed out after %u ms, ^C\n",
			timeout_ms);
		if (!kvnet_guest_write(g, "\003", 1,
				       kvnet_now_ms() + KVNET_GUEST_RESYNC_MS))
			kvnet_guest_cmd(g, KVNET_GUEST_RESYNC_MS, NULL, 0, ":");
	}
	return ret;
}

/* ---- ready -------------------------------------------------------------- */

static bool kvnet_guest_ready_line(struct kvnet_guest *g, const char *line,
				   void *ctx)
{
	static const char ready[] = "kvnet-guest: ready ";

	(void)ctx;
	if (strncmp(line, ready, strlen(ready)))
		return false;
	g->cpus = 0;
	snprintf(g->ip, sizeof(g->ip), "?");
	sscanf(line + strlen(ready), "cpus=%d ip=%31s", &g->cpus, g->ip);
	return true;
}

int __kvnet_guest_wait_ready(struct kvnet_guest *g, unsigned int timeout_ms)
{
	uint64_t deadline = kvnet_now_ms() + timeout_ms;
	int ret;

	ret = kvnet_guest_read(g, deadline, kvnet_guest_ready_line, NULL);
	if (ret)
		return ret;
	if (g->cpus <= 0)
		return -EPROTO;
	/* The shell starts after the ready line: wait until it answers. */
	ret = kvnet_guest_cmd(g, kvnet_ms_left(deadline), NULL, 0, ":");
	if (ret)
		return ret < 0 ? ret : -EPROTO;
	return g->cpus;
}

/* ---- stopping ----------------------------------------------------------- */

/* The shell's status convention for a wait status. */
static int kvnet_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -EPROTO;
}

/* Reap @pid within @timeout_ms: its wait status, or -ETIMEDOUT. */
static int kvnet_reap(pid_t pid, unsigned int timeout_ms)
{
	uint64_t deadline = kvnet_now_ms() + timeout_ms;
	int status;
	pid_t ret;

	for (;;) {
		ret = waitpid(pid, &status, WNOHANG);
		if (ret == pid)
			return status;
		if (ret < 0 && errno != EINTR)
			return -errno;
		if (kvnet_now_ms() >= deadline)
			return -ETIMEDOUT;
		kvnet_sleep_ms(10);
	}
}

int __kvnet_guest_wait_exit(struct kvnet_guest *g, unsigned int timeout_ms)
{
	uint64_t deadline = kvnet_now_ms() + timeout_ms, now;
	int status;

	while (g->pid) {
		status = kvnet_reap(g->pid, 0);
		if (status >= 0) {
			g->pid = 0;
			g->status = status;
			break;
		}
		if (status != -ETIMEDOUT)
			return status;
		now = kvnet_now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		/* Log what it prints meanwhile; once it closed the console,
		 * just wait. */
		if (kvnet_guest_read(g, now + 50, NULL, NULL) == -EPIPE)
			kvnet_sleep_ms(10);
	}
	/* What it printed last. */
	kvnet_guest_read(g, kvnet_now_ms() + 100, NULL, NULL);
	return kvnet_exit_code(g->status);
}

int __kvnet_guest_poweroff(struct kvnet_guest *g, unsigned int timeout_ms)
{
	uint64_t deadline = kvnet_now_ms() + timeout_ms;
	int ret;

	if (!g->pid)
		return kvnet_exit_code(g->status);
	/* The shell's poweroff, not in a subshell: it does not come back. */
	ret = kvnet_guest_write(g, "poweroff\n", strlen("poweroff\n"),
				deadline);
	if (ret && ret != -EPIPE)
		return ret;
	return __kvnet_guest_wait_exit(g, kvnet_ms_left(deadline));
}

int kvnet_guest_kill(struct kvnet_guest *g)
{
	if (g->pid)
		kill(g->pid, SIGKILL);
	return __kvnet_guest_wait_exit(g, KVNET_REAP_MS);
}

void kvnet_guest_close(struct kvnet_guest *g)
{
	if (g->pid)
		kvnet_guest_kill(g);
	if (g->in_fd >= 0)
		close(g->in_fd);
	if (g->out_fd >= 0)
		close(g->out_fd);
	if (g->log_fd >= 0)
		close(g->log_fd);
	g->in_fd = g->out_fd = g->log_fd = -1;
}

void kvnet_guest_log_tail(const struct kvnet_guest *g, unsigned int lines)
{
	char *text, *start, *line, *nl;
	struct stat st;
	unsigned int n = 0;
	int fd;

	fd = open(g->log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || !st.st_size) {
		fprintf(stderr, "# console log %s: empty or unreadable\n",
			g->log_path);
		if (fd >= 0)
			close(fd);
		return;
	}
	text = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (text == MAP_FAILED)
		return;
	/* Back from the end to the start of the @lines-th last line. */
	start = text + st.st_size;
	if (start[-1] == '\n')
		start--;
	while (start > text && n < lines)
		if (*--start == '\n')
			n++;
	if (*start == '\n')
		start++;
	fprintf(stderr, "# last %u lines of the console (%s):\n", lines,
		g->log_path);
	for (line = start; line < text + st.st_size; line = nl + 1) {
		nl = memchr(line, '\n', text + st.st_size - line);
		if (!nl)
			nl = text + st.st_size;
		fprintf(stderr, "#   %.*s\n", (int)(nl - line), line);
	}
	munmap(text, st.st_size);
}

/* ---- the host side ------------------------------------------------------ */

int __kvnet_peer_setup(struct kvnet_peer *p, char *err, size_t errlen)
{
	char out[256], sink[256];
	int fd, ret;

	if (!err) {
		err = sink;
		errlen = sizeof(sink);
	}
	memset(p, 0, sizeof(*p));
	ret = __kvnet_enter_netns();
	if (ret) {
		snprintf(err, errlen, "private network namespace");
		return ret;
	}
	fd = __kvnet_tap_create(KVNET_TAP_FLAGS, "kvtap%d", p->tap);
	if (fd < 0) {
		snprintf(err, errlen, "creating a tap");
		return fd;
	}
	/* The VMM attaches to it by name once this fd is gone. */
	ret = ioctl(fd, TUNSETPERSIST, 1) ? -errno : 0;
	close(fd);
	if (ret) {
		snprintf(err, errlen, "TUNSETPERSIST on %s", p->tap);
		return ret;
	}
	if (kvnet_run(out, sizeof(out),
		      "ip link set lo up && ip addr add %s dev %s && "
		      "ip link set %s up", KVNET_PEER_CIDR, p->tap, p->tap)) {
		snprintf(err, errlen, "configuring %s: %s", p->tap, out);
		return -EIO;
	}
	return 0;
}

int __kvnet_host_spawn(struct kvnet_host_cmd *c, const char *fmt, ...)
{
	pid_t parent = getpid();
	va_list ap;
	int null, n, err;

	va_start(ap, fmt);
	n = vsnprintf(c->cmd, sizeof(c->cmd), fmt, ap);
	va_end(ap);
	c->pid = 0;
	if (n < 0 || n >= (int)sizeof(c->cmd))
		return -EINVAL;
	c->out_fd = memfd_create("kvnet-host-cmd", MFD_CLOEXEC);
	if (c->out_fd < 0)
		return -errno;
	c->pid = fork();
	if (c->pid < 0) {
		err = -errno;
		close(c->out_fd);
		c->pid = 0;
		return err;
	}
	if (!c->pid) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(127);
		setpgid(0, 0);
		null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, STDIN_FILENO) < 0 ||
		    dup2(c->out_fd, STDOUT_FILENO) < 0 ||
		    dup2(c->out_fd, STDERR_FILENO) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", c->cmd, (char *)NULL);
		_exit(127);
	}
	/* Also here: a kill right after this returns must reach the group. */
	setpgid(c->pid, c->pid);
	return 0;
}

int __kvnet_host_collect(struct kvnet_host_cmd *c, unsigned int timeout_ms,
			 char *out, size_t outlen)
{
	int status, ret;
	ssize_t n;

	if (out && outlen)
		out[0] = '\0';
	if (!c->pid)
		return -ECHILD;
	status = kvnet_reap(c->pid, timeout_ms);
	/* On a timeout, and whatever it left running in the background. */
	kill(-c->pid, SIGKILL);
	if (status == -ETIMEDOUT)
		kvnet_reap(c->pid, KVNET_REAP_MS);
	c->pid = 0;
	ret = status < 0 ? status : kvnet_exit_code(status);
	if (out && outlen) {
		n = pread(c->out_fd, out, outlen - 1, 0);
		out[n > 0 ? n : 0] = '\0';
	}
	close(c->out_fd);
	c->out_fd = -1;
	return ret;
}

int __kvnet_guest_stream(struct kvnet_guest *g, unsigned int port,
			 unsigned long long bytes, bool to_guest,
			 unsigned int timeout_ms, struct kvnet_guest_stream *r)
{
	struct kvnet_host_cmd server;
	char tool[PATH_MAX];
	int ret;

	memset(r, 0, sizeof(*r));
	ret = __kvnet_repo_path(tool, "selftests/out/tcp_stream");
	if (ret)
		return ret;
	ret = __kvnet_host_spawn(&server, "exec %s -s -1 -p %u", tool, port);
	if (ret)
		return ret;
	/* Starting over 9p in a loaded VM can take seconds. */
	if (!kvnet_wait_until(kvnet_tcp_listening(port), 20000)) {
		__kvnet_host_collect(&server, 0, r->host_out,
				     sizeof(r->host_out));
		return -ETIMEDOUT;
	}
	r->guest_status = __kvnet_guest_run(g, timeout_ms, r->guest_out,
		sizeof(r->guest_out), "tcp_stream -c %s -p %u -n %llu -V%s",
		KVNET_PEER_ADDR, port, bytes, to_guest ? " -R" : "");
	r->host_status = __kvnet_host_collect(&server, 10000, r->host_out,
					      sizeof(r->host_out));
	return 0;
}
