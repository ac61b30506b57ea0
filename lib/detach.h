/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Detaching a daemon from the terminal that started it, the way the man
 * pages promise: the command returns only once the daemon serves (status 0),
 * or with status 1 when it failed to start, its errors already printed.
 *
 * Call ebs_detach() before anything process-private is set up. A fork()
 * child keeps neither the parent's memory locks nor, by design, its secmem
 * pages (MADV_WIPEONFORK zeroes them in the child), so a secret loaded
 * before the fork would be all zeroes in the daemon: ebs_detach() refuses
 * while any secmem allocation is alive.
 */
#ifndef EBSCRYPT_DETACH_H
#define EBSCRYPT_DETACH_H

struct ebs_detach {
	int ready_fd;            /* to the waiting parent; -1 in the foreground */
	const char *pidfile;     /* written once ready; NULL for none */
	int pidfile_written;
	int pidfd;               /* the pid file, locked while this process runs */
	char pidpath[4096];      /* the pid file, absolute: it is removed after chdir("/") */
};

/*
 * Forks; the parent waits for ebs_detach_ready() or the child's exit and
 * never returns. The child starts a new session, with stdin and stdout on
 * /dev/null (stderr stays: the logs go there). Returns 0 in the child or
 * -errno (-EBUSY: secrets already loaded, a bug in the caller).
 */
int ebs_detach(struct ebs_detach *d);
/*
 * Serving: locks and writes the pid file (if any), tells a Type=notify
 * unit's service manager READY=1 ($NOTIFY_SOCKET), releases the parent and
 * leaves the starting directory (so relative paths given on the command
 * line work up to here). In the foreground it only writes the pid file and
 * notifies. Returns 0 or -errno: -EBUSY when a running daemon holds the pid
 * file, another error when it could not be written (logged either way).
 */
int ebs_detach_ready(struct ebs_detach *d);
/* At exit: removes the pid file this process wrote. */
void ebs_detach_done(struct ebs_detach *d);

#endif
