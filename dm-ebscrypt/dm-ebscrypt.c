// SPDX-License-Identifier: GPL-2.0
/*
 * dm-ebscrypt: EBS-style volume encryption target (skeleton).
 */
#include <linux/module.h>
#include <linux/device-mapper.h>

#define DM_MSG_PREFIX "ebscrypt"

static int ebscrypt_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	ti->error = "Not implemented yet";
	return -EINVAL;
}

static void ebscrypt_dtr(struct dm_target *ti)
{
}

static int ebscrypt_map(struct dm_target *ti, struct bio *bio)
{
	return DM_MAPIO_KILL;
}

static struct target_type ebscrypt_target = {
	.name    = "ebscrypt",
	.version = {0, 1, 0},
	.module  = THIS_MODULE,
	.ctr     = ebscrypt_ctr,
	.dtr     = ebscrypt_dtr,
	.map     = ebscrypt_map,
};

static int __init ebscrypt_init(void)
{
	return dm_register_target(&ebscrypt_target);
}

static void __exit ebscrypt_exit(void)
{
	dm_unregister_target(&ebscrypt_target);
}

module_init(ebscrypt_init);
module_exit(ebscrypt_exit);

MODULE_DESCRIPTION(DM_NAME " target for EBS-style volume encryption");
MODULE_LICENSE("GPL");
