// SPDX-License-Identifier: GPL-2.0
/*
 * The command table: every subcommand, its synopsis and its help text in
 * one place, so `--help`, the usage list and the man page agree.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

const struct ctl_cmd ctl_commands[] = {
	{ "config", "show", "[--json]",
	  "Show the host settings: encrypt-by-default and the default KMS key.",
	  cmd_config_show },
	{ "config", "set", "encrypt-by-default on|off | default-kms-key KEY",
	  "Change a host setting. While encrypt-by-default is on, every new volume is\n"
	  "encrypted (under the default KMS key unless --kms-key-id names another) and\n"
	  "--no-encryption is refused. KEY is a key id, ARN or alias.",
	  cmd_config_set },
	{ "volume", "create", "--size SIZE|--snapshot-id SNAP [--encrypted|--no-encryption] [--kms-key-id KEY] [--device DEV [--force]] [--sector-size N] [--json]",
	  "Create a volume. SIZE is GiB, or takes a K/M/G/T suffix. Unencrypted unless\n"
	  "--encrypted, --kms-key-id or encrypt-by-default says otherwise. An encrypted\n"
	  "volume gets a new data key from KMS GenerateDataKeyWithoutPlaintext under\n"
	  "KEY (default: the host's default key, alias/aws/ebs, created on first use);\n"
	  "only the wrapped key is stored, in the volume header. Backed by a sparse file\n"
	  "in the state directory, or by the block device DEV: one that holds data (a\n"
	  "filesystem, partition table, LUKS, RAID member, ebscrypt header) is refused\n"
	  "unless --force.\n"
	  "With --snapshot-id: restored from the snapshot (checksum verified first). An\n"
	  "encrypted snapshot gives an encrypted volume with the same DEK and lineage\n"
	  "(re-wrapped with ReEncrypt for the new volume id), or, with --kms-key-id\n"
	  "naming another key, a new DEK and the data re-encrypted block by block.",
	  cmd_volume_create },
	{ "volume", "list", "[--json]", "List volumes with their state and attachment.", cmd_volume_list },
	{ "volume", "describe", "VOL [--json]", "Describe one volume.", cmd_volume_describe },
	{ "volume", "delete", "VOL",
	  "Delete a detached volume: its file is removed; on a --device volume both\n"
	  "header copies are overwritten, so the wrapped key is gone and the data with it.",
	  cmd_volume_delete },
	{ "volume", "attach", "VOL|DEVICE [--name NAME] [--read-only] [--retry-for S]",
	  "Attach a volume through ebscrypt-agent (a fresh KMS Decrypt every time) and\n"
	  "print its device, /dev/mapper/NAME (default NAME: the volume id). A DEVICE\n"
	  "(a path) is attached as the volume its header names. --retry-for S keeps\n"
	  "trying while the KMS or the agent is unreachable, for S seconds (0: until it\n"
	  "works), waiting 1, 2, 4 ... 30 s in between; other failures end it at once.\n"
	  "Needs no terminal: the boot units run it (ebscrypttab(5)).",
	  cmd_volume_attach },
	{ "volume", "detach", "VOL|NAME",
	  "Remove the mapping; the kernel wipes the volume key.", cmd_volume_detach },
	{ "volume", "authorize", "VOL --host HOST [--force] [--json]",
	  "Authorize an encrypted volume for one host: a KMS grant to the host's\n"
	  "principal (HOST: its ARN, or NAME for arn:aws:iam::ACCOUNT:role/ebscrypt-host/NAME)\n"
	  "allowing Decrypt of this volume's key only, retirable by that host, which\n"
	  "retires it when it detaches. Refused, naming the holder, while another host's\n"
	  "grant stands; --force revokes that grant first (fence that host's I/O before).\n"
	  "Run with the operator's KMS credentials, from anywhere that sees the header.",
	  cmd_volume_authorize },
	{ "volume", "revoke", "VOL [--host HOST]",
	  "Revoke a volume's attach grants (only HOST's with --host). A host that has\n"
	  "the volume attached keeps its I/O; it cannot attach it again.",
	  cmd_volume_revoke },
	{ "volume", "modify", "VOL --size SIZE [--json]",
	  "Grow a volume to SIZE (GiB, or with a K/M/G/T suffix), also while it is\n"
	  "attached and its filesystem mounted. A file-backed volume's file is extended;\n"
	  "a --device volume's device must have been grown first. The header is rewritten\n"
	  "(backup copy, then primary); an attached volume's tables are reloaded with the\n"
	  "key from a fresh KMS Decrypt. Then grow the filesystem (resize2fs). Shrinking\n"
	  "is refused.",
	  cmd_volume_modify },
	{ "volume", "load-key", "VOL [--timeout S]",
	  "For a manual `dmsetup create`: put the volume key as a logon key (never\n"
	  "readable back) into a new keyring in your session keyring, expiring after S\n"
	  "seconds (default 300), and print the table line that uses it. A file-backed\n"
	  "volume is first attached to a loop device, which the output names.",
	  cmd_volume_load_key },
	{ "volume", "table", "VOL",
	  "Print the table line for a manual `dmsetup create` with the key that\n"
	  "`volume load-key` loaded (no key bytes: the key is named, not shown).",
	  cmd_volume_table },
	{ "snapshot", "create", "VOL [--cow-size SIZE] [--json]",
	  "Take a point-in-time, crash-consistent snapshot of a volume, also while it is\n"
	  "attached and busy. Attached: the volume is suspended (in-flight I/O flushed,\n"
	  "the filesystem frozen) only while a dm-snapshot of its device is switched in,\n"
	  "then copied while the volume runs; describe shows the pause (pause_ms).\n"
	  "--cow-size caps the copy-on-write store (a sparse file in the snapshot store,\n"
	  "default: the volume's size) that holds what the volume overwrites meanwhile.\n"
	  "On a PREEMPT_RT kernel, where dm-snapshot is not safe, the volume stays\n"
	  "suspended for the whole copy instead.\n"
	  "Not attached: a reflink or sparse copy. The snapshot holds the header and the\n"
	  "ciphertext: no key is unwrapped.",
	  cmd_snapshot_create },
	{ "snapshot", "list", "[--json]", "List snapshots.", cmd_snapshot_list },
	{ "snapshot", "describe", "SNAP [--json]", "Describe one snapshot.", cmd_snapshot_describe },
	{ "snapshot", "delete", "SNAP", "Delete a snapshot.", cmd_snapshot_delete },
	{ "snapshot", "copy", "SNAP [--encrypted] [--kms-key-id KEY] [--json]",
	  "Copy a snapshot into a new one. An encrypted snapshot stays encrypted: under\n"
	  "the same key it keeps its DEK; under another key it gets a new DEK and the\n"
	  "data is re-encrypted. An unencrypted one is encrypted with --encrypted,\n"
	  "--kms-key-id or encrypt-by-default.",
	  cmd_snapshot_copy },
	{ "header", "dump", "VOL|DEV [--json]",
	  "Show a volume header (both copies checked). No secret is shown: the wrapped\n"
	  "key only by length and SHA-256 fingerprint.",
	  cmd_header_dump },
	{ "header", "rewrap", "VOL|DEV --kms-key-id KEY",
	  "Move the volume key under another KMS key with ReEncrypt: the plaintext key\n"
	  "never leaves KMS and the data is untouched. The new header replaces the old\n"
	  "atomically (backup copy first, then primary).",
	  cmd_header_rewrap },
	{ "agent", "status", "[--json]",
	  "Ask ebscrypt-agent whether it runs: its pid, KMS endpoint, and whether it is\n"
	  "dumpable (it never should be: its memory briefly holds volume keys).",
	  cmd_agent_status },
	{ "kms", "create-key", "[--description TEXT]", "KMS CreateKey; prints the reply.", cmd_kms_simple },
	{ "kms", "describe-key", "KEY", "KMS DescribeKey.", cmd_kms_simple },
	{ "kms", "list-keys", "", "KMS ListKeys.", cmd_kms_simple },
	{ "kms", "list-aliases", "", "KMS ListAliases.", cmd_kms_simple },
	{ "kms", "create-alias", "ALIAS KEY", "KMS CreateAlias (ALIAS starts with alias/).", cmd_kms_simple },
	{ "kms", "disable-key", "KEY", "KMS DisableKey.", cmd_kms_simple },
	{ "kms", "enable-key", "KEY", "KMS EnableKey.", cmd_kms_simple },
	{ "kms", "call", "OPERATION [JSON]",
	  "Any KMS operation by name with a JSON request body, with this tool's own\n"
	  "credentials (the KMS authorizes and audits it like any client).",
	  cmd_kms_call },
	{ NULL, NULL, NULL, NULL, NULL },
};

const struct ctl_cmd *ctl_find(const char *group, const char *name)
{
	const struct ctl_cmd *cmd;

	for (cmd = ctl_commands; cmd->group; cmd++)
		if (!strcmp(cmd->group, group) && !strcmp(cmd->name, name))
			return cmd;
	return NULL;
}
