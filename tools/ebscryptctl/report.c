// SPDX-License-Identifier: GPL-2.0
/* What a command tells its user: errors, warnings and its own --help. */
#include <stdarg.h>
#include <stdio.h>

#include "ctl.h"

int ctl_fail(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ebscryptctl: error: %s\n", msg);
	return 1;
}

void ctl_warn(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ebscryptctl: warning: %s\n", msg);
}

int ctl_cmd_help(const struct ctl_cmd *cmd, FILE *f)
{
	fprintf(f, "usage: ebscryptctl %s %s %s\n\n%s\n", cmd->group, cmd->name, cmd->synopsis, cmd->help);
	return 0;
}
