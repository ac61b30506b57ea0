/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One logging sink for every program: stderr (which systemd puts in the
 * journal). Errors are logged once, at the boundary that reports them to the
 * user; library code returns -errno and leaves the wording to the caller.
 *
 * When stderr is the journal (systemd sets JOURNAL_STREAM to its device and
 * inode), every line starts with an sd-daemon priority prefix ("<3>" for an
 * error), which journald turns into the entry's priority, so that
 * `journalctl -p err` finds the errors. Elsewhere lines are plain.
 */
#ifndef EBSCRYPT_LOG_H
#define EBSCRYPT_LOG_H

#include <syslog.h>

void ebs_log_init(const char *progname, int max_level);
void ebs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "<N>" when stderr is the journal, else "": for the few lines printed by hand. */
const char *ebs_log_prefix(int level);

#define ebs_err(...)   ebs_log(LOG_ERR, __VA_ARGS__)
#define ebs_warn(...)  ebs_log(LOG_WARNING, __VA_ARGS__)
#define ebs_info(...)  ebs_log(LOG_INFO, __VA_ARGS__)
#define ebs_debug(...) ebs_log(LOG_DEBUG, __VA_ARGS__)

#endif
