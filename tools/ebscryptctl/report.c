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

int ctl_err_kms(struct ctl *c, int rc, const struct kms_error *err, const char *what)
{
	if (rc == -EREMOTEIO)
		return ctl_err(c, rc, "%s: KMS says %s: %s", what, err->type[0] ? err->type : "error",
			       err->message);
	if (rc == -EPROTO)
		return ctl_err(c, rc, "%s: malformed KMS response: %s", what, err->message);
	return ctl_err(c, rc, "%s: KMS unreachable: %s", what,
		       err->message[0] ? err->message : strerror(-rc));
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
	if (c->warnings.len)
		fputs(c->warnings.buf, stderr);
	sb_free(&c->warnings);
}

int ctl_usage(struct ctl *c)
{
	c->usage_error = 1;
	return -EINVAL;
}

int ctl_finish(struct ctl *c, int rc)
{
	ctl_flush_warnings(c);
	if (rc >= 0)
		return 0;
	if (c->usage_error)
		return 2;
	fprintf(stderr, "ebscryptctl: error: %s\n", c->err[0] ? c->err : strerror(-rc));
	return 1;
}

void ctl_cmd_help(const struct ctl_cmd *cmd, FILE *f)
{
	fprintf(f, "usage: ebscryptctl %s %s %s\n\n%s\n", cmd->group, cmd->name, cmd->synopsis, cmd->help);
}
