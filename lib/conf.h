/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Configuration files of the host programs: "key = value" lines, '#'
 * comments, nothing else. Strict on purpose: an unknown key, a duplicate or
 * an over-long line is an error naming the line, never silently ignored,
 * because a typo in a credential or endpoint setting should stop the daemon,
 * not send it somewhere else.
 */
#ifndef EBSCRYPT_CONF_H
#define EBSCRYPT_CONF_H

#include <stddef.h>

#define EBS_CONF_MAX_BYTES (64 * 1024)
#define EBS_CONF_MAX_LINE  1024

struct ebs_conf_entry {
	char *key;
	char *value;
};

struct ebs_conf {
	struct ebs_conf_entry *e;
	size_t n;
};

/* Parses text; allowed (NULL-terminated) lists the accepted keys. */
int ebs_conf_parse(const char *text, size_t len, const char *const *allowed,
		   struct ebs_conf *c, char *why, size_t why_len);

/*
 * Loads a file. With private_only, refuses a file that is not a regular file
 * owned by the caller's uid with no group or other permissions (it holds
 * credentials).
 */
int ebs_conf_load(const char *path, int private_only, const char *const *allowed,
		  struct ebs_conf *c, char *why, size_t why_len);

const char *ebs_conf_get(const struct ebs_conf *c, const char *key);
/* Integer in [min,max]; def when absent. -EINVAL with why when malformed. */
int ebs_conf_get_long(const struct ebs_conf *c, const char *key, long def,
		      long min, long max, long *out, char *why, size_t why_len);
/* Wipes every value (some are secrets) and frees. */
void ebs_conf_free(struct ebs_conf *c);

#endif
