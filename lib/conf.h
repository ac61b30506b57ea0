/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Configuration files of every ebscrypt program: "key = value" lines and
 * '#' comments (a comment starts at a '#' first on its line or after white
 * space, so a value may hold a '#' of its own), and for the callers that
 * take them "[...]" section lines. Keys are lowercase letters, digits, '_'
 * and '-'; a value is the rest of the line with the white space around it
 * removed. Strict on purpose: an unknown key, a duplicate or an over-long
 * line is an error naming the line, never silently ignored, because a typo
 * in a credential or endpoint setting should stop the daemon, not send it
 * somewhere else.
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

/* One setting, or with EBS_CONF_SECTIONS one section line. */
struct ebs_conf_line {
	size_t lineno;
	const char *section;      /* a section line as written ("[kind name]"), or NULL */
	const char *key;          /* a setting, or NULL */
	const char *value;
};
#define EBS_CONF_NO_SECTIONS 0x0u
#define EBS_CONF_SECTIONS 0x1u   /* lines starting with '[' go to fn as sections */
/* fn: 0, or -errno with why saying what is wrong (naming l->lineno). */
typedef int (*ebs_conf_fn)(void *arg, const struct ebs_conf_line *l, char *why, size_t why_len);
/* The one scanner of the grammar above: calls fn for each setting or section in order. */
int ebs_conf_scan(const char *text, size_t len, unsigned int flags, ebs_conf_fn fn, void *arg,
		  char *why, size_t why_len);

/* Parses text with no sections; allowed (NULL-terminated) lists the accepted keys. */
int ebs_conf_parse(const char *text, size_t len, const char *const *allowed,
		   struct ebs_conf *c, char *why, size_t why_len);

/*
 * Loads a file. EBS_CONF_CREDENTIALS refuses a file that is not owned by
 * the caller's uid or has group or other permissions (it holds credentials).
 */
enum ebs_conf_holds { EBS_CONF_SETTINGS, EBS_CONF_CREDENTIALS };
int ebs_conf_load(const char *path, enum ebs_conf_holds holds, const char *const *allowed,
		  struct ebs_conf *c, char *why, size_t why_len);

const char *ebs_conf_get(const struct ebs_conf *c, const char *key);
/* Integer in [min,max]; def when absent. -EINVAL with why when malformed. */
int ebs_conf_get_long(const struct ebs_conf *c, const char *key, long def,
		      long min, long max, long *out, char *why, size_t why_len);
/* Wipes every value (some are secrets) and frees. */
void ebs_conf_free(struct ebs_conf *c);

#endif
