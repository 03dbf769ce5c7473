// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmark tools tcp_rr and tcp_stream, between two network
 * namespaces over a veth pair, with no guest: what they report, that -V
 * catches a corrupted stream and says where, that bad flags are usage
 * errors, and that a peer that stalls or never answers ends a run within
 * seconds instead of hanging it.
 *
 *   this test's netns (private)         the peer's netns (a held child)
 *   tt0 10.77.0.1/24  ---- veth ----    tt1 10.77.0.2/24
 *   clients                             servers (-s -1)
 *
 * The tools come from the directory of this binary; each runs with its
 * output (stdout and stderr together) in a memfd that the test reads after
 * it exited.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "bench_net.h"
#include "kvnet_harness.h"
#include "kvnet_util.h"

#define TT_LINK		"tt0"
#define TT_PEER_LINK	"tt1"
#define TT_ADDR		"10.77.0.1"
#define TT_PEER_ADDR	"10.77.0.2"
/* On the veth's subnet, but nobody has it: its ARP goes unanswered. */
#define TT_NOBODY_ADDR	"10.77.0.3"
#define TT_SILENT_PORT	23456
#define TT_VERIFY_BYTES	(8ULL << 20)
#define TT_VERIFY_ARG	"8M"
/* Where -X corrupts the stream: in the middle of a message, not at 0. */
#define TT_CORRUPT_AT	5000001ULL
/* No run here should take this long. */
#define TT_RUN_MS	30000
/*
 * What "within seconds" means for a peer that stalls or never answers:
 * the tools' own timeout, a second of test, and room for a slow machine.
 */
#define TT_STALL_LIMIT_MS (BENCH_IO_TIMEOUT_MS + 7000)
#define TT_MAX_PROCS	8

struct tt_proc {
	pid_t pid;
	int out;
	int status;	/* exit status; -1 killed at the timeout, -2 signaled */
	uint64_t ms;	/* how long it ran */
	char text[8192];
};

FIXTURE(tools) {
	char dir[PATH_MAX];
	/* Holds the peer's netns: a child that unshared it, then waits. */
	pid_t holder;
	int peer_ns;
	struct tt_proc *procs[TT_MAX_PROCS];
	struct tt_proc proc_mem[TT_MAX_PROCS];
	unsigned int nprocs;
};

/* Run a shell command; fail the test with its output if it fails. */
#define tt_sh(...) do {							\
	char __out[1024];						\
	ASSERT_EQ(0, kvnet_run(__out, sizeof(__out), __VA_ARGS__))	\
		TH_LOG("%s", __out);					\
} while (0)

FIXTURE_SETUP(tools)
{
	char exe[PATH_MAX], out[256];
	ssize_t n;

	self->holder = -1;
	self->peer_ns = -1;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ASSERT_LT(0, n);
	exe[n] = '\0';
	snprintf(self->dir, sizeof(self->dir), "%s", dirname(exe));
	ASSERT_EQ(0, access(kvnet_fmt("%s/tcp_rr", self->dir), X_OK))
		TH_LOG("no tcp_rr next to this test in %s", self->dir);
	ASSERT_EQ(0, access(kvnet_fmt("%s/tcp_stream", self->dir), X_OK))
		TH_LOG("no tcp_stream next to this test in %s", self->dir);

	kvnet_enter_netns();
	if (kvnet_run(out, sizeof(out),
		      "ip link add " TT_LINK " type veth peer name "
		      TT_PEER_LINK))
		KVNET_SKIP("no veth (modprobe veth): %s", out);
	self->holder = kvnet_hold_netns();
	ASSERT_LT(0, self->holder) TH_LOG("peer netns: %s",
					  kvnet_errname(-self->holder));
	self->peer_ns = open(kvnet_fmt("/proc/%d/ns/net", self->holder),
			     O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, self->peer_ns);

	tt_sh("ip link set " TT_PEER_LINK " netns %d", self->holder);
	tt_sh("ip addr add " TT_ADDR "/24 dev " TT_LINK);
	tt_sh("ip link set lo up");
	tt_sh("ip link set " TT_LINK " up");
	tt_sh("nsenter --net=/proc/%d/ns/net sh -c 'ip addr add "
	      TT_PEER_ADDR "/24 dev " TT_PEER_LINK " && ip link set lo up && "
	      "ip link set " TT_PEER_LINK " up'", self->holder);
}

FIXTURE_TEARDOWN(tools)
{
	unsigned int i;

	for (i = 0; i < self->nprocs; i++) {
		if (self->procs[i]->pid > 0) {
			kill(self->procs[i]->pid, SIGKILL);
			waitpid(self->procs[i]->pid, NULL, 0);
		}
		close(self->procs[i]->out);
	}
	if (self->peer_ns >= 0)
		close(self->peer_ns);
	if (self->holder > 0) {
		kill(self->holder, SIGKILL);
		waitpid(self->holder, NULL, 0);
	}
}

/*
 * Start tool @argv[0] from the test's directory, in the peer's netns if
 * @in_peer, its output into a memfd. NULL on failure.
 */
static struct tt_proc *tt_start(FIXTURE_DATA(tools) *self, bool in_peer,
				const char *const argv[])
{
	struct tt_proc *p;
	char path[PATH_MAX];

	if (self->nprocs == TT_MAX_PROCS)
		return NULL;
	if (snprintf(path, sizeof(path), "%s/%s", self->dir, argv[0]) >=
	    (int)sizeof(path))
		return NULL;
	p = &self->proc_mem[self->nprocs];
	memset(p, 0, sizeof(*p));
	p->out = memfd_create("tools_test-out", MFD_CLOEXEC);
	if (p->out < 0)
		return NULL;
	self->procs[self->nprocs++] = p;
	fflush(NULL);
	p->ms = kvnet_now_ms();
	p->pid = fork();
	if (!p->pid) {
		/* Never outlive the test, whatever it asserted. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (in_peer && setns(self->peer_ns, CLONE_NEWNET))
			_exit(126);
		if (dup2(p->out, STDOUT_FILENO) < 0 ||
		    dup2(p->out, STDERR_FILENO) < 0)
			_exit(126);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	return p->pid > 0 ? p : NULL;
}

/*
 * Wait up to @timeout_ms for @p to exit (kill it after that), then read its
 * output into p->text. Its exit status, also in p->status.
 */
static int tt_wait(struct tt_proc *p, unsigned int timeout_ms)
{
	int wstatus = 0;
	ssize_t n;

	if (!kvnet_wait_until(waitpid(p->pid, &wstatus, WNOHANG) == p->pid,
			      timeout_ms)) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->status = -1;
	} else {
		p->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -2;
	}
	p->pid = 0;
	p->ms = kvnet_now_ms() - p->ms;
	n = pread(p->out, p->text, sizeof(p->text) - 1, 0);
	p->text[n > 0 ? n : 0] = '\0';
	return p->status;
}

/* The number after "@key": in the JSON line in @text; NAN if absent. */
static double tt_json(const char *text, const char *key)
{
	const char *at = strstr(text, kvnet_fmt("\"%s\":", key));
	char *end;
	double v;

	if (!at)
		return NAN;
	at += strlen(key) + 3;
	v = strtod(at, &end);
	return end == at ? NAN : v;
}

/* Bytes link @name counted, "rx" or "tx". */
static long long tt_link_bytes(const char *name, const char *dir)
{
	return kvnet_read_ll(kvnet_fmt("/sys/class/net/%s/statistics/%s_bytes",
				       name, dir));
}

/* A TCP connection to @addr:@port, tried for 5 s: fd or -errno. */
static int tt_connect(const char *addr, uint16_t port)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
	};
	uint64_t deadline = kvnet_now_ms() + 5000;
	int fd, err;

	inet_pton(AF_INET, addr, &sin.sin_addr);
	for (;;) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (!connect(fd, (struct sockaddr *)&sin, sizeof(sin)))
			return fd;
		err = -errno;
		close(fd);
		if (kvnet_now_ms() > deadline)
			return err;
		kvnet_sleep_ms(50);
	}
}

#define tt_start_ok(self, in_peer, ...) ({				\
	const char *const __argv[] = { __VA_ARGS__, NULL };		\
	struct tt_proc *__p = tt_start(self, in_peer, __argv);		\
	ASSERT_NE(NULL, __p) TH_LOG("starting %s: %s", __argv[0],	\
				    strerror(errno));			\
	__p;								\
})

/* Wait for @p; expect exit status @want, else log its output. */
#define tt_expect_exit(p, want, timeout_ms) do {			\
	struct tt_proc *__p = (p);					\
	int __st = tt_wait(__p, timeout_ms);				\
	EXPECT_EQ(want, __st) {						\
		TH_LOG("%s: exit status %d after %llu ms, output:",	\
		       #p, __st, (unsigned long long)__p->ms);		\
		tt_log_output(__p);					\
	}								\
} while (0)

/* @p's output in the test's log, line by line, as TAP comments. */
#define tt_log_output(p) do {						\
	char *__line, *__save = NULL;					\
	char __copy[sizeof((p)->text)];					\
									\
	memcpy(__copy, (p)->text, sizeof(__copy));			\
	for (__line = strtok_r(__copy, "\n", &__save); __line;		\
	     __line = strtok_r(NULL, "\n", &__save))			\
		TH_LOG("%s", __line);					\
} while (0)

/* The JSON number @key of @p's output, asserted present. */
#define tt_num(p, key) ({						\
	double __v = tt_json((p)->text, key);				\
	ASSERT_FALSE(isnan(__v)) TH_LOG("no \"%s\" in:\n%s", key,	\
					(p)->text);			\
	__v;								\
})

/*
 * One second of 1/1 transactions: a positive rate that matches the count
 * and the duration, the server's count equal to the client's, percentiles
 * in order, and the mean latency the inverse of the rate.
 */
TEST_F(tools, rr_rate_and_percentiles)
{
	struct tt_proc *srv, *cli;
	double n, rate, elapsed, mean, min, p50, p90, p99, max;

	srv = tt_start_ok(self, true, "tcp_rr", "-s", "-1", "-j");
	cli = tt_start_ok(self, false, "tcp_rr", "-c", TT_PEER_ADDR,
			  "-l", "1", "-j");
	tt_expect_exit(cli, BENCH_EXIT_OK, TT_RUN_MS);
	tt_expect_exit(srv, BENCH_EXIT_OK, TT_RUN_MS);
	ASSERT_EQ(0, cli->status);
	ASSERT_EQ(0, srv->status);
	tt_log_output(cli);

	n = tt_num(cli, "transactions");
	rate = tt_num(cli, "trans_per_s");
	elapsed = tt_num(cli, "elapsed_s");
	EXPECT_LT(0, n);
	EXPECT_EQ(n, tt_num(cli, "server_transactions"));
	EXPECT_EQ(n, tt_num(srv, "transactions"));
	EXPECT_LE(1.0, elapsed);
	EXPECT_GT(6.0, elapsed);
	EXPECT_GT(0.01, fabs(rate - n / elapsed) / rate)
		TH_LOG("%.2f trans/s for %.0f in %.6f s", rate, n, elapsed);

	mean = tt_num(cli, "mean_us");
	min = tt_num(cli, "min_us");
	p50 = tt_num(cli, "p50_us");
	p90 = tt_num(cli, "p90_us");
	p99 = tt_num(cli, "p99_us");
	max = tt_num(cli, "max_us");
	EXPECT_LT(0, min);
	EXPECT_LE(min, p50);
	EXPECT_LE(p50, p90);
	EXPECT_LE(p90, p99);
	EXPECT_LE(p99, max);
	EXPECT_LE(min, mean);
	EXPECT_LE(mean, max);
	/*
	 * One transaction in flight, each starting when the last ended: the
	 * latencies tile the run, so mean and rate are inverses.
	 */
	EXPECT_LT(0.5, mean * rate / 1e6) TH_LOG("mean %.3f us", mean);
	EXPECT_GE(1.001, mean * rate / 1e6) TH_LOG("mean %.3f us", mean);
}

/*
 * -r REQ,RESP: the sizes travel to the server in the hello, and the link
 * carries at least that much each way per transaction. Human output.
 */
TEST_F(tools, rr_sizes)
{
	long long tx0 = tt_link_bytes(TT_LINK, "tx");
	long long rx0 = tt_link_bytes(TT_LINK, "rx");
	struct tt_proc *srv, *cli;
	unsigned long long n = 0;
	const char *at;

	ASSERT_LE(0, tx0);
	ASSERT_LE(0, rx0);
	srv = tt_start_ok(self, true, "tcp_rr", "-s", "-1");
	cli = tt_start_ok(self, false, "tcp_rr", "-c", TT_PEER_ADDR,
			  "-l", "0.5", "-r", "100,3K");
	tt_expect_exit(cli, BENCH_EXIT_OK, TT_RUN_MS);
	tt_expect_exit(srv, BENCH_EXIT_OK, TT_RUN_MS);
	ASSERT_EQ(0, cli->status);
	tt_log_output(cli);

	EXPECT_NE(NULL, strstr(cli->text,
			       kvnet_fmt("TCP_RR to " TT_PEER_ADDR " port %u, "
					 "100/3072 bytes", BENCH_TCP_RR_PORT)));
	EXPECT_NE(NULL, strstr(cli->text, " trans/s, latency us p50 "));
	EXPECT_NE(NULL, strstr(srv->text, ", 100/3072 bytes: "));
	at = strstr(cli->text, "max ");
	ASSERT_NE(NULL, at);
	at = strchr(at, ',');
	ASSERT_NE(NULL, at);
	ASSERT_EQ(1, sscanf(at, ", %llu transactions", &n));
	ASSERT_NE(0ULL, n);
	EXPECT_LE((long long)(100 * n), tt_link_bytes(TT_LINK, "tx") - tx0);
	EXPECT_LE((long long)(3072 * n), tt_link_bytes(TT_LINK, "rx") - rx0);
}

/*
 * -n 8M -V one way and the other: every byte verified at the receiving
 * end, both ends say so, and the bytes went the way they should.
 */
static void tt_stream_verify(struct __test_metadata *_metadata,
			     FIXTURE_DATA(tools) *self, bool reverse)
{
	const char *dir = reverse ? "rx" : "tx";
	long long before = tt_link_bytes(TT_LINK, dir);
	struct tt_proc *srv, *cli;

	ASSERT_LE(0, before);
	srv = tt_start_ok(self, true, "tcp_stream", "-s", "-1", "-j");
	if (reverse)
		cli = tt_start_ok(self, false, "tcp_stream", "-c",
				  TT_PEER_ADDR, "-n", TT_VERIFY_ARG, "-V",
				  "-R");
	else
		cli = tt_start_ok(self, false, "tcp_stream", "-c",
				  TT_PEER_ADDR, "-n", TT_VERIFY_ARG, "-V");
	tt_expect_exit(cli, BENCH_EXIT_OK, TT_RUN_MS);
	tt_expect_exit(srv, BENCH_EXIT_OK, TT_RUN_MS);
	ASSERT_EQ(0, cli->status);
	tt_log_output(cli);

	EXPECT_NE(NULL, strstr(cli->text, kvnet_fmt("verified %llu bytes\n",
						    TT_VERIFY_BYTES)));
	EXPECT_NE(NULL, strstr(cli->text, reverse ? "TCP_MAERTS client"
						  : "TCP_STREAM client"));
	EXPECT_EQ(TT_VERIFY_BYTES, tt_num(srv, "received_bytes"));
	EXPECT_EQ(TT_VERIFY_BYTES, tt_num(srv, "sent_bytes"));
	EXPECT_EQ(TT_VERIFY_BYTES, tt_num(srv, "verified_bytes"));
	EXPECT_EQ(-1, tt_num(srv, "mismatch_offset"));
	EXPECT_LT(0, tt_num(srv, "gbps"));
	EXPECT_NE(NULL, strstr(srv->text, "\"status\":\"ok\""));
	EXPECT_NE(NULL, strstr(srv->text, reverse ? "\"test\":\"TCP_MAERTS\""
						  : "\"test\":\"TCP_STREAM\""));
	EXPECT_LE((long long)TT_VERIFY_BYTES,
		  tt_link_bytes(TT_LINK, dir) - before);
}

TEST_F(tools, stream_verify_to_server)
{
	tt_stream_verify(_metadata, self, false);
}

TEST_F(tools, stream_verify_to_client)
{
	tt_stream_verify(_metadata, self, true);
}

/* -l: both ends count the same bytes, the rate is bytes over time. */
TEST_F(tools, stream_duration)
{
	struct tt_proc *srv, *cli;
	double bytes, secs, gbps;

	srv = tt_start_ok(self, true, "tcp_stream", "-s", "-1");
	cli = tt_start_ok(self, false, "tcp_stream", "-c", TT_PEER_ADDR,
			  "-l", "1", "-m", "16K", "-j");
	tt_expect_exit(cli, BENCH_EXIT_OK, TT_RUN_MS);
	tt_expect_exit(srv, BENCH_EXIT_OK, TT_RUN_MS);
	ASSERT_EQ(0, cli->status);
	tt_log_output(cli);

	bytes = tt_num(cli, "received_bytes");
	secs = tt_num(cli, "received_s");
	gbps = tt_num(cli, "gbps");
	EXPECT_LT(0, bytes);
	EXPECT_EQ(bytes, tt_num(cli, "sent_bytes"));
	EXPECT_EQ(16384, tt_num(cli, "msg_size"));
	EXPECT_LE(1.0, tt_num(cli, "sent_s"));
	EXPECT_LT(0.9, secs);
	EXPECT_GT(0.01, fabs(gbps - bytes * 8 / secs / 1e9) / gbps);
	EXPECT_EQ(0, tt_num(cli, "verified_bytes"));
	EXPECT_NE(NULL, strstr(srv->text, "TCP_STREAM server"));
}

/*
 * A receiver with another seed than the sender's: the first bytes already
 * differ, both ends fail and say so. In each direction the receiver is
 * the other side: the server for TCP_STREAM, the client for TCP_MAERTS.
 */
TEST_F(tools, stream_seed_mismatch)
{
	struct tt_proc *srv, *cli;
	int reverse;

	for (reverse = 0; reverse < 2; reverse++) {
		srv = tt_start_ok(self, true, "tcp_stream", "-s", "-1",
				  "-S", "2");
		cli = tt_start_ok(self, false, "tcp_stream", "-c",
				  TT_PEER_ADDR, "-n", TT_VERIFY_ARG, "-V",
				  "-S", "1", reverse ? "-R" : NULL);
		tt_expect_exit(cli, BENCH_EXIT_FAIL, TT_RUN_MS);
		tt_expect_exit(srv, BENCH_EXIT_FAIL, TT_RUN_MS);
		tt_log_output(cli);
		EXPECT_NE(NULL, strstr(cli->text, "data mismatch at offset "));
		EXPECT_NE(NULL, strstr(srv->text, "data mismatch at offset "));
		EXPECT_EQ(NULL, strstr(cli->text, "verified"));
	}
}

/*
 * One flipped byte in the middle of 8 MiB (-X), each way: found, at its
 * offset, with what was verified before it.
 */
TEST_F(tools, stream_corrupt_byte)
{
	const char *msg = kvnet_fmt("data mismatch at offset %llu",
				    TT_CORRUPT_AT);
	const char *at = kvnet_fmt("%llu", TT_CORRUPT_AT);
	struct tt_proc *srv, *cli;
	int reverse;

	for (reverse = 0; reverse < 2; reverse++) {
		srv = tt_start_ok(self, true, "tcp_stream", "-s", "-1");
		cli = tt_start_ok(self, false, "tcp_stream", "-c",
				  TT_PEER_ADDR, "-n", TT_VERIFY_ARG, "-V",
				  "-X", at, "-j", reverse ? "-R" : NULL);
		tt_expect_exit(cli, BENCH_EXIT_FAIL, TT_RUN_MS);
		tt_expect_exit(srv, BENCH_EXIT_FAIL, TT_RUN_MS);
		tt_log_output(cli);
		EXPECT_NE(NULL, strstr(cli->text, msg));
		EXPECT_NE(NULL, strstr(srv->text, msg));
		EXPECT_NE(NULL, strstr(cli->text, "\"status\":\"mismatch\""));
		EXPECT_EQ(TT_CORRUPT_AT, tt_num(cli, "mismatch_offset"));
		EXPECT_EQ(TT_CORRUPT_AT, tt_num(cli, "verified_bytes"));
		/* Not cut short: the whole stream still arrived. */
		EXPECT_EQ(TT_VERIFY_BYTES, tt_num(cli, "received_bytes"));
	}
}

/* Flags that make no sense: usage on stderr, exit status 2, nothing run. */
TEST_F(tools, bad_flags)
{
	static const char *const bad[][8] = {
		{ "tcp_rr" },
		{ "tcp_rr", "-x" },
		{ "tcp_rr", "-c" },
		{ "tcp_rr", "-s", "-c", TT_PEER_ADDR },
		{ "tcp_rr", "-s", "-l", "1" },
		{ "tcp_rr", "-c", TT_PEER_ADDR, "-1" },
		{ "tcp_rr", "-c", TT_PEER_ADDR, "-r", "0,1" },
		{ "tcp_rr", "-c", TT_PEER_ADDR, "-r", "64" },
		{ "tcp_rr", "-c", TT_PEER_ADDR, "-r", "1,17M" },
		{ "tcp_rr", "-c", TT_PEER_ADDR, "-l", "0" },
		{ "tcp_rr", "-c", TT_PEER_ADDR, "-l", "-1" },
		{ "tcp_rr", "-c", TT_PEER_ADDR, "-p", "65536" },
		{ "tcp_rr", "-c", TT_PEER_ADDR, "-V" },
		{ "tcp_rr", "-c", TT_PEER_ADDR, "stray" },
		{ "tcp_stream" },
		{ "tcp_stream", "-s", "-R" },
		{ "tcp_stream", "-s", "-n", "1M" },
		{ "tcp_stream", "-c", TT_PEER_ADDR, "-l", "1", "-n", "1M" },
		{ "tcp_stream", "-c", TT_PEER_ADDR, "-n", "0" },
		{ "tcp_stream", "-c", TT_PEER_ADDR, "-n", "12Q" },
		{ "tcp_stream", "-c", TT_PEER_ADDR, "-n", "-5" },
		{ "tcp_stream", "-c", TT_PEER_ADDR, "-m", "0" },
		{ "tcp_stream", "-c", TT_PEER_ADDR, "-S", "3" },
		{ "tcp_stream", "-c", TT_PEER_ADDR, "-X", "3" },
		{ "tcp_stream", "-c", TT_PEER_ADDR, "-p", "0" },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		struct tt_proc *p = tt_start_ok(self, false, bad[i][0],
						bad[i][1], bad[i][2], bad[i][3],
						bad[i][4], bad[i][5], bad[i][6],
						bad[i][7]);
		const char *args = kvnet_fmt("%s %s %s %s %s %s", bad[i][0],
					     bad[i][1] ?: "", bad[i][2] ?: "",
					     bad[i][3] ?: "", bad[i][4] ?: "",
					     bad[i][5] ?: "");

		EXPECT_EQ(BENCH_EXIT_USAGE, tt_wait(p, TT_RUN_MS)) {
			TH_LOG("%s", args);
			tt_log_output(p);
		}
		EXPECT_NE(NULL, strstr(p->text, "usage: ")) TH_LOG("%s", args);
		/* One slot, used again. */
		close(p->out);
		self->nprocs--;
	}
}

/*
 * A server that stops (SIGSTOP) in the middle of a 30 s run: the client
 * gives up within seconds, for each tool, in each direction of the stream.
 */
TEST_F_TIMEOUT(tools, stalled_server, 90)
{
	static const char *const runs[][8] = {
		{ "tcp_rr", "-c", TT_PEER_ADDR, "-l", "30" },
		{ "tcp_stream", "-c", TT_PEER_ADDR, "-l", "30" },
		{ "tcp_stream", "-c", TT_PEER_ADDR, "-l", "30", "-R" },
	};
	struct tt_proc *srv, *cli;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(runs); i++) {
		srv = tt_start_ok(self, true, runs[i][0], "-s", "-1");
		cli = tt_start_ok(self, false, runs[i][0], runs[i][1],
				  runs[i][2], runs[i][3], runs[i][4],
				  runs[i][5]);
		kvnet_sleep_ms(1000);
		ASSERT_EQ(0, kill(srv->pid, SIGSTOP));
		tt_expect_exit(cli, BENCH_EXIT_FAIL, TT_STALL_LIMIT_MS);
		tt_log_output(cli);
		EXPECT_NE(NULL, strstr(cli->text, "timed out"));
		kill(srv->pid, SIGKILL);
		tt_wait(srv, TT_RUN_MS);
		close(srv->out);
		close(cli->out);
		self->nprocs -= 2;
	}
}

/*
 * Peers that never answer: a socket that takes the connection but never
 * replies to the hello, a client that never sends one, and addresses with
 * nobody behind them. Each run fails within seconds.
 */
TEST_F_TIMEOUT(tools, silent_peer, 90)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(TT_SILENT_PORT),
	};
	struct tt_proc *srv, *cli;
	int lfd, cfd, one = 1;

	/* Listens, so connects succeed, but nobody reads or answers. */
	inet_pton(AF_INET, TT_ADDR, &sin.sin_addr);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, lfd);
	ASSERT_EQ(0, setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one,
				sizeof(one)));
	ASSERT_EQ(0, bind(lfd, (struct sockaddr *)&sin, sizeof(sin)));
	ASSERT_EQ(0, listen(lfd, 4));
	cli = tt_start_ok(self, false, "tcp_rr", "-c", TT_ADDR, "-p",
			  kvnet_fmt("%d", TT_SILENT_PORT), "-l", "1");
	tt_expect_exit(cli, BENCH_EXIT_FAIL, TT_STALL_LIMIT_MS);
	EXPECT_NE(NULL, strstr(cli->text, "timed out")) tt_log_output(cli);
	cli = tt_start_ok(self, false, "tcp_stream", "-c", TT_ADDR, "-p",
			  kvnet_fmt("%d", TT_SILENT_PORT), "-n", "1M");
	tt_expect_exit(cli, BENCH_EXIT_FAIL, TT_STALL_LIMIT_MS);
	EXPECT_NE(NULL, strstr(cli->text, "timed out")) tt_log_output(cli);
	close(lfd);

	/* A client that connects and says nothing. */
	srv = tt_start_ok(self, true, "tcp_stream", "-s", "-1");
	cfd = tt_connect(TT_PEER_ADDR, BENCH_TCP_STREAM_PORT);
	ASSERT_LE(0, cfd) TH_LOG("connect: %s", kvnet_errname(-cfd));
	tt_expect_exit(srv, BENCH_EXIT_FAIL, TT_STALL_LIMIT_MS);
	EXPECT_NE(NULL, strstr(srv->text, "no hello")) tt_log_output(srv);
	close(cfd);

	/* No server at the peer; no peer at all at TT_NOBODY_ADDR. */
	cli = tt_start_ok(self, false, "tcp_rr", "-c", TT_PEER_ADDR, "-l", "1");
	tt_expect_exit(cli, BENCH_EXIT_FAIL, TT_STALL_LIMIT_MS);
	EXPECT_NE(NULL, strstr(cli->text, "refused")) tt_log_output(cli);
	cli = tt_start_ok(self, false, "tcp_stream", "-c", TT_NOBODY_ADDR,
			  "-l", "1");
	tt_expect_exit(cli, BENCH_EXIT_FAIL, TT_STALL_LIMIT_MS);
	EXPECT_NE(NULL, strstr(cli->text, "connect to " TT_NOBODY_ADDR))
		tt_log_output(cli);
}

KVNET_HARNESS_MAIN
