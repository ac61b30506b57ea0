/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The test clients (kmsc, kmsbench) take --creds FILE --profile NAME the way
 * the AWS tools take a shared credentials file and a profile: the credential
 * chain's shared-files step (lib/awscreds.c) reads FILE, and no other source
 * is consulted, so a test exercises the same parser the agent uses instead
 * of a second one of its own.
 */
#ifndef EBSCRYPT_TESTS_CREDENTIALS_FILE_H
#define EBSCRYPT_TESTS_CREDENTIALS_FILE_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* 0, or -errno when FILE cannot be read or the environment cannot be set. */
static inline int use_credentials_file(const char *file)
{
	if (access(file, R_OK))
		return -errno;
	/* The environment step comes before the shared files: clear it. */
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	if (setenv("AWS_SHARED_CREDENTIALS_FILE", file, 1) ||
	    setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config", 1) ||
	    setenv("AWS_EC2_METADATA_DISABLED", "true", 1))
		return -errno;
	return 0;
}

#endif
