// SPDX-License-Identifier: GPL-2.0
/*
 * The control messages, sockets and command-line numbers of tcp_rr and
 * tcp_stream (see bench_net.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_net.h"

/* How often a connect is tried again while the server is not up yet. */
#define BENCH_CONNECT_RETRY_MS	100

/* ---- messages --------------------------------------------------------- */

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	v = htons(v);
	memcpy(p, &v, sizeof(v));
	return p + sizeof(v);
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, sizeof(v));
	return p + sizeof(v);
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
	p = put32(p, v >> 32);
	return put32(p, (uint32_t)v);
}

static const uint8_t *get16(const uint8_t *p, uint16_t *v)
{
	memcpy(v, p, sizeof(*v));
	*v = ntohs(*v);
	return p + sizeof(*v);
}

static const uint8_t *get32(const uint8_t *p, uint32_t *v)
{
	memcpy(v, p, sizeof(*v));
	*v = ntohl(*v);
	return p + sizeof(*v);
}

static const uint8_t *get64(const uint8_t *p, uint64_t *v)
{
	uint32_t hi, lo;

	p = get32(p, &hi);
	p = get32(p, &lo);
	*v = (uint64_t)hi << 32 | lo;
	return p;
}

/* Receive a whole message of @len bytes: 0, -EPROTO if cut short, -errno. */
static int bench_msg_recv(int fd, uint8_t *buf, size_t len)
{
	ssize_t n = bench_read_full(fd, buf, len);

	if (n < 0)
		return n;
	return (size_t)n == len ? 0 : -EPROTO;
}

int bench_hello_send(int fd, const struct bench_hello *h)
{
	uint8_t buf[BENCH_HELLO_SIZE], *p = buf;

	p = put32(p, BENCH_MAGIC);
	p = put16(p, BENCH_VERSION);
	p = put16(p, h->test);
	p = put32(p, h->flags);
	p = put32(p, h->req_size);
	p = put32(p, h->resp_size);
	p = put32(p, h->duration_ms);
	p = put64(p, h->bytes);
	p = put64(p, h->seed);
	p = put64(p, h->corrupt_at);
	return bench_write_full(fd, buf, p - buf);
}

int bench_hello_recv(int fd, struct bench_hello *h)
{
	uint8_t buf[BENCH_HELLO_SIZE];
	const uint8_t *p = buf;
	int ret = bench_msg_recv(fd, buf, sizeof(buf));

	if (ret)
		return ret;
	p = get32(p, &h->magic);
	p = get16(p, &h->version);
	p = get16(p, &h->test);
	p = get32(p, &h->flags);
	p = get32(p, &h->req_size);
	p = get32(p, &h->resp_size);
	p = get32(p, &h->duration_ms);
	p = get64(p, &h->bytes);
	p = get64(p, &h->seed);
	get64(p, &h->corrupt_at);
	if (h->magic != BENCH_MAGIC || h->version != BENCH_VERSION)
		return -EPROTO;
	return 0;
}

int bench_reply_send(int fd, uint32_t error)
{
	uint8_t buf[BENCH_REPLY_SIZE], *p = buf;

	p = put32(p, BENCH_MAGIC);
	p = put32(p, error);
	return bench_write_full(fd, buf, p - buf);
}

int bench_reply_recv(int fd)
{
	uint8_t buf[BENCH_REPLY_SIZE];
	struct bench_reply r;
	int ret = bench_msg_recv(fd, buf, sizeof(buf));

	if (ret)
		return ret;
	get32(get32(buf, &r.magic), &r.error);
	if (r.magic != BENCH_MAGIC)
		return -EPROTO;
	/* An errno from the peer, never taken for success or as huge. */
	if (r.error)
		return r.error < 4096 ? -(int)r.error : -EPROTO;
	return 0;
}

void bench_result_encode(uint8_t buf[BENCH_RESULT_SIZE],
			 const struct bench_result *r)
{
	uint8_t *p = buf;

	p = put32(p, BENCH_MAGIC);
	p = put32(p, r->status);
	p = put64(p, r->transactions);
	p = put64(p, r->bytes_in);
	p = put64(p, r->bytes_out);
	p = put64(p, r->elapsed_ns);
	p = put64(p, r->verified);
	put64(p, r->bad_offset);
}

int bench_result_decode(const uint8_t buf[BENCH_RESULT_SIZE],
			struct bench_result *r)
{
	const uint8_t *p = buf;

	p = get32(p, &r->magic);
	p = get32(p, &r->status);
	p = get64(p, &r->transactions);
	p = get64(p, &r->bytes_in);
	p = get64(p, &r->bytes_out);
	p = get64(p, &r->elapsed_ns);
	p = get64(p, &r->verified);
	get64(p, &r->bad_offset);
	if (r->magic != BENCH_MAGIC || r->status > BENCH_SHORT)
		return -EPROTO;
	return 0;
}

int bench_result_send(int fd, const struct bench_result *r)
{
	uint8_t buf[BENCH_RESULT_SIZE];

	bench_result_encode(buf, r);
	return bench_write_full(fd, buf, sizeof(buf));
}

int bench_result_recv(int fd, struct bench_result *r)
{
	uint8_t buf[BENCH_RESULT_SIZE];
	int ret = bench_msg_recv(fd, buf, sizeof(buf));

	return ret ? ret : bench_result_decode(buf, r);
}

/* ---- sockets ---------------------------------------------------------- */

int bench_listen(uint16_t port)
{
	struct sockaddr_in6 sin6 = {
		.sin6_family = AF_INET6,
		.sin6_port = htons(port),
		.sin6_addr = IN6ADDR_ANY_INIT,
	};
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_ANY),
	};
	int one = 1, zero = 0, fd, err;
	struct sockaddr *sa = (struct sockaddr *)&sin6;
	socklen_t salen = sizeof(sin6);

	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		if (errno != EAFNOSUPPORT)
			return -errno;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		sa = (struct sockaddr *)&sin;
		salen = sizeof(sin);
	} else if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
			      sizeof(zero))) {
		goto fail;
	}
	/* A server started again right after a test must not wait out TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		goto fail;
	if (bind(fd, sa, salen) || listen(fd, 16))
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

/* @host as a socket address; false if it is no numeric address. */
static bool bench_parse_addr(const char *host, uint16_t port,
			     struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (!strcmp(host, "localhost"))
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return true;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return true;
	}
	return false;
}

/* One non-blocking connect, waiting at most @timeout_ms: 0 or -errno. */
static int bench_connect_once(int fd, const struct sockaddr *sa,
			      socklen_t salen, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t errlen = sizeof(int);
	int err = 0, n;

	if (!connect(fd, sa, salen))
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	do {
		n = poll(&pfd, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (!n)
		return -ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen))
		return -errno;
	return -err;
}

int bench_connect(const char *host, uint16_t port)
{
	uint64_t deadline = bench_now_ns() +
			    BENCH_CONNECT_TIMEOUT_MS * 1000000ULL;
	struct timespec retry = { 0, BENCH_CONNECT_RETRY_MS * 1000000L };
	struct sockaddr_storage ss;
	socklen_t salen;
	int fd, ret;

	if (!bench_parse_addr(host, port, &ss, &salen))
		return -EINVAL;
	for (;;) {
		uint64_t now = bench_now_ns();

		if (now >= deadline)
			return -ETIMEDOUT;
		fd = socket(ss.ss_family,
			    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		ret = bench_connect_once(fd, (struct sockaddr *)&ss, salen,
					 (deadline - now + 999999) / 1000000);
		if (!ret)
			break;
		close(fd);
		/* Nobody listens yet, or no route yet: a peer still starting. */
		if (ret != -ECONNREFUSED && ret != -ENETUNREACH &&
		    ret != -EHOSTUNREACH)
			return ret;
		if (bench_now_ns() + BENCH_CONNECT_RETRY_MS * 1000000ULL >=
		    deadline)
			return ret;
		nanosleep(&retry, NULL);
	}
	/* Blocking from now on; the socket timeouts bound every call. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int bench_sock_setup(int fd, bool nodelay)
{
	struct timeval tv = {
		.tv_sec = BENCH_IO_TIMEOUT_MS / 1000,
		.tv_usec = BENCH_IO_TIMEOUT_MS % 1000 * 1000,
	};
	int one = 1;

	if (nodelay &&
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

const char *bench_peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t sslen = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "?";
	unsigned int port = 0;
	bool v6 = false;

	if (!getpeername(fd, (struct sockaddr *)&ss, &sslen)) {
		if (ss.ss_family == AF_INET6 &&
		    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], addr,
				  sizeof(addr));
			port = ntohs(sin6->sin6_port);
		} else if (ss.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &sin6->sin6_addr, addr,
				  sizeof(addr));
			port = ntohs(sin6->sin6_port);
			v6 = true;
		} else if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
			port = ntohs(sin->sin_port);
		}
	}
	snprintf(buf, len, v6 ? "[%s]:%u" : "%s:%u", addr, port);
	return buf;
}

ssize_t bench_read_some(int fd, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = recv(fd, buf, len, 0);

		if (n >= 0)
			return n;
		/* SO_RCVTIMEO expired: the peer stopped sending. */
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

ssize_t bench_read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = bench_read_some(fd, (char *)buf + got, len - got);

		if (n < 0)
			return n;
		if (!n)
			break;
		got += n;
	}
	return got;
}

int bench_write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(fd, (const char *)buf + done, len - done,
				 MSG_NOSIGNAL);

		if (n >= 0 && (size_t)n < len - done)
			/*
			 * A blocking send returns short only when SO_SNDTIMEO
			 * expired: a peer that took a trickle in that time
			 * (its kernel compacting its receive queue) stalled
			 * just as much as one that took nothing.
			 */
			return -ETIMEDOUT;
		if (n >= 0)
			done += n;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -ETIMEDOUT;	/* the peer stopped reading */
		else if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int bench_serve(const char *prog, uint16_t port, bool once,
		int (*serve)(int fd, void *arg), void *arg)
{
	int lfd, fd, status;
	pid_t pid;

	lfd = bench_listen(port);
	if (lfd < 0) {
		bench_err(prog, "listen on port %u: %s", port, strerror(-lfd));
		return BENCH_EXIT_FAIL;
	}
	fprintf(stderr, "%s: listening on port %u\n", prog, port);
	/* Children (one per connection) reap themselves. */
	if (!once)
		signal(SIGCHLD, SIG_IGN);
	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			bench_err(prog, "accept: %s", strerror(errno));
			close(lfd);
			return BENCH_EXIT_FAIL;
		}
		if (once) {
			close(lfd);
			status = serve(fd, arg);
			close(fd);
			return status;
		}
		fflush(NULL);
		pid = fork();
		if (!pid) {
			close(lfd);
			status = serve(fd, arg);
			close(fd);
			fflush(NULL);
			_exit(status);
		}
		if (pid < 0)
			bench_err(prog, "fork: %s", strerror(errno));
		close(fd);
	}
}

/* ---- time and numbers ------------------------------------------------- */

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int bench_parse_u64(const char *s, uint64_t *val)
{
	char *end;

	/* strtoull() would take "-1" and " 1". */
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	*val = strtoull(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	return 0;
}

int bench_parse_size(const char *s, uint64_t *val)
{
	unsigned int shift = 0;
	uint64_t v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'K': case 'k':
		shift = 10;
		break;
	case 'M': case 'm':
		shift = 20;
		break;
	case 'G': case 'g':
		shift = 30;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1])
		return -EINVAL;
	if (v > UINT64_MAX >> shift)
		return -EINVAL;
	*val = v << shift;
	return 0;
}

int bench_parse_port(const char *s, uint16_t *port)
{
	uint64_t v;

	if (bench_parse_u64(s, &v) || !v || v > 65535)
		return -EINVAL;
	*port = v;
	return 0;
}

int bench_parse_secs(const char *s, uint32_t *ms)
{
	double secs;
	char *end;

	if (!isdigit((unsigned char)s[0]) && s[0] != '.')
		return -EINVAL;
	errno = 0;
	secs = strtod(s, &end);
	if (errno || *end || !(secs > 0) ||
	    secs * 1000 > BENCH_MAX_DURATION_MS)
		return -EINVAL;
	*ms = (uint32_t)(secs * 1000 + 0.5);
	if (!*ms)
		return -EINVAL;
	return 0;
}

void bench_err(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
