// SPDX-License-Identifier: GPL-2.0
/*
 * tcp_stream: bulk transfer over one TCP connection, netperf's TCP_STREAM
 * (client to server) and, with -R, TCP_MAERTS (server to client).
 *
 * The sender writes messages of MSGSIZE bytes for a duration or until a
 * byte count; the receiver reads until the end and is the side that
 * counts: its bytes over its time are the Gbit/s reported.
 *
 * The end of the data: the sender appends its own result (bytes sent, its
 * time) as the last BENCH_RESULT_SIZE bytes of the stream and shuts down
 * its side; the receiver holds back that many bytes until the end, so the
 * trailer never counts as data, then sends its result back. Both ends
 * know both counts.
 *
 * With -V the data is a stream of pseudo-random bytes given by a seed and
 * the position (splitmix64 of the 8-byte word index), so the receiver
 * regenerates any part of it and compares every byte.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_net.h"

static const char *prog = "tcp_stream";

#define STREAM_DEFAULT_MSG	(64U << 10)
/* The receiver reads at least this much at a time. */
#define STREAM_MIN_RECV		(64U << 10)
#define STREAM_DEFAULT_SEED	1

struct stream_opts {
	bool server, once, json, reverse, verify, seed_set;
	const char *host;
	uint16_t port;
	/* Run this long, or (0) until @bytes are sent. */
	uint32_t duration_ms;
	uint64_t bytes;
	uint32_t msg_size;
	uint64_t seed;
	uint64_t corrupt_at;
};

static void stream_usage(void)
{
	fprintf(stderr,
		"usage: tcp_stream -s [-p PORT] [-1] [-j] [-S SEED]\n"
		"       tcp_stream -c HOST [-p PORT] [-l SECS | -n BYTES] [-m MSGSIZE]\n"
		"                  [-R] [-V [-S SEED] [-X OFFSET]] [-j]\n"
		"  -s          serve: each connection's hello says what to do\n"
		"  -1          serve one connection, exit with its status\n"
		"  -c HOST     run the test against the server at HOST (a numeric\n"
		"              IPv4 or IPv6 address)\n"
		"  -p PORT     TCP port (default %u)\n"
		"  -l SECS     send for this long, decimals allowed (default 10)\n"
		"  -n BYTES    send this many bytes instead, K/M/G suffixes\n"
		"  -m MSGSIZE  bytes per send (default 64K, at most %uM)\n"
		"  -R          the server sends, the client receives (TCP_MAERTS)\n"
		"  -V          send a seeded pseudo-random stream; the receiver\n"
		"              checks every byte (a mismatch fails with its offset)\n"
		"  -S SEED     the seed of -V (default %u); on the server, the seed\n"
		"              it uses instead of the client's\n"
		"  -X OFFSET   corrupt the byte at OFFSET of the sent stream (tests\n"
		"              the verifier)\n"
		"  -j          print one JSON object instead of human lines\n"
		"exit status: 0 done (and verified), 1 failed or data differs,\n"
		"2 bad usage\n",
		BENCH_TCP_STREAM_PORT, BENCH_MAX_MSG >> 20,
		STREAM_DEFAULT_SEED);
}

static int stream_parse(int argc, char **argv, struct stream_opts *o)
{
	bool client_opts = false, have_l = false, have_x = false;
	uint64_t v;
	int opt;

	*o = (struct stream_opts) {
		.port = BENCH_TCP_STREAM_PORT,
		.duration_ms = 10000,
		.msg_size = STREAM_DEFAULT_MSG,
		.seed = STREAM_DEFAULT_SEED,
		.corrupt_at = BENCH_NO_OFFSET,
	};
	while ((opt = getopt(argc, argv, "sc:p:l:n:m:RVS:X:1j")) != -1) {
		switch (opt) {
		case 's':
			o->server = true;
			break;
		case 'c':
			o->host = optarg;
			break;
		case 'p':
			if (bench_parse_port(optarg, &o->port))
				return -EINVAL;
			break;
		case 'l':
			if (bench_parse_secs(optarg, &o->duration_ms))
				return -EINVAL;
			have_l = client_opts = true;
			break;
		case 'n':
			if (bench_parse_size(optarg, &o->bytes) || !o->bytes)
				return -EINVAL;
			client_opts = true;
			break;
		case 'm':
			if (bench_parse_size(optarg, &v) || !v ||
			    v > BENCH_MAX_MSG)
				return -EINVAL;
			o->msg_size = v;
			client_opts = true;
			break;
		case 'R':
			o->reverse = client_opts = true;
			break;
		case 'V':
			o->verify = client_opts = true;
			break;
		case 'S':
			if (bench_parse_u64(optarg, &o->seed))
				return -EINVAL;
			o->seed_set = true;
			break;
		case 'X':
			if (bench_parse_u64(optarg, &o->corrupt_at) ||
			    o->corrupt_at == BENCH_NO_OFFSET)
				return -EINVAL;
			have_x = client_opts = true;
			break;
		case '1':
			o->once = true;
			break;
		case 'j':
			o->json = true;
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind != argc || o->server == !!o->host)
		return -EINVAL;
	if (o->server)
		return client_opts ? -EINVAL : 0;
	if (o->once || (have_l && o->bytes) ||
	    (!o->verify && (o->seed_set || have_x)))
		return -EINVAL;
	if (o->bytes)
		o->duration_ms = 0;
	return 0;
}

/* ---- the seeded stream ------------------------------------------------ */

/* Word @i of the stream of @seed: splitmix64, a counter-based generator. */
static uint64_t stream_word(uint64_t seed, uint64_t i)
{
	uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Bytes [@off, @off + @len) of the stream of @seed into @buf. */
static void stream_fill(uint8_t *buf, uint64_t off, size_t len,
			uint64_t seed)
{
	while (len) {
		/* Little-endian words: the same bytes on any host. */
		uint64_t w = htole64(stream_word(seed, off / 8));
		size_t skip = off % 8, n = 8 - skip;

		if (n > len)
			n = len;
		memcpy(buf, (uint8_t *)&w + skip, n);
		buf += n;
		off += n;
		len -= n;
	}
}

/* ---- the two ends of the data ----------------------------------------- */

/*
 * Send what @h asks for, our result as the trailer, and the end; then take
 * the receiver's result into @peer. 0 or -errno, with @what failed.
 */
static int stream_send(int fd, const struct bench_hello *h, uint64_t seed,
		       struct bench_result *mine, struct bench_result *peer,
		       const char **what)
{
	bool verify = h->flags & BENCH_F_VERIFY;
	uint8_t trailer[BENCH_RESULT_SIZE], *buf;
	uint64_t start, now, deadline, off = 0;
	size_t len;
	int ret;

	*what = "allocating the buffer";
	buf = malloc(h->req_size);
	if (!buf)
		return -ENOMEM;
	/* Without -V the bytes do not matter: any, once. */
	stream_fill(buf, 0, h->req_size, seed);

	*what = "sending";
	start = now = bench_now_ns();
	deadline = start + h->duration_ms * 1000000ULL;
	while (h->duration_ms ? now < deadline : off < h->bytes) {
		len = h->req_size;
		if (!h->duration_ms && h->bytes - off < len)
			len = h->bytes - off;
		if (verify) {
			stream_fill(buf, off, len, seed);
			if (h->corrupt_at - off < len)
				buf[h->corrupt_at - off] ^= 0xff;
		}
		ret = bench_write_full(fd, buf, len);
		if (ret)
			goto out;
		off += len;
		now = bench_now_ns();
	}
	mine->bytes_out = off;
	mine->elapsed_ns = now - start;

	*what = "ending the stream";
	bench_result_encode(trailer, mine);
	ret = bench_write_full(fd, trailer, sizeof(trailer));
	if (!ret && shutdown(fd, SHUT_WR))
		ret = -errno;
	if (ret)
		goto out;
	*what = "the receiver's result";
	ret = bench_result_recv(fd, peer);
out:
	free(buf);
	return ret;
}

/* What the receiver compares; the first byte that differs. */
struct stream_check {
	uint64_t seed;
	uint8_t *want;
	bool mismatch;
	uint64_t bad_offset;
};

/* Check @len received bytes at stream offset @off. */
static void stream_check(struct stream_check *c, const uint8_t *got,
			 uint64_t off, size_t len)
{
	size_t i;

	stream_fill(c->want, off, len, c->seed);
	if (!memcmp(got, c->want, len))
		return;
	for (i = 0; got[i] == c->want[i]; i++)
		;
	c->mismatch = true;
	c->bad_offset = off + i;
	bench_err(prog, "data mismatch at offset %llu: 0x%02x, expected 0x%02x",
		  (unsigned long long)c->bad_offset, got[i], c->want[i]);
}

/*
 * Receive what @h asks for and the sender's trailer (into @peer), then send
 * our result, also left in @mine. 0 or -errno, with @what failed.
 */
static int stream_recv(int fd, const struct bench_hello *h, uint64_t seed,
		       struct bench_result *mine, struct bench_result *peer,
		       const char **what)
{
	size_t size = h->req_size > STREAM_MIN_RECV ? h->req_size
						    : STREAM_MIN_RECV;
	struct stream_check check = { .seed = seed };
	bool verify = h->flags & BENCH_F_VERIFY;
	uint64_t start, now, deadline = 0, off = 0;
	size_t carry = 0, avail, commit;
	uint8_t *buf;
	ssize_t n;
	int ret;

	*what = "allocating the buffers";
	/* Room for the held-back tail in front of a whole read. */
	buf = malloc(BENCH_RESULT_SIZE + size);
	if (verify)
		check.want = malloc(size);
	if (!buf || (verify && !check.want)) {
		ret = -ENOMEM;
		goto out;
	}

	*what = "receiving";
	start = now = bench_now_ns();
	/* The sender stops at the duration; allow it a stall on top. */
	if (h->duration_ms)
		deadline = start + (h->duration_ms +
				    2ULL * BENCH_IO_TIMEOUT_MS) * 1000000;
	for (;;) {
		n = bench_read_some(fd, buf + carry, size);
		if (n < 0) {
			ret = n;
			goto out;
		}
		now = bench_now_ns();
		if (!n)
			break;
		/* All but the last BENCH_RESULT_SIZE bytes are data. */
		avail = carry + n;
		commit = avail > BENCH_RESULT_SIZE ?
			 avail - BENCH_RESULT_SIZE : 0;
		if (verify && !check.mismatch && commit)
			stream_check(&check, buf, off, commit);
		off += commit;
		carry = avail - commit;
		memmove(buf, buf + commit, carry);
		if (deadline && now > deadline) {
			*what = "receiving past the duration";
			ret = -ETIME;
			goto out;
		}
	}
	mine->bytes_in = off;
	mine->elapsed_ns = now - start;

	*what = "the end of the stream (no trailer from the sender)";
	ret = -EPROTO;
	if (carry != BENCH_RESULT_SIZE || bench_result_decode(buf, peer))
		goto out;
	if (check.mismatch) {
		mine->status = BENCH_MISMATCH;
		mine->bad_offset = check.bad_offset;
		mine->verified = check.bad_offset;
	} else {
		if ((!h->duration_ms && off != h->bytes) ||
		    off != peer->bytes_out)
			mine->status = BENCH_SHORT;
		mine->verified = verify ? off : 0;
	}
	*what = "sending our result";
	ret = bench_result_send(fd, mine);
out:
	free(buf);
	free(check.want);
	return ret;
}

/* ---- reports ---------------------------------------------------------- */

struct stream_report {
	const char *role, *peer_role, *peer;
	const struct bench_hello *h;
	uint64_t seed;
	bool receiving;
	const struct bench_result *sent, *received;
};

static const char *const stream_status_names[] = {
	[BENCH_OK] = "ok",
	[BENCH_MISMATCH] = "mismatch",
	[BENCH_SHORT] = "short",
};

static double stream_gbps(uint64_t bytes, uint64_t ns)
{
	return ns ? bytes * 8.0 / ns : 0;
}

/* Print the test's numbers; its exit status. */
static int stream_report(const struct stream_report *r, bool json)
{
	const struct bench_result *rx = r->received, *tx = r->sent;
	const char *test = r->h->test == BENCH_TCP_MAERTS ? "TCP_MAERTS"
							  : "TCP_STREAM";
	const char *rx_role = r->receiving ? r->role : r->peer_role;
	const char *tx_role = r->receiving ? r->peer_role : r->role;
	bool verify = r->h->flags & BENCH_F_VERIFY;

	if (json) {
		printf("{\"test\":\"%s\",\"role\":\"%s\",\"peer\":\"%s\","
		       "\"msg_size\":%u,\"duration_s\":%.3f,"
		       "\"bytes_requested\":%llu,\"gbps\":%.6f,"
		       "\"received_bytes\":%llu,\"received_s\":%.6f,"
		       "\"sent_bytes\":%llu,\"sent_s\":%.6f,\"send_gbps\":%.6f,"
		       "\"verify\":%s,\"seed\":%llu,\"verified_bytes\":%llu,"
		       "\"status\":\"%s\",\"mismatch_offset\":%lld}\n",
		       test, r->role, r->peer, r->h->req_size,
		       r->h->duration_ms / 1000.0,
		       (unsigned long long)r->h->bytes,
		       stream_gbps(rx->bytes_in, rx->elapsed_ns),
		       (unsigned long long)rx->bytes_in, rx->elapsed_ns / 1e9,
		       (unsigned long long)tx->bytes_out, tx->elapsed_ns / 1e9,
		       stream_gbps(tx->bytes_out, tx->elapsed_ns),
		       verify ? "true" : "false", (unsigned long long)r->seed,
		       (unsigned long long)rx->verified,
		       stream_status_names[rx->status],
		       rx->status == BENCH_MISMATCH ?
		       (long long)rx->bad_offset : -1LL);
	} else {
		printf("%s %s, peer %s, msg %u: %.3f Gbit/s, received %llu bytes in %.3f s (%s), sent %llu bytes in %.3f s (%s)\n",
		       test, r->role, r->peer, r->h->req_size,
		       stream_gbps(rx->bytes_in, rx->elapsed_ns),
		       (unsigned long long)rx->bytes_in, rx->elapsed_ns / 1e9,
		       rx_role, (unsigned long long)tx->bytes_out,
		       tx->elapsed_ns / 1e9, tx_role);
		if (rx->status == BENCH_OK && verify)
			printf("verified %llu bytes\n",
			       (unsigned long long)rx->verified);
	}
	fflush(stdout);

	switch (rx->status) {
	case BENCH_OK:
		return BENCH_EXIT_OK;
	case BENCH_MISMATCH:
		bench_err(prog, "data mismatch at offset %llu, found by the %s",
			  (unsigned long long)rx->bad_offset, rx_role);
		break;
	default:
		bench_err(prog, "the %s received %llu bytes, the %s sent %llu",
			  rx_role, (unsigned long long)rx->bytes_in, tx_role,
			  (unsigned long long)tx->bytes_out);
		break;
	}
	return BENCH_EXIT_FAIL;
}

/* ---- server and client ------------------------------------------------ */

/* The server's side of one connection: an exit status. */
static int stream_serve(int fd, void *arg)
{
	const struct stream_opts *o = arg;
	struct bench_result mine = { .status = BENCH_OK }, peer;
	struct stream_report rep = {
		.role = "server", .peer_role = "client",
		.sent = &mine, .received = &peer,
	};
	struct bench_hello h;
	const char *what;
	uint32_t refuse = 0;
	char name[64];
	int ret;

	bench_peer_name(fd, name, sizeof(name));
	ret = bench_sock_setup(fd, false);
	if (!ret)
		ret = bench_hello_recv(fd, &h);
	if (ret) {
		bench_err(prog, "%s: no hello: %s", name, strerror(-ret));
		return BENCH_EXIT_FAIL;
	}
	if (h.test != BENCH_TCP_STREAM && h.test != BENCH_TCP_MAERTS)
		refuse = EPROTONOSUPPORT;
	else if (!h.req_size || h.req_size > BENCH_MAX_MSG ||
		 !h.duration_ms == !h.bytes ||
		 h.duration_ms > BENCH_MAX_DURATION_MS ||
		 (h.flags & ~BENCH_F_VERIFY))
		refuse = EINVAL;
	ret = bench_reply_send(fd, refuse);
	if (refuse || ret) {
		bench_err(prog, "%s: %s", name,
			  refuse ? "refused the hello: its test or sizes"
				 : strerror(-ret));
		return BENCH_EXIT_FAIL;
	}

	rep.h = &h;
	rep.peer = name;
	rep.seed = o->seed_set ? o->seed : h.seed;
	if (h.test == BENCH_TCP_STREAM) {
		rep.receiving = true;
		rep.sent = &peer;
		rep.received = &mine;
		ret = stream_recv(fd, &h, rep.seed, &mine, &peer, &what);
	} else {
		ret = stream_send(fd, &h, rep.seed, &mine, &peer, &what);
	}
	if (ret) {
		bench_err(prog, "%s: %s: %s", name, what, strerror(-ret));
		return BENCH_EXIT_FAIL;
	}
	return stream_report(&rep, o->json);
}

static int stream_client(const struct stream_opts *o)
{
	struct bench_hello h = {
		.test = o->reverse ? BENCH_TCP_MAERTS : BENCH_TCP_STREAM,
		.flags = o->verify ? BENCH_F_VERIFY : 0,
		.req_size = o->msg_size,
		.duration_ms = o->duration_ms,
		.bytes = o->bytes,
		.seed = o->seed,
		.corrupt_at = o->corrupt_at,
	};
	struct bench_result mine = { .status = BENCH_OK }, peer;
	struct stream_report rep = {
		.role = "client", .peer_role = "server", .h = &h,
		.seed = o->seed, .receiving = o->reverse,
		.sent = o->reverse ? &peer : &mine,
		.received = o->reverse ? &mine : &peer,
	};
	const char *what;
	char name[80];
	int fd, ret;

	snprintf(name, sizeof(name), strchr(o->host, ':') ? "[%s]:%u" : "%s:%u",
		 o->host, o->port);
	rep.peer = name;
	fd = bench_connect(o->host, o->port);
	if (fd < 0) {
		bench_err(prog, "connect to %s port %u: %s", o->host, o->port,
			  fd == -EINVAL ? "not a numeric address"
					: strerror(-fd));
		return BENCH_EXIT_FAIL;
	}
	what = "starting the test";
	ret = bench_sock_setup(fd, false);
	if (!ret)
		ret = bench_hello_send(fd, &h);
	if (!ret)
		ret = bench_reply_recv(fd);
	if (!ret && o->reverse)
		ret = stream_recv(fd, &h, o->seed, &mine, &peer, &what);
	else if (!ret)
		ret = stream_send(fd, &h, o->seed, &mine, &peer, &what);
	close(fd);
	if (ret) {
		bench_err(prog, "%s: %s: %s", name, what, strerror(-ret));
		return BENCH_EXIT_FAIL;
	}
	return stream_report(&rep, o->json);
}

int main(int argc, char **argv)
{
	struct stream_opts o;

	if (stream_parse(argc, argv, &o)) {
		stream_usage();
		return BENCH_EXIT_USAGE;
	}
	if (o.server)
		return bench_serve(prog, o.port, o.once, stream_serve, &o);
	return stream_client(&o);
}
