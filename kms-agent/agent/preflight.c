// SPDX-License-Identifier: GPL-2.0
/*
 * Before an attach asks the KMS for a key: is there a kernel to hand it
 * to? Each missing piece is named, with what to do about it, rather than
 * surfacing later as a device-mapper errno ("Cannot allocate memory" is what
 * libdevmapper makes of a kernel without device-mapper).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent.h"
#include "dmmap.h"

/* Runs modprobe MODULE; its first line of complaint goes to why. */
static int modprobe(const char *module, char *why, size_t len)
{
	char cmd[128], line[256] = "";
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "modprobe %s 2>&1", module);
	p = popen(cmd, "r");
	if (!p) {
		snprintf(why, len, "cannot run modprobe: %s", strerror(errno));
		return -errno;
	}
	if (fgets(line, sizeof(line), p))
		line[strcspn(line, "\n")] = '\0';
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	if (st == 0)
		return 0;
	snprintf(why, len, "%s", line[0] ? line :
		 WIFEXITED(st) && WEXITSTATUS(st) == 127 ? "modprobe not found" : "modprobe failed");
	return -ENOENT;
}

int agent_preflight(const char *target, struct json_object *rep)
{
	char why[256] = "", module[64];
	struct utsname u;
	int rc;

	if (geteuid() != 0) {
		reply_fail(rep, "PermissionDenied", "ebscrypt-agent runs as uid %u, not root: it cannot "
			   "load device-mapper tables", geteuid());
		return -EPERM;
	}
	rc = dm_has_target(target);
	if (rc == -ENODEV) {
		modprobe("dm_mod", why, sizeof(why));
		rc = dm_has_target(target);
	}
	if (rc == -ENODEV) {
		reply_fail(rep, "NoDeviceMapper", "device-mapper is not available: no /dev/mapper/control, "
			   "and `modprobe dm_mod` failed (%s); the kernel needs CONFIG_BLK_DEV_DM",
			   why[0] ? why : "no reason given");
		return rc;
	}
	if (rc == 0) {
		snprintf(module, sizeof(module), "dm-%s", target);
		if (!modprobe(module, why, sizeof(why)) && dm_has_target(target) == 1)
			return 0;
		uname(&u);
		reply_fail(rep, "ModuleNotLoadable", "the kernel has no %s target and module %s cannot be "
			   "loaded for kernel %s: %s (install it for this kernel, e.g. the ebscrypt-dkms "
			   "package, which needs its linux-headers)", target, module, u.release,
			   why[0] ? why : "no reason given");
		return -ENOENT;
	}
	if (rc < 0) {
		reply_fail(rep, "MapError", "cannot list the kernel's device-mapper targets: %s", strerror(-rc));
		return rc;
	}
	return 0;
}
