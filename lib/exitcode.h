/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The exit statuses of ebscryptctl, and of the daemons where they apply: the
 * one table, also in ebscryptctl(8) under EXIT STATUS. Units and scripts act
 * on them: the boot units retry EBS_EXIT_KMS_UNREACHABLE and
 * EBS_EXIT_AGENT_DOWN (transient), and give up at once on the others.
 * Numbers are never reused for another meaning.
 */
#ifndef EBSCRYPT_EXITCODE_H
#define EBSCRYPT_EXITCODE_H

enum ebs_exit {
	EBS_EXIT_OK = 0,
	EBS_EXIT_FAILURE = 1,          /* anything not below */
	EBS_EXIT_USAGE = 2,            /* the command line is wrong */
	EBS_EXIT_NOT_FOUND = 3,        /* no such volume, snapshot, device or mapping */
	EBS_EXIT_KMS_REFUSED = 4,      /* the KMS answered no: access denied, key disabled, ... */
	EBS_EXIT_KMS_UNREACHABLE = 5,  /* no answer from the KMS: network, TLS, time-out */
	EBS_EXIT_DEVICE = 6,           /* device, header, device-mapper, loop or keyring error */
	EBS_EXIT_NOPERM = 7,           /* not root, or not allowed to use the agent */
	EBS_EXIT_AGENT_DOWN = 8,       /* ebscrypt-agent is not running */
	EBS_EXIT_BUSY = 9,             /* in use: attached, mounted, or a snapshot runs */
	EBS_EXIT_CONFIG = 10,          /* a configuration file is missing or wrong */
};

#endif
