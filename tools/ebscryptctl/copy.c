// SPDX-License-Identifier: GPL-2.0
/*
 * The one copy loop behind snapshots, restores and re-encryption, built as a
 * pipeline so reading, hashing and writing overlap:
 *
 *   reader thread -> [ring of COPY_SLOTS fixed buffers] -> gate (the caller's
 *   thread: cancel, progress) -> hasher threads (leaf SHA-256, zero test, any
 *   order) -> writer thread (in order: root digest, write)
 *
 * Memory is the ring, COPY_SLOTS * COPY_CHUNK = 16 MiB whatever the length.
 * The tree checksum (treehash.h) hashes each chunk on its own, so up to
 * min(online CPUs, 4) hashers work on different slots at once; only the 32
 * byte leaf digests have to meet in order, and the writer, which goes in
 * order anyway, folds them into the root. The old single-stream SHA-256
 * (snapshots taken before the tree) gets one hasher, which then takes the
 * chunks in order. Both ends are reopened O_DIRECT where the kernel takes it
 * (block devices, most disk filesystems; not tmpfs), so a big copy neither
 * floods nor pays for the page cache; where it is refused, the buffered fds
 * get fadvise/sync_file_range so the cache stays small anyway. Holes are
 * kept when the destination is a fresh file, progress (bytes, rate, ETA)
 * goes to a terminal, and the destination is fsync'd at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ctl.h"
#include "treehash.h"

#define COPY_CHUNK TREEHASH_LEAF  /* one slot is one leaf of the tree checksum */
#define COPY_SLOTS 8              /* reading, up to 4 hashing, writing, and slack */
#define COPY_HASHERS_MAX 4
/* O_DIRECT wants buffers aligned to the logical block; a page covers any. */
#define COPY_ALIGN 4096

/* A slot goes round FREE -> READ -> QUEUED -> HASHING -> HASHED -> FREE. */
enum slot_state { SLOT_FREE, SLOT_READ, SLOT_QUEUED, SLOT_HASHING, SLOT_HASHED };

struct slot {
	uint8_t *buf;
	size_t len;
	uint64_t k;               /* chunk number */
	int skip;                 /* all zero and the destination keeps holes */
	uint8_t leaf[32];         /* the chunk's digest (tree checksum) */
	enum slot_state state;
};

struct pipe {
	struct copy_job *j;
	int in, out;              /* the fds in use: O_DIRECT reopens, or the caller's */
	int in_direct, out_direct;
	int in_dfd, out_dfd;      /* the O_DIRECT reopens, closed at the end even after a fallback */
	uint64_t chunks, written; /* bytes through the writer, for progress */
	uint64_t claimed;         /* chunks taken by a hasher */
	EVP_MD_CTX *md;           /* the single stream (hashers) or the tree's root (writer) */
	struct slot slot[COPY_SLOTS];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int err;                  /* first failure, -errno; stops every stage */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int all_zero(const uint8_t *p, size_t n)
{
	return !n || (!p[0] && !memcmp(p, p + 1, n - 1));
}

enum progress_line { PROGRESS_SO_FAR, PROGRESS_DONE };

static void progress(const struct copy_job *j, uint64_t done, double t0, enum progress_line line)
{
	double el = now_s() - t0, rate = el > 0 ? done / el : 0;

	if (!j->show)
		return;
	fprintf(stderr, "\r%s: %llu / %llu MiB, %.1f MiB/s, ETA %.0f s   %s", j->what,
		(unsigned long long)(done >> 20), (unsigned long long)(j->len >> 20), rate / 1048576.0,
		rate > 0 ? (j->len - done) / rate : 0.0, line == PROGRESS_DONE ? "\n" : "");
}

/* A second open of the same file or device with O_DIRECT, or -1. */
static int reopen_direct(int fd, int flags)
{
	char p[64];
	struct stat st;

	if (fd < 0 || fstat(fd, &st) || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
		return -1;
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	return open(p, flags | O_DIRECT | O_CLOEXEC);
}

static size_t chunk_len(const struct pipe *p, uint64_t k)
{
	uint64_t left = p->j->len - k * COPY_CHUNK;

	return left < COPY_CHUNK ? (size_t)left : COPY_CHUNK;
}

static void fail(struct pipe *p, int err)
{
	pthread_mutex_lock(&p->mu);
	if (!p->err)
		p->err = err;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Waits until slot s is in state want; 0, or the pipeline's error. */
static int wait_slot(struct pipe *p, struct slot *s, enum slot_state want)
{
	int err;

	pthread_mutex_lock(&p->mu);
	while (s->state != want && !p->err)
		pthread_cond_wait(&p->cv, &p->mu);
	err = p->err;
	pthread_mutex_unlock(&p->mu);
	return err;
}

static void pass_slot(struct pipe *p, struct slot *s, enum slot_state to, uint64_t wrote)
{
	pthread_mutex_lock(&p->mu);
	s->state = to;
	p->written += wrote;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* A refused O_DIRECT transfer (alignment: EINVAL) falls back to the buffered fd for good. */
static int read_full(struct pipe *p, uint8_t *buf, size_t want, uint64_t off)
{
	size_t got = 0;
	ssize_t n;

	while (got < want) {
		n = pread(p->in, buf + got, want - got, off + got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EINVAL && p->in_direct) {
			p->in_direct = 0;
			p->in = p->j->in;
			continue;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		got += n;
	}
	if (!p->in_direct) {
		/* Read once and never again: the cache need not keep it. */
		posix_fadvise(p->in, (off_t)off, (off_t)want, POSIX_FADV_DONTNEED);
	}
	return 0;
}

static int write_full(struct pipe *p, const uint8_t *buf, size_t want, uint64_t off)
{
	size_t put = 0;
	ssize_t n;

	while (put < want) {
		n = pwrite(p->out, buf + put, want - put, off + put);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EINVAL && p->out_direct) {
			p->out_direct = 0;
			p->out = p->j->out;
			continue;
		}
		if (n <= 0)
			return n < 0 ? -errno : -ENOSPC;
		put += n;
	}
	if (!p->out_direct) {
		/*
		 * Start writeback now, and drop what the ring wrote a lap ago
		 * (written back by then): dirty pages stay a few chunks, not
		 * the whole copy. Errors surface at the final fsync.
		 */
		uint64_t lap = (uint64_t)COPY_SLOTS * COPY_CHUNK;

		sync_file_range(p->out, (off_t)off, (off_t)want, SYNC_FILE_RANGE_WRITE);
		if (off >= lap) {
			sync_file_range(p->out, (off_t)(off - lap), COPY_CHUNK, SYNC_FILE_RANGE_WAIT_BEFORE |
					SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
			posix_fadvise(p->out, (off_t)(off - lap), COPY_CHUNK, POSIX_FADV_DONTNEED);
		}
	}
	return 0;
}

static void *reader(void *arg)
{
	struct pipe *p = arg;
	uint64_t k;
	int rc;

	for (k = 0; k < p->chunks; k++) {
		struct slot *s = &p->slot[k % COPY_SLOTS];

		if (wait_slot(p, s, SLOT_FREE))
			break;
		s->k = k;
		s->len = chunk_len(p, k);
		rc = read_full(p, s->buf, s->len, p->j->in_off + k * COPY_CHUNK);
		if (rc) {
			fail(p, rc);
			break;
		}
		pass_slot(p, s, SLOT_READ, 0);
	}
	return NULL;
}

/*
 * The lowest queued chunk, so the writer is never kept waiting by a chunk
 * nobody took; with one hasher that is strictly in order. NULL when all are
 * claimed or the pipeline failed. Called with mu held.
 */
static struct slot *claim(struct pipe *p)
{
	struct slot *best;
	int i;

	for (;;) {
		if (p->err || p->claimed == p->chunks)
			return NULL;
		best = NULL;
		for (i = 0; i < COPY_SLOTS; i++)
			if (p->slot[i].state == SLOT_QUEUED && (!best || p->slot[i].k < best->k))
				best = &p->slot[i];
		if (best) {
			best->state = SLOT_HASHING;
			p->claimed++;
			return best;
		}
		pthread_cond_wait(&p->cv, &p->mu);
	}
}

static void *hasher(void *arg)
{
	struct pipe *p = arg;
	struct slot *s;
	int rc;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		s = claim(p);
		pthread_mutex_unlock(&p->mu);
		if (!s)
			break;
		rc = 0;
		if (p->j->sum == COPY_SUM_TREE)
			rc = treehash_leaf(s->buf, s->len, s->leaf);
		else if (p->j->sum == COPY_SUM_SHA256 && !EVP_DigestUpdate(p->md, s->buf, s->len))
			rc = -EIO;
		if (rc) {
			fail(p, rc);
			break;
		}
		s->skip = p->j->sparse && all_zero(s->buf, s->len);
		pass_slot(p, s, SLOT_HASHED, 0);
	}
	return NULL;
}

static void *writer(void *arg)
{
	struct pipe *p = arg;
	uint64_t k;
	int rc;

	for (k = 0; k < p->chunks; k++) {
		struct slot *s = &p->slot[k % COPY_SLOTS];

		if (wait_slot(p, s, SLOT_HASHED))
			break;
		rc = p->j->sum == COPY_SUM_TREE ? treehash_add(p->md, s->leaf) : 0;
		if (!rc && p->out >= 0 && !s->skip)
			rc = write_full(p, s->buf, s->len, p->j->out_off + k * COPY_CHUNK);
		if (rc) {
			fail(p, rc);
			break;
		}
		pass_slot(p, s, SLOT_FREE, s->len);
	}
	return NULL;
}

/*
 * On the caller's thread, because the cancel callback is not ours to move:
 * checks it once per chunk, in order, before the chunk may be hashed (so
 * nothing goes on after a stop), and shows progress.
 */
static int gate(struct pipe *p)
{
	struct copy_job *j = p->j;
	double t0 = now_s(), last = t0;
	uint64_t k, done;
	int rc;

	for (k = 0; k < p->chunks; k++) {
		struct slot *s = &p->slot[k % COPY_SLOTS];

		if (j->cancel && j->cancel()) {
			fail(p, -ECANCELED);
			return -ECANCELED;
		}
		rc = wait_slot(p, s, SLOT_READ);
		if (rc)
			return rc;
		pass_slot(p, s, SLOT_QUEUED, 0);
		if (now_s() - last > 0.5) {
			last = now_s();
			pthread_mutex_lock(&p->mu);
			done = p->written;
			pthread_mutex_unlock(&p->mu);
			progress(j, done, t0, PROGRESS_SO_FAR);
		}
	}
	return 0;
}

static int hasher_count(const struct copy_job *j)
{
	long n = j->hashers > 0 ? j->hashers : sysconf(_SC_NPROCESSORS_ONLN);

	/* One stream is one sequence: a second hasher could only reorder it. */
	if (j->sum == COPY_SUM_SHA256 || n < 1)
		return 1;
	return n > COPY_HASHERS_MAX ? COPY_HASHERS_MAX : (int)n;
}

static int pipe_init(struct pipe *p, struct copy_job *j)
{
	int i;

	memset(p, 0, sizeof(*p));
	p->j = j;
	p->in = p->out = p->in_dfd = p->out_dfd = -1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->chunks = (j->len + COPY_CHUNK - 1) / COPY_CHUNK;
	for (i = 0; i < COPY_SLOTS; i++)
		if (posix_memalign((void **)&p->slot[i].buf, COPY_ALIGN, COPY_CHUNK))
			return -ENOMEM;
	if (j->sum != COPY_SUM_NONE) {
		if (!j->digest || j->sum > COPY_SUM_SHA256)
			return -EINVAL;
		if (!(p->md = EVP_MD_CTX_new()))
			return -ENOMEM;
		if (j->sum == COPY_SUM_TREE ? treehash_begin(p->md, j->len) :
		    !EVP_DigestInit_ex(p->md, EVP_sha256(), NULL))
			return -ENOMEM;
	}
	p->in = p->in_dfd = reopen_direct(j->in, O_RDONLY);
	p->in_direct = p->in >= 0;
	if (!p->in_direct) {
		p->in = j->in;
		posix_fadvise(p->in, (off_t)j->in_off, (off_t)j->len, POSIX_FADV_SEQUENTIAL);
	}
	p->out = p->out_dfd = j->out >= 0 ? reopen_direct(j->out, O_WRONLY) : -1;
	p->out_direct = p->out >= 0;
	if (!p->out_direct)
		p->out = j->out;
	return 0;
}

static void pipe_free(struct pipe *p)
{
	int i;

	for (i = 0; i < COPY_SLOTS; i++)
		free(p->slot[i].buf);
	if (p->in_dfd >= 0)
		close(p->in_dfd);
	if (p->out_dfd >= 0)
		close(p->out_dfd);
	EVP_MD_CTX_free(p->md);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
}

int copy_run(struct copy_job *j)
{
	double t0 = now_s();
	pthread_t th[2 + COPY_HASHERS_MAX];
	void *(*const stage[2])(void *) = { reader, writer };
	int n = 2 + hasher_count(j), started = 0, rc, i;
	sigset_t all, old;
	struct pipe p;

	rc = pipe_init(&p, j);
	if (rc)
		goto out;
	/* Signals stay with the caller's thread, where its handlers and masks expect them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (; started < n && !rc; started++)
		rc = -pthread_create(&th[started], NULL, started < 2 ? stage[started] : hasher, &p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		started--;
		fail(&p, rc);
	} else {
		gate(&p);
	}
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	/* The first failure of any stage, whoever noticed it. */
	rc = p.err;
	if (!rc && j->out >= 0 && fsync(j->out))
		rc = -errno;
	if (!rc && p.md) {
		unsigned int l = 32;

		if (j->sum == COPY_SUM_TREE)
			rc = treehash_end(p.md, j->digest);
		else if (!EVP_DigestFinal_ex(p.md, j->digest, &l))
			rc = -EIO;
	}
	if (!rc)
		progress(j, j->len, t0, PROGRESS_DONE);
out:
	pipe_free(&p);
	return rc;
}
