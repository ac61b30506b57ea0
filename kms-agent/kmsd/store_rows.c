// SPDX-License-Identifier: GPL-2.0
/*
 * What a key or a grant read from the store owns, freed the same way
 * whichever backend filled it in.
 */
#include <stdlib.h>

#include "kmsd.h"

void kms_key_free(struct kms_key *k)
{
	free(k->description);
	free(k->policy_admins);
	free(k->policy_users);
	free(k->policy);
	k->description = k->policy_admins = k->policy_users = k->policy = NULL;
}

void kms_grant_free(struct kms_grant *g)
{
	free(g->operations);
	free(g->constraints);
	g->operations = g->constraints = NULL;
}
