/* tcp_bw.c - the throughput of one raw TCP stream on a path: the ceiling the
 * live-migration benchmark (bench/migrate.sh) expresses tern's throughput
 * against; and, as a diagnostic, the same stream carrying tern's per-page
 * work without a VM.
 *
 *   tcp_bw recv ADDR PORT [OPTS]          listen, accept one stream, read to EOF
 *   tcp_bw send ADDR PORT MiB [OPTS]      connect, write MiB mebibytes of
 *                                         payload, close
 * OPTS (give the same to both ends):
 *   tern      tern's socket options (TCP_NODELAY, SO_SNDBUF and SO_RCVBUF of
 *             4 MiB); without it the kernel's defaults (buffer autotuning)
 *   work      tern's RAM batches instead of a plain byte stream, as one data
 *             connection carries them (src/migrate/page_tx.c, ram_batch.h):
 *             the sender checks each 4 KiB page for zero, hashes it with
 *             XXH3 into a 256-entry table, writev()s header + table + the
 *             pages from where they are (no copy) and hashes them again
 *             after the send; the receiver reads the header and the table,
 *             checks the table's XXH3, readv()s every page straight to its
 *             place in a memfd that was never touched (first-touch faults, as
 *             a destination VM's RAM; src/migrate/page_rx.c) and hashes it
 *   prefault  (recv, with work) populate the memfd before the stream starts,
 *             to separate the first-touch cost from the copy
 *   streams=N N parallel connections (plain streams only, not with work),
 *             each on its own thread at both ends, carrying MiB/N each: the
 *             raw limit of a migration over N connections. The receiver's
 *             time runs from the first byte on any of them to the last EOF.
 *
 * The plain sender writes 512 KiB chunks (about one batch) from a 256 MiB
 * buffer written before timing, so the data comes from memory, not cache,
 * as a guest's RAM would; the plain receiver reads into one 512 KiB buffer
 * and touches nothing else: one copy into and one out of the kernel per byte.
 *
 * The receiver prints one line of JSON when the stream ends: payload bytes
 * (MiB * 2^20 for work, the page data without framing), the seconds from
 * its first byte to EOF, bytes/s over that interval (GB = 1e9 bytes). It
 * prints "ready" on stderr once it listens. The sender prints its own view
 * (connect to the receiver's close). Exit status 0, or 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "../src/util/hash.h"  /* tern's own XXH3 (dispatched) */

#define CHUNK    (512u << 10)
#define SRC_BUF  (256u << 20)
#define PAGE     4096u
#define BATCH    256u                            /* RAM_BATCH_PAGES */
#define BHDR     16u                             /* struct ram_batch_hdr */
#define WHDR     24u                             /* struct wire_hdr */
#define ENTRY    16u                             /* struct ram_entry: gpa|kind, hash */
#define MAGIC    0x4d524554u

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define MAX_STREAMS 64

struct opts {
	int tern, work, prefault, streams;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "tern"))
			o->tern = 1;
		else if (!strcmp(argv[i], "work"))
			o->work = 1;
		else if (!strcmp(argv[i], "prefault"))
			o->prefault = 1;
		else if (!strncmp(argv[i], "streams=", 8) && atoi(argv[i] + 8) >= 1 &&
			 atoi(argv[i] + 8) <= MAX_STREAMS)
			o->streams = atoi(argv[i] + 8);
		else {
			fprintf(stderr, "tcp_bw: unknown option %s\n", argv[i]);
			exit(2);
		}
	}
	if (!o->streams)
		o->streams = 1;
	if (o->work && o->streams > 1) {
		fprintf(stderr, "tcp_bw: work is one stream; streams=N is for plain streams\n");
		exit(2);
	}
}

static void tern_opts(int fd)
{
	int one = 1, buf = 4 << 20;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}

static struct addrinfo *resolve(const char *host, const char *port, int passive)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = passive ? AI_PASSIVE : 0 }, *ai;
	int r = getaddrinfo(host, port, &hints, &ai);
	if (r) {
		fprintf(stderr, "tcp_bw: %s:%s: %s\n", host, port, gai_strerror(r));
		exit(1);
	}
	return ai;
}

static int read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -1 : (got ? -1 : 1);     /* 1: clean EOF */
		got += (size_t)n;
	}
	return 0;
}

/* iov[0..n) whole (consumed), as wire.c's send and receive loops */
static void iov_advance(struct iovec **iov, int *n, size_t done)
{
	while (*n && done >= (*iov)[0].iov_len) {
		done -= (*iov)[0].iov_len;
		(*iov)++;
		(*n)--;
	}
	if (*n && done) {
		(*iov)[0].iov_base = (char *)(*iov)[0].iov_base + done;
		(*iov)[0].iov_len -= done;
	}
}

/* all of iov[0..n) read (in) or written (out); -1 on error or EOF */
static int iov_all(int fd, struct iovec *iov, int n, int out)
{
	while (n) {
		int k = n > IOV_MAX ? IOV_MAX : n;
		ssize_t r = out ? writev(fd, iov, k) : readv(fd, iov, k);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		iov_advance(&iov, &n, (size_t)r);
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static void report(const char *role, uint64_t bytes, double s, const struct opts *o)
{
	printf("{\"role\":\"%s\",\"bytes\":%llu,\"seconds\":%.6f,\"bytes_per_s\":%.0f,\"gbps\":%.3f,"
	       "\"tern_sockopts\":%s,\"work\":%s,\"prefault\":%s,\"streams\":%d}\n",
	       role, (unsigned long long)bytes, s, s > 0 ? bytes / s : 0, s > 0 ? bytes / s / 1e9 : 0,
	       o->tern ? "true" : "false", o->work ? "true" : "false", o->prefault ? "true" : "false",
	       o->streams);
	fflush(stdout);
}

/* work mode: the destination's RAM, a memfd of RAM_BYTES (pages wrap
 * around); sparse, so only what arrives is touched, unless prefaulted */
#define RAM_BYTES (8ULL << 30)

static uint8_t *ram_setup(const struct opts *o)
{
	int mfd = memfd_create("tcp_bw-ram", MFD_CLOEXEC);
	uint8_t *mem;
	if (mfd < 0 || ftruncate(mfd, (off_t)RAM_BYTES))
		return NULL;
	mem = mmap(NULL, RAM_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	close(mfd);
	if (mem == MAP_FAILED)
		return NULL;
	if (o->prefault && madvise(mem, 4ULL << 30, MADV_POPULATE_WRITE))
		memset(mem, 0, 4ULL << 30);             /* kernels before 5.14 */
	return mem;
}

static int recv_work(int fd, uint8_t *mem, uint64_t *bytes, double *t0)
{
	uint8_t hdr[WHDR + BHDR];
	uint64_t table[2 * BATCH];
	struct iovec iov[BATCH];
	for (;;) {
		int r = read_exact(fd, hdr, WHDR);
		if (r == 1)
			return 0;
		if (r || read_exact(fd, hdr + WHDR, BHDR))
			return -1;
		if (!*bytes)
			*t0 = now_s();
		uint32_t count;
		uint64_t sum;
		memcpy(&count, hdr + WHDR, 4);
		memcpy(&sum, hdr + WHDR + 8, 8);
		if (count > BATCH || read_exact(fd, table, count * ENTRY))
			return -1;
		if (XXH3_64bits(table, count * ENTRY) != sum) {
			fprintf(stderr, "tcp_bw: checksum mismatch\n");
			return -1;
		}
		for (uint32_t i = 0; i < count; i++)
			iov[i] = (struct iovec){ mem + (table[2 * i] & ~(uint64_t)0xfff) % RAM_BYTES, PAGE };
		if (iov_all(fd, iov, (int)count, 0))
			return -1;
		for (uint32_t i = 0; i < count; i++) {
			uint8_t *pg = mem + (table[2 * i] & ~(uint64_t)0xfff) % RAM_BYTES;
			if (XXH3_64bits(pg, PAGE) != table[2 * i + 1]) {
				fprintf(stderr, "tcp_bw: page hash mismatch\n");
				return -1;
			}
			*bytes += PAGE;
		}
	}
}

/* one plain stream's receiving end: read to EOF into one buffer */
struct rx {
	int fd;
	uint64_t bytes;
	double t0, t1;                  /* first byte, EOF */
	int err;
};

static void *rx_plain(void *arg)
{
	struct rx *x = arg;
	char *buf = malloc(CHUNK);
	if (!buf) {
		x->err = ENOMEM;
		return NULL;
	}
	for (;;) {
		ssize_t n = read(x->fd, buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			x->err = n < 0 ? errno : 0;
			break;
		}
		if (!x->bytes)
			x->t0 = now_s();
		x->bytes += (uint64_t)n;
	}
	x->t1 = now_s();
	free(buf);
	return NULL;
}

static int do_recv(const char *host, const char *port, const struct opts *o)
{
	struct addrinfo *ai = resolve(host, port, 1);
	struct rx x[MAX_STREAMS] = { 0 };
	pthread_t th[MAX_STREAMS];
	int one = 1, lfd, r = 0, n = o->streams;
	uint64_t bytes = 0;
	uint8_t *mem = NULL;
	double t0 = 0, t1 = 0;

	if (o->work && !(mem = ram_setup(o))) {
		fprintf(stderr, "tcp_bw: out of memory\n");
		return 1;
	}
	lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, ai->ai_addr, ai->ai_addrlen) || listen(lfd, MAX_STREAMS)) {
		fprintf(stderr, "tcp_bw: listen %s:%s: %s\n", host, port, strerror(errno));
		return 1;
	}
	freeaddrinfo(ai);
	fprintf(stderr, "ready\n");
	for (int i = 0; i < n; i++) {
		x[i].fd = accept(lfd, NULL, NULL);
		if (x[i].fd < 0) {
			fprintf(stderr, "tcp_bw: accept: %s\n", strerror(errno));
			return 1;
		}
		if (o->tern)
			tern_opts(x[i].fd);
	}
	if (o->work) {
		r = recv_work(x[0].fd, mem, &bytes, &t0);
		t1 = now_s();
		if (r)
			fprintf(stderr, "tcp_bw: receiving failed: %s\n", strerror(errno));
	} else {
		for (int i = 1; i < n; i++)
			if (pthread_create(&th[i], NULL, rx_plain, &x[i])) {
				fprintf(stderr, "tcp_bw: cannot start a receiving thread\n");
				return 1;
			}
		rx_plain(&x[0]);
		for (int i = 1; i < n; i++)
			pthread_join(th[i], NULL);
		for (int i = 0; i < n; i++) {
			if (x[i].err) {
				fprintf(stderr, "tcp_bw: receiving on stream %d failed: %s\n", i, strerror(x[i].err));
				r = -1;
			}
			if (!x[i].bytes)
				continue;
			if (!bytes || x[i].t0 < t0)
				t0 = x[i].t0;
			if (x[i].t1 > t1)
				t1 = x[i].t1;
			bytes += x[i].bytes;
		}
	}
	for (int i = 0; i < n; i++)
		close(x[i].fd);
	close(lfd);
	report("recv", bytes, t1 - t0, o);
	if (mem)
		munmap(mem, RAM_BYTES);
	return bytes && !r ? 0 : 1;
}

/* one sending stream: total bytes from a shared source buffer */
struct tx {
	int fd;
	const struct opts *o;
	const unsigned char *src;
	uint64_t total, sent;
	uint64_t zero, changed;         /* work: zero pages seen, pages changed during the send */
	int err;
};

/* work: one batch's header, table and iovecs */
struct work_batch {
	uint8_t hdr[WHDR + BHDR];
	uint64_t table[2 * BATCH];
	struct iovec iov[2 + BATCH];
};

static void *tx_stream(void *arg)
{
	struct tx *t = arg;
	const struct opts *o = t->o;
	struct work_batch *w = o->work ? malloc(sizeof(*w)) : NULL;
	uint64_t off = 0;

	if (o->work && !w) {
		t->err = ENOMEM;
		return NULL;
	}
	while (t->sent < t->total) {
		if (!o->work) {
			size_t len = t->total - t->sent < CHUNK ? (size_t)(t->total - t->sent) : CHUNK;
			if (off + len > SRC_BUF)
				off = 0;
			if (write_all(t->fd, t->src + off, len))
				goto fail;
			t->sent += len;
			off += len;
			continue;
		}
		/* one batch as page_tx.c builds it: a table, then the pages
		 * from where they are */
		uint32_t count = 0;
		int n = 2;
		while (count < BATCH && t->sent < t->total) {
			if (off + PAGE > SRC_BUF)
				off = 0;
			const uint8_t *pg = t->src + off;
			const uint64_t *q = (const uint64_t *)pg;
			int zero = 1;
			for (int i = 0; i < 512 && zero; i += 4)
				zero = !(q[i] | q[i + 1] | q[i + 2] | q[i + 3]);
			t->zero += (uint64_t)zero;
			w->table[2 * count] = t->sent;            /* the page's "gpa", kind NORMAL */
			w->table[2 * count + 1] = XXH3_64bits(pg, PAGE);
			w->iov[n++] = (struct iovec){ (void *)pg, PAGE };
			off += PAGE;
			t->sent += PAGE;
			count++;
		}
		uint64_t len = BHDR + (uint64_t)count * (ENTRY + PAGE);
		uint64_t sum = XXH3_64bits(w->table, count * ENTRY);
		uint32_t magic = MAGIC, zero32 = 0;
		memcpy(w->hdr, &magic, 4);
		memset(w->hdr + 4, 0, 12);
		memcpy(w->hdr + 16, &len, 8);
		memcpy(w->hdr + WHDR, &count, 4);
		memcpy(w->hdr + WHDR + 4, &zero32, 4);
		memcpy(w->hdr + WHDR + 8, &sum, 8);
		w->iov[0] = (struct iovec){ w->hdr, WHDR + BHDR };
		w->iov[1] = (struct iovec){ w->table, count * ENTRY };
		if (iov_all(t->fd, w->iov, 2 + (int)count, 1))
			goto fail;
		for (uint32_t i = 0; i < count; i++)      /* the second hash, as page_tx.c */
			t->changed += XXH3_64bits(t->src + ((t->sent - (count - i) * (uint64_t)PAGE) % SRC_BUF),
						  PAGE) != w->table[2 * i + 1];
	}
	shutdown(t->fd, SHUT_WR);
	{       /* wait for the receiver's close, so the time covers delivery */
		char c;
		while (read(t->fd, &c, 1) > 0)
			;
	}
	free(w);
	return NULL;
fail:
	t->err = errno ? errno : EIO;
	free(w);
	return NULL;
}

static int do_send(const char *host, const char *port, uint64_t mib, const struct opts *o)
{
	struct addrinfo *ai = resolve(host, port, 0);
	unsigned char *src = malloc(SRC_BUF);
	struct tx t[MAX_STREAMS] = { 0 };
	pthread_t th[MAX_STREAMS];
	uint64_t total = mib << 20, sent = 0;
	int n = o->streams, r = 0;
	double t0;

	if (!src) {
		fprintf(stderr, "tcp_bw: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < SRC_BUF; i++)            /* non-zero, faulted in */
		src[i] = (unsigned char)(i * 131 + (i >> 12) + 1);
	for (int i = 0; i < n; i++) {
		int fd = -1;
		for (int tries = 0; tries < 500; tries++) {     /* the receiver may still be starting */
			fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd >= 0 && o->tern)
				tern_opts(fd);
			if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
				break;
			if (fd >= 0)
				close(fd);
			fd = -1;
			usleep(20000);
		}
		if (fd < 0) {
			fprintf(stderr, "tcp_bw: connect %s:%s: %s\n", host, port, strerror(errno));
			return 1;
		}
		/* whole pages per stream; the last takes the rest */
		uint64_t share = total / (uint64_t)n / PAGE * PAGE;
		t[i] = (struct tx){ .fd = fd, .o = o, .src = src,
				    .total = i == n - 1 ? total - share * (uint64_t)(n - 1) : share };
	}
	freeaddrinfo(ai);
	t0 = now_s();
	for (int i = 1; i < n; i++)
		if (pthread_create(&th[i], NULL, tx_stream, &t[i])) {
			fprintf(stderr, "tcp_bw: cannot start a sending thread\n");
			return 1;
		}
	tx_stream(&t[0]);
	for (int i = 1; i < n; i++)
		pthread_join(th[i], NULL);
	double s = now_s() - t0;
	for (int i = 0; i < n; i++) {
		if (t[i].err) {
			fprintf(stderr, "tcp_bw: write on stream %d: %s\n", i, strerror(t[i].err));
			r = 1;
		}
		sent += t[i].sent;
		close(t[i].fd);
	}
	if (!r)
		report("send", sent, s, o);
	free(src);
	return r;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	if (argc >= 4 && !strcmp(argv[1], "recv")) {
		parse_opts(argc - 4, argv + 4, &o);
		return do_recv(argv[2], argv[3], &o);
	}
	if (argc >= 5 && !strcmp(argv[1], "send")) {
		uint64_t mib = strtoull(argv[4], NULL, 10);
		parse_opts(argc - 5, argv + 5, &o);
		if (mib)
			return do_send(argv[2], argv[3], mib, &o);
	}
	fprintf(stderr, "usage: tcp_bw recv ADDR PORT [tern] [work [prefault] | streams=N]\n"
			"       tcp_bw send ADDR PORT MiB [tern] [work | streams=N]\n");
	return 2;
}
