/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What tcp_rr and tcp_stream share: the control messages, the sockets with
 * their timeouts, the server loop and the command-line numbers.
 *
 * A test is one TCP connection. The client opens it with a hello that says
 * what to do (the server needs no flags), the server answers with a reply,
 * the data phase follows, and the side that received the data ends with a
 * result to the other, so both ends can report both counts:
 *
 *   client                          server
 *   hello (test, sizes, duration) ->
 *                                  <- reply (0 or an errno)
 *   TCP_RR:
 *   request                       ->
 *                                  <- response          (and again ...)
 *   shutdown(SHUT_WR)             ->
 *                                  <- result (transactions)
 *   TCP_STREAM (TCP_MAERTS: the same, the other way):
 *   data ... result, shutdown     ->
 *                                  <- result (bytes received, verified)
 *
 * The sender's result rides as the last BENCH_RESULT_SIZE bytes of the
 * stream, before its end: nothing can follow a shutdown(SHUT_WR).
 * Messages are fixed-size, big-endian, encoded field by field.
 *
 * No call blocks for long: a connect gives up after BENCH_CONNECT_TIMEOUT_MS,
 * and a read or write on a test socket after BENCH_IO_TIMEOUT_MS without
 * progress, so a peer that vanishes is an error within seconds.
 *
 * These tools also run in a minimal guest, statically linked: nothing here
 * may need the resolver (NSS), so hosts are numeric addresses.
 */
#ifndef BENCH_NET_H
#define BENCH_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_MAGIC		0x6b76424eU	/* "kvBN" */
#define BENCH_VERSION		1

#define BENCH_CONNECT_TIMEOUT_MS	5000
#define BENCH_IO_TIMEOUT_MS		5000
/* Longest -l: a day. */
#define BENCH_MAX_DURATION_MS	(24U * 3600 * 1000)
/* Largest request, response or message: the buffers are allocated whole. */
#define BENCH_MAX_MSG		(16U << 20)

#define BENCH_TCP_RR_PORT	12870
#define BENCH_TCP_STREAM_PORT	12871

/* Process exit statuses. */
#define BENCH_EXIT_OK		0
#define BENCH_EXIT_FAIL		1	/* an error, or data that differs */
#define BENCH_EXIT_USAGE	2

enum bench_test {
	BENCH_TCP_RR = 1,
	BENCH_TCP_STREAM,	/* client -> server */
	BENCH_TCP_MAERTS,	/* server -> client */
};

/* bench_hello.flags */
#define BENCH_F_VERIFY		(1U << 0)	/* seeded stream, checked */

/* No byte to corrupt (bench_hello.corrupt_at). */
#define BENCH_NO_OFFSET		UINT64_MAX

/* What the client asks for. */
struct bench_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t test;		/* enum bench_test */
	uint32_t flags;
	/* TCP_RR: request and response bytes; streams: message size. */
	uint32_t req_size;
	uint32_t resp_size;
	/* Run this long, or (0) until @bytes are sent. */
	uint32_t duration_ms;
	uint64_t bytes;
	uint64_t seed;
	/* Streams, for tests: the sender flips this byte of the stream. */
	uint64_t corrupt_at;
};

#define BENCH_HELLO_SIZE	48

/* The server's answer to a hello: 0, or why it refused (an errno). */
struct bench_reply {
	uint32_t magic;
	uint32_t error;
};

#define BENCH_REPLY_SIZE	8

enum bench_status {
	BENCH_OK = 0,
	BENCH_MISMATCH,		/* a byte differs from the seeded stream */
	BENCH_SHORT,		/* fewer bytes than the hello asked for */
};

/* What the receiving side counted, sent after the data phase. */
struct bench_result {
	uint32_t magic;
	uint32_t status;	/* enum bench_status */
	uint64_t transactions;	/* TCP_RR */
	uint64_t bytes_in;	/* received by the side that sends this */
	uint64_t bytes_out;	/* sent by it (TCP_RR) */
	uint64_t elapsed_ns;	/* its data phase */
	uint64_t verified;	/* bytes compared and equal */
	uint64_t bad_offset;	/* BENCH_MISMATCH: the first byte that differs */
};

#define BENCH_RESULT_SIZE	56

/* ---- messages --------------------------------------------------------- */

/* Each sends or receives one message: 0 or -errno (-EPROTO: not one). */
int bench_hello_send(int fd, const struct bench_hello *h);
int bench_hello_recv(int fd, struct bench_hello *h);
int bench_reply_send(int fd, uint32_t error);
/* The server's reply: 0, -EPROTO if it is none, its -errno if it refused. */
int bench_reply_recv(int fd);
int bench_result_send(int fd, const struct bench_result *r);
int bench_result_recv(int fd, struct bench_result *r);
/* A result as bytes, and back (-EPROTO: not a result). */
void bench_result_encode(uint8_t buf[BENCH_RESULT_SIZE],
			 const struct bench_result *r);
int bench_result_decode(const uint8_t buf[BENCH_RESULT_SIZE],
			struct bench_result *r);

/* ---- sockets ---------------------------------------------------------- */

/*
 * A listening TCP socket on @port of every address: IPv6 accepting IPv4
 * too, or IPv4 alone on a kernel without IPv6. fd or -errno.
 */
int bench_listen(uint16_t port);
/*
 * Connect to numeric address @host ("10.0.0.2", "fd00::2"; "localhost" is
 * 127.0.0.1), trying again while nobody listens yet (a server still
 * starting), for up to BENCH_CONNECT_TIMEOUT_MS. fd or -errno; -EINVAL
 * for a host that is no address.
 */
int bench_connect(const char *host, uint16_t port);
/* TCP_NODELAY if @nodelay, and the read and write timeouts. 0 or -errno. */
int bench_sock_setup(int fd, bool nodelay);
/* "address:port" of the peer of @fd, into @buf. */
const char *bench_peer_name(int fd, char *buf, size_t len);

/*
 * Read exactly @len bytes: @len, fewer if the peer closed first (0 at a
 * clean end), or -errno (-ETIMEDOUT when the peer stalled).
 */
ssize_t bench_read_full(int fd, void *buf, size_t len);
/* Read what is there, up to @len: > 0, 0 at the end, or -errno as above. */
ssize_t bench_read_some(int fd, void *buf, size_t len);
/*
 * Write all @len bytes: 0 or -errno (-ETIMEDOUT when the peer stalled, that
 * is when one send() could not finish within BENCH_IO_TIMEOUT_MS).
 */
int bench_write_full(int fd, const void *buf, size_t len);

/*
 * Accept connections on @port and run @serve on each: with @once, the
 * first connection only, returning its exit status; else forever, each in
 * a child process. Returns an exit status only on error otherwise.
 */
int bench_serve(const char *prog, uint16_t port, bool once,
		int (*serve)(int fd, void *arg), void *arg);

/* ---- time and numbers ------------------------------------------------- */

uint64_t bench_now_ns(void);

/* A byte count: digits with an optional K, M or G (binary). 0 or -EINVAL. */
int bench_parse_size(const char *s, uint64_t *val);
/* A port, 1 to 65535. 0 or -EINVAL. */
int bench_parse_port(const char *s, uint16_t *port);
/* Seconds, decimals allowed, to milliseconds: > 0 and at most a day. */
int bench_parse_secs(const char *s, uint32_t *ms);
/* An unsigned 64-bit number, decimal or 0x hex. 0 or -EINVAL. */
int bench_parse_u64(const char *s, uint64_t *val);

/* Print "prog: message" on stderr. */
void bench_err(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* BENCH_NET_H */
