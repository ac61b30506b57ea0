// SPDX-License-Identifier: GPL-2.0
/*
 * /etc/ebscrypt/agent.conf: the host's KMS credentials, so the file must be
 * root's and mode 0600 (checked, not assumed). Settings in docs/volumes.md.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "log.h"
#include "proto.h"

static const char *const agent_keys[] = {
	"socket", "group", "kms_endpoint", "kms_unix_socket", "kms_ca_file", "kms_client_cert", "kms_client_key", "kms_region",
	"kms_access_key_id", "kms_secret_access_key", "kms_timeout_ms", "kms_max_retries",
	"kms_profile", "kms_imds_endpoint", "log_level", "volume_file_dirs", NULL
};

int agent_load_config(struct agent *a, const char *path, const char *socket_override)
{
	const char *group, *level;
	char why[256] = "";
	long timeout, retries;
	int rc;

	rc = ebs_conf_load(path, EBS_CONF_CREDENTIALS, agent_keys, &a->conf, why, sizeof(why));
	if (rc) {
		ebs_err("config %s: %s", path, why);
		return rc;
	}
	a->socket_path = socket_override ? socket_override : ebs_conf_get(&a->conf, "socket");
	if (!a->socket_path)
		a->socket_path = EBS_AGENT_SOCKET;
	a->group = (gid_t)-1;
	group = ebs_conf_get(&a->conf, "group");
	if (group && *group) {
		struct group *g = getgrnam(group);

		if (!g) {
			ebs_err("config %s: group \"%s\" does not exist", path, group);
			return -EINVAL;
		}
		a->group = g->gr_gid;
	}
	level = ebs_conf_get(&a->conf, "log_level");
	if (level && !strcmp(level, "debug"))
		ebs_log_init("ebscrypt-agent", LOG_DEBUG);
	if (ebs_conf_get_long(&a->conf, "kms_timeout_ms", 10000, 100, 600000, &timeout, why, sizeof(why)) ||
	    ebs_conf_get_long(&a->conf, "kms_max_retries", 3, 0, 20, &retries, why, sizeof(why))) {
		ebs_err("config %s: %s", path, why);
		return -EINVAL;
	}
	memset(&a->ep, 0, sizeof(a->ep));
	a->ep.url = ebs_conf_get(&a->conf, "kms_endpoint");
	a->ep.unix_socket = ebs_conf_get(&a->conf, "kms_unix_socket");
	a->ep.ca_file = ebs_conf_get(&a->conf, "kms_ca_file");
	a->ep.client_cert = ebs_conf_get(&a->conf, "kms_client_cert");
	a->ep.client_key = ebs_conf_get(&a->conf, "kms_client_key");
	a->ep.region = ebs_conf_get(&a->conf, "kms_region");
	a->ep.access_key_id = ebs_conf_get(&a->conf, "kms_access_key_id");
	a->ep.secret_access_key = ebs_conf_get(&a->conf, "kms_secret_access_key");
	a->ep.profile = ebs_conf_get(&a->conf, "kms_profile");
	a->ep.imds_endpoint = ebs_conf_get(&a->conf, "kms_imds_endpoint");
	a->ep.timeout_ms = timeout;
	a->ep.max_retries = (int)retries;
	if (!a->ep.region)
		a->ep.region = "us-east-1";
	if (!a->ep.url) {
		ebs_err("config %s: kms_endpoint is required", path);
		return -EINVAL;
	}
	/* Without these the AWS credential chain finds the host's credentials. */
	if (!a->ep.access_key_id != !a->ep.secret_access_key) {
		ebs_err("config %s: kms_access_key_id and kms_secret_access_key go together", path);
		return -EINVAL;
	}
	if ((!a->ep.client_cert) != (!a->ep.client_key)) {
		ebs_err("config %s: kms_client_cert and kms_client_key go together", path);
		return -EINVAL;
	}
	return 0;
}

void agent_free(struct agent *a)
{
	kms_client_free(a->kms);
	a->kms = NULL;
	ebs_conf_free(&a->conf);
}
