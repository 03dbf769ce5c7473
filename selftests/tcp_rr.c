// SPDX-License-Identifier: GPL-2.0
/*
 * tcp_rr: request/response over one TCP connection, netperf's TCP_RR.
 *
 * The client sends REQ bytes, waits for the server's RESP bytes, and does
 * it again until the duration is over; one such round trip is a
 * transaction. It reports transactions per second and the percentiles of
 * the round-trip latency. TCP_NODELAY on both ends: a transaction is one
 * segment each way (for sizes under the MSS), never held back by Nagle.
 *
 * The server takes the sizes from the client's hello, so it needs no
 * flags; it counts what it served and sends the count back at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_net.h"

static const char *prog = "tcp_rr";

/*
 * Latencies in a log-linear histogram: exact below 2^RR_SUB_BITS ns, then
 * 2^(RR_SUB_BITS - 1) buckets per power of two, so a percentile is off by
 * under 0.4%, in constant memory however long the test runs.
 */
#define RR_SUB_BITS	9
#define RR_SUB_HALF	(1U << (RR_SUB_BITS - 1))
#define RR_BUCKETS	((64 - RR_SUB_BITS + 1) * RR_SUB_HALF + RR_SUB_HALF)

struct rr_hist {
	uint64_t count, sum_ns, min_ns, max_ns;
	uint64_t bucket[RR_BUCKETS];
};

static unsigned int rr_bucket_of(uint64_t ns)
{
	unsigned int shift;

	if (ns < (1U << RR_SUB_BITS))
		return ns;
	/* The top RR_SUB_BITS bits of @ns pick the bucket of its octave. */
	shift = 63 - __builtin_clzll(ns) - (RR_SUB_BITS - 1);
	return shift * RR_SUB_HALF + (ns >> shift);
}

/* The middle of bucket @i, in ns. */
static double rr_bucket_mid(unsigned int i)
{
	unsigned int shift;

	if (i < (1U << RR_SUB_BITS))
		return i;
	shift = i / RR_SUB_HALF - 1;
	return (double)((uint64_t)(i % RR_SUB_HALF + RR_SUB_HALF) << shift) +
	       ((1ULL << shift) - 1) / 2.0;
}

static void rr_hist_add(struct rr_hist *h, uint64_t ns)
{
	if (!h->count || ns < h->min_ns)
		h->min_ns = ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
	h->count++;
	h->sum_ns += ns;
	h->bucket[rr_bucket_of(ns)]++;
}

/* The @pct percentile (nearest rank), in ns, within [min, max]. */
static double rr_hist_pct(const struct rr_hist *h, unsigned int pct)
{
	uint64_t rank = (h->count * pct + 99) / 100, seen = 0;
	unsigned int i;
	double v = 0;

	if (!h->count)
		return 0;
	if (!rank)
		rank = 1;
	for (i = 0; i < RR_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			v = rr_bucket_mid(i);
			break;
		}
	}
	if (v < h->min_ns)
		v = h->min_ns;
	if (v > h->max_ns)
		v = h->max_ns;
	return v;
}

struct rr_opts {
	bool server, once, json;
	const char *host;
	uint16_t port;
	uint32_t duration_ms;
	uint32_t req, resp;
};

static void rr_usage(void)
{
	fprintf(stderr,
		"usage: tcp_rr -s [-p PORT] [-1] [-j]\n"
		"       tcp_rr -c HOST [-p PORT] [-l SECS] [-r REQ,RESP] [-j]\n"
		"  -s           serve: answer each connection's requests (the\n"
		"               client's hello says the sizes and the duration)\n"
		"  -1           serve one connection, exit with its status\n"
		"  -c HOST      run the test against the server at HOST (a numeric\n"
		"               IPv4 or IPv6 address)\n"
		"  -p PORT      TCP port (default %u)\n"
		"  -l SECS      duration, decimals allowed (default 10)\n"
		"  -r REQ,RESP  request and response bytes, K/M/G suffixes\n"
		"               (default 1,1; at most %uM each)\n"
		"  -j           print one JSON object instead of a human line\n"
		"exit status: 0 done, 1 failed, 2 bad usage\n",
		BENCH_TCP_RR_PORT, BENCH_MAX_MSG >> 20);
}

/* One of the sizes of -r: 1 byte to BENCH_MAX_MSG. */
static int rr_parse_one_size(const char *s, uint32_t *size)
{
	uint64_t v;

	if (bench_parse_size(s, &v) || !v || v > BENCH_MAX_MSG)
		return -EINVAL;
	*size = v;
	return 0;
}

/* -r REQ,RESP */
static int rr_parse_sizes(char *arg, uint32_t *req, uint32_t *resp)
{
	char *comma = strchr(arg, ',');

	if (!comma)
		return -EINVAL;
	*comma = '\0';
	if (rr_parse_one_size(arg, req) || rr_parse_one_size(comma + 1, resp))
		return -EINVAL;
	return 0;
}

static int rr_parse(int argc, char **argv, struct rr_opts *o)
{
	bool client_opts = false;
	int opt;

	*o = (struct rr_opts) {
		.port = BENCH_TCP_RR_PORT,
		.duration_ms = 10000,
		.req = 1,
		.resp = 1,
	};
	while ((opt = getopt(argc, argv, "sc:p:l:r:1j")) != -1) {
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
			client_opts = true;
			break;
		case 'r':
			if (rr_parse_sizes(optarg, &o->req, &o->resp))
				return -EINVAL;
			client_opts = true;
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
	if (o->server ? client_opts : o->once)
		return -EINVAL;
	return 0;
}

/* The server's side of one connection: an exit status. */
static int rr_serve(int fd, void *arg)
{
	const struct rr_opts *o = arg;
	struct bench_result res = { .status = BENCH_OK };
	struct bench_hello h;
	uint64_t start, now, deadline;
	char peer[64], *req = NULL, *resp = NULL;
	uint32_t refuse = 0;
	ssize_t n;
	int ret;

	bench_peer_name(fd, peer, sizeof(peer));
	ret = bench_sock_setup(fd, true);
	if (!ret)
		ret = bench_hello_recv(fd, &h);
	if (ret) {
		bench_err(prog, "%s: no hello: %s", peer, strerror(-ret));
		return BENCH_EXIT_FAIL;
	}
	if (h.test != BENCH_TCP_RR)
		refuse = EPROTONOSUPPORT;
	else if (!h.req_size || h.req_size > BENCH_MAX_MSG ||
		 !h.resp_size || h.resp_size > BENCH_MAX_MSG ||
		 !h.duration_ms || h.duration_ms > BENCH_MAX_DURATION_MS)
		refuse = EINVAL;
	if (!refuse) {
		req = malloc(h.req_size);
		resp = calloc(1, h.resp_size);
		if (!req || !resp)
			refuse = ENOMEM;
	}
	ret = bench_reply_send(fd, refuse);
	if (refuse || ret) {
		bench_err(prog, "%s: %s", peer,
			  refuse ? "refused the hello: its test or sizes"
				 : strerror(-ret));
		ret = BENCH_EXIT_FAIL;
		goto out;
	}

	start = bench_now_ns();
	/* The client stops at the duration; allow it a stall on top. */
	deadline = start + (h.duration_ms + 2ULL * BENCH_IO_TIMEOUT_MS) *
		   1000000;
	for (;;) {
		n = bench_read_full(fd, req, h.req_size);
		if (!n)
			break;	/* the client's end, between requests */
		if (n < 0 || (size_t)n < h.req_size) {
			bench_err(prog, "%s: request %llu: %s", peer,
				  (unsigned long long)res.transactions + 1,
				  n < 0 ? strerror(-n) : "cut short");
			ret = BENCH_EXIT_FAIL;
			goto out;
		}
		ret = bench_write_full(fd, resp, h.resp_size);
		if (ret) {
			bench_err(prog, "%s: response %llu: %s", peer,
				  (unsigned long long)res.transactions + 1,
				  strerror(-ret));
			ret = BENCH_EXIT_FAIL;
			goto out;
		}
		res.transactions++;
		now = bench_now_ns();
		if (now > deadline) {
			bench_err(prog, "%s: the client ran past its %.3f s",
				  peer, h.duration_ms / 1000.0);
			ret = BENCH_EXIT_FAIL;
			goto out;
		}
	}
	res.elapsed_ns = bench_now_ns() - start;
	res.bytes_in = res.transactions * h.req_size;
	res.bytes_out = res.transactions * h.resp_size;
	ret = bench_result_send(fd, &res);
	if (ret) {
		bench_err(prog, "%s: sending the result: %s", peer,
			  strerror(-ret));
		ret = BENCH_EXIT_FAIL;
		goto out;
	}

	if (o->json)
		printf("{\"test\":\"TCP_RR\",\"role\":\"server\",\"peer\":\"%s\","
		       "\"req_size\":%u,\"resp_size\":%u,\"duration_s\":%.3f,"
		       "\"elapsed_s\":%.6f,\"transactions\":%llu,"
		       "\"trans_per_s\":%.2f}\n",
		       peer, h.req_size, h.resp_size, h.duration_ms / 1000.0,
		       res.elapsed_ns / 1e9,
		       (unsigned long long)res.transactions,
		       res.transactions * 1e9 / res.elapsed_ns);
	else
		printf("TCP_RR from %s, %u/%u bytes: %llu transactions in %.2f s, %.2f trans/s\n",
		       peer, h.req_size, h.resp_size,
		       (unsigned long long)res.transactions,
		       res.elapsed_ns / 1e9,
		       res.transactions * 1e9 / res.elapsed_ns);
	fflush(stdout);
	ret = BENCH_EXIT_OK;
out:
	free(req);
	free(resp);
	return ret;
}

static void rr_print(const struct rr_opts *o, const struct rr_hist *h,
		     uint64_t elapsed_ns, uint64_t server_transactions)
{
	double rate = h->count * 1e9 / elapsed_ns;
	bool v6 = strchr(o->host, ':');

	if (o->json) {
		printf("{\"test\":\"TCP_RR\",\"role\":\"client\",\"peer\":\"%s%s%s:%u\","
		       "\"req_size\":%u,\"resp_size\":%u,"
		       "\"duration_s\":%.3f,\"elapsed_s\":%.6f,"
		       "\"transactions\":%llu,\"server_transactions\":%llu,"
		       "\"trans_per_s\":%.2f,\"mean_us\":%.3f,\"min_us\":%.3f,"
		       "\"p50_us\":%.3f,\"p90_us\":%.3f,\"p99_us\":%.3f,"
		       "\"max_us\":%.3f}\n",
		       v6 ? "[" : "", o->host, v6 ? "]" : "", o->port,
		       o->req, o->resp, o->duration_ms / 1000.0,
		       elapsed_ns / 1e9,
		       (unsigned long long)h->count,
		       (unsigned long long)server_transactions, rate,
		       h->sum_ns / 1e3 / h->count, h->min_ns / 1e3,
		       rr_hist_pct(h, 50) / 1e3, rr_hist_pct(h, 90) / 1e3,
		       rr_hist_pct(h, 99) / 1e3, h->max_ns / 1e3);
	} else {
		printf("TCP_RR to %s port %u, %u/%u bytes, %.2f s: %.2f trans/s, "
		       "latency us p50 %.1f p90 %.1f p99 %.1f min %.1f max %.1f, "
		       "%llu transactions\n",
		       o->host, o->port, o->req, o->resp, elapsed_ns / 1e9,
		       rate, rr_hist_pct(h, 50) / 1e3,
		       rr_hist_pct(h, 90) / 1e3, rr_hist_pct(h, 99) / 1e3,
		       h->min_ns / 1e3, h->max_ns / 1e3,
		       (unsigned long long)h->count);
	}
}

static int rr_client(const struct rr_opts *o)
{
	struct bench_hello hello = {
		.test = BENCH_TCP_RR,
		.req_size = o->req,
		.resp_size = o->resp,
		.duration_ms = o->duration_ms,
		.corrupt_at = BENCH_NO_OFFSET,
	};
	struct bench_result res;
	uint64_t start, t0, t1, deadline;
	struct rr_hist *hist;
	char *req, *resp;
	int fd, ret = BENCH_EXIT_FAIL, err;
	ssize_t n;

	hist = calloc(1, sizeof(*hist));
	req = malloc(o->req);
	resp = malloc(o->resp);
	if (!hist || !req || !resp) {
		bench_err(prog, "out of memory");
		goto out_free;
	}
	memset(req, 'q', o->req);

	fd = bench_connect(o->host, o->port);
	if (fd < 0) {
		bench_err(prog, "connect to %s port %u: %s", o->host, o->port,
			  fd == -EINVAL ? "not a numeric address"
					: strerror(-fd));
		goto out_free;
	}
	err = bench_sock_setup(fd, true);
	if (!err)
		err = bench_hello_send(fd, &hello);
	if (!err)
		err = bench_reply_recv(fd);
	if (err) {
		bench_err(prog, "%s port %u: starting the test: %s", o->host,
			  o->port, strerror(-err));
		goto out_close;
	}

	start = bench_now_ns();
	deadline = start + o->duration_ms * 1000000ULL;
	for (t0 = start; t0 < deadline; t0 = t1) {
		err = bench_write_full(fd, req, o->req);
		if (err) {
			bench_err(prog, "request %llu: %s",
				  (unsigned long long)hist->count + 1,
				  strerror(-err));
			goto out_close;
		}
		n = bench_read_full(fd, resp, o->resp);
		if (n < 0 || (size_t)n < o->resp) {
			bench_err(prog, "response %llu: %s",
				  (unsigned long long)hist->count + 1,
				  n < 0 ? strerror(-n)
					: "the server closed the connection");
			goto out_close;
		}
		t1 = bench_now_ns();
		rr_hist_add(hist, t1 - t0);
	}

	/* Our end, then the server's count of what it served. */
	if (shutdown(fd, SHUT_WR)) {
		bench_err(prog, "shutdown: %s", strerror(errno));
		goto out_close;
	}
	err = bench_result_recv(fd, &res);
	if (err) {
		bench_err(prog, "the server's result: %s", strerror(-err));
		goto out_close;
	}
	if (res.transactions != hist->count) {
		bench_err(prog, "the server served %llu transactions, we made %llu",
			  (unsigned long long)res.transactions,
			  (unsigned long long)hist->count);
		goto out_close;
	}
	rr_print(o, hist, t0 - start, res.transactions);
	ret = BENCH_EXIT_OK;
out_close:
	close(fd);
out_free:
	free(hist);
	free(req);
	free(resp);
	return ret;
}

int main(int argc, char **argv)
{
	struct rr_opts o;

	if (rr_parse(argc, argv, &o)) {
		rr_usage();
		return BENCH_EXIT_USAGE;
	}
	if (o.server)
		return bench_serve(prog, o.port, o.once, rr_serve, &o);
	return rr_client(&o);
}
