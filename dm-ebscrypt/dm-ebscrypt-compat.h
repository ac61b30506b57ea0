/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-ebscrypt: what differs between the kernels it is built for (Debian's
 * 6.1, 6.12 and 7.x). Each branch is keyed to the release that changed the
 * interface, or dm-crypt's own behaviour that ebscrypt matches, and names
 * the change; everything else is the same source.
 *
 * Copyright (C) 2026 The ebscrypt authors
 */
#ifndef DM_EBSCRYPT_COMPAT_H
#define DM_EBSCRYPT_COMPAT_H

#include <linux/version.h>
#include <linux/bio.h>
#include <linux/interrupt.h>
#include <linux/workqueue.h>
#include <crypto/skcipher.h>

/*
 * 6.3, "crypto: api - Use data directly in completion function": an async
 * request's callback gets the data pointer, void (*)(void *data, int err),
 * where it used to get the request.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define EBSCRYPT_CRYPT_DONE_ARGS	void *ebscrypt_data, int err
#define ebscrypt_crypt_done_data()	(ebscrypt_data)
#else
#define EBSCRYPT_CRYPT_DONE_ARGS	struct crypto_async_request *ebscrypt_req, int err
#define ebscrypt_crypt_done_data()	(ebscrypt_req->data)
#endif

/*
 * 6.9, "workqueue: Implement BH workqueues to eventually replace tasklets":
 * work items can run in softirq context, on the CPU that queued them, and
 * tasklets are deprecated. The read completion drain is one of either.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
struct ebscrypt_softirq {
	struct work_struct work;
};

#define EBSCRYPT_SOFTIRQ_ARG		struct work_struct *ebscrypt_work
#define ebscrypt_softirq_of()		\
	container_of(ebscrypt_work, struct ebscrypt_softirq, work)

static inline void ebscrypt_softirq_init(struct ebscrypt_softirq *s,
					 void (*fn)(struct work_struct *))
{
	INIT_WORK(&s->work, fn);
}

static inline void ebscrypt_softirq_schedule(struct ebscrypt_softirq *s)
{
	queue_work(system_bh_wq, &s->work);
}

static inline void ebscrypt_softirq_kill(struct ebscrypt_softirq *s)
{
	cancel_work_sync(&s->work);
}
#else
struct ebscrypt_softirq {
	struct tasklet_struct tasklet;
};

#define EBSCRYPT_SOFTIRQ_ARG		struct tasklet_struct *ebscrypt_tasklet
#define ebscrypt_softirq_of()		\
	container_of(ebscrypt_tasklet, struct ebscrypt_softirq, tasklet)

static inline void ebscrypt_softirq_init(struct ebscrypt_softirq *s,
					 void (*fn)(struct tasklet_struct *))
{
	tasklet_setup(&s->tasklet, fn);
}

static inline void ebscrypt_softirq_schedule(struct ebscrypt_softirq *s)
{
	tasklet_schedule(&s->tasklet);
}

static inline void ebscrypt_softirq_kill(struct ebscrypt_softirq *s)
{
	tasklet_kill(&s->tasklet);
}
#endif

/*
 * 6.17, "workqueue: Add new WQ_PERCPU flag": alloc_workqueue() without
 * WQ_UNBOUND is to become unbound, so a per-CPU queue says so.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
#define EBSCRYPT_WQ_PERCPU	WQ_PERCPU
#else
#define EBSCRYPT_WQ_PERCPU	0
#endif

/*
 * 6.11, "dm-crypt: limit the size of encryption requests": dm-crypt encrypts
 * and sends down large writes in 128 KiB pieces (its max_write_size), so the
 * first piece is on its way to the device while the next are encrypted.
 * Before it, dm-crypt takes a write of up to BIO_MAX_VECS pages (1 MiB)
 * whole. Measured beside dm-crypt, 128 KiB pieces made 1 MiB writes at
 * queue depth 8 slower than dm-crypt's on 6.1, while on 6.12 whole 1 MiB
 * writes were the slower ones at depth 1; so ebscrypt cuts its writes where
 * the kernel's own dm-crypt does.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
#define EBSCRYPT_WRITE_PIECE_BYTES	(128 * 1024)
#else
#define EBSCRYPT_WRITE_PIECE_BYTES	(BIO_MAX_VECS << PAGE_SHIFT)
#endif

#endif /* DM_EBSCRYPT_COMPAT_H */
