// SPDX-License-Identifier: GPL-2.0
/*
 * ebscryptctl's own KMS connection (create, rewrap, kms commands). Its
 * credentials come from /etc/ebscrypt/ebscryptctl.conf (0600), else from
 * the AWS credential chain (environment, shared files, instance metadata);
 * they never need Decrypt permission, which belongs to the host agent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"
#include "log.h"

static const char *env_or(const char *env, const char *conf_val)
{
	const char *v = getenv(env);

	return v && *v ? v : conf_val;
}

int ctl_kms(struct ctl *c, struct kms_client **out)
{
	char why[160];
	long t, r;
	int rc;

	if (c->kms) {
		*out = c->kms;
		return 0;
	}
	rc = ebs_conf_get_long(&c->conf, "kms_timeout_ms", 10000, 100, 600000, &t, why, sizeof(why));
	if (!rc)
		rc = ebs_conf_get_long(&c->conf, "kms_max_retries", 3, 0, 20, &r, why, sizeof(why));
	if (rc)
		return ctl_err(c, rc, "%s: %s", c->config_path, why);
	c->ep.url = env_or("EBSCRYPT_KMS_ENDPOINT", ebs_conf_get(&c->conf, "kms_endpoint"));
	c->ep.unix_socket = ebs_conf_get(&c->conf, "kms_unix_socket");
	c->ep.ca_file = ebs_conf_get(&c->conf, "kms_ca_file");
	c->ep.client_cert = ebs_conf_get(&c->conf, "kms_client_cert");
	c->ep.client_key = ebs_conf_get(&c->conf, "kms_client_key");
	c->ep.region = env_or("AWS_REGION", ebs_conf_get(&c->conf, "kms_region"));
	c->ep.access_key_id = ebs_conf_get(&c->conf, "kms_access_key_id");
	c->ep.secret_access_key = ebs_conf_get(&c->conf, "kms_secret_access_key");
	c->ep.profile = ebs_conf_get(&c->conf, "kms_profile");
	c->ep.imds_endpoint = ebs_conf_get(&c->conf, "kms_imds_endpoint");
	c->ep.timeout_ms = t;
	c->ep.max_retries = (int)r;
	if (!c->ep.region)
		c->ep.region = "us-east-1";
	if (!c->ep.url)
		return ctl_err(c, -ENOKEY, "no KMS endpoint: set kms_endpoint in %s, or "
			       "EBSCRYPT_KMS_ENDPOINT", c->config_path);
	if (!c->ep.access_key_id != !c->ep.secret_access_key)
		return ctl_err(c, -EINVAL, "%s: kms_access_key_id and kms_secret_access_key go together",
			       c->config_path);
	rc = kms_client_new(&c->ep, &c->kms);
	if (rc == -EPROTONOSUPPORT)
		return ctl_err(c, rc, "refusing plain HTTP to %s: the KMS must be reached over https:// "
			       "unless it is on loopback or a Unix socket", c->ep.url);
	if (rc)
		return ctl_err(c, rc, "cannot set up the KMS client for %s: %s", c->ep.url, strerror(-rc));
	*out = c->kms;
	return 0;
}

int ctl_resolve_key(struct ctl *c, const char *key, enum key_lookup lookup, char *arn, size_t arn_len)
{
	struct kms_key_info info;
	struct kms_client *k;
	struct kms_error err;
	int rc;

	rc = ctl_kms(c, &k);
	if (rc)
		return rc;
	memset(&err, 0, sizeof(err));
	rc = kms_describe_key(k, key, &info, &err);
	/*
	 * Like AWS, the KMS creates the managed key alias/aws/ebs the first time
	 * a data key is generated under it (aliases under alias/aws/ are
	 * reserved to the service, so we may not create it ourselves).
	 */
	if (rc == -EREMOTEIO && !strcmp(err.type, "NotFoundException") && lookup == KEY_MANAGED_ON_FIRST_USE &&
	    !strcmp(key, CTL_DEFAULT_KMS_KEY)) {
		snprintf(arn, arn_len, "%s", key);
		return 0;
	}
	if (rc)
		return ctl_err_kms(c, rc, &err, key);
	if (strcmp(info.key_state, "Enabled"))
		return ctl_err(c, -EKEYREVOKED, "KMS key %s (%s) is %s", key, info.arn, info.key_state);
	snprintf(arn, arn_len, "%s", info.arn);
	return 0;
}
