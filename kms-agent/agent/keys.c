// SPDX-License-Identifier: GPL-2.0
/*
 * The agent's keyring. The dm constructor finds a logon key through the
 * keyrings of the process that loads the table, so the DEK goes into a
 * keyring only this process possesses (a fresh anonymous session keyring),
 * lives there for the one table load, and is invalidated right after.
 */
#include <errno.h>

#include <keyutils.h>

#include "agent.h"
#include "log.h"

int keys_init(struct agent *a)
{
	key_serial_t ring;

	/* An anonymous session keyring: not shared with whoever started us. */
	if (keyctl_join_session_keyring(NULL) < 0)
		return -errno;
	ring = add_key("keyring", "ebscrypt-agent", NULL, 0, KEY_SPEC_SESSION_KEYRING);
	if (ring < 0)
		return -errno;
	/* Possessor only: no other uid (not even root without possession) can view it. */
	if (keyctl_setperm(ring, KEY_POS_ALL))
		return -errno;
	a->keyring = ring;
	return 0;
}

int keys_add_logon(int32_t keyring, const char *desc, const uint8_t *dek, size_t len,
		   int32_t *serial)
{
	key_serial_t k = add_key("logon", desc, dek, len, keyring);

	if (k < 0)
		return -errno;
	/* Possessor may search (the constructor's lookup); nobody may read. */
	if (keyctl_setperm(k, KEY_POS_VIEW | KEY_POS_SEARCH | KEY_POS_SETATTR)) {
		int rc = -errno;

		keys_drop(k);
		return rc;
	}
	*serial = k;
	return 0;
}

void keys_drop(int32_t serial)
{
	if (serial <= 0)
		return;
	/* Invalidation destroys the payload now; unlink is belt and braces. */
	if (keyctl_invalidate(serial) && errno != ENOKEY)
		ebs_warn("cannot invalidate key %d: %m", serial);
}
