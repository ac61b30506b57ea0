/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The directories the programs use by default. The build passes them from
 * SYSCONFDIR, RUNSTATEDIR and LOCALSTATEDIR (mk/paths.mk), so that a
 * packager's layout is the one compiled in; these are the defaults of a
 * PREFIX=/usr build, for a compiler run outside make.
 */
#ifndef EBSCRYPT_PATHS_H
#define EBSCRYPT_PATHS_H

#ifndef EBS_SYSCONFDIR
#define EBS_SYSCONFDIR "/etc"
#endif
#ifndef EBS_RUNSTATEDIR
#define EBS_RUNSTATEDIR "/run"
#endif
#ifndef EBS_LOCALSTATEDIR
#define EBS_LOCALSTATEDIR "/var"
#endif
/* The release (debian/changelog's newest entry), for --version. */
#ifndef EBS_VERSION
#define EBS_VERSION "unknown"
#endif

#endif
