// SPDX-License-Identifier: GPL-2.0
/*
 * ebscrypt-generator: a systemd generator (systemd.generator(7)) that turns
 * each line of /etc/ebscrypt/ebscrypttab into an instance of
 * ebscrypt-attach@.service, the way systemd-cryptsetup-generator turns
 * /etc/crypttab into systemd-cryptsetup@.service instances. The template
 * holds what every volume shares; per line this writes, into the normal
 * generator directory:
 *
 *   ebscrypt-attach@NAME.service.d/50-ebscrypttab.conf
 *       the volume, its options, its ordering (network for _netdev, the
 *       backing device when the line names one) and its start time-out;
 *   remote-fs.target.requires/ (.wants/ with nofail, nothing with noauto)
 *       so the boot attaches it; without nofail, remote-fs.target waits;
 *   dev-mapper-NAME.device.d/50-ebscrypt.conf
 *       so whatever needs /dev/mapper/NAME (a mount in fstab) starts the
 *       unit and waits for it, however long the KMS keeps it waiting,
 *       rather than giving up after the default 90 s device time-out.
 *
 * Grammar of ebscrypttab(5): "NAME VOLUME [OPTIONS]", fields separated by
 * blanks, '#' starts a comment; OPTIONS is a comma-separated list of
 * _netdev, nofail, noauto, ro (or readonly), timeout=SECONDS. A bad line is
 * reported and left out; the others are still written, and the generator
 * then exits 1 so that `systemctl status` and the journal show it.
 *
 * SYSTEMD_EBSCRYPTTAB names another table (as SYSTEMD_CRYPTTAB does for
 * crypttab), for tests.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef EBS_SYSCONFDIR
#define EBS_SYSCONFDIR "/etc"
#endif
#ifndef EBS_UNITDIR
#define EBS_UNITDIR "/lib/systemd/system"
#endif

#define TAB_DEFAULT EBS_SYSCONFDIR "/ebscrypt/ebscrypttab"
#define TEMPLATE "ebscrypt-attach@.service"

struct tab_line {
	char name[128];
	char volume[PATH_MAX];
	int netdev, nofail, noauto, read_only;
	long timeout_s;          /* 0: retry for ever */
};

static void complain(const char *tab, unsigned int lineno, const char *fmt, ...)
{
	va_list ap;

	/* Generators log to the kernel log; <3> is the priority of an error there too. */
	fprintf(stderr, "<3>ebscrypt-generator: %s:%u: ", tab, lineno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The agent's rule for mapping names. */
static int valid_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 100 || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+") == n;
}

static int valid_volume(const char *s)
{
	size_t i;

	if (s[0] == '/')
		return !strstr(s, "/../") && strlen(s) < PATH_MAX && !strpbrk(s, "\"\\%$");
	if (strncmp(s, "vol-", 4) || strlen(s) != 21)
		return 0;
	for (i = 4; i < 21; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return 0;
	return 1;
}

/* systemd's escaping of a string into a unit name part (systemd-escape). */
static void unit_escape(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s && o + 5 < len; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '/')
			out[o++] = '-';
		else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			 ch == ':' || ch == '_' || (ch == '.' && o > 0))
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", ch);
	}
	out[o] = '\0';
}

/* systemd-escape --path: the unit name of a path ("/dev/vdb" -> "dev-vdb"). */
static void path_escape(const char *path, char *out, size_t len)
{
	char tmp[PATH_MAX];
	size_t n;

	while (*path == '/')
		path++;
	snprintf(tmp, sizeof(tmp), "%s", path);
	n = strlen(tmp);
	while (n && tmp[n - 1] == '/')
		tmp[--n] = '\0';
	unit_escape(tmp, out, len);
}

static int parse_options(const char *tab, unsigned int lineno, char *opts, struct tab_line *l)
{
	char *tok, *save = NULL, *end;

	for (tok = strtok_r(opts, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "_netdev")) {
			l->netdev = 1;
		} else if (!strcmp(tok, "nofail")) {
			l->nofail = 1;
		} else if (!strcmp(tok, "noauto")) {
			l->noauto = 1;
		} else if (!strcmp(tok, "ro") || !strcmp(tok, "readonly") || !strcmp(tok, "read-only")) {
			l->read_only = 1;
		} else if (!strcmp(tok, "defaults") || !strcmp(tok, "-")) {
			continue;
		} else if (!strncmp(tok, "timeout=", 8)) {
			errno = 0;
			l->timeout_s = strtol(tok + 8, &end, 10);
			if (!strcmp(end, "s"))
				end++;
			else if (!strcmp(end, "min"))
				l->timeout_s *= 60, end += 3;
			if (errno || end == tok + 8 || *end || l->timeout_s < 0 || l->timeout_s > 86400 * 30) {
				complain(tab, lineno, "bad %s: give seconds (0: retry for ever)", tok);
				return -EINVAL;
			}
		} else {
			complain(tab, lineno, "unknown option \"%s\"", tok);
			return -EINVAL;
		}
	}
	return 0;
}

/* 0 and *l filled, 1 for a blank or comment line, -EINVAL for a bad one. */
static int parse_line(const char *tab, unsigned int lineno, char *text, struct tab_line *l)
{
	char *fields[4] = { NULL }, *save = NULL, *hash, *tok;
	int n = 0;

	hash = strchr(text, '#');
	if (hash)
		*hash = '\0';
	for (tok = strtok_r(text, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == 3) {
			complain(tab, lineno, "more than three fields (NAME VOLUME OPTIONS)");
			return -EINVAL;
		}
		fields[n++] = tok;
	}
	if (!n)
		return 1;
	memset(l, 0, sizeof(*l));
	if (n < 2) {
		complain(tab, lineno, "a line needs a NAME and a VOLUME (vol-... or a device path)");
		return -EINVAL;
	}
	if (!valid_name(fields[0])) {
		complain(tab, lineno, "\"%s\" is not a valid name (letters, digits, - _ . +; at most 100)",
			 fields[0]);
		return -EINVAL;
	}
	if (!valid_volume(fields[1])) {
		complain(tab, lineno, "\"%s\" is neither a volume id (vol-<17 hex>) nor an absolute device path",
			 fields[1]);
		return -EINVAL;
	}
	snprintf(l->name, sizeof(l->name), "%s", fields[0]);
	snprintf(l->volume, sizeof(l->volume), "%s", fields[1]);
	return fields[2] ? parse_options(tab, lineno, fields[2], l) : 0;
}

static int mkdir_p(const char *dir)
{
	char tmp[PATH_MAX], *p;

	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0755) && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	return mkdir(tmp, 0755) && errno != EEXIST ? -errno : 0;
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	int rc = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		rc = -EIO;
	if (fclose(f) && !rc)
		rc = -errno;
	return rc;
}

static int emit(const char *dir, const char *tab, unsigned int lineno, const struct tab_line *l)
{
	char inst[512], unit[600], devunit[PATH_MAX], mapper[256], path[PATH_MAX + 700];
	char text[8192], start_timeout[32];
	int n, rc;

	unit_escape(l->name, inst, sizeof(inst));
	snprintf(unit, sizeof(unit), "ebscrypt-attach@%s.service", inst);
	if (l->timeout_s)
		/* The retries stop at the time-out; a last try may take the agent's KMS deadline. */
		snprintf(start_timeout, sizeof(start_timeout), "%lds", l->timeout_s + 60);
	else
		snprintf(start_timeout, sizeof(start_timeout), "infinity");

	n = snprintf(text, sizeof(text),
		     "# Written by ebscrypt-generator from %s, line %u: edit that file, not this one.\n"
		     "[Unit]\nSourcePath=%s\n", tab, lineno, tab);
	if (l->netdev)
		n += snprintf(text + n, sizeof(text) - n,
			      "After=network-online.target\nWants=network-online.target\n");
	if (!l->nofail && !l->noauto)
		n += snprintf(text + n, sizeof(text) - n, "Before=remote-fs.target\n");
	if (l->volume[0] == '/') {
		path_escape(l->volume, devunit, sizeof(devunit));
		n += snprintf(text + n, sizeof(text) - n, "BindsTo=%s.device\nAfter=%s.device\n",
			      devunit, devunit);
	} else {
		/* The volume record and a file-backed volume's image. */
		n += snprintf(text + n, sizeof(text) - n,
			      "RequiresMountsFor=" EBS_LOCALSTATEDIR "/lib/ebscrypt\n");
	}
	n += snprintf(text + n, sizeof(text) - n,
		      "\n[Service]\nEnvironment=\"EBSCRYPT_VOLUME=%s\" \"EBSCRYPT_ATTACH_OPTIONS=--retry-for %ld%s\"\n"
		      "TimeoutStartSec=%s\n",
		      l->volume, l->timeout_s, l->read_only ? " --read-only" : "", start_timeout);
	if (n >= (int)sizeof(text))
		return -ENAMETOOLONG;
	snprintf(path, sizeof(path), "%s/%s.d", dir, unit);
	if ((rc = mkdir_p(path)))
		return rc;
	snprintf(path, sizeof(path), "%s/%s.d/50-ebscrypttab.conf", dir, unit);
	if ((rc = write_text(path, text)))
		return rc;

	if (!l->noauto) {
		snprintf(path, sizeof(path), "%s/remote-fs.target.%s", dir, l->nofail ? "wants" : "requires");
		if ((rc = mkdir_p(path)))
			return rc;
		snprintf(path, sizeof(path), "%s/remote-fs.target.%s/%s", dir,
			 l->nofail ? "wants" : "requires", unit);
		if (symlink(EBS_UNITDIR "/" TEMPLATE, path) && errno != EEXIST)
			return -errno;
	}

	snprintf(mapper, sizeof(mapper), "/dev/mapper/%s", l->name);
	path_escape(mapper, devunit, sizeof(devunit));
	snprintf(path, sizeof(path), "%s/%s.device.d", dir, devunit);
	if ((rc = mkdir_p(path)))
		return rc;
	/*
	 * Requires= without After=, as systemd-cryptsetup-generator does: the
	 * device's job waits for udev, not for the unit. Ordered after the
	 * unit, the device's stop job at shutdown (propagated from the unit's
	 * stop) ran first and waited for the mapping to go, which only the
	 * unit's own stop, queued behind it, removes: shutdown hung there.
	 */
	snprintf(text, sizeof(text),
		 "# Written by ebscrypt-generator from %s, line %u.\n"
		 "[Unit]\nRequires=%s\nJobRunningTimeoutSec=%s\n",
		 tab, lineno, unit, start_timeout);
	snprintf(path, sizeof(path), "%s/%s.device.d/50-ebscrypt.conf", dir, devunit);
	return write_text(path, text);
}

int main(int argc, char **argv)
{
	const char *tab = getenv("SYSTEMD_EBSCRYPTTAB") ?: TAB_DEFAULT;
	char line[PATH_MAX + 512], seen[64][128];
	unsigned int lineno = 0, nseen = 0, i;
	struct tab_line l;
	int bad = 0, rc;
	FILE *f;

	if (argc != 2 && argc != 4) {
		fprintf(stderr, "usage: ebscrypt-generator NORMAL_DIR [EARLY_DIR LATE_DIR]\n"
			"A systemd generator: see ebscrypttab(5).\n");
		return 2;
	}
	f = fopen(tab, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "<3>ebscrypt-generator: cannot read %s: %s\n", tab, strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			complain(tab, lineno, "line too long");
			bad = 1;
			while (fgets(line, sizeof(line), f) && !strchr(line, '\n'))
				;
			continue;
		}
		rc = parse_line(tab, lineno, line, &l);
		if (rc == 1)
			continue;
		if (rc) {
			bad = 1;
			continue;
		}
		for (i = 0; i < nseen && strcmp(seen[i], l.name); i++)
			;
		if (i < nseen) {
			complain(tab, lineno, "name %s is listed twice: this line is left out", l.name);
			bad = 1;
			continue;
		}
		if (nseen < sizeof(seen) / sizeof(seen[0]))
			snprintf(seen[nseen++], sizeof(seen[0]), "%s", l.name);
		rc = emit(argv[1], tab, lineno, &l);
		if (rc) {
			complain(tab, lineno, "cannot write the units for %s into %s: %s", l.name, argv[1],
				 strerror(-rc));
			bad = 1;
		}
	}
	fclose(f);
	return bad;
}
