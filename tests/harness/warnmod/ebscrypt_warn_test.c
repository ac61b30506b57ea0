// SPDX-License-Identifier: GPL-2.0
/*
 * A module whose only job is to make the guest kernel log a WARNING, so the
 * harness can prove it fails a run on kernel warnings.
 */
#include <linux/module.h>
#include <linux/bug.h>

static int __init ebscrypt_warn_test_init(void)
{
	WARN(1, "ebscrypt harness self-test warning");
	return 0;
}

static void __exit ebscrypt_warn_test_exit(void)
{
}

module_init(ebscrypt_warn_test_init);
module_exit(ebscrypt_warn_test_exit);
MODULE_DESCRIPTION("ebscrypt test harness: emits one WARNING on load");
MODULE_LICENSE("GPL");
