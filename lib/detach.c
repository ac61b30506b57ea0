// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int write_pidfile(const char *path)
{
	char tmp[4096], line[32];
	int fd, n, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (write(fd, line, n) != n)
		rc = errno ? -errno : -EIO;
	if (close(fd) && !rc)
		rc = -errno;
	/* rename: a reader sees the old file or the whole new one. */
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
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
		char cwd[2048];

		if (d->pidfile[0] == '/')
			rc = snprintf(d->pidpath, sizeof(d->pidpath), "%s", d->pidfile);
		else if (getcwd(cwd, sizeof(cwd)))
			rc = snprintf(d->pidpath, sizeof(d->pidpath), "%s/%s", cwd, d->pidfile);
		else
			rc = -1;
		rc = rc < 0 || rc >= (int)sizeof(d->pidpath) ? -ENAMETOOLONG : write_pidfile(d->pidpath);
		if (rc) {
			ebs_err("cannot write the pid file %s: %s", d->pidfile, strerror(-rc));
			return rc;
		}
		d->pidfile_written = 1;
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
		unlink(d->pidpath);
		d->pidfile_written = 0;
	}
}
