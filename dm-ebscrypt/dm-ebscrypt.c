// SPDX-License-Identifier: GPL-2.0
/*
 * dm-ebscrypt: EBS-style volume encryption.
 *
 * AES-256-XTS with plain64 IVs, bit-for-bit compatible with dm-crypt's
 * aes-xts-plain64, keyed only from a logon key in the kernel keyring so
 * that the data encryption key never appears in a table, in userspace after
 * the table load, or anywhere but this target's crypto transform.
 *
 * Reads are decrypted in place when the backing device completes them;
 * writes are encrypted into bounce pages from a mempool. A large bio is cut
 * into fragments that are converted on several CPUs at once, so sequential
 * throughput is not capped by the submitting CPU while small I/O stays
 * inline on it.
 *
 * Copyright (C) 2026 The ebscrypt authors
 */

#include <linux/module.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/cpumask.h>
#include <linux/mempool.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/llist.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/key.h>
#include <linux/key-type.h>
#include <linux/random.h>
#include <linux/scatterlist.h>
#include <linux/sched.h>
#include <linux/sched/isolation.h>
#include <linux/string.h>
#include <linux/device-mapper.h>
#include <crypto/skcipher.h>
#include <keys/user-type.h>

#include "dm-ebscrypt-compat.h"

#define DM_MSG_PREFIX "ebscrypt"

#define EBSCRYPT_KEY_SIZE	64	/* two AES-256 keys for XTS */
#define EBSCRYPT_MAX_FRAGS	4
/*
 * Below this size a bio is converted by one CPU: handing a fragment to
 * another CPU costs more than encrypting a few pages inline.
 */
#define EBSCRYPT_FRAG_MIN_BYTES	(64 * 1024)
/*
 * Most bytes converted in one go where nothing may sleep (a softirq, an
 * async driver's callback with bottom halves off); the rest of such a
 * fragment goes to the workqueue. Reads completed in interrupt context are
 * at most this large, so they never need the hand-off.
 */
#define EBSCRYPT_ATOMIC_BUDGET	EBSCRYPT_FRAG_MIN_BYTES
/* Most bytes the softirq drain decrypts before it yields to other work. */
#define EBSCRYPT_SOFTIRQ_BUDGET	(256 * 1024)
#define EBSCRYPT_MAX_OPT_PARAMS	3
/*
 * Writes are encrypted and sent down in pieces of at most this size (128 KiB
 * where dm-crypt cuts them too, else 1 MiB: see the compat header). A
 * piece is the most one write ever holds, and the bounce bio's vectors
 * bound it.
 */
#define EBSCRYPT_WRITE_PIECE_SECTORS (EBSCRYPT_WRITE_PIECE_BYTES >> SECTOR_SHIFT)
/* The most bounce pages one write needs, which the page mempool reserves. */
#define EBSCRYPT_WRITE_PIECE_PAGES \
	(EBSCRYPT_WRITE_PIECE_SECTORS >> (PAGE_SHIFT - SECTOR_SHIFT))
static_assert(EBSCRYPT_WRITE_PIECE_PAGES <= BIO_MAX_VECS);
/* Largest bounce chunk from the page allocator: 32 KiB, the costly order. */
#define EBSCRYPT_BOUNCE_ORDER	3
/* Bounce pages a write's own per-bio data holds a bio for (up to 16 KiB). */
#define EBSCRYPT_INLINE_VECS	4
/*
 * Bounce pages in flight, all ebscrypt devices together, are capped at this
 * share of RAM (as dm-crypt caps its own), split evenly between the devices
 * but never below eight 1 MiB writes, so that a host with many devices still
 * keeps each one's queue busy (dm-crypt's floor is sixteen).
 */
#define EBSCRYPT_MEMORY_PERCENT	2
#define EBSCRYPT_MIN_PAGES_PER_CLIENT	(8 * BIO_MAX_VECS)
/*
 * Bounce bios the bioset keeps back. Every write takes one, but each goes
 * back as its write completes, so this only sets how many writes in flight
 * can still start when the slab is empty; dm-crypt keeps as many.
 */
#define EBSCRYPT_MIN_BIOS	64

enum ebscrypt_flags {
	EBSCRYPT_KEY_LOADED,
	EBSCRYPT_ALLOW_DISCARDS,
	EBSCRYPT_SECTOR_SIZE_SET,
	EBSCRYPT_CLIENT,		/* counted in ebscrypt_clients */
	EBSCRYPT_SUSPENDED,		/* postsuspend ran; preresume not yet */
};

struct ebscrypt_stats {
	u64 reads;
	u64 writes;
	u64 read_sectors;
	u64 write_sectors;
	u64 io_errors;
	u64 crypt_errors;
};

/*
 * Reads that complete in hard interrupt context are decrypted in a softirq
 * on the same CPU, as the block layer completes requests: no context switch
 * to a worker for every small read. One drain per CPU, never per io, so
 * nothing a running drain touches is freed under it.
 */
struct ebscrypt_bh {
	struct llist_head ios;		/* added to from hard interrupts */
	struct llist_node *backlog;	/* taken, not converted yet, oldest first */
	struct ebscrypt_softirq softirq;
};

struct ebscrypt_c {
	struct dm_dev *dev;
	sector_t start;			/* first data sector on dev */
	unsigned int sector_size;	/* encryption unit in bytes */
	unsigned long flags;

	char *key_string;		/* ":64:logon:<desc>", never key bytes */
	char *cipher_driver;		/* as the table named it, or NULL */
	struct crypto_skcipher *tfm;
	/*
	 * Serialises key changes with resume: a key message is accepted only
	 * while EBSCRYPT_SUSPENDED is set, and preresume clears it under this
	 * lock, so no message can land between preresume and the first I/O.
	 */
	struct mutex key_lock;

	unsigned int nr_frags;		/* fragments a large bio is cut into */
	unsigned int frag_offset;	/* first fragment's place in per-bio data */
	unsigned int frag_stride;	/* bytes per fragment in per-bio data */

	struct workqueue_struct *crypt_wq;	/* per CPU, high priority */
	cpumask_var_t crypt_cpus;	/* housekeeping CPUs fragments may use */
	int last_cpu;			/* where the last fragment went */

	mempool_t page_pool;
	struct bio_set bs;
	/* Serialises blocking page allocation so the pool cannot deadlock. */
	struct mutex bio_alloc_lock;
	atomic_t bounce_waiters;	/* writers in the blocking path */
	atomic_long_t bounce_pages;	/* bounce pages held by writes in flight */
	atomic_long_t bounce_peak;	/* most bounce_pages ever held at once */
	wait_queue_head_t bounce_wait;

	struct ebscrypt_stats __percpu *stats;
	struct ebscrypt_bh __percpu *bh;
};

/* Bounce pages each device may hold; see EBSCRYPT_MEMORY_PERCENT. */
static DEFINE_MUTEX(ebscrypt_clients_lock);
static unsigned int ebscrypt_clients;
static unsigned long ebscrypt_pages_per_client = EBSCRYPT_MIN_PAGES_PER_CLIENT;

struct ebscrypt_io;

/* A run of consecutive crypto sectors converted by one CPU. */
struct ebscrypt_frag {
	struct ebscrypt_io *io;
	struct bvec_iter iter_in;
	struct bvec_iter iter_out;
	u64 iv_sector;			/* plain64 IV of the next crypto sector */
	unsigned int remaining;		/* bytes left to convert */
	bool may_sleep;
	struct work_struct work;
	struct scatterlist sg_in;
	struct scatterlist sg_out;
	__le64 iv[2];			/* plain64: the sector, then zeros */
	/* Must be last: the crypto driver's context follows it. */
	struct skcipher_request req;
};

/* Per-bio data: the io, then nr_frags fragments of frag_stride bytes each. */
struct ebscrypt_io {
	struct ebscrypt_c *ec;
	struct bio *base;		/* the bio dm handed to ->map */
	struct bio *clone;		/* write bounce bio; NULL for reads */
	bio_end_io_t *orig_end_io;	/* read: restored before completion */
	void *orig_private;
	struct bvec_iter iter;		/* data position of base at map time */
	sector_t sector;		/* target-relative, 512-byte units */
	atomic_t pending;		/* fragments still converting */
	blk_status_t status;
	bool write;
	struct llist_node bh_node;	/* read waiting for the softirq */
	/* A write converted in atomic context, or a no-wait read to retry. */
	struct work_struct submit_work;
	/* Small writes bounce through this bio instead of a bio_set one. */
	struct bio inline_clone;
	struct bio_vec inline_vecs[EBSCRYPT_INLINE_VECS];
};

static struct ebscrypt_frag *ebscrypt_io_frag(struct ebscrypt_io *io,
					      unsigned int i)
{
	return (void *)((u8 *)io + io->ec->frag_offset + i * io->ec->frag_stride);
}

/*
 * The counters are bumped from process context (map) and from hard
 * interrupts (completions) on the same CPU: this_cpu ops are safe against
 * both, a read-modify-write through get_cpu_ptr() is not.
 */
static void ebscrypt_count_error(struct ebscrypt_c *ec, bool crypt)
{
	if (crypt)
		this_cpu_inc(ec->stats->crypt_errors);
	else
		this_cpu_inc(ec->stats->io_errors);
}

/* Recompute every device's share of bounce memory (clients_lock held). */
static void ebscrypt_update_pages_per_client(void)
{
	unsigned long pages = totalram_pages() * EBSCRYPT_MEMORY_PERCENT / 100;

	if (ebscrypt_clients)
		pages /= ebscrypt_clients;
	WRITE_ONCE(ebscrypt_pages_per_client,
		   max_t(unsigned long, pages, EBSCRYPT_MIN_PAGES_PER_CLIENT));
}

/*
 * Claim nr bounce pages against the device's cap. Exact, not approximate:
 * the sum of what the writes in flight hold never exceeds the cap.
 */
static bool ebscrypt_bounce_reserve(struct ebscrypt_c *ec, unsigned int nr)
{
	long cap = READ_ONCE(ebscrypt_pages_per_client);
	long cur = atomic_long_read(&ec->bounce_pages);
	long peak;

	do {
		if (cur + nr > cap)
			return false;
	} while (!atomic_long_try_cmpxchg(&ec->bounce_pages, &cur, cur + nr));

	cur += nr;
	peak = atomic_long_read(&ec->bounce_peak);
	while (cur > peak && !atomic_long_try_cmpxchg(&ec->bounce_peak, &peak, cur))
		;
	return true;
}

static void ebscrypt_bounce_unreserve(struct ebscrypt_c *ec, unsigned int nr)
{
	atomic_long_sub(nr, &ec->bounce_pages);
	/*
	 * The release must be visible before the lockless waitqueue check;
	 * the waiter's prepare_to_wait() orders its queueing before its look
	 * at the count, so one of the two always sees the other.
	 */
	smp_mb__after_atomic();
	/* Lockless: see the barrier above. */
	if (waitqueue_active(&ec->bounce_wait))
		wake_up(&ec->bounce_wait);
}

/*
 * Give a bounce bio's pages back. Each bvec is one allocation: a compound
 * page from the page allocator when it spans more than a page, else a
 * mempool page.
 */
static void ebscrypt_free_bounce_pages(struct ebscrypt_c *ec, struct bio *clone)
{
	unsigned short i;

	for (i = 0; i < clone->bi_vcnt; i++) {
		struct bio_vec *bv = &clone->bi_io_vec[i];

		if (bv->bv_len > PAGE_SIZE)
			__free_pages(bv->bv_page, get_order(bv->bv_len));
		else
			mempool_free(bv->bv_page, &ec->page_pool);
	}
	clone->bi_vcnt = 0;
	clone->bi_iter.bi_size = 0;
}

/* Free a bounce bio: its pages, its claim on the cap, and the bio itself. */
static void ebscrypt_free_bounce(struct ebscrypt_io *io)
{
	struct ebscrypt_c *ec = io->ec;
	struct bio *clone = io->clone;

	ebscrypt_free_bounce_pages(ec, clone);
	ebscrypt_bounce_unreserve(ec, DIV_ROUND_UP(io->iter.bi_size, PAGE_SIZE));
	if (clone->bi_pool)
		bio_put(clone);
	else
		bio_uninit(clone);
}

/*
 * Fill a bounce bio with pages for io->iter.bi_size bytes. Opportunistic
 * large chunks first: fewer, bigger allocations cost far less than one per
 * page, but only when the page allocator has them at once; a failed attempt
 * must not wake kswapd or kcompactd, so it asks for no reclaim at all. Then
 * mempool pages: without blocking (fails when the pool runs short), or, in
 * the blocking path, waiting for the pool, which cannot fail.
 */
static bool ebscrypt_fill_bounce(struct ebscrypt_io *io, struct bio *clone,
				 bool nowait)
{
	struct ebscrypt_c *ec = io->ec;
	unsigned int size = io->iter.bi_size;
	unsigned int order = nowait ? EBSCRYPT_BOUNCE_ORDER : 0;
	unsigned int len;
	struct page *page;

	while (size) {
		while (order && size < (PAGE_SIZE << order))
			order--;
		if (order) {
			page = alloc_pages(__GFP_NOWARN | __GFP_NORETRY |
					   __GFP_NOMEMALLOC | __GFP_COMP, order);
			if (!page) {
				order--;
				continue;
			}
		} else {
			page = mempool_alloc(&ec->page_pool,
					     nowait ? GFP_NOWAIT | __GFP_NOWARN : GFP_NOIO);
			if (!page)
				return false;
		}
		len = min_t(unsigned int, size, PAGE_SIZE << order);
		__bio_add_page(clone, page, len, 0);
		size -= len;
	}
	return true;
}

/*
 * The flags of a write's bounce bio: the original's, but never polled and
 * never no-wait. device-mapper polls only its own clone, never this one, so
 * a polled bounce bio on a poll queue would never complete. And a no-wait
 * write, once accepted, goes down from the workqueue, where waiting is
 * allowed: refused there (no tag free, or a bio the device below must
 * split, which the block layer never does for a no-wait bio), it would
 * fail with EAGAIN where its submitter cannot retry it, and io_uring on
 * 6.1 hands that EAGAIN to the application.
 */
static blk_opf_t ebscrypt_bounce_opf(struct ebscrypt_io *io)
{
	return io->base->bi_opf & ~(REQ_POLLED | REQ_NOWAIT);
}

static void ebscrypt_bounce_setup(struct ebscrypt_io *io, struct bio *clone)
{
	clone->bi_private = io;
	clone->bi_ioprio = io->base->bi_ioprio;
}

/*
 * The bounce bio of a write. Most small writes need no bio_set allocation:
 * the per-bio data lives until the base bio completes, after the bounce bio.
 */
static struct bio *ebscrypt_bounce_bio(struct ebscrypt_io *io,
				       unsigned int nr_pages)
{
	struct ebscrypt_c *ec = io->ec;
	struct bio *clone;

	if (nr_pages <= EBSCRYPT_INLINE_VECS) {
		clone = &io->inline_clone;
		bio_init(clone, ec->dev->bdev, io->inline_vecs,
			 EBSCRYPT_INLINE_VECS, ebscrypt_bounce_opf(io));
	} else {
		clone = bio_alloc_bioset(ec->dev->bdev, nr_pages,
					 ebscrypt_bounce_opf(io), GFP_NOIO,
					 &ec->bs);
	}
	ebscrypt_bounce_setup(io, clone);
	return clone;
}

/*
 * Bounce memory for a write, within the device's cap. The fast path claims
 * the pages and allocates without blocking. When the cap is reached or the
 * pool runs short, the writer takes the blocking path: under bio_alloc_lock,
 * so only one writer at a time waits on the cap or the pool, whose reserve
 * of one write piece's pages always lets that writer finish; writes in flight
 * release their claims as they complete, which needs no allocation. While
 * anyone waits, newcomers queue behind it instead of taking the pages it
 * waits for.
 */
static struct bio *ebscrypt_alloc_bounce(struct ebscrypt_io *io)
{
	struct ebscrypt_c *ec = io->ec;
	unsigned int nr_pages = DIV_ROUND_UP(io->iter.bi_size, PAGE_SIZE);
	struct bio *clone = ebscrypt_bounce_bio(io, nr_pages);
	bool claimed = false;

	if (likely(!atomic_read(&ec->bounce_waiters))) {
		claimed = ebscrypt_bounce_reserve(ec, nr_pages);
		if (likely(claimed) && likely(ebscrypt_fill_bounce(io, clone, true)))
			return clone;
		ebscrypt_free_bounce_pages(ec, clone);
	}

	atomic_inc(&ec->bounce_waiters);
	mutex_lock(&ec->bio_alloc_lock);
	if (!claimed)
		wait_event(ec->bounce_wait, ebscrypt_bounce_reserve(ec, nr_pages));
	ebscrypt_fill_bounce(io, clone, false);
	mutex_unlock(&ec->bio_alloc_lock);
	atomic_dec(&ec->bounce_waiters);
	return clone;
}

/*
 * Bounce memory for a REQ_NOWAIT write, which must not wait for anything
 * (device-mapper maps it under rcu_read_lock()): the fast path only, or
 * NULL, and the caller fails the bio with BLK_STS_AGAIN for its submitter
 * to retry where it may block.
 */
static struct bio *ebscrypt_alloc_bounce_nowait(struct ebscrypt_io *io)
{
	struct ebscrypt_c *ec = io->ec;
	unsigned int nr_pages = DIV_ROUND_UP(io->iter.bi_size, PAGE_SIZE);
	struct bio *clone;

	if (atomic_read(&ec->bounce_waiters))
		return NULL;
	if (nr_pages <= EBSCRYPT_INLINE_VECS) {
		clone = ebscrypt_bounce_bio(io, nr_pages);
	} else {
		clone = bio_alloc_bioset(ec->dev->bdev, nr_pages,
					 ebscrypt_bounce_opf(io),
					 GFP_NOWAIT | __GFP_NOWARN, &ec->bs);
		if (!clone)
			return NULL;
		ebscrypt_bounce_setup(io, clone);
	}
	io->clone = clone;
	if (!ebscrypt_bounce_reserve(ec, nr_pages)) {
		ebscrypt_free_bounce_pages(ec, clone);
		goto put;
	}
	if (!ebscrypt_fill_bounce(io, clone, true)) {
		ebscrypt_free_bounce(io);
		return NULL;
	}
	return clone;
put:
	if (clone->bi_pool)
		bio_put(clone);
	else
		bio_uninit(clone);
	return NULL;
}

static void ebscrypt_write_endio(struct bio *clone)
{
	struct ebscrypt_io *io = clone->bi_private;
	struct bio *base = io->base;

	if (unlikely(clone->bi_status))
		ebscrypt_count_error(io->ec, false);
	base->bi_status = clone->bi_status;
	ebscrypt_free_bounce(io);
	bio_endio(base);
}

static void ebscrypt_read_endio(struct bio *bio);

/* Give a read bio back to device-mapper's own completion. */
static void ebscrypt_read_complete(struct ebscrypt_io *io)
{
	struct bio *bio = io->base;

	bio->bi_end_io = io->orig_end_io;
	bio->bi_private = io->orig_private;
	bio_endio(bio);
}

/*
 * Send an encrypted write down through device-mapper, which charges it to
 * the cgroup of the original bio (not to whichever task submits it: the
 * flusher for writeback, a worker for large writes), accounts it and traces
 * the remap.
 */
static void ebscrypt_submit_write(struct ebscrypt_io *io)
{
	dm_submit_bio_remap(io->base, io->clone);
}

static void ebscrypt_submit_work(struct work_struct *work)
{
	ebscrypt_submit_write(container_of(work, struct ebscrypt_io, submit_work));
}

/*
 * All fragments are converted: send the write down, or finish the read.
 * Submitting may sleep (a tag, a lower device's allocation), which the
 * completion callback of an asynchronous driver must not (cryptd calls it
 * with bottom halves off): from there a write goes down from the workqueue.
 */
static void ebscrypt_io_converted(struct ebscrypt_io *io, bool may_sleep)
{
	struct bio *base = io->base;

	if (io->write) {
		if (unlikely(io->status)) {
			ebscrypt_free_bounce(io);
			base->bi_status = io->status;
			bio_endio(base);
			return;
		}
		if (may_sleep) {
			ebscrypt_submit_write(io);
			return;
		}
		INIT_WORK(&io->submit_work, ebscrypt_submit_work);
		queue_work(io->ec->crypt_wq, &io->submit_work);
		return;
	}

	if (unlikely(io->status))
		base->bi_status = io->status;
	ebscrypt_read_complete(io);
}

static void ebscrypt_frag_done(struct ebscrypt_frag *frag)
{
	if (atomic_dec_and_test(&frag->io->pending))
		ebscrypt_io_converted(frag->io, frag->may_sleep);
}

static void ebscrypt_frag_fail(struct ebscrypt_frag *frag, int err)
{
	struct ebscrypt_io *io = frag->io;

	ebscrypt_count_error(io->ec, true);
	DMERR_LIMIT("%s of sector %llu failed: %d",
		    io->write ? "encryption" : "decryption",
		    (unsigned long long)frag->iv_sector, err);
	WRITE_ONCE(io->status, BLK_STS_IOERR);
	frag->remaining = 0;
}

static void ebscrypt_crypt_done(EBSCRYPT_CRYPT_DONE_ARGS);

/* Step past the crypto sector just converted, in both bios and the IV. */
static void ebscrypt_frag_advance(struct ebscrypt_frag *frag)
{
	struct ebscrypt_io *io = frag->io;
	unsigned int ss = io->ec->sector_size;

	bio_advance_iter_single(io->base, &frag->iter_in, ss);
	bio_advance_iter_single(io->write ? io->clone : io->base,
				&frag->iter_out, ss);
	frag->iv_sector += ss >> SECTOR_SHIFT;
	frag->remaining -= ss;
}

/*
 * Convert the fragment's sectors one crypto request at a time. Returns early
 * when the driver went asynchronous (ebscrypt_crypt_done() resumes it) and,
 * where nothing may sleep, after EBSCRYPT_ATOMIC_BUDGET bytes: the worker
 * converts the rest in process context.
 */
static void ebscrypt_frag_run(struct ebscrypt_frag *frag)
{
	struct ebscrypt_io *io = frag->io;
	struct ebscrypt_c *ec = io->ec;
	struct bio *in = io->base;
	struct bio *out = io->write ? io->clone : io->base;
	unsigned int ss = ec->sector_size;
	unsigned int budget = EBSCRYPT_ATOMIC_BUDGET;
	u32 req_flags = CRYPTO_TFM_REQ_MAY_BACKLOG;
	struct bio_vec bv_in, bv_out;
	int r;

	if (frag->may_sleep)
		req_flags |= CRYPTO_TFM_REQ_MAY_SLEEP;

	while (frag->remaining) {
		if (frag->may_sleep) {
			cond_resched();
		} else if (!budget) {
			queue_work(ec->crypt_wq, &frag->work);
			return;
		}

		bv_in = bio_iter_iovec(in, frag->iter_in);
		bv_out = bio_iter_iovec(out, frag->iter_out);
		/* io_hints make the block layer align I/O to the sector size. */
		if (unlikely(bv_in.bv_len < ss || bv_out.bv_len < ss ||
			     (bv_in.bv_len & (ss - 1)))) {
			ebscrypt_frag_fail(frag, -EINVAL);
			break;
		}

		sg_set_page(&frag->sg_in, bv_in.bv_page, ss, bv_in.bv_offset);
		sg_set_page(&frag->sg_out, bv_out.bv_page, ss, bv_out.bv_offset);
		frag->iv[0] = cpu_to_le64(frag->iv_sector);
		frag->iv[1] = 0;

		skcipher_request_set_callback(&frag->req, req_flags,
					      ebscrypt_crypt_done, frag);
		skcipher_request_set_crypt(&frag->req, &frag->sg_in,
					   &frag->sg_out, ss, frag->iv);
		r = io->write ? crypto_skcipher_encrypt(&frag->req) :
				crypto_skcipher_decrypt(&frag->req);
		if (r == -EINPROGRESS || r == -EBUSY)
			return;
		if (unlikely(r)) {
			ebscrypt_frag_fail(frag, r);
			break;
		}

		ebscrypt_frag_advance(frag);
		budget = budget > ss ? budget - ss : 0;
	}

	ebscrypt_frag_done(frag);
}

static void ebscrypt_frag_work(struct work_struct *work)
{
	struct ebscrypt_frag *frag = container_of(work, struct ebscrypt_frag,
						  work);

	frag->may_sleep = true;
	ebscrypt_frag_run(frag);
}

static void ebscrypt_crypt_done(EBSCRYPT_CRYPT_DONE_ARGS)
{
	struct ebscrypt_frag *frag = ebscrypt_crypt_done_data();
	struct ebscrypt_io *io = frag->io;

	/* A backlogged request was accepted: the real completion follows. */
	if (err == -EINPROGRESS)
		return;

	frag->may_sleep = false;
	if (unlikely(err)) {
		ebscrypt_frag_fail(frag, err);
		ebscrypt_frag_done(frag);
		return;
	}

	ebscrypt_frag_advance(frag);

	/* Async drivers may complete in hard interrupt context. */
	if (in_hardirq() || irqs_disabled()) {
		queue_work(io->ec->crypt_wq, &frag->work);
		return;
	}
	/* Bottom halves may be off here: at most a budget's worth inline. */
	ebscrypt_frag_run(frag);
}

/*
 * Fragments are dealt round-robin to the online housekeeping CPUs (never
 * an isolated one) on the target's per-CPU workqueue: left to the
 * scheduler, the workers of an unbound queue tend to pile up on one CPU
 * while the others idle. Cost: a bitmap scan from the last CPU used. A CPU
 * that goes offline after being picked is harmless: the workqueue runs the
 * work elsewhere.
 */
static int ebscrypt_pick_cpu(struct ebscrypt_c *ec)
{
	unsigned int cpu;

	cpu = cpumask_next_and(READ_ONCE(ec->last_cpu), ec->crypt_cpus,
			       cpu_online_mask);
	if (cpu >= nr_cpu_ids)
		cpu = cpumask_first_and(ec->crypt_cpus, cpu_online_mask);
	if (cpu >= nr_cpu_ids)
		return WORK_CPU_UNBOUND;
	WRITE_ONCE(ec->last_cpu, cpu);
	return cpu;
}

/*
 * Cut the io into fragments of whole crypto sectors and convert them. One
 * fragment (most I/O) is converted right here when the context allows, which
 * is the cheapest path for small I/O. Several fragments all go to the
 * workers, one CPU each: the submitter is free to issue its next bio at
 * once, so deep queues of large I/O keep all CPUs busy and a single large
 * bio still completes in parallel.
 */
static void ebscrypt_io_convert(struct ebscrypt_io *io, bool inline_ok,
				bool may_sleep)
{
	struct ebscrypt_c *ec = io->ec;
	unsigned int size = io->iter.bi_size;
	unsigned int nr = 1, chunk, done = 0, i;
	unsigned int ss_shift = ilog2(ec->sector_size);
	struct ebscrypt_frag *frag;

	if (ec->nr_frags > 1 && size >= 2 * EBSCRYPT_FRAG_MIN_BYTES)
		nr = min_t(unsigned int, ec->nr_frags,
			   size / EBSCRYPT_FRAG_MIN_BYTES);
	chunk = ((size >> ss_shift) / nr) << ss_shift;
	if (nr > 1)
		inline_ok = false;

	atomic_set(&io->pending, nr);
	for (i = 0; i < nr; i++) {
		frag = ebscrypt_io_frag(io, i);

		/* Set up only the fragments this io uses. */
		frag->io = io;
		INIT_WORK(&frag->work, ebscrypt_frag_work);
		sg_init_table(&frag->sg_in, 1);
		sg_init_table(&frag->sg_out, 1);
		skcipher_request_set_tfm(&frag->req, ec->tfm);
		frag->remaining = i == nr - 1 ? size - done : chunk;
		frag->iter_in = io->iter;
		bio_advance_iter(io->base, &frag->iter_in, done);
		if (io->write) {
			frag->iter_out = io->clone->bi_iter;
			bio_advance_iter(io->clone, &frag->iter_out, done);
		} else {
			frag->iter_out = frag->iter_in;
		}
		frag->iv_sector = io->sector + (done >> SECTOR_SHIFT);
		done += frag->remaining;

		/* Once the last fragment is queued, io may already be gone. */
		if (nr > 1)
			queue_work_on(ebscrypt_pick_cpu(ec), ec->crypt_wq,
				      &frag->work);
		else if (!inline_ok)
			queue_work(ec->crypt_wq, &frag->work);
	}

	if (inline_ok) {
		frag = ebscrypt_io_frag(io, 0);
		frag->may_sleep = may_sleep;
		ebscrypt_frag_run(frag);
	}
}

/*
 * Decrypt the reads this CPU completed in hard interrupt context, oldest
 * first, at most EBSCRYPT_SOFTIRQ_BUDGET bytes per run: a burst of
 * completions is spread over several softirq runs (and ksoftirqd) instead of
 * holding this CPU for all of it.
 */
static void ebscrypt_bh_run(EBSCRYPT_SOFTIRQ_ARG)
{
	struct ebscrypt_bh *bh = container_of(ebscrypt_softirq_of(),
					      struct ebscrypt_bh, softirq);
	struct llist_node *node = bh->backlog;
	unsigned int done = 0;
	struct ebscrypt_io *io;

	if (!node)
		node = llist_reverse_order(llist_del_all(&bh->ios));
	while (node && done < EBSCRYPT_SOFTIRQ_BUDGET) {
		io = llist_entry(node, struct ebscrypt_io, bh_node);
		/* The io is gone once converted. */
		node = node->next;
		done += io->iter.bi_size;
		ebscrypt_io_convert(io, true, false);
	}
	bh->backlog = node;
	if (node || !llist_empty(&bh->ios))
		ebscrypt_softirq_schedule(&bh->softirq);
}

static void ebscrypt_read_retry_endio(struct bio *retry)
{
	struct ebscrypt_io *io = retry->bi_private;

	io->base->bi_status = retry->bi_status;
	bio_put(retry);
	ebscrypt_read_endio(io->base);
}

/*
 * Send a refused no-wait read down again, as a new clone of the same data
 * (the refused bio has completed: its cgroup reference is dropped, its
 * chain count spent), free to wait and never polled. dm_submit_bio_remap()
 * charges it to the original bio's cgroup, not to this worker's.
 */
static void ebscrypt_read_retry_work(struct work_struct *work)
{
	struct ebscrypt_io *io = container_of(work, struct ebscrypt_io,
					      submit_work);
	struct ebscrypt_c *ec = io->ec;
	struct bio *retry;

	retry = bio_alloc_clone(ec->dev->bdev, io->base, GFP_NOIO, &ec->bs);
	if (unlikely(!retry)) {
		/* The base bio is no longer no-wait: EAGAIN goes up. */
		ebscrypt_read_endio(io->base);
		return;
	}
	bio_clear_polled(retry);
	retry->bi_iter = io->iter;
	retry->bi_iter.bi_sector = ec->start + io->sector;
	retry->bi_end_io = ebscrypt_read_retry_endio;
	retry->bi_private = io;
	dm_submit_bio_remap(io->base, retry);
}

/*
 * A no-wait read the device below refused (no tag free, or a bio it must
 * split, which the block layer never does for a no-wait bio) is retried
 * from the workqueue, once, so the submitter still never waits. Passed up,
 * a polled one is requeued by device-mapper and sent down again from its
 * worker, still no-wait, to be refused again; io_uring on 6.1 reissues
 * nothing that completes outside the submitting task, so the application
 * got EAGAIN.
 */
static bool ebscrypt_read_retry(struct ebscrypt_io *io)
{
	struct bio *base = io->base;

	if (base->bi_status != BLK_STS_AGAIN || !(base->bi_opf & REQ_NOWAIT))
		return false;
	base->bi_opf &= ~REQ_NOWAIT;
	INIT_WORK(&io->submit_work, ebscrypt_read_retry_work);
	queue_work(io->ec->crypt_wq, &io->submit_work);
	return true;
}

static void ebscrypt_read_endio(struct bio *bio)
{
	struct ebscrypt_io *io = bio->bi_private;
	struct ebscrypt_bh *bh;

	/* Errors from below go up unchanged and nothing is decrypted. */
	if (unlikely(bio->bi_status)) {
		if (ebscrypt_read_retry(io))
			return;
		ebscrypt_count_error(io->ec, false);
		ebscrypt_read_complete(io);
		return;
	}
	io->status = BLK_STS_OK;
	if (!in_hardirq() && !irqs_disabled()) {
		ebscrypt_io_convert(io, true, false);
		return;
	}
	/* Large reads are spread over the CPUs' workers instead. */
	if (io->iter.bi_size > EBSCRYPT_FRAG_MIN_BYTES) {
		ebscrypt_io_convert(io, false, false);
		return;
	}
	bh = this_cpu_ptr(io->ec->bh);
	if (llist_add(&io->bh_node, &bh->ios))
		ebscrypt_softirq_schedule(&bh->softirq);
}

static void ebscrypt_init_io(struct ebscrypt_c *ec, struct ebscrypt_io *io,
			     struct bio *bio, sector_t sector)
{
	io->ec = ec;
	io->base = bio;
	io->clone = NULL;
	io->iter = bio->bi_iter;
	io->sector = sector;
	io->status = BLK_STS_OK;
	io->write = bio_data_dir(bio) == WRITE;
}

static int ebscrypt_map(struct dm_target *ti, struct bio *bio)
{
	struct ebscrypt_c *ec = ti->private;
	struct ebscrypt_io *io;
	sector_t sector;

	/* Flushes and discards carry no data: pass them to the device. */
	if (unlikely(bio->bi_opf & REQ_PREFLUSH ||
		     bio_op(bio) == REQ_OP_DISCARD)) {
		bio_set_dev(bio, ec->dev->bdev);
		if (bio_sectors(bio))
			bio->bi_iter.bi_sector = ec->start +
				dm_target_offset(ti, bio->bi_iter.bi_sector);
		return DM_MAPIO_REMAPPED;
	}

	/* Only reads and writes of whole crypto sectors reach this point. */
	if (unlikely(bio_op(bio) != REQ_OP_READ && bio_op(bio) != REQ_OP_WRITE))
		return DM_MAPIO_KILL;
	if (unlikely(bio->bi_iter.bi_size & (ec->sector_size - 1)) ||
	    unlikely(bio->bi_iter.bi_sector &
		     ((ec->sector_size >> SECTOR_SHIFT) - 1)))
		return DM_MAPIO_KILL;

	/* device-mapper resubmits the rest of a write as its next piece. */
	if (bio_data_dir(bio) == WRITE &&
	    bio_sectors(bio) > EBSCRYPT_WRITE_PIECE_SECTORS)
		dm_accept_partial_bio(bio, EBSCRYPT_WRITE_PIECE_SECTORS);

	sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
	io = dm_per_bio_data(bio, ti->per_io_data_size);
	ebscrypt_init_io(ec, io, bio, sector);

	if (io->write) {
		this_cpu_inc(ec->stats->writes);
		this_cpu_add(ec->stats->write_sectors, bio_sectors(bio));
	} else {
		this_cpu_inc(ec->stats->reads);
		this_cpu_add(ec->stats->read_sectors, bio_sectors(bio));
	}

	if (!io->write) {
		io->orig_end_io = bio->bi_end_io;
		io->orig_private = bio->bi_private;
		bio->bi_end_io = ebscrypt_read_endio;
		bio->bi_private = io;
		bio_set_dev(bio, ec->dev->bdev);
		bio->bi_iter.bi_sector = ec->start + sector;
		return DM_MAPIO_REMAPPED;
	}

	/*
	 * A REQ_NOWAIT bio is mapped where nothing may sleep: no blocking
	 * allocation, and the conversion hands off to the workqueue rather
	 * than sleep.
	 */
	if (unlikely(bio->bi_opf & REQ_NOWAIT)) {
		io->clone = ebscrypt_alloc_bounce_nowait(io);
		if (!io->clone) {
			bio_wouldblock_error(bio);
			return DM_MAPIO_SUBMITTED;
		}
	} else {
		io->clone = ebscrypt_alloc_bounce(io);
	}
	io->clone->bi_iter.bi_sector = ec->start + sector;
	io->clone->bi_end_io = ebscrypt_write_endio;
	ebscrypt_io_convert(io, true, !(bio->bi_opf & REQ_NOWAIT));
	return DM_MAPIO_SUBMITTED;
}

/*
 * Replace the key schedule with random bytes so no trace of the DEK stays
 * (key_lock held, or the target not yet live).
 */
static int ebscrypt_wipe_key(struct ebscrypt_c *ec)
{
	u8 junk[EBSCRYPT_KEY_SIZE];
	int r;

	clear_bit(EBSCRYPT_KEY_LOADED, &ec->flags);
	get_random_bytes(junk, sizeof(junk));
	r = crypto_skcipher_setkey(ec->tfm, junk, sizeof(junk));
	memzero_explicit(junk, sizeof(junk));
	return r;
}

/*
 * Load the key named by a ":64:logon:<description>" string into the
 * transform (key_lock held, or the target not yet live). The payload is
 * read under the key's semaphore and never copied anywhere but the cipher's
 * own key schedule. A key the cipher refuses leaves the schedule undefined,
 * so it is wiped and the target has no key until the next key set: it
 * refuses to resume rather than run on half a key.
 */
static int ebscrypt_set_key(struct ebscrypt_c *ec, const char *key_string,
			    char **error)
{
	const struct user_key_payload *ukp;
	char *dup, *size, *type, *desc, *copy;
	struct key *key;
	int r;

	if (key_string[0] != ':') {
		*error = "Only keyring keys are accepted: use :64:logon:<description>";
		return -EINVAL;
	}
	dup = kstrdup(key_string + 1, GFP_KERNEL);
	copy = kstrdup(key_string, GFP_KERNEL);
	if (!dup || !copy) {
		*error = "Cannot allocate key string";
		r = -ENOMEM;
		goto out;
	}
	desc = dup;
	size = strsep(&desc, ":");
	type = desc ? strsep(&desc, ":") : NULL;
	if (!size || !type || !desc) {
		*error = "Malformed key: expected :64:logon:<description>";
		r = -EINVAL;
		goto out;
	}
	if (strcmp(size, "64")) {
		*error = "Key size must be 64 bytes (AES-256-XTS)";
		r = -EINVAL;
		goto out;
	}
	if (strcmp(type, "logon")) {
		*error = "Only logon keys are accepted";
		r = -EINVAL;
		goto out;
	}
	if (!*desc) {
		*error = "Empty key description";
		r = -EINVAL;
		goto out;
	}

	key = request_key(&key_type_logon, desc, NULL);
	if (IS_ERR(key)) {
		*error = "Logon key not found in the caller's keyrings";
		r = PTR_ERR(key);
		goto out;
	}

	down_read(&key->sem);
	ukp = user_key_payload_locked(key);
	if (!ukp) {
		*error = "Key was revoked";
		r = -EKEYREVOKED;
	} else if (ukp->datalen != EBSCRYPT_KEY_SIZE) {
		*error = "Key payload is not 64 bytes";
		r = -EINVAL;
	} else {
		r = crypto_skcipher_setkey(ec->tfm, ukp->data, ukp->datalen);
		if (r) {
			*error = "Cipher refused the key (two equal halves?)";
			ebscrypt_wipe_key(ec);
		}
	}
	up_read(&key->sem);
	key_put(key);

	if (!r) {
		kfree(ec->key_string);
		ec->key_string = copy;
		copy = NULL;
		set_bit(EBSCRYPT_KEY_LOADED, &ec->flags);
	}
out:
	kfree(copy);
	kfree_sensitive(dup);
	return r;
}

static void ebscrypt_dtr(struct dm_target *ti)
{
	struct ebscrypt_c *ec = ti->private;
	unsigned int cpu;

	ti->private = NULL;
	if (!ec)
		return;

	if (ec->bh) {
		for_each_possible_cpu(cpu)
			ebscrypt_softirq_kill(&per_cpu_ptr(ec->bh, cpu)->softirq);
		free_percpu(ec->bh);
	}
	if (ec->crypt_wq)
		destroy_workqueue(ec->crypt_wq);
	bioset_exit(&ec->bs);
	mempool_exit(&ec->page_pool);
	if (ec->tfm)
		crypto_free_skcipher(ec->tfm);
	if (ec->dev)
		dm_put_device(ti, ec->dev);
	if (test_bit(EBSCRYPT_CLIENT, &ec->flags)) {
		mutex_lock(&ebscrypt_clients_lock);
		ebscrypt_clients--;
		ebscrypt_update_pages_per_client();
		mutex_unlock(&ebscrypt_clients_lock);
	}
	free_cpumask_var(ec->crypt_cpus);
	free_percpu(ec->stats);
	kfree(ec->key_string);
	kfree(ec->cipher_driver);
	mutex_destroy(&ec->bio_alloc_lock);
	mutex_destroy(&ec->key_lock);
	kfree_sensitive(ec);
}

/*
 * The xts(aes) transform: the crypto API's best driver, or the one the table
 * names. Drivers that allocate memory per request are never chosen: the
 * write path must make progress when memory is short, as dm-crypt requires
 * of its drivers too.
 */
static int ebscrypt_alloc_tfm(struct ebscrypt_c *ec, char **error)
{
	const char *name = ec->cipher_driver ?: "xts(aes)";

	ec->tfm = crypto_alloc_skcipher(name, 0, CRYPTO_ALG_ALLOCATES_MEMORY);
	if (IS_ERR(ec->tfm)) {
		int r = PTR_ERR(ec->tfm);

		ec->tfm = NULL;
		*error = r == -ENOENT ?
			"No such xts(aes) driver, or it allocates memory per request" :
			"Cannot allocate xts(aes) cipher";
		return r;
	}
	/* Any driver will do, as long as it is AES-XTS. */
	if (strcmp(crypto_tfm_alg_name(crypto_skcipher_tfm(ec->tfm)), "xts(aes)")) {
		*error = "cipher_driver does not implement xts(aes)";
		return -EINVAL;
	}
	/* XTS with two equal key halves is weak: refuse such a key. */
	crypto_skcipher_set_flags(ec->tfm, CRYPTO_TFM_REQ_FORBID_WEAK_KEYS);
	return 0;
}

static int ebscrypt_parse_options(struct dm_arg_set *as, struct dm_target *ti)
{
	static const struct dm_arg ebscrypt_opt_args[] = {
		{0, EBSCRYPT_MAX_OPT_PARAMS, "Invalid number of optional parameters"},
	};
	struct ebscrypt_c *ec = ti->private;
	unsigned int opt_params, val;
	const char *opt, *name;
	char dummy;
	int r;

	r = dm_read_arg_group(ebscrypt_opt_args, as, &opt_params, &ti->error);
	if (r)
		return r;

	while (opt_params--) {
		opt = dm_shift_arg(as);
		if (!opt) {
			ti->error = "Not enough optional parameters";
			return -EINVAL;
		}
		if (!strcasecmp(opt, "allow_discards")) {
			if (test_and_set_bit(EBSCRYPT_ALLOW_DISCARDS, &ec->flags)) {
				ti->error = "Duplicate allow_discards";
				return -EINVAL;
			}
		} else if (sscanf(opt, "sector_size:%u%c", &val, &dummy) == 1) {
			if (test_and_set_bit(EBSCRYPT_SECTOR_SIZE_SET, &ec->flags)) {
				ti->error = "Duplicate sector_size";
				return -EINVAL;
			}
			if (val < SECTOR_SIZE || val > 4096 || !is_power_of_2(val)) {
				ti->error = "Invalid sector_size: must be 512, 1024, 2048 or 4096";
				return -EINVAL;
			}
			ec->sector_size = val;
		} else if (!strncasecmp(opt, "cipher_driver:", 14)) {
			name = opt + 14;
			if (ec->cipher_driver) {
				ti->error = "Duplicate cipher_driver";
				return -EINVAL;
			}
			if (!*name || strlen(name) >= CRYPTO_MAX_ALG_NAME) {
				ti->error = "Invalid cipher_driver name";
				return -EINVAL;
			}
			ec->cipher_driver = kstrdup(name, GFP_KERNEL);
			if (!ec->cipher_driver) {
				ti->error = "Cannot allocate cipher_driver";
				return -ENOMEM;
			}
		} else {
			ti->error = "Unknown optional parameter";
			return -EINVAL;
		}
	}
	if (as->argc) {
		ti->error = "Too many arguments";
		return -EINVAL;
	}
	return 0;
}

/*
 * Construct an ebscrypt mapping:
 *
 *   <device> <offset> <key> [<#opt_params> <opt_params>...]
 *
 * <device>      backing block device, path or major:minor
 * <offset>      first 512-byte sector of encrypted data on <device>; the IV
 *               of a sector is its 512-byte number counted from here
 * <key>         :64:logon:<description> — a 64-byte logon key found in the
 *               keyrings of the process loading the table
 * <opt_params>  sector_size:<512|1024|2048|4096> (default 512)
 *               allow_discards
 *               cipher_driver:<xts(aes) driver> (default: the best one)
 */
static int ebscrypt_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct dm_arg_set as = { .argc = argc, .argv = argv };
	struct ebscrypt_c *ec;
	unsigned long long offset;
	sector_t dev_sectors;
	unsigned int lbs, sector_mask, cpu;
	char dummy;
	int r;

	if (argc < 3) {
		ti->error = "Not enough arguments: <device> <offset> <key> [opts]";
		return -EINVAL;
	}

	ec = kzalloc(sizeof(*ec), GFP_KERNEL);
	if (!ec) {
		ti->error = "Cannot allocate ebscrypt context";
		return -ENOMEM;
	}
	ti->private = ec;
	ec->sector_size = SECTOR_SIZE;
	ec->last_cpu = -1;
	mutex_init(&ec->bio_alloc_lock);
	mutex_init(&ec->key_lock);
	init_waitqueue_head(&ec->bounce_wait);

	mutex_lock(&ebscrypt_clients_lock);
	ebscrypt_clients++;
	ebscrypt_update_pages_per_client();
	mutex_unlock(&ebscrypt_clients_lock);
	set_bit(EBSCRYPT_CLIENT, &ec->flags);

	ec->stats = alloc_percpu(struct ebscrypt_stats);
	if (!ec->stats) {
		ti->error = "Cannot allocate statistics";
		r = -ENOMEM;
		goto bad;
	}
	if (!zalloc_cpumask_var(&ec->crypt_cpus, GFP_KERNEL)) {
		ti->error = "Cannot allocate CPU mask";
		r = -ENOMEM;
		goto bad;
	}
	/*
	 * Where the workqueue subsystem would run unbound work, too. Taken
	 * once: isolation changed later applies from the next table load.
	 */
	rcu_read_lock();
	cpumask_and(ec->crypt_cpus, housekeeping_cpumask(HK_TYPE_WQ),
		    housekeeping_cpumask(HK_TYPE_DOMAIN));
	rcu_read_unlock();
	ec->bh = alloc_percpu(struct ebscrypt_bh);
	if (!ec->bh) {
		ti->error = "Cannot allocate completion lists";
		r = -ENOMEM;
		goto bad;
	}
	for_each_possible_cpu(cpu) {
		struct ebscrypt_bh *bh = per_cpu_ptr(ec->bh, cpu);

		init_llist_head(&bh->ios);
		ebscrypt_softirq_init(&bh->softirq, ebscrypt_bh_run);
	}

	r = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &ec->dev);
	if (r) {
		ti->error = "Device lookup failed";
		goto bad;
	}

	if (sscanf(argv[1], "%llu%c", &offset, &dummy) != 1 ||
	    offset != (sector_t)offset) {
		ti->error = "Invalid offset";
		r = -EINVAL;
		goto bad;
	}
	ec->start = offset;

	dm_consume_args(&as, 3);
	if (as.argc) {
		r = ebscrypt_parse_options(&as, ti);
		if (r)
			goto bad;
	}

	sector_mask = (ec->sector_size >> SECTOR_SHIFT) - 1;
	if (ti->len & sector_mask) {
		ti->error = "Device length is not a multiple of sector_size";
		r = -EINVAL;
		goto bad;
	}
	if (ec->start & sector_mask) {
		ti->error = "Offset is not a multiple of sector_size";
		r = -EINVAL;
		goto bad;
	}
	lbs = bdev_logical_block_size(ec->dev->bdev);
	if (lbs > ec->sector_size) {
		ti->error = "sector_size is smaller than the device's logical block size";
		r = -EINVAL;
		goto bad;
	}
	dev_sectors = bdev_nr_sectors(ec->dev->bdev);
	if (ec->start >= dev_sectors || ti->len > dev_sectors - ec->start) {
		ti->error = "Offset and length reach past the end of the device";
		r = -EINVAL;
		goto bad;
	}

	r = ebscrypt_alloc_tfm(ec, &ti->error);
	if (r)
		goto bad;

	r = ebscrypt_set_key(ec, argv[2], &ti->error);
	if (r)
		goto bad;

	r = mempool_init_page_pool(&ec->page_pool, EBSCRYPT_WRITE_PIECE_PAGES, 0);
	if (r) {
		ti->error = "Cannot allocate page mempool";
		goto bad;
	}
	r = bioset_init(&ec->bs, EBSCRYPT_MIN_BIOS, 0, BIOSET_NEED_BVECS);
	if (r) {
		ti->error = "Cannot allocate bio set";
		goto bad;
	}
	ec->crypt_wq = alloc_workqueue("kebscryptd/%s",
				       WQ_HIGHPRI | WQ_CPU_INTENSIVE | WQ_MEM_RECLAIM |
				       EBSCRYPT_WQ_PERCPU,
				       0,
				       dm_table_device_name(ti->table));
	if (!ec->crypt_wq) {
		ti->error = "Cannot allocate workqueue";
		r = -ENOMEM;
		goto bad;
	}

	ec->nr_frags = clamp_t(unsigned int,
			       cpumask_weight_and(ec->crypt_cpus, cpu_online_mask),
			       1, EBSCRYPT_MAX_FRAGS);
	/*
	 * Per-bio data starts cacheline-aligned when its size is a multiple
	 * of the line; fragments converted on different CPUs then never
	 * share one.
	 */
	ec->frag_stride = ALIGN(sizeof(struct ebscrypt_frag) +
				crypto_skcipher_reqsize(ec->tfm), L1_CACHE_BYTES);
	ec->frag_offset = ALIGN(sizeof(struct ebscrypt_io), L1_CACHE_BYTES);
	ti->per_io_data_size = ec->frag_offset + ec->nr_frags * ec->frag_stride;

	/*
	 * No max_io_len: device-mapper would then also cut every bio to the
	 * backing queue's max_sectors, often far below what is worth spreading
	 * over CPUs. Only writes are cut, in ->map, into pieces.
	 */
	ti->num_flush_bios = 1;
	if (test_bit(EBSCRYPT_ALLOW_DISCARDS, &ec->flags))
		ti->num_discard_bios = 1;
	/*
	 * Swapping to the device: device-mapper bounds the swap bios in
	 * flight, so swap-out cannot use up the memory it is meant to free.
	 */
	ti->limit_swap_bios = true;
	/* Writes go down through dm_submit_bio_remap(), which accounts them. */
	ti->accounts_remapped_io = true;
	return 0;

bad:
	ebscrypt_dtr(ti);
	return r;
}

static void ebscrypt_status(struct dm_target *ti, status_type_t type,
			    unsigned int status_flags, char *result,
			    unsigned int maxlen)
{
	struct ebscrypt_c *ec = ti->private;
	struct ebscrypt_stats sum = {};
	unsigned int sz = 0, opts = 0;
	int cpu;

	switch (type) {
	case STATUSTYPE_INFO:
		for_each_possible_cpu(cpu) {
			struct ebscrypt_stats *s = per_cpu_ptr(ec->stats, cpu);

			sum.reads += s->reads;
			sum.writes += s->writes;
			sum.read_sectors += s->read_sectors;
			sum.write_sectors += s->write_sectors;
			sum.io_errors += s->io_errors;
			sum.crypt_errors += s->crypt_errors;
		}
		DMEMIT("%s %u %s %llu %llu %llu %llu %llu %llu %ld %ld %lu",
		       test_bit(EBSCRYPT_KEY_LOADED, &ec->flags) ? "key_loaded" : "key_wiped",
		       ec->sector_size,
		       crypto_skcipher_driver_name(ec->tfm),
		       sum.reads, sum.writes, sum.read_sectors, sum.write_sectors,
		       sum.io_errors, sum.crypt_errors,
		       atomic_long_read(&ec->bounce_pages),
		       atomic_long_read(&ec->bounce_peak),
		       READ_ONCE(ebscrypt_pages_per_client));
		break;

	case STATUSTYPE_TABLE:
		DMEMIT("%s %llu %s", ec->dev->name, (unsigned long long)ec->start,
		       ec->key_string);
		opts += test_bit(EBSCRYPT_ALLOW_DISCARDS, &ec->flags);
		opts += test_bit(EBSCRYPT_SECTOR_SIZE_SET, &ec->flags);
		opts += !!ec->cipher_driver;
		if (opts) {
			DMEMIT(" %u", opts);
			if (test_bit(EBSCRYPT_ALLOW_DISCARDS, &ec->flags))
				DMEMIT(" allow_discards");
			if (test_bit(EBSCRYPT_SECTOR_SIZE_SET, &ec->flags))
				DMEMIT(" sector_size:%u", ec->sector_size);
			if (ec->cipher_driver)
				DMEMIT(" cipher_driver:%s", ec->cipher_driver);
		}
		break;

	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",cipher=aes-xts-plain64,key_size=%u,sector_size=%u",
		       EBSCRYPT_KEY_SIZE * 8, ec->sector_size);
		DMEMIT(",cipher_driver=%s", crypto_skcipher_driver_name(ec->tfm));
		DMEMIT(",allow_discards=%c,key_loaded=%c;",
		       test_bit(EBSCRYPT_ALLOW_DISCARDS, &ec->flags) ? 'y' : 'n',
		       test_bit(EBSCRYPT_KEY_LOADED, &ec->flags) ? 'y' : 'n');
		break;
	}
}

/*
 * Messages, accepted only while the device is suspended (no I/O in flight,
 * none until resume), so no I/O can see a half-changed or random key:
 *   key wipe
 *   key set :64:logon:<description>
 */
static int ebscrypt_message(struct dm_target *ti, unsigned int argc,
			    char **argv, char *result, unsigned int maxlen)
{
	struct ebscrypt_c *ec = ti->private;
	char *error = NULL;
	int r;

	if (argc < 2 || strcasecmp(argv[0], "key"))
		goto invalid;
	if (!(argc == 2 && !strcasecmp(argv[1], "wipe")) &&
	    !(argc == 3 && !strcasecmp(argv[1], "set")))
		goto invalid;

	mutex_lock(&ec->key_lock);
	if (!test_bit(EBSCRYPT_SUSPENDED, &ec->flags)) {
		mutex_unlock(&ec->key_lock);
		DMWARN("key messages are only accepted while suspended");
		return -EBUSY;
	}
	if (argc == 2) {
		r = ebscrypt_wipe_key(ec);
	} else {
		r = ebscrypt_set_key(ec, argv[2], &error);
		if (r)
			DMWARN("key set refused: %s (%d)", error, r);
	}
	mutex_unlock(&ec->key_lock);
	return r;
invalid:
	DMWARN("unrecognised message received");
	return -EINVAL;
}

/* All I/O has drained: key messages are allowed from now until resume. */
static void ebscrypt_postsuspend(struct dm_target *ti)
{
	struct ebscrypt_c *ec = ti->private;

	mutex_lock(&ec->key_lock);
	set_bit(EBSCRYPT_SUSPENDED, &ec->flags);
	mutex_unlock(&ec->key_lock);
}

/*
 * The last chance to refuse a resume without a key, and the end of key
 * changes: device-mapper marks the device resumed only after this and
 * ->resume have run, so the target closes the window itself.
 */
static int ebscrypt_preresume(struct dm_target *ti)
{
	struct ebscrypt_c *ec = ti->private;
	int r = 0;

	mutex_lock(&ec->key_lock);
	if (!test_bit(EBSCRYPT_KEY_LOADED, &ec->flags)) {
		DMERR("aborting resume: no key loaded (send 'key set' first)");
		r = -EAGAIN;
	} else {
		clear_bit(EBSCRYPT_SUSPENDED, &ec->flags);
	}
	mutex_unlock(&ec->key_lock);
	return r;
}

static int ebscrypt_iterate_devices(struct dm_target *ti,
				    iterate_devices_callout_fn fn, void *data)
{
	struct ebscrypt_c *ec = ti->private;

	return fn(ti, ec->dev, ec->start, ti->len, data);
}

static void ebscrypt_io_hints(struct dm_target *ti,
			      struct queue_limits *limits)
{
	struct ebscrypt_c *ec = ti->private;

	limits->logical_block_size = max_t(unsigned int,
					   limits->logical_block_size,
					   ec->sector_size);
	limits->physical_block_size = max_t(unsigned int,
					    limits->physical_block_size,
					    ec->sector_size);
	limits->io_min = max_t(unsigned int, limits->io_min, ec->sector_size);
	/* Every crypto sector must lie within one segment of the bio. */
	limits->dma_alignment = limits->logical_block_size - 1;
}

static struct target_type ebscrypt_target = {
	.name		 = "ebscrypt",
	.version	 = {1, 1, 0},
	.features	 = DM_TARGET_NOWAIT,
	.module		 = THIS_MODULE,
	.ctr		 = ebscrypt_ctr,
	.dtr		 = ebscrypt_dtr,
	.map		 = ebscrypt_map,
	.status		 = ebscrypt_status,
	.message	 = ebscrypt_message,
	.postsuspend	 = ebscrypt_postsuspend,
	.preresume	 = ebscrypt_preresume,
	.iterate_devices = ebscrypt_iterate_devices,
	.io_hints	 = ebscrypt_io_hints,
};

static int __init ebscrypt_init(void)
{
	int r = dm_register_target(&ebscrypt_target);

	if (r < 0)
		DMERR("register failed %d", r);
	return r;
}

static void __exit ebscrypt_exit(void)
{
	dm_unregister_target(&ebscrypt_target);
}

module_init(ebscrypt_init);
module_exit(ebscrypt_exit);

MODULE_AUTHOR("The ebscrypt authors");
MODULE_DESCRIPTION(DM_NAME " target for EBS-style AES-256-XTS volume encryption");
MODULE_LICENSE("GPL");
MODULE_VERSION(DM_EBSCRYPT_VERSION);
