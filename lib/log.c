// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *ebs_progname = "ebscrypt";
static int ebs_max_level = LOG_INFO;

void ebs_log_init(const char *progname, int max_level)
{
	ebs_progname = progname;
	ebs_max_level = max_level;
}

void ebs_log(int level, const char *fmt, ...)
{
	static const char *const names[] = {
		"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"
	};
	char line[1024];
	va_list ap;
	int n;

	if (level > ebs_max_level)
		return;
	n = snprintf(line, sizeof(line), "%s: %s: ", ebs_progname,
		     names[level & 7]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* One write() per line so concurrent writers never interleave. */
	dprintf(STDERR_FILENO, "%s\n", line);
}
