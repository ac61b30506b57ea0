// SPDX-License-Identifier: GPL-2.0
/*
 * What a command tells its user: one error, the warnings before it, and
 * its own --help. Everything below the command records; only
 * ctl_finish() and ctl_flush_warnings() print.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "exitcode.h"
#include "log.h"

int ctl_err(struct ctl *c, int rc, const char *fmt, ...)
{
	va_list ap;

	if (!c->err[0]) {
		va_start(ap, fmt);
		vsnprintf(c->err, sizeof(c->err), fmt, ap);
		va_end(ap);
	}
	return rc < 0 ? rc : -EIO;
}

int ctl_status(struct ctl *c, int status, int rc)
{
	if (!c->status)
		c->status = status;
	return rc;
}

int ctl_err_kms(struct ctl *c, int rc, const struct kms_error *err, const char *what)
{
	if (rc == -EREMOTEIO)
		return ctl_status(c, EBS_EXIT_KMS_REFUSED, ctl_err(c, rc, "%s: KMS says %s: %s", what, err->type[0] ? err->type : "error",
			       err->message));
	if (rc == -EPROTO)
		return ctl_err(c, rc, "%s: malformed KMS response: %s", what, err->message);
	return ctl_status(c, EBS_EXIT_KMS_UNREACHABLE,
			  ctl_err(c, rc, "%s: KMS unreachable: %s", what,
				  err->message[0] ? err->message : strerror(-rc)));
}

void ctl_warn(struct ctl *c, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sb_addf(&c->warnings, "ebscryptctl: warning: %s\n", msg);
}

void ctl_flush_warnings(struct ctl *c)
{
	const char *line, *nl;

	/* A line each, with its priority when stderr is the journal. */
	for (line = c->warnings.buf; line && *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		fprintf(stderr, "%s%.*s\n", ebs_log_prefix(LOG_WARNING), (int)(nl - line), line);
	}
	sb_free(&c->warnings);
}

int ctl_usage(struct ctl *c)
{
	c->status = EBS_EXIT_USAGE;
	return -EINVAL;
}

/* What an unclassified failure's errno means to a script. */
static int status_of_errno(int rc)
{
	switch (-rc) {
	case ENOENT: case ENODEV: case ENXIO:
		return EBS_EXIT_NOT_FOUND;
	case EACCES: case EPERM:
		return EBS_EXIT_NOPERM;
	case EBUSY:
		return EBS_EXIT_BUSY;
	case EINVAL:
		return EBS_EXIT_USAGE;
	case EHOSTDOWN:
		return EBS_EXIT_AGENT_DOWN;
	default:
		return EBS_EXIT_FAILURE;
	}
}

int ctl_finish(struct ctl *c, int rc)
{
	ctl_flush_warnings(c);
	if (rc >= 0)
		return EBS_EXIT_OK;
	if (c->status == EBS_EXIT_USAGE && !c->err[0])
		return EBS_EXIT_USAGE;  /* getopt said why */
	fprintf(stderr, "%sebscryptctl: error: %s\n", ebs_log_prefix(LOG_ERR),
		c->err[0] ? c->err : strerror(-rc));
	return c->status ?: status_of_errno(rc);
}

void ctl_cmd_help(const struct ctl_cmd *cmd, FILE *f)
{
	fprintf(f, "usage: ebscryptctl %s %s %s\n\n%s\n", cmd->group, cmd->name, cmd->synopsis, cmd->help);
}
