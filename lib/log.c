// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *ebs_progname = "ebscrypt";
static int ebs_max_level = LOG_INFO;

/* systemd's own test (sd_journal_stream_fd's peer): JOURNAL_STREAM is "dev:ino" of stderr. */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st))
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void ebs_log_init(const char *progname, int max_level)
{
	ebs_progname = progname;
	ebs_max_level = max_level;
}

const char *ebs_log_prefix(int level)
{
	static const char *const prefixes[] = {
		"<0>", "<1>", "<2>", "<3>", "<4>", "<5>", "<6>", "<7>"
	};

	/* Looked at every time: a daemon that detaches points stderr elsewhere. */
	return stderr_is_journal() ? prefixes[level & 7] : "";
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
	n = snprintf(line, sizeof(line), "%s%s: %s: ", ebs_log_prefix(level), ebs_progname,
		     names[level & 7]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* One write() per line so concurrent writers never interleave. */
	dprintf(STDERR_FILENO, "%s\n", line);
}
