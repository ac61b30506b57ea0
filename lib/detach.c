// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "detach.h"
#include "log.h"
#include "secmem.h"

int ebs_detach(struct ebs_detach *d)
{
	int p[2], null;
	pid_t pid;
	char st;

	d->ready_fd = -1;
	if (secmem_live()) {
		ebs_err("internal error: detaching with %zu secret(s) loaded, which the daemon would "
			"see wiped", secmem_live());
		return -EBUSY;
	}
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		int rc = -errno;

		close(p[0]);
		close(p[1]);
		return rc;
	}
	if (pid > 0) {
		close(p[1]);
		/* EOF without a byte: the child exited (or crashed) before serving. */
		if (read(p[0], &st, 1) != 1)
			st = 1;
		if (st) {
			int ws;

			/* Reap it if it is gone, so its own status wins when it has one. */
			if (waitpid(pid, &ws, WNOHANG) == pid && WIFEXITED(ws) && WEXITSTATUS(ws))
				_exit(WEXITSTATUS(ws));
			_exit(1);
		}
		_exit(0);
	}
	close(p[0]);
	if (setsid() < 0)
		ebs_warn("setsid: %m");
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	d->ready_fd = p[1];
	return 0;
}

/*
 * Opens and locks the pid file for as long as this process runs. A second
 * daemon given the same file finds the lock taken and refuses to start,
 * instead of overwriting the first one's pid (whose exit would then remove
 * the second's file). A file left by a daemon that was killed holds no lock
 * and is simply taken over. Returns the locked descriptor, -EBUSY with the
 * holder's pid in *holder, or -errno.
 */
static int lock_pidfile(const char *path, long *holder)
{
	int tries;

	for (tries = 0; tries < 8; tries++) {
		struct stat locked, named;
		char line[32];
		ssize_t n;
		int fd;

		fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			/* The holder may have exited and unlinked it as we opened it. */
			if (fstat(fd, &locked) == 0 && stat(path, &named) == 0 &&
			    locked.st_dev == named.st_dev && locked.st_ino == named.st_ino)
				return fd;
			close(fd);
			continue;
		}
		if (errno != EWOULDBLOCK) {
			int rc = -errno;

			close(fd);
			return rc;
		}
		n = pread(fd, line, sizeof(line) - 1, 0);
		line[n > 0 ? n : 0] = '\0';
		*holder = strtol(line, NULL, 10);
		close(fd);
		return -EBUSY;
	}
	return -EAGAIN;
}

static int write_pidfile(int fd)
{
	char line[32];
	int n;

	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, line, n, 0) != n)
		return errno ? -errno : -EIO;
	return 0;
}

static int take_pidfile(struct ebs_detach *d)
{
	char cwd[2048];
	long holder = 0;
	int rc, fd;

	if (d->pidfile[0] == '/')
		rc = snprintf(d->pidpath, sizeof(d->pidpath), "%s", d->pidfile);
	else if (getcwd(cwd, sizeof(cwd)))
		rc = snprintf(d->pidpath, sizeof(d->pidpath), "%s/%s", cwd, d->pidfile);
	else
		rc = -1;
	if (rc < 0 || rc >= (int)sizeof(d->pidpath)) {
		ebs_err("cannot write the pid file %s: %s", d->pidfile, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	fd = lock_pidfile(d->pidpath, &holder);
	if (fd == -EBUSY) {
		ebs_err("the pid file %s is held by a running daemon (pid %ld): not starting a second one",
			d->pidfile, holder);
		return fd;
	}
	rc = fd < 0 ? fd : write_pidfile(fd);
	if (rc) {
		if (fd >= 0) {
			unlink(d->pidpath);
			close(fd);
		}
		ebs_err("cannot write the pid file %s: %s", d->pidfile, strerror(-rc));
		return rc;
	}
	d->pidfd = fd;
	d->pidfile_written = 1;
	return 0;
}

/*
 * One state line to the service manager of a Type=notify unit, so that
 * `systemctl start` returns once the daemon serves, and units ordered
 * after it find its socket. systemd documents this datagram protocol as
 * stable and meant to be reimplemented (sd_notify(3)); one sendto() does
 * not justify linking libsystemd into every daemon and test guest.
 */
static int notify_service_manager(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	int fd, rc = 0;

	if (!path || !*path)
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
		return -EAFNOSUPPORT;
	memcpy(sa.sun_path, path, len);
	/* "@name": an abstract socket, whose name starts with a NUL. */
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&sa,
		   offsetof(struct sockaddr_un, sun_path) + len) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int ebs_detach_ready(struct ebs_detach *d)
{
	char ok = 0;
	int rc;

	if (d->pidfile) {
		rc = take_pidfile(d);
		if (rc)
			return rc;
	}
	rc = notify_service_manager("READY=1");
	if (rc)
		ebs_warn("cannot tell the service manager that the service is ready: %s", strerror(-rc));
	if (d->ready_fd < 0)
		return 0;
	if (chdir("/"))
		ebs_warn("cannot leave the starting directory: %m");
	if (write(d->ready_fd, &ok, 1) != 1)
		ebs_warn("cannot report readiness to the starting process: %m");
	close(d->ready_fd);
	d->ready_fd = -1;
	return 0;
}

void ebs_detach_done(struct ebs_detach *d)
{
	if (d->ready_fd >= 0) {
		close(d->ready_fd);
		d->ready_fd = -1;
	}
	if (d->pidfile && d->pidfile_written) {
		/* Unlinked while still locked: a newcomer cannot take it meanwhile. */
		unlink(d->pidpath);
		close(d->pidfd);
		d->pidfile_written = 0;
	}
}
